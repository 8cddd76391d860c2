"""The layered perturbed GAN (reelkit.segment.layered) and the scene generator (reelkit.segment.data):
real models on tiny configs, no mocks."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

from reelkit.errors import SegmentError
from reelkit.registry import read_metadata
from reelkit.segment.data import SOURCES, load_scenes, make_scene, make_scenes, write_scenes
from reelkit.segment.layered import (CONFIGS, LayeredSegmenter, LayeredTrainConfig, Layers, binarisation_loss,
                                     create_layered, mask_size_loss, perturb, random_offsets, segment_files,
                                     shift_images)
from reelkit.segment.layered.train import (encoder_losses, evaluate_generated, render,
                                           random_blur, scenes_to_tensor, soft_iou_loss, train_encoder_stage, train_gan_stage,
                                           train_layered, train_mask_net_stage, write_layered_outputs)
from reelkit.segment.metrics import f_max, iou, segmentation_metrics
from tests.conftest import run_cli

torch.set_num_threads(1)
TINY = CONFIGS["layered_tiny"]


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return scenes_to_tensor(make_scenes(64, TINY.image_size, "train").images)


def test_every_layer_has_its_shape_and_range():
    for name in ("layered_tiny", "layered_small", "layered_small64"):
        model, discriminator = create_layered(name)
        config = CONFIGS[name]
        layers = model.generator(torch.randn(3, config.z_dim))
        size = config.image_size
        assert layers.background.shape == layers.foreground.shape == (3, 3, size, size)
        assert layers.mask.shape == (3, 1, size, size)
        assert layers.background.abs().max() <= 1 and layers.foreground.abs().max() <= 1
        assert 0 <= layers.mask.min() and layers.mask.max() <= 1
        composite = layers.composite()
        assert composite.shape == (3, 3, size, size) and composite.abs().max() <= 1
        logits, features = discriminator(composite)
        assert logits.shape == (3,) and features.shape[0] == 3
        assert model.encoder(composite).shape == (3, config.z_dim)
    assert CONFIGS["layered"].image_size == 128 and CONFIGS["layered"].z_dim == 512 and CONFIGS["layered"].n_mlp == 8


def test_discriminator_sees_where_an_object_is():
    """The last conv covers the whole last map (the official StyleGAN head), so moving an object by the
    trunk's whole stride changes the features (relative change 0.53 here). Summing the same trunk's map over
    positions instead gives 0.095: on a 4x4 map only the padding tells positions apart."""
    torch.manual_seed(0)
    config = CONFIGS["layered_small"]
    _, discriminator = create_layered("layered_small")
    stride = 2 ** len(config.d_widths)
    images = torch.zeros(2, 3, config.image_size, config.image_size)
    images[0, :, stride:stride + 6, stride:stride + 6] = 1.0
    images[1, :, 2 * stride:2 * stride + 6, 2 * stride:2 * stride + 6] = 1.0
    with torch.no_grad():
        assert discriminator.trunk(images).shape[-2:] == (1, 1)
        _, features = discriminator(images)
    assert (features[0] - features[1]).norm() > 0.25 * features[0].norm()


def test_composite_is_mask_weighted():
    background, foreground = -torch.ones(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    composite = Layers(background, foreground, mask).composite()
    assert torch.equal(composite[..., :2, :], torch.ones(1, 3, 2, 4))
    assert torch.equal(composite[..., 2:, :], -torch.ones(1, 3, 2, 4))


def test_shift_moves_foreground_and_mask_together_never_the_background():
    model, _ = create_layered("layered_tiny")
    layers = model.generator(torch.randn(4, TINY.z_dim))
    offsets = torch.tensor([[2, 0], [0, -2], [-1, 3], [0, 0]])
    moved = perturb(layers, offsets)
    assert torch.equal(moved.background, layers.background)
    for i, (dx, dy) in enumerate(offsets.tolist()):
        for before, after in ((layers.foreground, moved.foreground), (layers.mask, moved.mask)):
            expected = torch.roll(before[i], (dy, dx), dims=(1, 2))
            ys = slice(max(dy, 0), TINY.image_size + min(dy, 0))
            xs = slice(max(dx, 0), TINY.image_size + min(dx, 0))
            assert torch.equal(after[i][:, ys, xs], expected[:, ys, xs])
            uncovered = torch.ones_like(after[i], dtype=torch.bool)
            uncovered[:, ys, xs] = False
            assert torch.all(after[i][uncovered] == 0)  # nothing wraps around
    # one offset per scene, the same for foreground and mask: the masked foreground moves as one piece
    assert torch.equal(moved.foreground * moved.mask, shift_images(layers.foreground * layers.mask, offsets))


def test_offsets_stay_in_the_papers_range():
    offsets = random_offsets(2000, CONFIGS["layered_small64"].max_offset, torch.Generator().manual_seed(0))
    assert CONFIGS["layered_small64"].max_offset == 8 and CONFIGS["layered_small"].max_offset == 4  # 0.125 of the size
    assert offsets.abs().max() == 8 and offsets.dtype == torch.long
    assert len(torch.unique(offsets[:, 0])) == 17
    assert torch.equal(random_offsets(5, 0), torch.zeros(5, 2, dtype=torch.long))


def test_mask_terms():
    full, empty, half = torch.ones(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), torch.full((2, 1, 8, 8), 0.5)
    assert mask_size_loss(full, 0.25) == 0 and mask_size_loss(empty, 0.25) == pytest.approx(0.25)
    assert binarisation_loss(full) == 0 and binarisation_loss(empty) == 0
    assert binarisation_loss(half) == pytest.approx(0.5)


@pytest.mark.parametrize("loss,optim", [("hinge", "adam"), ("kdd", "adam"), ("hinge", "kafisto")])
def test_tiny_config_trains_a_few_steps(real, loss, optim):
    config = LayeredTrainConfig(model="layered_tiny", loss=loss, optim=optim, steps=6, batch_size=8, scenes=64,
                                log_every=3, encoder_steps=0)
    model, _, result = train_gan_stage(config, real, log=lambda _: None)
    assert [h["step"] for h in result.history] == [3, 6]
    assert all(np.isfinite(v) for h in result.history for v in h.values())
    layers = model.generator(torch.randn(2, TINY.z_dim))
    assert torch.isfinite(layers.composite()).all()


def test_kafisto_lr_sets_both_players_step(real):
    """KaFiStO's step is proportional to its lr: one step at lr 0.01 moves both players far less than at its 1."""
    def moves(kafisto_lr: float) -> tuple[float, float]:
        torch.manual_seed(0)
        generator, discriminator = create_layered("layered_tiny")
        config = LayeredTrainConfig(model="layered_tiny", optim="kafisto", kafisto_lr=kafisto_lr, steps=1, batch_size=8,
                                    scenes=64, encoder_steps=0)
        trained, trained_discriminator, _ = train_gan_stage(config, real, log=lambda _: None)
        return tuple(sum((a - b).norm().item() ** 2 for a, b in zip(before.parameters(), after.parameters())) ** 0.5
                     for before, after in ((generator.generator, trained.generator),
                                           (discriminator, trained_discriminator)))

    (g_small, d_small), (g_default, d_default) = moves(0.01), moves(1.0)
    assert 0 < g_small < 0.1 * g_default and 0 < d_small < 0.1 * d_default
    for optim, bad in (("kafisto", 0.0), ("kafisto", 1.5), ("adam", 0.5)):
        with pytest.raises(SegmentError, match="kafisto_lr"):
            LayeredTrainConfig(model="layered_tiny", optim=optim, kafisto_lr=bad).validate()


def test_training_changes_the_generator_and_no_shift_switch(real):
    torch.manual_seed(0)
    before = create_layered("layered_tiny")[0].generator.state_dict()
    config = LayeredTrainConfig(model="layered_tiny", steps=4, batch_size=8, scenes=64, encoder_steps=0, no_shift=True)
    model, _, _ = train_gan_stage(config, real, log=lambda _: None)
    after = model.generator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())


def test_encoder_reconstruction_loss_falls(real):
    torch.manual_seed(0)
    config = LayeredTrainConfig(model="layered_tiny", steps=3, batch_size=16, scenes=64, encoder_steps=60,
                                encoder_lr=3e-3, log_every=20)
    model, _, result = train_gan_stage(config, real, log=lambda _: None)
    z = torch.randn(64, TINY.z_dim, generator=torch.Generator().manual_seed(5))
    model.generator.eval()
    model.encoder.eval()
    with torch.no_grad():
        before = encoder_losses(model, z, real, 1.0)
    train_encoder_stage(model, config, real, result, log=lambda _: None)
    with torch.no_grad():
        after = encoder_losses(model, z, real, 1.0)
    assert after["total"] < before["total"]
    assert after["reconstruction"] < before["reconstruction"]
    history = result.encoder_history
    assert history[-1]["total"] < history[0]["total"]
    assert all(p.requires_grad is False for p in model.generator.parameters())  # the generator stayed frozen


def test_encoder_learns_from_scenes_perturbed_as_the_discriminator_saw_them(real):
    model, _ = create_layered("layered_tiny")
    model.generator.requires_grad_(False)
    z = torch.randn(8, TINY.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        losses = encoder_losses(model, z, None, 0.0, TINY.max_offset, 0.3, torch.Generator().manual_seed(4))
        image, target = render(model.generator, z, TINY.max_offset, 0.3, torch.Generator().manual_seed(4))
        plain = model.generator(z)
        rebuilt = model(image)
    assert not torch.equal(target.mask, plain.mask)  # the masks the encoder must match were shifted
    assert losses["mask"] == pytest.approx(F.l1_loss(rebuilt.mask, target.mask).item())
    assert losses["reconstruction"] == pytest.approx(F.l1_loss(rebuilt.composite(), image).item())


def test_outputs_and_segmenter(real, tmp_path):
    config = LayeredTrainConfig(model="layered_tiny", steps=2, batch_size=4, scenes=64, encoder_steps=2, log_every=1)
    model, _, result = train_gan_stage(config, real, log=lambda _: None)
    train_encoder_stage(model, config, real, result, log=lambda _: None)
    written = write_layered_outputs(model, config, result, {"heldout_miou": 0.1, "generated_miou": 0.7},
                                    tmp_path / "w.safetensors", "cmd")
    assert all(p.is_file() for p in written)
    card = (tmp_path / "w.md").read_text()
    assert "cmd" in card and "generated miou: 0.7" in card and "inverts the generator" in card
    segmenter = LayeredSegmenter.from_name("layered_tiny", weights=tmp_path / "w.safetensors")
    images = [np.zeros((40, 30, 3), np.uint8), make_scene(0, 50)[0]]
    masks = segmenter.predict(images)
    assert masks[0].shape == (40, 30) and masks[1].shape == (50, 50)
    assert all(0 <= m.min() and m.max() <= 1 for m in masks)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"in{i}.png")
        Image.fromarray(image).save(paths[-1])
    out = tmp_path / "out"
    out.mkdir()
    files = segment_files(paths, out, segmenter)
    assert sorted(p.name for p in files) == ["in0_mask.png", "in0_overlay.jpg", "in1_mask.png", "in1_overlay.jpg"]
    assert set(np.unique(np.asarray(Image.open(out / "in1_mask.png")))) <= {0, 255}


def test_scene_masks_are_exact_and_deterministic():
    image, mask, meta = make_scene(3, 64, "train", seed=7)
    again = make_scene(3, 64, "train", seed=7)
    assert np.array_equal(image, again[0]) and np.array_equal(mask, again[1])
    assert not np.array_equal(image, make_scene(4, 64, "train", seed=7)[0])
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8 and mask.dtype == bool
    x0, y0, x1, y1 = meta["box"]
    assert mask.any() and not mask[:y0].any() and not mask[y1:].any() and not mask[:, :x0].any() and not mask[:, x1:].any()
    assert meta["area"] == pytest.approx(mask.mean())
    # objects cover a sensible share of the picture
    scenes = make_scenes(40, 64, "heldout")
    areas = scenes.masks.mean((1, 2))
    assert 0.02 < areas.min() and areas.max() < 0.4


def test_object_pixels_follow_the_mask():
    """Inside the mask the scene shows the object, outside only the (possibly shadowed) background: pasting the
    same object on a different background changes only pixels outside the mask (up to soft edges)."""
    from reelkit.segment import data

    image, mask, meta = make_scene(11, 64, "train", seed=3)
    # same seed, same index => same object and place; another background photo
    saved = data.SOURCES["train"]["backgrounds"]
    try:
        data.SOURCES["train"] = {**data.SOURCES["train"], "backgrounds": tuple(n for n in saved if n != meta["background"])[:1] * len(saved)}
        other, other_mask, _ = make_scene(11, 64, "train", seed=3)
    finally:
        data.SOURCES["train"] = {**data.SOURCES["train"], "backgrounds": saved}
    assert np.array_equal(mask, other_mask)
    from scipy import ndimage

    core = ndimage.binary_erosion(mask, iterations=1)
    assert np.array_equal(image[core], other[core])
    assert not np.array_equal(image[~mask], other[~mask])


def test_heldout_split_is_disjoint():
    train, heldout = SOURCES["train"], SOURCES["heldout"]
    for key in train:
        assert not set(train[key]) & set(heldout[key]), key
    train_pool = {*train["backgrounds"], *train["objects"]}
    assert not train_pool & {*heldout["backgrounds"], *heldout["objects"]}
    scenes = make_scenes(30, 32, "heldout")
    assert all(m["background"] in heldout["backgrounds"] for m in scenes.meta)
    assert all(m["source"] in heldout["objects"] + heldout["textures"] and m["shape"] in heldout["shapes"]
               for m in scenes.meta)


def test_write_and_load_scenes(tmp_path):
    manifest = write_scenes(tmp_path / "s", 4, 32, "heldout", seed=1)
    data = json.loads(manifest.read_text())
    assert data["count"] == 4 and len(data["scenes"]) == 4
    loaded = load_scenes(tmp_path / "s")
    direct = make_scenes(4, 32, "heldout", seed=1)
    assert np.array_equal(loaded.images, direct.images) and np.array_equal(loaded.masks, direct.masks)
    assert not list((tmp_path / "s").glob(".*part"))
    with pytest.raises(SegmentError):
        make_scene(0, 32, "validation")
    with pytest.raises(SegmentError):
        load_scenes(tmp_path)


def test_metrics():
    truth = np.zeros((2, 4, 4), bool)
    truth[:, :2] = True
    assert iou(truth[0], truth[0]) == 1.0 and iou(truth[0], ~truth[0]) == 0.0
    metrics = segmentation_metrics(truth.astype(float), truth)
    assert metrics["miou"] == 1.0 and metrics["pixel_accuracy"] == 1.0 and metrics["fmax"] == pytest.approx(1.0)
    assert f_max(np.full((2, 4, 4), 0.5), truth) < 1.0
    everywhere = segmentation_metrics(np.ones((2, 4, 4)), truth)
    assert everywhere["mask_area"] == 1.0 and everywhere["truth_area"] == 0.5 and everywhere["miou"] == 0.5


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args)


def _one_line_error(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_cli_errors_are_one_line_with_exit_2(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    _one_line_error(result := _run_cli("segment", str(bad), "-o", str(tmp_path / "out")))
    assert "bad.png" in result.stderr and not (tmp_path / "out").exists()
    _one_line_error(_run_cli("segment", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "out")))
    _one_line_error(_run_cli("segment", str(bad), "-o", str(tmp_path / "out"), "--method", "nope"))
    _one_line_error(_run_cli("train", "layered", "--model", "nope", "--out", str(tmp_path / "w.safetensors")))
    _one_line_error(_run_cli("train", "layered", "--kafisto-lr", "0.5", "--out", str(tmp_path / "w.safetensors")))
    assert not (tmp_path / "w.safetensors").exists()
    _one_line_error(_run_cli("synth", "scenes", "-o", str(tmp_path / "s"), "--split", "nope"))


def test_cli_synth_train_and_segment(tmp_path):
    result = _run_cli("synth", "scenes", "-o", str(tmp_path / "s"), "-n", "3", "--size", "32")
    assert result.returncode == 0, result.stderr
    weights = tmp_path / "w.safetensors"
    result = _run_cli("train", "layered", "--model", "layered_tiny", "--steps", "2", "--encoder-steps", "2",
                      "--mask-net-steps", "2", "--scenes", "16", "--batch-size", "4", "--heldout", "8", "--out",
                      str(weights), "--threads", "1", "--checkpoint-every", "1")
    assert result.returncode == 0, result.stderr
    assert weights.is_file() and weights.with_suffix(".md").is_file()
    # the last checkpoint holds the shipped (EMA) generator, an earlier one a different generator, both encoders untrained
    final, last, first = (load_file(str(tmp_path / name)) for name in ("w.safetensors", "w_gan2.safetensors",
                                                                         "w_gan1.safetensors"))
    generator_keys = [key for key in final if key.startswith("generator.")]
    assert generator_keys and all(torch.equal(final[key], last[key]) for key in generator_keys)
    assert any(not torch.equal(first[key], last[key]) for key in generator_keys if first[key].is_floating_point())
    assert any(not torch.equal(final[key], last[key]) for key in final if key.startswith("encoder."))
    assert read_metadata(tmp_path / "w_gan1.safetensors")["gan_steps"] == 1
    result = _run_cli("segment", str(tmp_path / "s" / "scene_00000.png"), "-o", str(tmp_path / "out"),
                      "--method", "layered", "--model", "layered_tiny", "--weights", str(weights))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "scene_00000_mask.png").is_file() and (tmp_path / "out" / "scene_00000_overlay.jpg").is_file()
    # stages 2 and 3 again on the trained generator; a generator of another config is refused in one line
    again = tmp_path / "again.safetensors"
    result = _run_cli("train", "layered", "--model", "layered_tiny", "--generator", str(weights), "--encoder-steps", "0",
                      "--mask-net-steps", "3", "--scenes", "16", "--batch-size", "4", "--heldout", "8", "--out",
                      str(again), "--threads", "1")
    assert result.returncode == 0, result.stderr
    retrained = load_file(str(again))
    assert all(torch.equal(final[key], retrained[key]) for key in final if key.startswith(("generator.", "encoder.")))
    assert int(retrained["mask_net_steps"]) == 3
    assert f"the generator of {weights}" in again.with_suffix(".md").read_text()
    _one_line_error(result := _run_cli("train", "layered", "--generator", str(weights), "--out", str(tmp_path / "x.safetensors")))
    assert "--model layered_tiny" in result.stderr and not (tmp_path / "x.safetensors").exists()


class _ConstantEncoder(torch.nn.Module):
    def __init__(self, z: torch.Tensor) -> None:
        super().__init__()
        self.z = z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.z.expand(len(x), -1)


def test_evaluate_generated_scores_the_encoder_on_the_generators_own_scenes(real):
    config = LayeredTrainConfig(model="layered_tiny", steps=3, batch_size=8, scenes=64, encoder_steps=0)
    model, _, _ = train_gan_stage(config, real, log=lambda _: None)
    z = torch.randn(150, TINY.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        truths = model.generator(z).mask[:, 0].numpy() >= 0.5
    # An encoder that always answers z[0]: every scene gets the mask of sample 0, scored against its own.
    model.encoder = _ConstantEncoder(z[:1])
    metrics = evaluate_generated(model, count=150, seed=7)
    expected = np.mean([iou(truths[0], truth) for truth in truths])
    assert 0 < expected < 1  # the samples' masks differ, so the constant answer is partly wrong
    assert metrics["generated_miou"] == pytest.approx(expected)
    assert 0 <= metrics["generated_fmax"] <= 1


def test_soft_iou_loss_is_one_minus_the_soft_iou():
    predicted = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])
    truth = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    # intersection 1 + 0.5; union: sum of p + t - p * t = 1 + 1 = 2
    assert soft_iou_loss(predicted, truth).item() == pytest.approx(1 - 1.5 / 2)
    assert soft_iou_loss(truth, truth).item() == pytest.approx(0.0)


def test_mask_network_learns_the_generators_masks_and_becomes_the_segmenter(real):
    torch.manual_seed(0)
    config = LayeredTrainConfig(model="layered_tiny", steps=3, batch_size=16, scenes=64, encoder_steps=0,
                                mask_net_steps=80, mask_net_lr=3e-3, log_every=20)
    model, _, result = train_gan_stage(config, real, log=lambda _: None)
    generator_before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    images = real[:8]
    assert not model.has_mask_net
    encoder_masks = LayeredSegmenter(model).predict(((images.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy())
    train_mask_net_stage(model, config, result, log=lambda _: None)
    losses = [h["soft_iou_loss"] for h in result.mask_net_history]
    assert [h["step"] for h in result.mask_net_history] == [20, 40, 60, 80]
    assert losses[-1] < losses[0]
    assert model.has_mask_net and int(model.mask_net_steps) == 80
    assert all(torch.equal(generator_before[k], v) for k, v in model.generator.state_dict().items())  # frozen
    uint8 = ((images.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
    with torch.no_grad():
        expected = model.mask_net(scenes_to_tensor(uint8))[:, 0].numpy()
    masks = np.stack(LayeredSegmenter(model).predict(uint8))
    np.testing.assert_allclose(masks, expected, atol=1e-5)
    np.testing.assert_allclose(np.stack(LayeredSegmenter(model, use_encoder=True).predict(uint8)),
                               np.stack(encoder_masks), atol=1e-5)  # the encoder path is still there


def test_generator_file_replaces_the_gan_stage(real, tmp_path):
    config = LayeredTrainConfig(model="layered_tiny", steps=2, batch_size=4, scenes=64, encoder_steps=2, mask_net_steps=0)
    model, result = train_layered(config, log=lambda _: None)
    path = tmp_path / "g.safetensors"
    write_layered_outputs(model, config, result, {}, path, "cmd")
    # a file written before the mask network existed has no mask_net tensors
    old = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items() if not k.startswith("mask_net")}, str(old),
              metadata={"model": json.dumps("layered_tiny"), "train_config": json.dumps({"steps": 2})})
    mask_nets = []
    for source in (path, old):
        again, again_result = train_layered(LayeredTrainConfig(model="layered_tiny", batch_size=4, scenes=64,
                                                               encoder_steps=0, mask_net_steps=2, generator=str(source)),
                                            log=lambda _: None)
        assert again_result.gan_steps == 2 and again_result.history == []
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in again.state_dict().items()
                   if k.startswith(("generator.", "encoder.")))
        assert again.has_mask_net
        mask_nets.append(again.mask_net.state_dict())
    # the same generator gives the same mask network, however the run got it
    assert all(torch.equal(mask_nets[0][k], mask_nets[1][k]) for k in mask_nets[0])
    with pytest.raises(SegmentError, match="not found"):
        LayeredTrainConfig(model="layered_tiny", generator=str(tmp_path / "missing.safetensors")).validate()
    with pytest.raises(SegmentError, match="--model layered_tiny"):
        LayeredTrainConfig(model="layered_small", generator=str(path)).validate()
    (tmp_path / "junk.safetensors").write_text("junk")
    with pytest.raises(SegmentError, match="not a weights file"):
        LayeredTrainConfig(model="layered_tiny", generator=str(tmp_path / "junk.safetensors")).validate()


def test_random_blur_keeps_each_images_mass_and_blurs_each_its_own_way():
    dot = torch.zeros(6, 3, 11, 11)
    dot[:, :, 5, 5] = 1
    assert torch.equal(random_blur(dot, 0.0), dot)
    blurred = random_blur(dot, 1.5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(blurred.sum((2, 3)), torch.ones(6, 3))
    centres = blurred[:, 0, 5, 5]
    assert len(set(centres.tolist())) == 6  # a sigma per image
    assert torch.equal(blurred[:, 0], blurred[:, 2])  # the same blur for every channel of an image
    assert (centres >= (1 / (2 * torch.pi * 1.5 ** 2)) * 0.99).all()  # no blur wider than sigma 1.5
