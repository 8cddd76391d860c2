"""The segmenters that need no training (GrabCut from priors, spectral-residual saliency) and `reelkit segment`'s
default, on real pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from reelkit.segment.data import make_scenes
from reelkit.segment.grabcut import GrabCutSegmenter
from reelkit.segment.metrics import iou
from reelkit.segment.saliency import SaliencySegmenter, otsu_level, spectral_residual_saliency
from tests.conftest import run_cli


def _object_on_a_photo() -> tuple[np.ndarray, np.ndarray]:
    """A red disc in the middle of a real photograph, and its exact mask."""
    image = np.array(Image.fromarray(data.brick()).convert("RGB").resize((160, 120)))
    rows, columns = np.mgrid[0:120, 0:160]
    disc = (rows - 55) ** 2 + (columns - 85) ** 2 <= 30 ** 2
    image[disc] = (220, 30, 40)
    return image, disc


def test_grabcut_finds_an_object_on_a_photo():
    image, disc = _object_on_a_photo()
    soft = GrabCutSegmenter()(image)
    assert soft.shape == disc.shape and soft.dtype == np.float32 and 0 <= soft.min() and soft.max() <= 1
    assert iou(soft >= 0.5, disc) > 0.9
    assert np.array_equal(GrabCutSegmenter()(data.astronaut()), GrabCutSegmenter()(data.astronaut()))  # repeatable
    big = np.array(Image.fromarray(image).resize((640, 480), Image.NEAREST))  # worked on at analysis_side, mapped back
    assert iou(GrabCutSegmenter()(big) >= 0.5, np.array(Image.fromarray(disc).resize((640, 480))) > 0) > 0.9


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 7, 3), (48, 64, 3)])
def test_grabcut_finds_nothing_in_a_flat_or_tiny_picture(shape):
    assert not (GrabCutSegmenter()(np.full(shape, 90, np.uint8)) >= 0.5).any()


def test_grabcut_beats_saliency_on_training_scenes():
    scenes = make_scenes(24, 64, "train", 3)

    def mean_iou(segmenter) -> float:
        return float(np.mean([iou(m >= 0.5, t) for m, t in zip(segmenter.predict(list(scenes.images)), scenes.masks)]))

    grabcut, saliency = mean_iou(GrabCutSegmenter()), mean_iou(SaliencySegmenter())
    assert grabcut > 0.5 and grabcut > saliency + 0.2


def test_saliency_segmenter_puts_otsus_level_at_its_threshold():
    image = data.astronaut()
    saliency = spectral_residual_saliency(image)
    otsu = saliency >= otsu_level(saliency)
    soft = SaliencySegmenter(width=64)(image)
    assert soft.shape == image.shape[:2]
    small = np.array(Image.fromarray(soft).resize(otsu.shape[::-1], Image.NEAREST))
    assert (np.asarray(small >= 0.5) == otsu).mean() > 0.95  # the same mask, up to resampling at its edge


def test_segment_command_works_without_any_trained_weights(tmp_path):
    image, _ = _object_on_a_photo()
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    result = run_cli("segment", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    mask = np.asarray(Image.open(tmp_path / "out" / "photo_mask.png"))
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255} and 0.05 < (mask > 0).mean() < 0.5
    assert (tmp_path / "out" / "photo_overlay.jpg").is_file()
    result = run_cli("segment", str(path), "--method", "saliency", "-o", str(tmp_path / "sal"))
    assert result.returncode == 0 and (tmp_path / "sal" / "photo_mask.png").is_file(), result.stderr
    result = run_cli("segment", str(path), "--weights", "w.safetensors", "-o", str(tmp_path / "no"))
    assert result.returncode == 2 and "has no weights" in result.stderr and not (tmp_path / "no").exists()
