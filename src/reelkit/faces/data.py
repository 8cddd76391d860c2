"""The labelled faces, their fixed split, the teacher's landmarks and the crops EmotionalDAN sees.

- ``../shared/data/facial_expressions``: about 11,600 face photos (tight crops, longest side <= 160 px)
  with one of 8 emotions each (``labels.csv``: image, emotion), heavily imbalanced.
- Split: stratified by emotion, 70 % train, 15 % validation, 15 % test, ``random_state=seed``
  (scikit-learn ``train_test_split`` twice). Tuning reads validation only; the test split is for reports.
- Teacher: face-api's tiny face detector finds the face box and its 68-point landmark net places the
  landmarks (:mod:`reelkit.faces.detect`). The photos are tight crops, where the detector (trained on faces
  in context) mostly fails, so each photo is first framed in a grey border
  (:data:`reelkit.faces.detect.FRAMING_TRIES`: border width as a share of the longest side, detector input
  size; the first try that finds a face wins).
  Computed once, cached in ``runs/faces/landmarks.npz`` keyed by image name.
- Crops (DAN's ImageServer ``CropResizeRotate``): the mean shape placed in the face box is mapped by the
  best similarity onto the canonical mean shape of the 112 px crop, and the grey image warped with it.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from reelkit.errors import FaceError
from reelkit.faces.detect import BORDER_GREY, search_framed
from reelkit.faces.models import EMOTIONS, MIRROR_68
from reelkit.splits import Split

DATA_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data"
DEFAULT_DIR = DATA_DIR / "facial_expressions"
DEFAULT_CACHE = Path("runs/faces/landmarks.npz")
SPLIT_RECIPE = ("stratified by emotion with scikit-learn train_test_split (random_state={seed}): 70 % train, "
                "then the other 30 % halved into validation and test")


@dataclass(frozen=True)
class FaceDataset:
    folder: Path
    names: list[str]
    labels: np.ndarray  # (n,) index into EMOTIONS

    def __len__(self) -> int:
        return len(self.names)


def load_labels(folder: str | Path = DEFAULT_DIR) -> FaceDataset:
    """The labelled photos of ``folder`` (``labels.csv`` and ``images/``); a name listed twice is kept once
    (its first label), a label outside :data:`EMOTIONS` or a missing image is an error."""
    folder = Path(folder)
    table = folder / "labels.csv"
    if not table.is_file():
        raise FaceError(f"labelled faces not found: no {table} (expected ../shared/data/facial_expressions beside the checkout)")
    names, labels, seen = [], [], set()
    try:
        with table.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if not {"image", "emotion"} <= set(reader.fieldnames or []):
                raise FaceError(f"{table} needs the columns image,emotion")
            for row in reader:
                name, emotion = row["image"].strip(), row["emotion"].strip().lower()
                if emotion not in EMOTIONS:
                    raise FaceError(f"{table} line {reader.line_num}: unknown emotion {emotion!r}")
                if name in seen:
                    continue
                seen.add(name)
                names.append(name)
                labels.append(EMOTIONS.index(emotion))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise FaceError(f"cannot read {table}: {error}") from None
    missing = [n for n in names if not (folder / "images" / n).is_file()]
    if missing:
        raise FaceError(f"{len(missing)} images listed in {table} are missing, e.g. {missing[0]}")
    return FaceDataset(folder, names, np.asarray(labels, np.int64))


def stratified_split(labels: np.ndarray, seed: int = 0) -> Split:
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(labels))
    train, rest = train_test_split(rows, test_size=0.3, stratify=labels, random_state=seed)
    validation, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=seed)
    return Split(np.sort(train), np.sort(validation), np.sort(test), SPLIT_RECIPE.format(seed=seed))


def read_rgb(path: str | Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# --- the teacher -------------------------------------------------------------------------------------


@dataclass
class TeacherLandmarks:
    """Per image: the face box (x0, y0, x1, y1; may reach past the photo's edge), the detector's score,
    the 68 landmarks, and whether the detector found the face (else the box is the data set's typical
    box for the photo's size and the landmarks are less trustworthy)."""

    names: np.ndarray
    boxes: np.ndarray  # (n, 4) float32
    scores: np.ndarray  # (n,) float32, 0 where not detected
    landmarks: np.ndarray  # (n, 68, 2) float32
    detected: np.ndarray  # (n,) bool

    def index(self) -> dict[str, int]:
        return {str(n): i for i, n in enumerate(self.names)}

    def select(self, names: list[str]) -> "TeacherLandmarks":
        lookup = self.index()
        missing = [n for n in names if n not in lookup]
        if missing:
            raise FaceError(f"teacher landmarks cache lacks {len(missing)} images, e.g. {missing[0]}; delete it to rebuild")
        rows = np.array([lookup[n] for n in names], np.int64)
        return TeacherLandmarks(self.names[rows], self.boxes[rows], self.scores[rows], self.landmarks[rows], self.detected[rows])


def teacher_landmarks(dataset: FaceDataset, cache: str | Path = DEFAULT_CACHE,
                      progress: Callable[[int, int], None] | None = None) -> TeacherLandmarks:
    """face-api's boxes and 68 landmarks for every photo of ``dataset``, from ``cache`` when it holds
    them all, else computed (a few minutes on a CPU) and written there."""
    cache = Path(cache)
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as stored:
                cached = TeacherLandmarks(stored["names"], stored["boxes"], stored["scores"], stored["landmarks"],
                                          stored["detected"])
            return cached.select(dataset.names)
        except (OSError, KeyError, ValueError, FaceError):
            pass  # stale or unreadable: rebuilt below
    from reelkit.faces.detect import FaceLandmarks68, TinyFaceDetector

    detector, marker = TinyFaceDetector(), FaceLandmarks68()
    count = len(dataset)
    boxes = np.zeros((count, 4), np.float32)
    scores = np.zeros(count, np.float32)
    detected = np.zeros(count, bool)
    sizes = np.zeros((count, 2), np.float32)
    landmarks = np.zeros((count, 68, 2), np.float32)

    def mark(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        pad = int(round(0.5 * max(rgb.shape[:2])))  # the landmark net sees the box in the same grey frame
        framed = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(BORDER_GREY,) * 3)
        return marker(framed, tuple(float(v) + pad for v in box)) - pad

    for index, name in enumerate(dataset.names):
        rgb = read_rgb(dataset.folder / "images" / name)
        sizes[index] = rgb.shape[1], rgb.shape[0]
        found = search_framed(detector, rgb)
        if found:
            boxes[index], scores[index], detected[index] = found[0].box, found[0].score, True
            landmarks[index] = mark(rgb, boxes[index])
        if progress:
            progress(index + 1, count)
    if not detected.any():
        raise FaceError("the face detector found no face in any photo; is the face-api model folder intact?")
    # Photos without a detection get the typical box relative to the photo's size.
    relative = boxes[detected] / np.concatenate([sizes[detected], sizes[detected]], 1)
    typical = np.median(relative, 0)
    for index in np.flatnonzero(~detected):
        boxes[index] = typical * np.concatenate([sizes[index], sizes[index]])
        landmarks[index] = mark(read_rgb(dataset.folder / "images" / dataset.names[index]), boxes[index])
    result = TeacherLandmarks(np.asarray(dataset.names), boxes, scores, landmarks, detected)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f".{cache.stem}.{os.getpid()}.part.npz")
    try:
        np.savez_compressed(partial, names=result.names, boxes=boxes, scores=scores, landmarks=landmarks, detected=detected)
        partial.replace(cache)
    finally:
        partial.unlink(missing_ok=True)
    return result


def box_mean_shape(boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The mean of the landmarks in box coordinates (0..1 from the box's left/top edge): DAN's mean shape,
    placed in a new face's box to start the alignment."""
    origin, size = boxes[:, None, :2], (boxes[:, 2:] - boxes[:, :2])[:, None, :]
    return ((landmarks - origin) / size).mean(0).astype(np.float32)


# --- crops -------------------------------------------------------------------------------------------


def similarity_to(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the least-squares similarity mapping ``source`` (n, 2) onto ``target`` (n, 2)
    (DAN's utils.bestFit), for cv2.warpAffine."""
    src, dst = source - source.mean(0), target - target.mean(0)
    norm = (src ** 2).sum()
    a = (src * dst).sum() / norm
    b = (src[:, 0] * dst[:, 1] - src[:, 1] * dst[:, 0]).sum() / norm
    linear = np.array([[a, -b], [b, a]])  # column-vector form of DAN's row-vector [[a, b], [-b, a]]
    shift = target.mean(0) - linear @ source.mean(0)
    return np.concatenate([linear, shift[:, None]], 1).astype(np.float64)


def initial_shape(box: np.ndarray, box_shape: np.ndarray) -> np.ndarray:
    """DAN's box initialisation: the mean shape placed in the face box."""
    box = np.asarray(box, np.float64)
    return box_shape * (box[2:] - box[:2]) + box[:2]


def perturb(shape: np.ndarray, rng: np.random.Generator, translation: float, rotation: float, scale: float) -> np.ndarray:
    """DAN's GeneratePerturbations: shift by normal noise of ``translation`` times the shape's width/height,
    scale by N(1, ``scale``), rotate by N(0, ``rotation``) degrees about the shape's centre."""
    extent = shape.max(0) - shape.min(0)
    shape = shape + rng.normal(0, translation, 2) * extent
    centre = shape.mean(0)
    angle = np.deg2rad(rng.normal(0, rotation))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    factor = max(rng.normal(1, scale), 0.25)  # a wide scale draw must not shrink the face to nothing or turn it over
    return (shape - centre) @ rot.T * factor + centre


def make_crop(gray: np.ndarray, start: np.ndarray, canonical: np.ndarray, size: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """DAN's CropResizeRotate: the ``size`` px crop in which ``start`` (the initial shape in image pixels)
    lands on ``canonical``, and the 2x3 image-to-crop matrix."""
    matrix = similarity_to(start, canonical)
    crop = cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def mirror(crop: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip a crop and its landmarks left to right (landmark identities swapped with :data:`MIRROR_68`)."""
    flipped = points[MIRROR_68].copy()
    flipped[:, 0] = crop.shape[1] - 1 - flipped[:, 0]
    return crop[:, ::-1].copy(), flipped


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
