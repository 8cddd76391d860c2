"""The overlay pipeline: keyframes -> text detection -> CRNN recognition -> Levenshtein filtering.

OCR is the expensive part, so it runs on few frames. Every ``sample_every`` seconds a keyframe is
checked cheaply: if the pixels inside the lines on screen did not change (a mean absolute difference
on a downscaled grey frame), the lines are still there. If they changed (a new caption, or just a moving
background), the recogniser re-reads those boxes; only when a reading differs, at a shot cut, or at a
periodic refresh (when the rest of the frame changed) does the detector look at the whole frame. A
line first found at a refresh is traced back through the skipped keyframes to when it appeared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Protocol

import numpy as np

from reelkit.text.dedupe import LineFilter, text_distance
from reelkit.text.detect import PPOCRDetector, TextBox, box_iou
from reelkit.text.formats import TimedLine
from reelkit.text.recognize import Reading, TextRecognizer
from reelkit.video import Keyframe, KeyframeSampler, VideoReader

Progress = Callable[[int, int], None]


class Detector(Protocol):
    def __call__(self, rgb: np.ndarray) -> list[TextBox]: ...


class Recognizer(Protocol):
    def __call__(self, crops: list[np.ndarray]) -> list[Reading]: ...


@dataclass(frozen=True)
class ExtractorConfig:
    sample_every: float = 0.2  # seconds between keyframes checked for changes
    refresh_every: float = 1.0  # seconds between full detections while the frame keeps changing
    scale: int = 4  # downscaling of the grey frames used for change checks
    region_change: float = 4.0  # mean absolute grey difference inside a line box that means "changed"
    frame_change: float = 2.0  # the same over the whole frame, for deciding on a refresh
    same_text: float = 0.25  # normalised Levenshtein distance under which two readings are one line
    min_confidence: float = 0.5
    min_box_iou: float = 0.3


@dataclass
class _Track:
    box: TextBox
    first_seen: float
    last_seen: float
    previous_sample: float  # keyframe time before first_seen, for the midpoint start estimate
    votes: dict[str, float] = field(default_factory=dict)
    best_confidence: dict[str, float] = field(default_factory=dict)
    reference: np.ndarray | None = None  # downscaled grey crop when last confirmed

    def add(self, reading: Reading) -> None:
        self.votes[reading.text] = self.votes.get(reading.text, 0.0) + reading.confidence
        self.best_confidence[reading.text] = max(self.best_confidence.get(reading.text, 0.0), reading.confidence)

    @property
    def text(self) -> str:
        return max(self.votes, key=self.votes.get)

    def to_line(self, end: float) -> TimedLine:
        start = self.first_seen if self.previous_sample < 0 else (self.previous_sample + self.first_seen) / 2
        text = self.text
        return TimedLine(text, round(start, 3), round(end, 3), self.box.as_list(), round(self.best_confidence[text], 4))


def _small_box(box: TextBox, scale: int) -> tuple[slice, slice]:
    return slice(box.y0 // scale, max(box.y0 // scale + 1, box.y1 // scale)), \
        slice(box.x0 // scale, max(box.x0 // scale + 1, box.x1 // scale))


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) if a.size else 0.0


class OverlayExtractor:
    """Extracts timed text-overlay lines from a video: ``OverlayExtractor()("clip.mp4")``.

    Composed of swappable predictors: a detector (frame -> line boxes), a recogniser (line crops ->
    readings), a keyframe sampler and a line filter.
    """

    def __init__(self, detector: Detector | None = None, recognizer: Recognizer | None = None,
                 config: ExtractorConfig = ExtractorConfig(), line_filter: LineFilter = LineFilter()) -> None:
        self.detector = detector or PPOCRDetector()
        self.recognizer = recognizer or TextRecognizer()
        self.config = config
        self.sampler = KeyframeSampler(sample_every=config.sample_every, scale=config.scale)
        self.line_filter = line_filter
        self.stats: dict[str, int] = {}

    @classmethod
    def from_names(cls, model: str = "crnn_small", weights: str | Path | None = None,
                   decoder: Literal["greedy", "beam"] = "greedy", sample_every: float = 0.2) -> "OverlayExtractor":
        return cls(recognizer=TextRecognizer(model, weights=weights, decoder=decoder),
                   config=ExtractorConfig(sample_every=sample_every))

    def __call__(self, video: str | Path, progress: Progress | None = None) -> list[TimedLine]:
        reader = VideoReader(video)
        return self.line_filter(self._track(reader, progress))

    # -- the keyframe loop ------------------------------------------------------------------------------

    def _read(self, rgb: np.ndarray, boxes: list[TextBox]) -> list[Reading]:
        crops = [box.crop(rgb) for box in boxes]
        self.stats["lines_read"] += len(crops)
        return self.recognizer(crops) if crops else []

    def _usable(self, reading: Reading) -> bool:
        return reading.confidence >= self.config.min_confidence and any(c.isalnum() for c in reading.text)

    def _same(self, reading: Reading, track: _Track) -> bool:
        return text_distance(reading.text, track.text) <= self.config.same_text

    def _track(self, reader: VideoReader, progress: Progress | None) -> list[TimedLine]:
        cfg = self.config
        self.stats = {"keyframes": 0, "detections": 0, "lines_read": 0}
        total = max(1, int(reader.info.duration * reader.info.fps))
        active: list[_Track] = []
        finished: list[TimedLine] = []
        skipped: list[tuple[Keyframe, np.ndarray]] = []  # keyframes since the last detection
        reference: np.ndarray | None = None  # small grey frame at the last detection
        last_detection = -np.inf
        previous_time = -1.0
        last_time = 0.0
        for keyframe in self.sampler(reader):
            self.stats["keyframes"] += 1
            now = keyframe.frame.time
            last_time = now
            small = keyframe.small_gray
            rgb: np.ndarray | None = None
            detect = reference is None or keyframe.shot_cut
            if not detect and now - last_detection >= cfg.refresh_every - 1e-6:
                detect = _mean_abs_diff(small, reference) > cfg.frame_change
            if not detect:
                changed = [t for t in active if _mean_abs_diff(small[_small_box(t.box, cfg.scale)], t.reference) > cfg.region_change]
                if changed:
                    rgb = keyframe.frame.rgb()
                    readings = self._read(rgb, [t.box for t in changed])
                    if all(self._usable(r) and self._same(r, t) for r, t in zip(readings, changed)):
                        for reading, track in zip(readings, changed):
                            track.add(reading)
                            track.reference = small[_small_box(track.box, cfg.scale)].copy()
                    else:
                        detect = True
            if detect:
                rgb = keyframe.frame.rgb() if rgb is None else rgb
                active, ended = self._detect(rgb, small, now, previous_time, last_detection, active, skipped,
                                             keyframe.shot_cut)
                finished.extend(ended)
                reference, last_detection, skipped = small, now, []
            else:
                skipped.append((keyframe, small))
            for track in active:
                track.last_seen = now
            previous_time = now
            if progress:
                progress(keyframe.frame.index + 1, total)
        end = reader.info.duration if reader.info.duration > last_time else last_time + cfg.sample_every
        finished.extend(track.to_line(end) for track in active)
        if progress:
            progress(total, total)
        return finished

    def _detect(self, rgb: np.ndarray, small: np.ndarray, now: float, previous_time: float, last_detection: float,
                active: list[_Track], skipped: list[tuple[Keyframe, np.ndarray]],
                shot_cut: bool) -> tuple[list[_Track], list[TimedLine]]:
        cfg = self.config
        self.stats["detections"] += 1
        boxes = self.detector(rgb)
        readings = self._read(rgb, boxes)
        still: list[_Track] = []
        new: list[_Track] = []
        for box, reading in zip(boxes, readings):
            if not self._usable(reading):
                continue
            match = next((t for t in active if t not in still and box_iou(box, t.box) >= cfg.min_box_iou
                          and self._same(reading, t)), None)
            if match is None:
                match = _Track(box, now, now, previous_time)
                new.append(match)
            else:
                still.append(match)
                match.box = box
            match.add(reading)
            match.reference = small[_small_box(box, cfg.scale)].copy()
        ended = [t.to_line((t.last_seen + now) / 2) for t in active if t not in still]
        if skipped and not shot_cut:
            for track in new:
                self._trace_back(track, skipped, last_detection)
        return still + new, ended

    def _trace_back(self, track: _Track, skipped: list[tuple[Keyframe, np.ndarray]], last_detection: float) -> None:
        """Binary search over the skipped keyframes for the first one already showing the line."""
        text = track.text
        low, high = 0, len(skipped)  # skipped[high:] show the line (the detection frame counts as shown)
        while low < high:
            middle = (low + high) // 2
            keyframe = skipped[middle][0]
            reading = self._read(keyframe.frame.rgb(), [track.box])[0]
            if self._usable(reading) and text_distance(reading.text, text) <= self.config.same_text:
                high = middle
            else:
                low = middle + 1
        if high < len(skipped):
            track.first_seen = skipped[high][0].frame.time
            # high == 0: shown since the first skipped keyframe, so it appeared after the last detection.
            track.previous_sample = skipped[high - 1][0].frame.time if high > 0 else last_detection
