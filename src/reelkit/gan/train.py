"""``reelkit train gan``: adversarial training with a chosen loss and optimiser.

The schedule follows SA-GAN / BigGAN: Adam with beta = (0, 0.9), the two-timescale learning rates
(discriminator 4e-4, generator 1e-4) and ``n_dis`` discriminator steps per generator step. With
``--optim kafisto`` both players use KaFiStO at its own defaults, except its ``lr`` (the share eta of the loss
that each step aims to remove), which ``kafisto_lr`` sets for both: at KaFiStO's 1 (aim at zero loss) the
adversarial losses of the 2-D grid grew and the generator collapsed, at 0.01 it trained (docs/benchmarks.md).
With ``ema_decay`` set, the generator that is returned and saved is BigGAN's moving average of the
generator's weights and batch-norm statistics, the one BigGAN samples from.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from reelkit.errors import GANError
from reelkit.gan.data import MIXTURES, fashion_mnist_files, load_fashion_mnist
from reelkit.gan.losses import AdversarialLoss
from reelkit.gan.models import CONFIGS, create_gan
from reelkit.optim import backward_and_step, make_optimizer, uses_momentum

DATASETS = ("fashion", *MIXTURES)


@dataclass
class GANTrainConfig:
    data: str = "fashion"
    model: str = "sngan_28_small"
    loss: str = "hinge"
    optim: str = "adam"
    steps: int = 2000  # generator steps
    batch_size: int = 64
    n_dis: int = 1
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.9)
    kafisto_lr: float = 1.0  # KaFiStO's eta for both players, with optim="kafisto" (1: its default)
    sigma: float = 0.5
    kdd_weight: float = 1.0
    seed: int = 0
    log_every: int = 50
    ema_decay: float = 0.0  # 0: no average; BigGAN's is 0.9999
    ema_start: int = 0  # generator steps before the average starts (until then it copies the generator)

    def validate(self) -> None:
        if self.data not in DATASETS:
            raise ValueError(f"unknown data {self.data!r}; choose one of {', '.join(DATASETS)}")
        if self.model not in CONFIGS:
            raise ValueError(f"unknown GAN config {self.model!r}; choose one of {', '.join(CONFIGS)}")
        model = CONFIGS[self.model]
        if (model.kind == "mlp") != (self.data in MIXTURES):
            raise ValueError(f"config {self.model!r} does not fit data {self.data!r} "
                             "(mixtures need mlp_2d or mlp_2d_pacgan)")
        if self.data == "fashion" and (model.image_size, model.channels) != (28, 1):
            raise ValueError(f"config {self.model!r} makes {model.image_size}x{model.image_size}x{model.channels} "
                             "images, Fashion-MNIST is 28x28x1: use sngan_28, sngan_28_small or sngan_28_tiny")
        AdversarialLoss(self.loss, self.sigma, self.kdd_weight)  # validates the loss settings
        if self.batch_size < 2 or self.steps < 1 or self.n_dis < 1:
            raise ValueError("batch_size must be >= 2, steps and n_dis >= 1")
        if not 0.0 < self.kafisto_lr <= 1.0:
            raise ValueError("kafisto_lr must be in (0, 1]")
        if self.kafisto_lr != 1.0 and self.optim != "kafisto":
            raise ValueError("kafisto_lr applies to optim kafisto only")
        if not 0.0 <= self.ema_decay < 1.0 or self.ema_start < 0:
            raise ValueError("ema_decay must be in [0, 1) and ema_start non-negative")
        if self.data == "fashion":
            fashion_mnist_files("train")


@dataclass
class GANTrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    seconds_per_step: float = 0.0
    last_generator: torch.nn.Module | None = None  # the last iterate, when the returned generator is its average


class RealBatches:
    """Endless shuffled mini-batches of real samples, scaled to the generator's output range."""

    def __init__(self, data: str, batch_size: int, generator: torch.Generator) -> None:
        self.batch_size, self.generator = batch_size, generator
        self.mixture = MIXTURES[data]() if data in MIXTURES else None
        self.images = None if self.mixture else load_fashion_mnist("train")[0] * 2.0 - 1.0  # tanh range
        self.order, self.position = torch.empty(0, dtype=torch.long), 0

    def next(self) -> torch.Tensor:
        if self.mixture is not None:
            return self.mixture.sample(self.batch_size, self.generator)
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = torch.randperm(len(self.images), generator=self.generator), 0
        batch = self.images[self.order[self.position: self.position + self.batch_size]]
        self.position += self.batch_size
        return batch.contiguous(memory_format=torch.channels_last)


def gan_optimizer(name: str, params, lr: float, betas: tuple[float, float], kafisto_lr: float = 1.0) \
        -> torch.optim.Optimizer:
    """Adam with the GAN's learning rate and betas, KaFiStO with its ``lr`` at ``kafisto_lr``, or any other
    reelkit optimizer by name at its defaults."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas)
    return make_optimizer(name, params, lr=kafisto_lr if name == "kafisto" else None)


@torch.no_grad()
def update_average(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * model, over every weight and batch-norm statistic
    (BigGAN, Brock et al., 2019, Sec. 4: "moving averages of G's weights"; its code averages the whole state)."""
    for averaged, current in zip(average.state_dict().values(), model.state_dict().values(), strict=True):
        if averaged.dtype.is_floating_point:
            averaged.lerp_(current, 1.0 - decay)
        else:  # batch-norm step counters
            averaged.copy_(current)


def train_gan(config: GANTrainConfig, progress=None, log: Callable[[str], None] = print) \
        -> tuple[torch.nn.Module, torch.nn.Module, GANTrainResult]:
    """Train (generator, discriminator) under ``config``; returns both and the loss history.

    With ``config.ema_decay`` the returned generator is the moving average, and ``result.last_generator``
    the last iterate."""
    config.validate()
    torch.manual_seed(config.seed)
    data_rng = torch.Generator().manual_seed(config.seed)
    generator, discriminator = create_gan(config.model)
    image_model = CONFIGS[config.model].kind == "resnet"
    if image_model:  # oneDNN convolutions run faster on NHWC tensors
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    z_dim = CONFIGS[config.model].z_dim
    loss = AdversarialLoss(config.loss, config.sigma, config.kdd_weight)
    opt_g = gan_optimizer(config.optim, generator.parameters(), config.lr_g, config.betas, config.kafisto_lr)
    opt_d = gan_optimizer(config.optim, discriminator.parameters(), config.lr_d, config.betas, config.kafisto_lr)
    real_batches = RealBatches(config.data, config.batch_size, data_rng)
    average = copy.deepcopy(generator) if config.ema_decay > 0 else None
    result = GANTrainResult()
    task = progress.add_task(f"train {config.model} ({config.loss})", total=config.steps) if progress else None
    start = time.perf_counter()
    running = {"d_loss": 0.0, "g_loss": 0.0}
    for step in range(1, config.steps + 1):
        for _ in range(config.n_dis):
            real = real_batches.next()
            with torch.no_grad():
                fake = generator(torch.randn(config.batch_size, z_dim))
            d_loss = loss.discriminator(discriminator(real), discriminator(fake))
            backward_and_step(opt_d, d_loss)
        fake = generator(torch.randn(config.batch_size, z_dim))
        real_outputs = None
        if loss.uses_kdd:
            with torch.no_grad():
                real_outputs = discriminator(real_batches.next())
        g_loss = loss.generator(real_outputs, discriminator(fake), aim_at_zero=config.optim == "kafisto")
        backward_and_step(opt_g, g_loss)
        if average is not None:
            update_average(average, generator, config.ema_decay if step > config.ema_start else 0.0)
        if not (math.isfinite(d_loss.item()) and math.isfinite(g_loss.item())):
            raise GANError(f"GAN losses diverged at step {step} (d {d_loss.item()}, g {g_loss.item()})")
        running["d_loss"] += d_loss.item()
        running["g_loss"] += g_loss.item()
        if step % config.log_every == 0 or step == config.steps:
            count = step % config.log_every or config.log_every
            result.history.append({"step": step, **{k: v / count for k, v in running.items()}})
            running = {k: 0.0 for k in running}
        if task is not None:
            progress.advance(task)
    result.seconds = time.perf_counter() - start
    result.seconds_per_step = result.seconds / config.steps
    generator.eval()
    discriminator.eval()
    if average is not None:
        result.last_generator, generator = generator, average.eval()
    return generator, discriminator, result


@torch.no_grad()
def generate(generator: torch.nn.Module, count: int, seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """``count`` samples from a trained generator, deterministic for a seed."""
    z_dim = generator.config.z_dim
    rng = torch.Generator().manual_seed(seed)
    chunks = [generator(torch.randn(min(batch_size, count - start), z_dim, generator=rng))
              for start in range(0, count, batch_size)]
    return torch.cat(chunks)


def save_image_grid(images: torch.Tensor, path: Path, columns: int = 8) -> None:
    """Write images in [-1, 1] (N, C, H, W) as one PNG grid with a 2-pixel gutter."""
    images = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    count, channels, height, width = images.shape
    rows = math.ceil(count / columns)
    grid = np.full((rows * (height + 2) + 2, columns * (width + 2) + 2, channels), 255, dtype=np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        y, x = 2 + row * (height + 2), 2 + column * (width + 2)
        grid[y: y + height, x: x + width] = image.permute(1, 2, 0).numpy()
    Image.fromarray(grid.squeeze(2) if channels == 1 else grid).save(path)


def save_scatter(samples: torch.Tensor, real: torch.Tensor, path: Path, title: str) -> None:
    """2-D samples over the real mixture, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4, 4))
    axis.scatter(real[:, 0], real[:, 1], s=2, c="tab:blue", alpha=0.3, label="real")
    axis.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:red", alpha=0.3, label="generated")
    axis.set_title(title, fontsize=9)
    axis.set_aspect("equal")
    axis.legend(loc="upper right", fontsize=7, markerscale=4)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def config_metadata(config: GANTrainConfig) -> dict[str, object]:
    return {"train_config": asdict(config)}


@dataclass
class ClassifierTrainConfig:
    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3
    validation: int = 5000  # the last images of the training split, held out for model selection
    seed: int = 0
    optim: str = "adamw"  # any of reelkit.optim.OPTIMIZERS; kafisto runs at its own defaults, without the schedule
    max_train_images: int | None = None  # train on the first images only (quick runs)


def train_fashion_classifier(config: ClassifierTrainConfig, progress=None, log: Callable[[str], None] = print) \
        -> tuple[torch.nn.Module, dict[str, float]]:
    """Train the FID/KID feature network on Fashion-MNIST; returns it and its accuracies."""
    from reelkit.gan.models import FashionClassifier

    torch.manual_seed(config.seed)
    images, labels = load_fashion_mnist("train")
    test_images, test_labels = load_fashion_mnist("test")
    train_x = images[:-config.validation][:config.max_train_images]
    train_y = labels[:-config.validation][:config.max_train_images]
    val_x, val_y = images[-config.validation:], labels[-config.validation:]
    model = FashionClassifier()
    kafisto = config.optim == "kafisto"
    optimizer = make_optimizer(config.optim, model.parameters(), lr=None if kafisto else config.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_x) / config.batch_size)
    schedule = None if kafisto else torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=config.epochs * steps_per_epoch, cycle_momentum=uses_momentum(optimizer))
    rng = torch.Generator().manual_seed(config.seed)
    task = progress.add_task("train fashion_cnn", total=config.epochs * steps_per_epoch) if progress else None
    start = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=rng)
        for index in range(steps_per_epoch):
            batch = order[index * config.batch_size: (index + 1) * config.batch_size]
            x = train_x[batch]
            x = torch.where(torch.rand(len(x), 1, 1, 1, generator=rng) < 0.5, x, x.flip(3))  # mirror augmentation
            loss = torch.nn.functional.cross_entropy(model(x), train_y[batch], reduction="none")
            backward_and_step(optimizer, loss)
            if schedule is not None:
                schedule.step()
            if task is not None:
                progress.advance(task)
        log(f"epoch {epoch + 1}: validation accuracy {_accuracy(model, val_x, val_y):.4f}")
    metrics = {"validation_accuracy": _accuracy(model, val_x, val_y), "test_accuracy": _accuracy(model, test_images, test_labels),
               "train_seconds": round(time.perf_counter() - start, 1)}
    model.eval()
    return model, metrics


@torch.no_grad()
def _accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    predictions = torch.cat([model(images[i: i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
    return float((predictions == labels).float().mean())


def evaluate_generator(generator: torch.nn.Module, config: GANTrainConfig, samples: int = 10_000,
                       classifier: torch.nn.Module | None = None) -> dict[str, float]:
    """Mode coverage for the mixtures; FID and KID against the Fashion-MNIST test split otherwise
    (in the features of ``classifier``, by default the shipped ``fashion_cnn``)."""
    from reelkit.gan.metrics import classifier_features, frechet_distance, kernel_inception_distance

    generated = generate(generator, samples, seed=12345)
    if config.data in MIXTURES:
        return MIXTURES[config.data]().evaluate(generated)
    if classifier is None:
        from reelkit.registry import create_model

        classifier = create_model("fashion_cnn", pretrained=True)
    reference = classifier_features(classifier, load_fashion_mnist("test")[0][:samples])
    fake = classifier_features(classifier, (generated + 1.0) / 2.0)
    kid, kid_std = kernel_inception_distance(reference, fake)
    return {"fid": frechet_distance(reference, fake), "kid": kid, "kid_std": kid_std, "samples": samples}


def write_gan_outputs(generator: torch.nn.Module, discriminator: torch.nn.Module, config: GANTrainConfig,
                      result: GANTrainResult, metrics: dict[str, float], out_dir: Path, command: str) -> list[Path]:
    """generator/discriminator weights, a sample image, the loss curves and metrics.json in ``out_dir``."""
    import json

    from reelkit.registry import save_weights

    out_dir.mkdir(parents=True, exist_ok=True)
    metadata = {"train_config": asdict(config), "metrics": metrics, "command": command,
                "seconds_per_step": result.seconds_per_step}
    paths = [out_dir / "generator.safetensors", out_dir / "discriminator.safetensors", out_dir / "samples.png",
             out_dir / "losses.png", out_dir / "metrics.json"]
    save_weights(generator, paths[0], metadata)
    save_weights(discriminator, paths[1], metadata)
    if config.data in MIXTURES:
        coverage = f": {metrics['modes_covered']}/{metrics['modes']} modes" if metrics else ""
        save_scatter(generate(generator, 2500, seed=1), MIXTURES[config.data]().sample(2500), paths[2],
                     f"{config.loss} on {config.data}{coverage}")
    else:
        save_image_grid(generate(generator, 64, seed=1), paths[2])
    plot_losses(result, paths[3], f"{config.model}, {config.loss}, {config.optim}")
    paths[4].write_text(json.dumps({**metadata, "history": result.history}, indent=2) + "\n")
    return paths


def plot_losses(result: GANTrainResult, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in result.history]
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(steps, [h["d_loss"] for h in result.history], label="discriminator")
    axis.plot(steps, [h["g_loss"] for h in result.history], label="generator")
    axis.set_xlabel("generator step")
    axis.set_ylabel("loss")
    axis.set_title(title, fontsize=9)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_classifier_card(model: torch.nn.Module, config: ClassifierTrainConfig, metrics: dict[str, float],
                          out: Path, command: str) -> None:
    import platform

    from reelkit.registry import save_weights

    save_weights(model, out, {"train_config": asdict(config), "metrics": metrics, "command": command})
    optimiser = ("KaFiStO at its defaults" if config.optim == "kafisto"
                 else f"{config.optim}, peak lr {config.lr}, one-cycle schedule")
    train_images = min(60000 - config.validation, config.max_train_images or 60000)
    out.with_suffix(".md").write_text(f"""# fashion_cnn: feature network for FID and KID on 28x28 grey-scale images

Trained by reelkit's own command on Fashion-MNIST (Debian package `dataset-fashion-mnist`, MIT licence).
Its 128-d penultimate features replace Inception-v3's (not available offline) in `reelkit.gan.metrics`,
so reelkit's FID/KID numbers are comparable with each other, not with published Inception FIDs.

- Command: `{command}`
- Architecture: 4 conv-BN-ReLU layers (32, 32, 64, 64 channels, two 2x2 max-pools), a 128-unit ReLU layer
  (the features), dropout 0.3, a 10-way linear head ({sum(p.numel() for p in model.parameters()):,} parameters)
- Data: the first {train_images:,} training images (random horizontal mirror); the last
  {config.validation:,} held out for validation; the 10,000 test images only for the final number
- Optimiser: {optimiser}, batch {config.batch_size}, {config.epochs} epochs, seed {config.seed}
- Wall time: {metrics['train_seconds'] / 60:.1f} min on {platform.machine()}, {torch.get_num_threads()} thread(s)
- Validation accuracy {metrics['validation_accuracy']:.4f}; test accuracy {metrics['test_accuracy']:.4f}
""")
