"""The GAN engine: KDD against a numpy reference, gradient signs, networks, metrics and a tiny training run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from reelkit.gan import AdversarialLoss, create_gan, kdd_d_loss, kdd_g_loss
from reelkit.gan.data import FASHION_MNIST, GaussianMixture2D
from reelkit.gan.metrics import frechet_distance, kernel_inception_distance
from reelkit.gan.models import CONFIGS, DiscriminatorBlock
from reelkit.gan.train import GANTrainConfig, gan_optimizer, train_gan, update_average


def numpy_kdd(real: np.ndarray, fake: np.ndarray, sigma: float) -> tuple[float, float]:
    """The KDD discriminator and generator losses written out sample by sample."""
    real = real / np.linalg.norm(real, axis=1, keepdims=True)
    fake = fake / np.linalg.norm(fake, axis=1, keepdims=True)

    def kde(u: np.ndarray, centres: np.ndarray, skip: int | None) -> float:
        values = [np.exp(-np.sum((u - c) ** 2) / (2 * sigma**2)) for i, c in enumerate(centres) if i != skip]
        return float(np.mean(values))

    def softplus(x: float) -> float:
        return float(np.log1p(np.exp(x)))

    real_ratio = [np.log(kde(u, real, i)) - np.log(kde(u, fake, None)) for i, u in enumerate(real)]
    fake_ratio = [np.log(kde(u, real, None)) - np.log(kde(u, fake, j)) for j, u in enumerate(fake)]
    d_loss = np.mean([softplus(-r) for r in real_ratio]) + np.mean([softplus(r) for r in fake_ratio])
    g_loss = np.mean(real_ratio) - np.mean(fake_ratio)
    return float(d_loss), float(g_loss)


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_kdd_matches_numpy_reference(sigma: float) -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(6, 5)), rng.normal(size=(7, 5)) + 0.5
    expected_d, expected_g = numpy_kdd(real, fake, sigma)
    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)
    assert kdd_d_loss(real_t, fake_t, sigma).item() == pytest.approx(expected_d, rel=1e-9)
    assert kdd_g_loss(real_t, fake_t, sigma).item() == pytest.approx(expected_g, rel=1e-9)


def test_kdd_gradients_are_finite_and_point_the_right_way() -> None:
    """Separated clusters: D's loss is low and grows if a real moves among the fakes; G's gradient moves a
    fake towards the reals."""
    torch.manual_seed(0)
    real = torch.tensor([1.0, 0.0, 0.0]) + 0.05 * torch.randn(8, 3)
    fake = torch.tensor([0.0, 1.0, 0.0]) + 0.05 * torch.randn(8, 3)
    separated = kdd_d_loss(real, fake, 0.5)
    mixed = kdd_d_loss(torch.cat([real[:7], fake[:1]]), fake, 0.5)
    assert separated < mixed

    fake = fake.clone().requires_grad_(True)
    loss = kdd_g_loss(real, fake, 0.5)
    loss.backward()
    assert torch.isfinite(fake.grad).all()
    moved = (fake - 0.5 * fake.grad).detach()  # a gradient step
    assert kdd_g_loss(real, moved, 0.5) < loss
    toward_real = torch.nn.functional.cosine_similarity(-fake.grad, real.mean(0) - fake.detach(), dim=1)
    assert (toward_real > 0).float().mean() > 0.5


def test_kdd_cannot_tell_one_distribution_from_itself() -> None:
    """Large real and fake batches from the same distribution: every ratio is near 1, each term near log 2;
    and the discriminator loss is symmetric in its two batches."""
    torch.manual_seed(0)
    real, fake = torch.randn(600, 3, dtype=torch.float64), torch.randn(600, 3, dtype=torch.float64)
    assert kdd_d_loss(real, fake, 0.7).item() == pytest.approx(2 * np.log(2), abs=0.02)
    assert kdd_d_loss(real, fake, 0.7).item() == pytest.approx(kdd_d_loss(fake, real, 0.7).item())


def test_adversarial_loss_combines_hinge_and_kdd() -> None:
    torch.manual_seed(1)
    real = (torch.randn(6), torch.randn(6, 8))
    fake = (torch.randn(6), torch.randn(6, 8))
    hinge = AdversarialLoss("hinge").discriminator(real, fake)
    kdd = AdversarialLoss("kdd").discriminator(real, fake)
    both = AdversarialLoss("hinge+kdd", kdd_weight=0.5).discriminator(real, fake)
    assert both.item() == pytest.approx(hinge.item() + 0.5 * kdd.item())
    with pytest.raises(ValueError):
        AdversarialLoss("kdd").generator(None, fake)
    with pytest.raises(ValueError):
        AdversarialLoss("wasserstein")


@pytest.mark.parametrize("name", ["sngan_28_tiny", "sngan_32", "biggan_32", "mlp_2d", "mlp_2d_pacgan"])
def test_networks_shapes(name: str) -> None:
    config = CONFIGS[name]
    generator, discriminator = create_gan(name)
    images = generator(torch.randn(3, config.z_dim))
    expected = (3, config.channels) if config.kind == "mlp" else (3, config.channels, config.image_size, config.image_size)
    assert images.shape == expected
    assert images.abs().max() <= 1.0 or config.kind == "mlp"  # tanh output for images
    logits, features = discriminator(images)
    assert logits.shape == (3,) and features.shape[0] == 3


def test_pacgan_networks_are_the_papers() -> None:
    """PacGAN's 2-D networks: maxout units take the largest of their pieces; weights start at N(0, 0.02^2)."""
    from reelkit.gan.models import Maxout

    unit = Maxout(2, 3, 5)
    x = torch.randn(4, 2)
    pieces = unit.linear(x).view(4, 3, 5)
    assert torch.equal(unit(x), pieces.amax(dim=2))
    generator, discriminator = create_gan("mlp_2d_pacgan")
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in generator.modules()) == 4
    assert [m.linear.out_features for m in discriminator.trunk] == [1000, 1000, 1000]
    weights = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, torch.nn.Linear)])
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)


@pytest.mark.parametrize("name", ["sagan_128", "biggan_128"])
def test_paper_size_configs_take_one_training_step(name: str) -> None:
    torch.manual_seed(0)
    generator, discriminator = create_gan(name)
    loss = AdversarialLoss("hinge+kdd")
    images = generator(torch.randn(2, CONFIGS[name].z_dim))
    assert images.shape == (2, 3, 128, 128)
    real = torch.rand(2, 3, 128, 128) * 2 - 1
    d_loss = loss.discriminator(discriminator(real), discriminator(images.detach()))
    d_loss.backward()
    g_loss = loss.generator(discriminator(real), discriminator(images))
    g_loss.backward()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in generator.parameters() if p.requires_grad)


def test_discriminator_block_downsamples() -> None:
    block = DiscriminatorBlock(3, 8, downsample=True, first=True)
    assert block(torch.randn(2, 3, 16, 16)).shape == (2, 8, 8, 8)


def test_frechet_distance_and_kid() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4))
    shifted = b + np.array([1.0, 0, 0, 0])
    assert frechet_distance(a, b) < 0.05
    assert frechet_distance(a, shifted) == pytest.approx(1.0, abs=0.1)  # a mean shift of 1 adds 1
    same, _ = kernel_inception_distance(a, b, subsets=10, subset_size=500)
    different, _ = kernel_inception_distance(a, shifted, subsets=10, subset_size=500)
    assert abs(same) < different


def test_mixture_evaluation_counts_modes() -> None:
    ring = GaussianMixture2D.ring8()
    assert ring.evaluate(ring.sample(4000, torch.Generator().manual_seed(0)))["modes_covered"] == 8
    collapsed = ring.means[:1] + 0.01 * torch.randn(4000, 2)
    result = ring.evaluate(collapsed)
    assert result["modes_covered"] == 1 and result["high_quality"] > 0.9


@pytest.mark.parametrize("loss,optim", [("kdd", "adam"), ("hinge+kdd", "kafisto")])
def test_tiny_gan_trains(loss: str, optim: str) -> None:
    config = GANTrainConfig(data="fashion", model="sngan_28_tiny", loss=loss, optim=optim, steps=4, batch_size=8,
                            log_every=2)
    generator, _, result = train_gan(config)
    assert len(result.history) == 2 and all(np.isfinite(list(h.values())).all() for h in result.history)
    assert generator(torch.randn(2, CONFIGS["sngan_28_tiny"].z_dim)).shape == (2, 1, 28, 28)


def test_update_average_moves_every_weight_and_statistic() -> None:
    average, model = create_gan("mlp_2d_pacgan")[0], create_gan("mlp_2d_pacgan")[0]
    model.train()
    model(torch.randn(16, 2))  # batch-norm statistics and step counters now differ from the average's
    before = {k: v.clone() for k, v in average.state_dict().items()}
    update_average(average, model, decay=0.75)
    for key, value in average.state_dict().items():
        current = model.state_dict()[key]
        if value.dtype.is_floating_point:
            torch.testing.assert_close(value, 0.75 * before[key] + 0.25 * current)
        else:
            assert torch.equal(value, current)  # num_batches_tracked is copied, not averaged


def test_gan_training_returns_the_average_and_keeps_the_last_iterate() -> None:
    settings = dict(data="ring8", model="mlp_2d_pacgan", steps=6, batch_size=16, log_every=3)
    plain, _, plain_result = train_gan(GANTrainConfig(**settings))
    averaged, _, result = train_gan(GANTrainConfig(**settings, ema_decay=0.9))
    assert plain_result.last_generator is None and result.last_generator is not None
    for key, value in plain.state_dict().items():  # the average leaves the training itself unchanged
        assert torch.equal(value, result.last_generator.state_dict()[key])
    weight = next(iter(averaged.state_dict().values()))
    assert not torch.equal(weight, next(iter(plain.state_dict().values())))
    pegged, _, pegged_result = train_gan(GANTrainConfig(**settings, ema_decay=0.9, ema_start=6))
    for key, value in pegged.state_dict().items():  # before ema_start the average copies the generator
        assert torch.equal(value, pegged_result.last_generator.state_dict()[key])
    with pytest.raises(ValueError, match="ema_decay"):
        GANTrainConfig(**settings, ema_decay=1.0).validate()


def test_mixture_gan_learns_something() -> None:
    """A few hundred steps on the ring move generated samples from the origin out towards radius 2."""
    config = GANTrainConfig(data="ring8", model="mlp_2d", loss="hinge", steps=300, batch_size=128, lr_g=1e-3,
                            lr_d=1e-3, betas=(0.5, 0.9), log_every=100)
    from reelkit.gan.train import generate

    torch.manual_seed(0)
    untrained = create_gan("mlp_2d")[0]
    before = generate(untrained, 500).norm(dim=1).sub(2.0).abs().mean()
    generator, _, _ = train_gan(config)
    after = generate(generator, 500).norm(dim=1).sub(2.0).abs().mean()
    assert after < before


def test_cli_train_gan_on_mixture_writes_outputs(tmp_path) -> None:
    result = run_cli("train", "gan", "--data", "ring8", "--steps", "20", "--batch-size", "32", "-o", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["metrics"]["modes"] == 8 and metrics["train_config"]["loss"] == "hinge"
    summary = [line for line in result.stderr.splitlines() if "high_quality" in line]
    assert len(summary) == 1 and f"wrote {tmp_path / 'run'}" in summary[0]  # a log line is never wrapped in a pipe
    for name in ("generator.safetensors", "discriminator.safetensors", "samples.png", "losses.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    result = run_cli("train", "gan", "--data", "grid25", "--model", "mlp_2d_pacgan", "--steps", "5", "--batch-size", "16",
                     "--beta1", "0.8", "--beta2", "0.999", "-o", str(tmp_path / "pacgan"))
    assert result.returncode == 0, result.stderr
    recorded = json.loads((tmp_path / "pacgan" / "metrics.json").read_text())["train_config"]
    assert recorded["model"] == "mlp_2d_pacgan" and recorded["betas"] == [0.8, 0.999]
    result = run_cli("train", "gan", "--data", "ring8", "--steps", "5", "--batch-size", "16", "--ema-decay", "0.9",
                     "--optim", "kafisto", "--kafisto-lr", "0.01", "--no-evaluate", "-o", str(tmp_path / "average"))
    assert result.returncode == 0, result.stderr
    recorded = json.loads((tmp_path / "average" / "metrics.json").read_text())["train_config"]
    assert (recorded["ema_decay"], recorded["optim"], recorded["kafisto_lr"]) == (0.9, "kafisto", 0.01)


def test_cli_train_gan_rejects_bad_settings(tmp_path) -> None:
    result = run_cli("train", "gan", "--data", "ring8", "--model", "sngan_28_tiny", "-o", str(tmp_path / "x"))
    assert result.returncode == 2 and "does not fit" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()
    result = run_cli("train", "gan", "--loss", "wgan", "-o", str(tmp_path / "y"))
    assert result.returncode == 2 and "unknown GAN loss" in result.stderr
    result = run_cli("train", "gan", "--model", "sagan_128", "-o", str(tmp_path / "z"))
    assert result.returncode == 2 and "28x28x1" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "z").exists()
    result = run_cli("train", "gan", "--optim", "kafisto", "--kafisto-lr", "0", "-o", str(tmp_path / "k"))
    assert result.returncode == 2 and "kafisto-lr" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "k").exists()


def test_kafisto_lr_reaches_both_players_optimisers() -> None:
    from reelkit.optim import KaFiStO

    optimizer = gan_optimizer("kafisto", create_gan("mlp_2d")[0].parameters(), 1e-4, (0.0, 0.9), kafisto_lr=0.01)
    assert isinstance(optimizer, KaFiStO) and optimizer.param_groups[0]["lr"] == 0.01
    assert gan_optimizer("adam", create_gan("mlp_2d")[0].parameters(), 1e-4, (0.0, 0.9), 0.01).param_groups[0]["lr"] == 1e-4
    for optim, bad in (("kafisto", 0.0), ("kafisto", 1.5), ("adam", 0.5)):
        with pytest.raises(ValueError, match="kafisto_lr"):
            GANTrainConfig(data="ring8", model="mlp_2d", optim=optim, kafisto_lr=bad).validate()


def test_missing_fashion_mnist_is_a_clear_error(tmp_path) -> None:
    from reelkit.errors import GANError
    from reelkit.gan.data import load_fashion_mnist

    with pytest.raises(GANError, match="dataset-fashion-mnist"):
        load_fashion_mnist("train", root=tmp_path)


def test_shipped_fid_network_classifies_and_separates() -> None:
    """The shipped fashion_cnn is accurate on test images, and its FID ranks real halves far below blurred fakes."""
    from reelkit.gan.data import load_fashion_mnist
    from reelkit.gan.metrics import classifier_features
    from reelkit.registry import create_model

    classifier = create_model("fashion_cnn", pretrained=True)
    images, labels = load_fashion_mnist("test")
    images, labels = images[:2000], labels[:2000]
    with torch.no_grad():
        accuracy = (classifier(images).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.9
    first, second = classifier_features(classifier, images[:1000]), classifier_features(classifier, images[1000:])
    blurred = torch.nn.functional.avg_pool2d(images[1000:], 3, stride=1, padding=1)
    assert frechet_distance(first, second) * 3 < frechet_distance(first, classifier_features(classifier, blurred))


def test_kdd_generator_gradient_reaches_an_uncovered_mode() -> None:
    """Reals in two clusters, every fake in the first: the generator's gradient pulls fakes towards the
    second cluster too (the term over real samples), which a loss on the fakes alone would not."""
    torch.manual_seed(0)
    mode_a, mode_b = torch.tensor([1.0, 0.0, 0.2]), torch.tensor([0.0, 1.0, 0.2])
    real = torch.cat([mode_a + 0.02 * torch.randn(8, 3), mode_b + 0.02 * torch.randn(8, 3)])
    fake = (mode_a + 0.02 * torch.randn(8, 3)).requires_grad_(True)
    kdd_g_loss(real, fake, 0.5).backward()
    cosine = torch.nn.functional.cosine_similarity(-fake.grad, (mode_b - mode_a).expand(8, 3), dim=1)
    assert cosine.min() > 0.6  # every fake is pulled mostly towards the uncovered mode


def test_generator_loss_for_kafisto_is_never_negative_and_keeps_the_gradient() -> None:
    logits = torch.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    loss = AdversarialLoss("hinge")
    plain = loss.generator(None, (logits, torch.randn(3, 4)))
    (plain_grad,) = torch.autograd.grad(plain, logits)
    bounded = loss.generator(None, (logits, torch.randn(3, 4)), aim_at_zero=True)
    (bounded_grad,) = torch.autograd.grad(bounded, logits)
    assert plain.item() < 0 <= bounded.item()
    assert torch.equal(bounded_grad[:2], plain_grad[:2]) and bounded_grad[2] == 0  # D(G(z)) > 1: done


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
@pytest.mark.parametrize("optim", ["adamw", "kafisto"])
def test_fashion_classifier_trains_with_any_optimiser(optim: str) -> None:
    from reelkit.gan.train import ClassifierTrainConfig, train_fashion_classifier

    config = ClassifierTrainConfig(epochs=1, batch_size=64, validation=500, max_train_images=1024, optim=optim)
    _, metrics = train_fashion_classifier(config, log=lambda _: None)
    assert metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1
