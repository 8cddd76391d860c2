"""reelkit's scene generator: photographs with one pasted object and its exact mask.

Backgrounds are random crops of real photographs (scikit-image's and scikit-learn's sample images);
the object is either cut from another photograph by a random shape or a shape filled with a procedural
texture, shaded, given a soft drop shadow on the background and placed at a random scale and position.
The ground-truth mask is the object's own coverage (alpha >= 0.5), never its shadow.

Photos, textures and shapes are split into a ``train`` part and a ``heldout`` part that share nothing,
so a benchmark on ``heldout`` scenes measures segmentation of backgrounds and objects never trained on.
Every scene is a pure function of (seed, split, index).

    scenes = make_scenes(16, size=64, split="train", seed=0)      # Scenes(images (N,H,W,3) uint8, masks (N,H,W) bool)
    write_scenes("scenes/heldout", 200, size=64, split="heldout")  # image PNG + mask PNG + manifest.json
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

from reelkit.cache import cache_dir, save_atomically
from reelkit.errors import SegmentError

Split = Literal["train", "heldout"]
SPLITS = ("train", "heldout")

#: Disjoint photo, texture and shape sources per split (function names of ``skimage.data``, or
#: ``*.jpg`` of ``sklearn.datasets.load_sample_image``).
SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {"backgrounds": ("china.jpg", "rocket", "coffee", "grass", "gravel", "camera"),
              "objects": ("astronaut", "clock", "brick"),
              "textures": ("stripes", "checker"),
              "shapes": ("ellipse", "polygon", "blob")},
    "heldout": {"backgrounds": ("flower.jpg", "chelsea", "coins", "moon"),
                "objects": ("retina", "immunohistochemistry", "cell"),
                "textures": ("dots", "waves"),
                "shapes": ("star", "superellipse", "horse")},
}
SUPERSAMPLE = 4  # shapes are drawn at 4x and averaged down: soft, anti-aliased edges


@dataclass
class Scenes:
    images: np.ndarray  # (N, H, W, 3) uint8
    masks: np.ndarray  # (N, H, W) bool, the object's exact coverage
    meta: list[dict]

    def __len__(self) -> int:
        return len(self.images)


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    from reelkit.text.synth import load_photo

    return load_photo(name)


@functools.lru_cache(maxsize=None)
def _horse() -> np.ndarray:
    import skimage.data

    horse = ~skimage.data.horse().astype(bool)  # the silhouette is drawn dark on white
    rows, cols = np.flatnonzero(horse.any(1)), np.flatnonzero(horse.any(0))
    return horse[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def _crop_resize(rng: np.random.Generator, photo: np.ndarray, width: int, height: int, min_frac: float) -> np.ndarray:
    """A random square-ish crop of ``photo`` (side min_frac..1 of its short side), resized."""
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(min_frac, 1.0))
    side_x = min(w, int(side * width / max(height, 1)))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side_x + 1)
    crop = Image.fromarray(photo[y: y + side, x: x + side_x]).resize((width, height), Image.BILINEAR, reducing_gap=2.0)
    out = np.asarray(crop)
    return out[:, ::-1] if rng.random() < 0.5 else out


def _jitter(rng: np.random.Generator, image: np.ndarray, strength: float) -> np.ndarray:
    tint = rng.uniform(1 - strength, 1 + strength, size=3)
    gain, bias = rng.uniform(1 - strength, 1 + strength), rng.uniform(-30, 30) * strength
    return np.clip(image.astype(np.float32) * tint * gain + bias, 0, 255)


def _texture(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(3, 9)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    if kind == "stripes":
        t = (np.sin(2 * np.pi * freq * u) > 0).astype(np.float32)
    elif kind == "checker":
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        t = ((np.floor(freq * u) + np.floor(freq * v)) % 2).astype(np.float32)
    elif kind == "dots":
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        t = ((np.sin(2 * np.pi * freq * u) * np.sin(2 * np.pi * freq * v)) > 0.3).astype(np.float32)
    else:  # waves
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * u + 2.0 * np.sin(2 * np.pi * 2 * yy))
    return c0 * (1 - t[..., None]) + c1 * t[..., None]


def _shape(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """A filled shape (bool) centred in a ``size`` x ``size`` canvas, touching most of it."""
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size * 2 - 1
    angle = rng.uniform(0, 2 * np.pi)
    r, theta = np.hypot(xx, yy), np.arctan2(yy, xx) - angle
    if kind == "horse":
        horse = _horse()
        scale = size / max(horse.shape) * 0.98
        image = Image.fromarray(horse.astype(np.uint8) * 255).resize(
            (max(1, int(horse.shape[1] * scale)), max(1, int(horse.shape[0] * scale))), Image.BILINEAR)
        canvas = np.zeros((size, size), np.uint8)
        h, w = image.size[1], image.size[0]
        canvas[(size - h) // 2: (size - h) // 2 + h, (size - w) // 2: (size - w) // 2 + w] = np.asarray(image)
        canvas = canvas[:, ::-1] if rng.random() < 0.5 else canvas
        return canvas > 127
    if kind == "ellipse":
        a, b = 0.95, rng.uniform(0.45, 0.95)
        u, v = r * np.cos(theta), r * np.sin(theta)
        return (u / a) ** 2 + (v / b) ** 2 <= 1
    if kind == "superellipse":
        a, b, p = 0.95, rng.uniform(0.5, 0.95), rng.uniform(3, 6)
        u, v = r * np.cos(theta), r * np.sin(theta)
        return np.abs(u / a) ** p + np.abs(v / b) ** p <= 1
    if kind == "star":
        points, depth = rng.integers(4, 8), rng.uniform(0.25, 0.5)
        radius = 0.95 * (1 - depth * (0.5 + 0.5 * np.cos(points * theta)))
        return r <= radius
    if kind == "polygon":
        corners = rng.integers(3, 8)
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radii = rng.uniform(0.6, 0.95, corners)
        px, py = radii * np.cos(angles), radii * np.sin(angles)
        inside = np.ones_like(r, dtype=bool)
        for i in range(corners):  # the convex hull of the corners, as half-planes
            x0, y0, x1, y1 = px[i], py[i], px[(i + 1) % corners], py[(i + 1) % corners]
            inside &= (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0) >= 0
        if inside.mean() < 0.15:  # degenerate hull (corners bunched on one side): fall back to an ellipse
            return _shape(rng, "ellipse", size)
        return inside
    # blob: a smooth random radius function
    harmonics = rng.normal(0, 0.12, size=(4, 2))
    radius = 0.7 + sum(h[0] * np.cos((k + 2) * theta) + h[1] * np.sin((k + 2) * theta) for k, h in enumerate(harmonics))
    return r <= np.clip(radius, 0.3, 0.95)


def _object(rng: np.random.Generator, split: str, side: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(rgb float (side, side, 3), alpha float (side, side) in [0, 1], meta)."""
    sources = SOURCES[split]
    big = side * SUPERSAMPLE
    shape_kind = str(rng.choice(sources["shapes"]))
    shape = _shape(rng, shape_kind, big)
    alpha = shape.reshape(side, SUPERSAMPLE, side, SUPERSAMPLE).mean((1, 3))
    if rng.random() < 0.5:
        source = str(rng.choice(sources["objects"]))
        rgb = _jitter(rng, _crop_resize(rng, _photo(source), side, side, 0.2), 0.25)
    else:
        source = str(rng.choice(sources["textures"]))
        rgb = _texture(rng, source, side)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    light = rng.uniform(0, 2 * np.pi)  # simple directional shading
    shade = 0.85 + 0.3 * (np.cos(light) * (xx - 0.5) + np.sin(light) * (yy - 0.5))
    rgb = np.clip(rgb * shade[..., None], 0, 255)
    return rgb, alpha.astype(np.float32), {"shape": shape_kind, "source": source}


def make_scene(index: int, size: int = 64, split: Split = "train", seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Scene ``index`` of a split: (image (size, size, 3) uint8, mask (size, size) bool, meta)."""
    if split not in SPLITS:
        raise SegmentError(f"unknown scene split {split!r}; choose one of {', '.join(SPLITS)}")
    if size < 16:
        raise SegmentError(f"scene size must be at least 16 px, got {size}")
    # Separate streams for background, object and placement: changing one never changes the others.
    rng_bg, rng_obj, rng = (np.random.default_rng([seed, SPLITS.index(split), index, part]) for part in range(3))
    background_name = str(rng_bg.choice(SOURCES[split]["backgrounds"]))
    background = _jitter(rng_bg, _crop_resize(rng_bg, _photo(background_name), size, size, 0.3), 0.2)
    side = int(round(size * rng.uniform(0.3, 0.6)))
    rgb, alpha, meta = _object(rng_obj, split, side)
    y, x = rng.integers(1, size - side), rng.integers(1, size - side)
    full_alpha = np.zeros((size, size), np.float32)
    full_alpha[y: y + side, x: x + side] = alpha
    full_rgb = np.zeros((size, size, 3), np.float32)
    full_rgb[y: y + side, x: x + side] = rgb
    # Soft shadow: the object's alpha, offset away from the light, blurred, darkening the background only.
    dy, dx = (rng.uniform(0.03, 0.08, 2) * size * rng.choice([-1, 1], 2)).round().astype(int)
    shadow = np.roll(full_alpha, (dy, dx), axis=(0, 1))
    blur = max(1.0, size / 40)
    shadow = np.asarray(Image.fromarray((shadow * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(blur)),
                        np.float32) / 255
    background = background * (1 - rng.uniform(0.35, 0.6) * shadow[..., None])
    image = full_alpha[..., None] * full_rgb + (1 - full_alpha[..., None]) * background
    mask = full_alpha >= 0.5
    meta = {"index": index, "split": split, "seed": seed, "background": background_name, **meta,
            "box": [int(x), int(y), int(x + side), int(y + side)], "area": float(mask.mean())}
    return np.clip(image, 0, 255).round().astype(np.uint8), mask, meta


def make_scenes(count: int, size: int = 64, split: Split = "train", seed: int = 0, start: int = 0) -> Scenes:
    """Scenes ``start .. start + count - 1`` of a split."""
    images = np.empty((count, size, size, 3), np.uint8)
    masks = np.empty((count, size, size), bool)
    meta = []
    for i in range(count):
        images[i], masks[i], m = make_scene(start + i, size, split, seed)
        meta.append(m)
    return Scenes(images, masks, meta)


def cached_scenes(count: int, size: int = 64, split: Split = "train", seed: int = 0) -> Scenes:
    """:func:`make_scenes` (scenes 0 .. count - 1) kept as an ``.npz`` in reelkit's cache: generating 10,000
    scenes takes minutes, and every training command (layered GAN, DINO, MAE, MOVE) reads the same ones."""
    path = cache_dir("scenes") / f"{split}_{size}px_seed{seed}_{count}.npz"
    if path.is_file():
        try:
            with np.load(path) as data:
                return Scenes(data["images"], data["masks"], [])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is regenerated below
    scenes = make_scenes(count, size, split, seed)
    save_atomically(path, lambda handle: np.savez(handle, images=scenes.images, masks=scenes.masks))
    return scenes


def write_scenes(out_dir: str | Path, count: int, size: int = 64, split: Split = "train", seed: int = 0) -> Path:
    """Write ``count`` scenes as ``scene_00000.png`` + ``scene_00000_mask.png`` and ``manifest.json``.

    Files are written under a temporary name and renamed; the manifest comes last, so a folder with a
    manifest is complete. Returns the manifest's path.
    """
    if count < 1:
        raise SegmentError(f"scene count must be at least 1, got {count}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SegmentError(f"cannot write scenes to {out}: {error.strerror or error}") from None
    entries = []
    for i in range(count):
        image, mask, meta = make_scene(i, size, split, seed)
        names = {"image": f"scene_{i:05d}.png", "mask": f"scene_{i:05d}_mask.png"}
        for key, array in (("image", image), ("mask", mask.astype(np.uint8) * 255)):
            _save_png(Image.fromarray(array), out / names[key])
        entries.append({**names, **meta})
    manifest = {"generator": "reelkit.segment.data", "split": split, "size": size, "seed": seed, "count": count,
                "sources": SOURCES[split], "scenes": entries}
    path = out / "manifest.json"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".manifest.", suffix=".part")
    with os.fdopen(fd, "w") as handle:
        json.dump(manifest, handle, indent=1)
    os.replace(tmp, path)
    return path


def _save_png(image: Image.Image, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.part")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)


def load_scenes(folder: str | Path) -> Scenes:
    """Read a folder written by :func:`write_scenes`."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise SegmentError(f"{folder} has no manifest.json; write scenes with `reelkit synth scenes`")
    manifest = json.loads(manifest_path.read_text())
    images = np.stack([np.asarray(Image.open(folder / e["image"]).convert("RGB")) for e in manifest["scenes"]])
    masks = np.stack([np.asarray(Image.open(folder / e["mask"]).convert("L")) > 127 for e in manifest["scenes"]])
    return Scenes(images, masks, manifest["scenes"])
