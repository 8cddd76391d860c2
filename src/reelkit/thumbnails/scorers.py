"""Plug-in frame scorers: each rates a candidate in [0, 1] with a short reason a person can read.

A scorer is anything with a ``name``, a ``weight`` and ``__call__(candidate) -> Score``; the ranker
combines them as a weighted mean. The built-ins judge sharpness, faces (face-api's tiny face detector, with
an optional emotion model), the salient subject (spectral-residual saliency, or any segmenter), overlay
text (PP-OCR's detector) and, through :class:`PopularityScorer`, any model of how well a frame will do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import cv2
import numpy as np

from reelkit.errors import ThumbnailError
from reelkit.segment.saliency import otsu_level, spectral_residual_saliency
from reelkit.thumbnails.candidates import Candidate

FaceFinder = Callable[[np.ndarray], Sequence[Any]]  # RGB -> detections, each with a ``box`` (x0, y0, x1, y1)
# (RGB frame, face box (x0, y0, x1, y1)) -> emotion -> probability
EmotionModel = Callable[[np.ndarray, tuple[float, float, float, float]], Mapping[str, float]]
Segmenter = Callable[[np.ndarray], np.ndarray]  # RGB -> subject mask (bool, or probabilities in [0, 1])


@dataclass(frozen=True)
class Score:
    value: float  # in [0, 1]; higher is a better thumbnail
    reason: str  # a short phrase, e.g. "a clear face near the centre"
    details: dict[str, Any] = field(default_factory=dict)  # JSON-friendly extras (boxes, measurements)


class FrameScorer(Protocol):
    name: str
    weight: float

    def __call__(self, candidate: Candidate) -> Score: ...


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def _ramp(x: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between (either direction)."""
    return _clip01((x - low) / (high - low))


@dataclass
class SharpnessScorer:
    """Sharpness relative to the video's own sharp frames (Laplacian variance of the analysis grey);
    a still image with no video around it is judged against ``absolute_reference``."""

    weight: float = 1.0
    absolute_reference: float = 500.0
    name: str = "sharpness"

    def __call__(self, candidate: Candidate) -> Score:
        reference = candidate.sharpness_reference or self.absolute_reference
        value = _clip01(candidate.sharpness / max(reference, 1e-6))
        reason = "sharp detail" if value >= 0.8 else "reasonable sharpness" if value >= 0.4 else "soft focus"
        return Score(value, reason, {"laplacian_variance": round(candidate.sharpness, 1)})


# The long side at which faces are looked for: above the detector's 416-px input, so nothing is lost.
FINDER_SIDE = 640


class FaceScorer:
    """Rewards a visible, reasonably large face that is not cut off by the frame's edge.

    Faces come from ``finder`` (RGB -> detections, each with a ``box``), by default face-api's tiny face
    detector as :class:`reelkit.faces.detect.FrameFaceFinder` runs it on video frames. A face ``ideal_height`` of
    the frame's short side or more scores fully; one under ``min_height``, or larger than the frame, does
    not count; one over ``max_height`` is too close. An optional ``emotion`` model ((RGB frame, face box)
    -> emotion -> probability) lets an expressive face (``expressive`` emotions) count for more.
    """

    name = "face"

    def __init__(self, weight: float = 1.0, emotion: EmotionModel | None = None, finder: FaceFinder | None = None,
                 min_height: float = 0.1, ideal_height: float = 0.2, max_height: float = 0.7,
                 expressive: Sequence[str] = ("happiness", "surprise")) -> None:
        if finder is None:
            from reelkit.faces.detect import FrameFaceFinder

            finder = FrameFaceFinder()
        self.finder = finder
        self.weight = weight
        self.emotion = emotion
        self.min_height, self.ideal_height, self.max_height = min_height, ideal_height, max_height
        self.expressive = tuple(expressive)

    def detect(self, candidate: Candidate) -> list[tuple[float, float, float, float]]:
        """Face boxes (x0, y0, x1, y1) in pixels of ``candidate.rgb``, largest first; a box may reach past
        the frame's edge where the face does."""
        height, width = candidate.rgb.shape[:2]
        small = candidate.resized(FINDER_SIDE)
        scale = width / small.shape[1]
        boxes = [tuple(float(v) * scale for v in detection.box) for detection in self.finder(small)]
        shortest = self.min_height * min(height, width)
        # A box wider or taller than the frame itself is the detector reading a texture (a page of text,
        # a retina) as one huge face, never a face in the frame.
        boxes = [box for box in boxes if shortest <= box[3] - box[1] <= height and box[2] - box[0] <= width]
        return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)

    def __call__(self, candidate: Candidate) -> Score:
        boxes = self.detect(candidate)
        if not boxes:
            return Score(0.0, "no face", {"faces": []})
        height, width = candidate.rgb.shape[:2]
        x0, y0, x1, y1 = boxes[0]
        share = (y1 - y0) / min(height, width)
        value = _ramp(share, 0.0, self.ideal_height)
        reason = f"a clear face ({share:.0%} of the frame height)" if value >= 0.8 else "a small face"
        if share > self.max_height:
            value, reason = 0.5, "a face too close to the camera"
        margin = 0.02 * min(height, width)  # a box touching the border means the face runs off it
        if x0 < margin or y0 < margin or x1 > width - margin or y1 > height - margin:
            value, reason = value * 0.6, "a face cut off by the edge"
        details: dict[str, Any] = {"faces": [[round(v, 1) for v in box] for box in boxes],
                                   "face_height": round(share, 3)}
        if self.emotion is not None:
            probabilities = {k: float(v) for k, v in self.emotion(candidate.rgb, boxes[0]).items()}
            expressive = _clip01(sum(probabilities.get(e, 0.0) for e in self.expressive))
            value *= 0.6 + 0.4 * expressive
            top = max(probabilities, key=probabilities.get, default=None)
            if top is not None:
                reason += f", looking {top}"
            details["emotions"] = probabilities
        return Score(_clip01(value), reason, details)


# Where a subject looks well placed: the centre and the four rule-of-thirds points.
ANCHORS = ((0.5, 0.5), (1 / 3, 1 / 3), (2 / 3, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 2 / 3))


class SubjectScorer:
    """Rewards one salient subject of moderate size placed near the centre or a rule-of-thirds point.

    The subject is the largest region of the Otsu-thresholded spectral-residual saliency map, or of the
    mask a ``segmenter`` returns (RGB -> mask) when one is given.
    """

    name = "subject"

    def __init__(self, weight: float = 1.0, segmenter: Segmenter | None = None,
                 size_range: tuple[float, float] = (0.08, 0.45), analysis_side: int = 320) -> None:
        self.weight = weight
        self.segmenter = segmenter
        self.size_range = size_range
        self.analysis_side = analysis_side

    def mask(self, candidate: Candidate) -> np.ndarray:
        rgb = candidate.resized(self.analysis_side)
        if self.segmenter is not None:
            return np.asarray(self.segmenter(rgb), dtype=np.float32) > 0.5
        saliency = spectral_residual_saliency(rgb)
        return saliency >= otsu_level(saliency)

    def __call__(self, candidate: Candidate) -> Score:
        mask = self.mask(candidate).astype(np.uint8)
        count, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count < 2:
            return Score(0.0, "no clear subject", {})
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        height, width = mask.shape
        area = float(stats[largest, cv2.CC_STAT_AREA]) / (height * width)
        cx, cy = centroids[largest][0] / width, centroids[largest][1] / height
        low, high = self.size_range
        size = _ramp(area, low / 4, low) if area < low else _ramp(area, 0.85, high)
        distance = min(float(np.hypot(cx - ax, cy - ay)) for ax, ay in ANCHORS)
        place = _ramp(distance, 0.25, 0.05)
        value = 0.5 * size + 0.5 * place
        if size < 0.5:
            reason = "a small subject" if area < low else "no single subject standing out"
        elif place < 0.5:
            reason = "a clear subject, off the centre and thirds"
        else:
            where = "near the centre" if np.hypot(cx - 0.5, cy - 0.5) <= distance + 1e-9 else "on a third"
            reason = f"a well-placed subject {where}"
        return Score(value, reason, {"subject_area": round(area, 3), "subject_centre": [round(cx, 3), round(cy, 3)]})


class TextScorer:
    """A little overlay text (a title, a caption) helps a thumbnail; a frame full of text does not.

    Text lines come from ``detector`` (default: PP-OCR's detector from :mod:`reelkit.text`, loaded on
    first use) on the frame shrunk to ``analysis_side``. The value is 1 up to ``good_coverage`` of the
    frame under text, falls to 0 at ``max_coverage``, and is ``no_text_value`` without text. Boxes taller
    than ``max_line_height`` of the frame are not text lines (DBNet can take a textured object for one).
    """

    name = "text"

    def __init__(self, weight: float = 0.5, detector: Callable[[np.ndarray], list] | None = None,
                 analysis_side: int = 384, good_coverage: float = 0.12, max_coverage: float = 0.35,
                 no_text_value: float = 0.5, max_line_height: float = 0.25) -> None:
        self.weight = weight
        self._detector = detector
        self.analysis_side = analysis_side
        self.good_coverage, self.max_coverage = good_coverage, max_coverage
        self.no_text_value = no_text_value
        self.max_line_height = max_line_height

    @property
    def detector(self) -> Callable[[np.ndarray], list]:
        if self._detector is None:
            from reelkit.text import PPOCRDetector

            self._detector = PPOCRDetector(max_side=self.analysis_side)
        return self._detector

    def __call__(self, candidate: Candidate) -> Score:
        rgb = candidate.resized(self.analysis_side)
        scale = candidate.rgb.shape[1] / rgb.shape[1]
        boxes = [[round(v * scale) for v in box.as_list()] for box in self.detector(rgb)
                 if box.height <= self.max_line_height * rgb.shape[0]]
        return self.score_boxes(boxes, candidate.rgb.shape[:2])

    def score_boxes(self, boxes: list[list[int]], shape: tuple[int, int]) -> Score:
        """The score of a frame of ``shape`` (height, width) with text lines at ``boxes`` (x0, y0, x1, y1)."""
        if not boxes:
            return Score(self.no_text_value, "no overlay text", {"text_boxes": []})
        covered = np.zeros(shape, bool)
        for x0, y0, x1, y1 in boxes:
            covered[max(0, y0):y1, max(0, x0):x1] = True
        coverage = float(covered.mean())
        value = _ramp(coverage, self.max_coverage, self.good_coverage)
        reason = "a short text overlay" if value >= 0.8 else "too much text"
        return Score(value, reason, {"text_boxes": [list(b) for b in boxes], "text_coverage": round(coverage, 3)})


@dataclass
class PopularityScorer:
    """Wraps any model ``(rgb) -> float in [0, 1]`` that predicts how well a frame will do."""

    model: Callable[[np.ndarray], float]
    weight: float = 1.0
    name: str = "popularity"

    def __call__(self, candidate: Candidate) -> Score:
        value = _clip01(float(self.model(candidate.rgb)))
        reason = "high predicted appeal" if value >= 0.6 else "average predicted appeal" if value >= 0.3 \
            else "low predicted appeal"
        return Score(value, reason)


SUBJECT_SEGMENTERS = ("move", "saliency")


def subject_segmenter(kind: str) -> Segmenter | None:
    """The subject scorer's segmenter: ``move`` (MOVE's shipped ``move_small``) or ``saliency`` (None: the
    built-in spectral-residual saliency)."""
    if kind not in SUBJECT_SEGMENTERS:
        raise ThumbnailError(f"unknown subject segmenter {kind!r}; choose one of {', '.join(SUBJECT_SEGMENTERS)}")
    if kind == "saliency":
        return None
    from reelkit.segment.move.pipeline import MoveSegmentation

    return MoveSegmentation.from_name("move_small")


def default_scorers(text: bool = True, emotion: bool = True, subject: str = "saliency") -> list[FrameScorer]:
    """Sharpness, faces (with EmotionalDAN's emotion of the largest face unless ``emotion=False``),
    the salient subject (spectral-residual saliency, or MOVE's mask with ``subject="move"``) and, with
    ``text``, overlay text."""
    face_emotion = None
    if emotion:
        from reelkit.faces import EmotionAdapter

        face_emotion = EmotionAdapter()
    scorers: list[FrameScorer] = [SharpnessScorer(), FaceScorer(emotion=face_emotion),
                                  SubjectScorer(segmenter=subject_segmenter(subject))]
    if text:
        scorers.append(TextScorer())
    return scorers


def combine(scores: Mapping[str, Score], weights: Mapping[str, float], top: int = 2) -> tuple[float, str]:
    """The weighted mean of the scores, and a sentence made of the reasons of its largest contributors."""
    total_weight = sum(weights[name] for name in scores)
    if total_weight <= 0:
        return 0.0, "No scorer has weight."
    total = sum(weights[name] * score.value for name, score in scores.items()) / total_weight
    ranked = sorted(scores, key=lambda name: weights[name] * scores[name].value, reverse=True)
    strong = [scores[n].reason for n in ranked if scores[n].value > 0.5][:top] or [scores[ranked[0]].reason]
    sentence = strong[0] if len(strong) == 1 else ", ".join(strong[:-1]) + " and " + strong[-1]
    return _clip01(total), sentence[0].upper() + sentence[1:] + "."
