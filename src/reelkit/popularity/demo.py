"""A demo archive whose popularity has known, planted causes.

No public archive of videos with their view counts can be had offline, so reelkit makes one: short
clips over real photographs with moving distractor shapes, and a headline. Two causes raise the views
per day: a visual one (a yellow star sticker, on screen for most of the clip) and a textual one (a
"hook" headline: a number, a question, a secret). Everything else is noise. The star's box in every
frame is saved, so Grad-CAM can be checked with the pointing game.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from reelkit.text.formats import atomic_write
from reelkit.text.synth import colour_jitter, load_photo
from reelkit.video.encode import write_h264

PHOTOS = {
    "train": ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "brick",
              "grass", "camera", "coins", "china.jpg"],
    "heldout": ["retina", "gravel", "moon", "colorwheel", "flower.jpg", "clock"],
}
TOPICS = ["pasta", "guitar", "cat", "skate", "garden", "coffee", "makeup", "camera", "running", "budget", "bread",
          "chess", "hiking", "piano", "yoga", "lego", "ramen", "surf", "drawing", "tiny house"]
HOOKS = ["{n} {topic} tricks you won't believe", "The secret {topic} hack nobody tells you", "Why is {topic} so hard?",
         "{n} {topic} mistakes everyone makes", "I tried {topic} for {n} days and this happened",
         "Is this the best {topic} ever?"]
PLAIN = ["{topic} vlog part {n}", "my {topic} today", "{topic} update", "weekend {topic} session", "{topic} notes",
         "a quiet {topic} afternoon"]
COLLECTED = dt.date(2026, 11, 1)
RECIPE = "recipe.json"  # how a demo archive was made, for the model cards trained on it
# log(views per day) = BASE + STAR_EFFECT * star + HOOK_EFFECT * hook + N(0, NOISE)
BASE, STAR_EFFECT, HOOK_EFFECT, NOISE = 3.0, 1.4, 1.0, 0.25


@dataclass
class DemoVideo:
    file: str
    headline: str
    views: int
    published: str
    star: bool
    hook: bool
    star_boxes: dict[int, list[int]]  # frame index -> [x0, y0, x1, y1] in pixels


def star_polygon(centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.45
        a = angle + k * np.pi / 5
        points.append((centre[0] + r * np.sin(a), centre[1] - r * np.cos(a)))
    return np.round(np.array(points)).astype(np.int32)


def _distractor(rng: np.random.Generator, size: int) -> dict:
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    if rng.random() < 0.3:  # yellow distractors: the cause is the star's shape, not its colour
        colour = (235, 205 + int(rng.integers(0, 40)), int(rng.integers(0, 60)))
    return {"kind": rng.choice(["circle", "square", "triangle"]), "colour": colour,
            "radius": float(rng.uniform(0.06, 0.12) * size), "start": rng.uniform(0.15, 0.85, 2) * size,
            "velocity": rng.uniform(-0.1, 0.1, 2) * size}


def _draw_distractor(canvas: np.ndarray, shape: dict, t: float) -> None:
    x, y = shape["start"] + shape["velocity"] * t
    r, colour = shape["radius"], shape["colour"]
    if shape["kind"] == "circle":
        cv2.circle(canvas, (int(x), int(y)), int(r), colour, -1, cv2.LINE_AA)
    elif shape["kind"] == "square":
        cv2.rectangle(canvas, (int(x - r), int(y - r)), (int(x + r), int(y + r)), colour, -1, cv2.LINE_AA)
    else:
        points = np.array([(x, y - r), (x - r, y + r), (x + r, y + r)], np.int32)
        cv2.fillPoly(canvas, [points], colour, cv2.LINE_AA)


def render_video(rng: np.random.Generator, path: Path, star: bool, split: str, size: int = 128,
                 seconds: float = 4.0, fps: int = 8) -> dict[int, list[int]]:
    """Write one demo clip; returns the star's box per frame (empty without a star)."""
    photo = colour_jitter(rng, load_photo(str(rng.choice(PHOTOS[split]))))
    height, width = photo.shape[:2]
    crop = int(min(height, width) * rng.uniform(0.35, 0.8))
    start = rng.uniform(0, [width - crop, height - crop])
    end = rng.uniform(0, [width - crop, height - crop])
    shapes = [_distractor(rng, size) for _ in range(int(rng.integers(1, 4)))]
    count = int(seconds * fps)
    visible = range(0)
    if star:  # on screen for 60-100% of the clip, drifting slowly
        length = int(rng.integers(int(0.6 * count), count + 1))
        first = int(rng.integers(0, count - length + 1))
        visible = range(first, first + length)
        radius = rng.uniform(0.13, 0.2) * size
        centre = rng.uniform(radius + 4, size - radius - 4, 2)
        drift = rng.uniform(-0.04, 0.04, 2) * size
        angle = rng.uniform(0, 2 * np.pi / 5)
    boxes: dict[int, list[int]] = {}

    def frames() -> Iterator[np.ndarray]:
        for index in range(count):
            t = index / fps
            x0, y0 = start + (end - start) * index / max(count - 1, 1)
            canvas = cv2.resize(photo[int(y0):int(y0) + crop, int(x0):int(x0) + crop], (size, size),
                                interpolation=cv2.INTER_AREA)
            for shape in shapes:
                _draw_distractor(canvas, shape, t)
            if index in visible:
                c = np.clip(centre + drift * t, radius, size - radius)
                polygon = star_polygon((c[0], c[1]), radius, angle)
                cv2.fillPoly(canvas, [polygon], (250, 215, 20), cv2.LINE_AA)
                cv2.polylines(canvas, [polygon], True, (40, 30, 0), 2, cv2.LINE_AA)
                boxes[index] = [int(polygon[:, 0].min()), int(polygon[:, 1].min()),
                                int(polygon[:, 0].max()) + 1, int(polygon[:, 1].max()) + 1]
            yield canvas

    write_h264(path, frames(), fps, crf=20)
    return boxes


def headline(rng: np.random.Generator, hook: bool) -> str:
    template = str(rng.choice(HOOKS if hook else PLAIN))
    return template.format(n=int(rng.integers(2, 13)), topic=str(rng.choice(TOPICS))).capitalize()


def make_demo_archive(out: str | Path, videos: int = 400, seed: int = 0, split: str = "train",
                      on_video: Callable[[], None] | None = None) -> Path:
    """Write ``videos`` clips, ``archive.csv`` (the user-archive format) and ``truth.json`` (the causes)."""
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(videos):
        star, hook = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
        name = f"videos/{split}_{seed}_{index:04d}.mp4"
        boxes = render_video(rng, out / name, star, split)
        age = int(rng.integers(3, 91))
        rate = np.exp(BASE + STAR_EFFECT * star + HOOK_EFFECT * hook + rng.normal(0, NOISE))
        rows.append(DemoVideo(name, headline(rng, hook), max(1, int(round(rate * age))),
                              (COLLECTED - dt.timedelta(days=age)).isoformat(), star, hook, boxes))
        if on_video:
            on_video()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["video", "headline", "views", "published", "collected"])
    for row in rows:
        writer.writerow([row.file, row.headline, row.views, row.published, COLLECTED.isoformat()])
    atomic_write(out / "archive.csv", buffer.getvalue())
    truth = {row.file: {"star": row.star, "hook": row.hook, "star_boxes": row.star_boxes, "frame_size": 128, "fps": 8}
             for row in rows}
    atomic_write(out / "truth.json", json.dumps(truth) + "\n")
    recipe = {"command": f"reelkit synth archive {out} --videos {videos} --seed {seed} --split {split}",
              "videos": videos, "seed": seed, "split": split, "photos": PHOTOS[split],
              "log_views_per_day": f"{BASE} + {STAR_EFFECT} * star + {HOOK_EFFECT} * hook + N(0, {NOISE}^2)"}
    atomic_write(out / RECIPE, json.dumps(recipe, indent=2) + "\n")
    return out / "archive.csv"
