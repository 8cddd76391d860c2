"""DINO (reelkit.segment.move.dino): head, loss, centre, augmentations, EMA, and a micro run through the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from reelkit.errors import SegmentError
from reelkit.segment.move.dino import (DINOHead, DINOLoss, build_student, color_jitter, cosine_value, dino_config,
                                       ema_update, gaussian_blur, hsv_to_rgb, multi_crop, param_groups, patch_labels,
                                       random_resized_crop, rgb_to_hsv, separability, solarize, to_unit)
from reelkit.segment.move.vit import IMAGENET_MEAN, IMAGENET_STD, create_vit, load_backbone_weights


def test_head_shape_and_fixed_last_layer_norm():
    torch.manual_seed(0)
    head = DINOHead(32, 50, hidden_dim=64, bottleneck_dim=16)
    out = head(torch.randn(5, 32))
    assert out.shape == (5, 50)
    assert not head.last_layer.weight_g.requires_grad
    trainable = {id(p) for group in param_groups(head) for p in group["params"]}
    assert id(head.last_layer.weight_g) not in trainable and id(head.last_layer.weight_v) in trainable
    optimizer = torch.optim.AdamW(param_groups(head), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        head(torch.randn(5, 32)).pow(2).sum().backward()
        optimizer.step()
    assert torch.allclose(head.last_layer.weight.norm(dim=1), torch.ones(50), atol=1e-5)
    # the bottleneck is L2-normalised, so every output is a dot product of unit vectors
    assert head(torch.randn(7, 32)).abs().max() <= 1 + 1e-5


def test_no_weight_decay_on_biases_and_norms():
    decayed, free = param_groups(build_student(dino_config("dino_micro")))
    assert all(p.ndim > 1 for p in decayed["params"]) and all(p.ndim == 1 for p in free["params"])
    assert free["weight_decay"] == 0.0


def test_loss_matches_hand_computation_and_updates_centre():
    torch.manual_seed(0)
    batch, dim, crops = 2, 4, 3
    student = torch.randn(crops * batch, dim)
    teacher = torch.randn(2 * batch, dim)
    loss_fn = DINOLoss(dim, crops, student_temp=0.1, center_momentum=0.9)
    loss_fn.center.fill_(0.3)
    loss = loss_fn(student, teacher, teacher_temp=0.04)

    s, t, c = student.numpy().astype(np.float64), teacher.numpy().astype(np.float64), 0.3
    expected, terms = 0.0, 0
    for tv in range(2):
        for sv in range(crops):
            if sv == tv:
                continue
            for b in range(batch):
                q = np.exp((t[tv * batch + b] - c) / 0.04)
                q /= q.sum()
                logits = s[sv * batch + b] / 0.1
                log_p = logits - np.log(np.exp(logits).sum())
                expected += -(q * log_p).sum() / batch
            terms += 1
    assert terms == 4  # 2 teacher views x 3 student views - 2 same-view pairs
    assert loss.item() == pytest.approx(expected / terms, rel=1e-5)
    # centre: 0.9 * 0.3 + 0.1 * batch mean of the teacher outputs
    assert torch.allclose(loss_fn.center, 0.9 * 0.3 + 0.1 * teacher.mean(0, keepdim=True), atol=1e-6)
    before = loss_fn.center.clone()
    loss_fn(student, teacher, 0.04, update_center=False)
    assert torch.equal(loss_fn.center, before)


def test_schedules():
    assert cosine_value(1.0, 0.0, 0, 100) == pytest.approx(1.0)
    assert cosine_value(1.0, 0.0, 100, 100) == pytest.approx(0.0)
    assert cosine_value(1.0, 0.0, 50, 100) == pytest.approx(0.5)
    assert cosine_value(1.0, 0.1, 5, 100, warmup=10) == pytest.approx(0.5)  # linear warm-up from 0
    assert cosine_value(1.0, 0.1, 10, 100, warmup=10) == pytest.approx(1.0)


def test_augmentations_shapes_and_ranges():
    config = dino_config("dino_tiny", local_crops=3)
    generator = torch.Generator().manual_seed(0)
    images = to_unit(np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8))
    views = multi_crop(images, config, generator)
    assert [tuple(v.shape) for v in views] == [(6, 3, 64, 64)] * 2 + [(6, 3, 32, 32)] * 3
    low = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    high = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    for v in views:
        assert torch.isfinite(v).all()
        assert (v >= low.view(1, 3, 1, 1) - 1e-4).all() and (v <= high.view(1, 3, 1, 1) + 1e-4).all()
    for op in (lambda x: color_jitter(x, generator), lambda x: gaussian_blur(x, generator, 1.0, (0.1, 2.0)),
               lambda x: solarize(x, generator, 1.0)):
        out = op(images)
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    # a crop of the whole image without flip is the image itself; with flip, its mirror
    full = random_resized_crop(images, 64, (1.0, 1.0), generator, ratio=(1.0, 1.0), flip_p=0.0)
    assert torch.allclose(full, images, atol=1e-4)
    mirrored = random_resized_crop(images, 64, (1.0, 1.0), generator, ratio=(1.0, 1.0), flip_p=1.0)
    assert torch.allclose(mirrored, images.flip(3), atol=1e-4)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(images)), images, atol=1e-5)


def test_ema_moves_teacher_toward_student():
    torch.manual_seed(0)
    student, teacher = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    distance = lambda: sum((a - b).norm().item() for a, b in zip(teacher.parameters(), student.parameters()))  # noqa: E731
    before = distance()
    frozen = [p.clone() for p in teacher.parameters()]
    ema_update(teacher, student, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, teacher.parameters()))
    ema_update(teacher, student, 0.9)
    assert distance() == pytest.approx(0.9 * before, rel=1e-5)
    ema_update(teacher, student, 0.0)
    assert distance() == pytest.approx(0.0, abs=1e-6)


def test_patch_labels_and_separability():
    masks = np.zeros((4, 16, 16), bool)
    masks[:, :8, :8] = True  # one patch of four is object
    masks[:, 8:13, 8:16] = True  # 5/8 of a patch: foreground
    masks[:, :3, 8:16] = True  # 3/8: background
    labels = patch_labels(masks, 8)
    assert labels.tolist() == [[True, False, False, True]] * 4
    rng = np.random.default_rng(0)
    labels = rng.random((20, 16)) < 0.3
    features = rng.normal(size=(20, 16, 8)) + 3 * (2 * labels[..., None] - 1)  # separable (also by cosine)
    scores = separability(features, labels)
    assert scores["linear"] > 0.95 and scores["knn"] > 0.95


@pytest.mark.parametrize("optim", ["adamw", "kafisto"])
def test_cli_trains_micro_config(tmp_path, monkeypatch, optim):
    from reelkit.cli import app
    from reelkit.registry import read_metadata

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "w" / "dino.safetensors"
    result = CliRunner().invoke(app, ["train", "dino", "--config", "dino_micro", "--out", str(out), "--scenes", "16",
                                      "--batch-size", "4", "--epochs", "1.5", "--heldout", "6", "--threads", "1",
                                      "--optim", optim])
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.with_suffix(".md").is_file() and out.with_name("dino_curve.png").is_file()
    state = load_file(str(out))
    vit = create_vit("vit_micro_patch8_32")
    assert set(state) == set(vit.state_dict())  # the teacher backbone only, no head
    load_backbone_weights(vit, out)
    metadata = read_metadata(out)
    assert metadata["steps"] == 6 and math.isfinite(metadata["metrics"]["final_loss"])
    card = out.with_suffix(".md").read_text()
    assert "dino_penultimate_linear_bal_acc" in card and "random_penultimate_knn_bal_acc" in card
    assert ("KaFiStO" in card) == (optim == "kafisto")


def test_bad_config_fails_before_any_folder(tmp_path):
    from reelkit.cli import app

    out = tmp_path / "never" / "w.safetensors"
    result = CliRunner().invoke(app, ["train", "dino", "--config", "nope", "--out", str(out)])
    assert isinstance(result.exception, SegmentError) and not out.parent.exists()
    result = CliRunner().invoke(app, ["train", "dino", "--config", "dino_micro", "--out", str(tmp_path / "w.pt")])
    assert isinstance(result.exception, SegmentError)
    with pytest.raises(SegmentError):
        dino_config("dino_micro", batch_size=64, scenes=16).validate()
