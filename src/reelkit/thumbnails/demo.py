"""Test videos with planted bad frames, and the share of chosen thumbnails that avoid them.

A planted video is a sequence of shots cut from real photos (scikit-image's and scikit-learn's sample
images) that pan, zoom or hold still. Between shots come hard cuts, cross-fades and stretches of black;
inside some shots the picture goes heavily out of focus for a moment. Every kind of bad frame appears
at least once, and its time intervals are written beside the video as ``<stem>.truth.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np
from PIL import Image, ImageFilter

from reelkit.text.formats import atomic_write
from reelkit.text.synth import load_photo
from reelkit.video.encode import write_h264, write_hdr

# Photos bundled with the libraries (no download): faces, animals, objects, scenes, greyscale.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")

#: Kinds of planted bad frames, as keys of the truth file.
BAD_KINDS = ("black", "blurred", "cut", "crossfade")

# Seconds either side of a hard cut counted as bad: the frames an encoder smears across it.
CUT_HALF_WIDTH = 0.1


def _photos() -> tuple[np.ndarray, ...]:
    return tuple(load_photo(name) for name in (*SKIMAGE_PHOTOS, *SKLEARN_PHOTOS))


@dataclass
class _Shot:
    start: float
    end: float
    photo: np.ndarray
    box0: tuple[float, float, float, float]  # crop window (x, y, w, h) at the start ...
    box1: tuple[float, float, float, float]  # ... and at the end: a pan, a zoom, or the same box (static)
    blur: tuple[float, float] | None = None  # an out-of-focus stretch inside the shot

    def render(self, t: float, width: int, height: int) -> np.ndarray:
        # Clamped progress lets a shot keep rendering through a cross-fade that overlaps its ends.
        p = min(1.0, max(0.0, (t - self.start) / max(self.end - self.start, 1e-6)))
        x, y, w, h = (a + (b - a) * p for a, b in zip(self.box0, self.box1))
        image = Image.fromarray(self.photo).resize((width, height), Image.BILINEAR, box=(x, y, x + w, y + h))
        if self.blur and self.blur[0] <= t < self.blur[1]:
            image = image.filter(ImageFilter.GaussianBlur(width / 80))
        return np.asarray(image)


def _window(rng: np.random.Generator, photo: np.ndarray, aspect: float, scale: float) -> tuple[float, ...]:
    ph, pw = photo.shape[:2]
    h = min(ph, pw / aspect) * scale
    w = h * aspect
    return (float(rng.uniform(0, pw - w)), float(rng.uniform(0, ph - h)), w, h)


def _shot(rng: np.random.Generator, start: float, end: float, aspect: float, motion: str,
          avoid: int | None) -> tuple[_Shot, int]:
    photos = _photos()
    choices = [i for i in range(len(photos)) if i != avoid]
    index = int(rng.choice(choices))
    photo = photos[index]
    if motion == "static":
        box = _window(rng, photo, aspect, float(rng.uniform(0.7, 0.95)))
        return _Shot(start, end, photo, box, box), index
    if motion == "zoom":
        big = _window(rng, photo, aspect, float(rng.uniform(0.85, 1.0)))
        scale = float(rng.uniform(0.65, 0.8))
        small = (big[0] + big[2] * (1 - scale) / 2, big[1] + big[3] * (1 - scale) / 2, big[2] * scale, big[3] * scale)
        return _Shot(start, end, photo, *((big, small) if rng.random() < 0.5 else (small, big))), index
    scale = float(rng.uniform(0.6, 0.8))
    return _Shot(start, end, photo, _window(rng, photo, aspect, scale), _window(rng, photo, aspect, scale)), index


@dataclass
class _Plan:
    shots: list[_Shot]
    fades: list[tuple[float, float, int]]  # (start, end, index of the outgoing shot)
    truth: dict[str, list[list[float]]]


def _plan(rng: np.random.Generator, duration: float, aspect: float) -> _Plan:
    """Shots of 1.6-2.6 s joined by cuts, cross-fades or black; the first few joins and shots use each
    kind of planted trouble once, so even a short video has them all."""
    joins = ["cut", "fade", "black"]
    inside = ["blur", "static"]
    rng.shuffle(joins)
    rng.shuffle(inside)
    shots: list[_Shot] = []
    fades: list[tuple[float, float, int]] = []
    truth: dict[str, list[list[float]]] = {kind: [] for kind in (*BAD_KINDS, "static")}
    t, last = 0.0, None
    while t < duration:
        kind = inside.pop() if inside else str(rng.choice(["pan", "zoom", "pan", "static"]))
        length = float(rng.uniform(2.2, 2.8) if kind in ("blur", "static") else rng.uniform(1.6, 2.6))
        end = t + length if t + length < duration - 1.0 else duration  # the last shot takes what is left
        motion = "static" if kind == "static" else ("pan" if kind == "blur" else kind)
        shot, last = _shot(rng, t, end, aspect, motion, last)
        if kind == "blur" and end - t > 1.6:
            # Away from the shot's ends, so the blur is the only thing wrong with these frames.
            b0 = t + float(rng.uniform(0.5, end - t - 1.2))
            shot.blur = (b0, b0 + float(rng.uniform(0.6, 0.8)))
            truth["blurred"].append(list(shot.blur))
        elif kind == "static":
            truth["static"].append([t, end])
        shots.append(shot)
        t = end
        if t >= duration:
            break
        join = joins.pop() if joins else str(rng.choice(["cut", "cut", "fade", "black"]))
        if join == "black" and t + 0.8 >= duration - 1.0:  # black needs a shot after it
            join = "cut"
        if join == "cut":
            truth["cut"].append([t - CUT_HALF_WIDTH, t + CUT_HALF_WIDTH])
        elif join == "fade":
            length = float(rng.uniform(0.6, 1.0))
            fades.append((t - length / 2, t + length / 2, len(shots) - 1))
            truth["crossfade"].append([t - length / 2, t + length / 2])
        else:
            length = float(rng.uniform(0.6, 0.8))
            truth["black"].append([t, t + length])
            truth["cut"] += [[t - CUT_HALF_WIDTH, t + CUT_HALF_WIDTH],
                             [t + length - CUT_HALF_WIDTH, t + length + CUT_HALF_WIDTH]]
            t += length
    for kind in truth:
        truth[kind] = [[round(a, 3), round(min(b, duration), 3)] for a, b in sorted(truth[kind]) if a < duration]
    return _Plan(shots, fades, truth)


def _render(plan: _Plan, t: float, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    for start, end, outgoing in plan.fades:
        if start <= t < end:
            a = plan.shots[outgoing].render(t, width, height).astype(np.float32)
            b = plan.shots[outgoing + 1].render(t, width, height).astype(np.float32)
            alpha = (t - start) / (end - start)
            return np.clip(a * (1 - alpha) + b * alpha, 0, 255).astype(np.uint8)
    shot = next((s for s in plan.shots if s.start <= t < s.end), None)
    if shot is None:  # black between two shots: a little sensor noise, as a real black frame has
        return rng.integers(0, 10, size=(height, width, 3), dtype=np.uint8)
    return shot.render(t, width, height)


def make_planted_video(path: str | Path, seed: int, width: int = 640, height: int = 360, duration: float = 12.0,
                       fps: int = 24, crf: int = 23, rotation: int = 0, hdr: str | None = None) -> dict:
    """Render an H.264 video with planted bad frames; returns its truth, also written as ``<stem>.truth.json``.
    A ``rotation`` stores the same picture as a phone would (see :func:`reelkit.video.encode.write_h264`);
    ``hdr="hlg"`` or ``"pq"`` stores it as a phone's HDR video instead (HEVC, :func:`~reelkit.video.encode.write_hdr`).

    The truth maps each kind in :data:`BAD_KINDS` (and ``static``, the still stretches whose frames are
    near-duplicates) to a list of ``[start, end]`` seconds, plus the video's ``duration`` and ``fps``.
    """
    path = Path(path)
    width, height = width - width % 2, height - height % 2
    rng = np.random.default_rng(seed)
    plan = _plan(rng, duration, width / height)
    noise = np.random.default_rng(seed + 1)
    frames = (_render(plan, index / fps, width, height, noise) for index in range(int(round(duration * fps))))
    if hdr is None:
        write_h264(path, frames, fps, crf, rotation)
    elif rotation:
        raise ValueError("an HDR planted video is written unrotated")
    else:
        write_hdr(path, frames, fps, hdr, crf)
    truth = {**plan.truth, "duration": duration, "fps": fps, "width": width, "height": height, "seed": seed}
    atomic_write(path.with_suffix(".truth.json"), json.dumps(truth, indent=2) + "\n")
    return truth


class _Timed(Protocol):
    time: float


def in_bad_interval(time: float, truth: dict, tolerance: float = 0.0) -> str | None:
    """The kind of planted bad frame at ``time``, or None if clean.

    Intervals are exact render times, start included and end not (a frame at ``start - 0.01`` was
    rendered clean); ``tolerance`` widens them on both sides for timestamps that are less certain.
    """
    for kind in BAD_KINDS:
        if any(start - tolerance <= time < end + tolerance for start, end in truth.get(kind, [])):
            return kind
    return None


def clean_share(thumbnails: Iterable[_Timed], truth: dict, tolerance: float = 0.0) -> float:
    """Share of the chosen frames that lie in no planted bad interval (see :func:`in_bad_interval`)."""
    times = [t.time for t in thumbnails]
    if not times:
        return 0.0
    return sum(in_bad_interval(t, truth, tolerance) is None for t in times) / len(times)
