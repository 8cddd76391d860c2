"""The overlay pipeline: keyframes -> text detection -> CRNN recognition -> Levenshtein filtering.

OCR is the expensive part, so it runs on few frames. Every ``sample_every`` seconds a keyframe is
checked cheaply: if the pixels of the lines on screen did not change (luma differences above noise),
the lines are still there. If they changed (a new caption, or just a moving background), the recogniser
re-reads those boxes. At a shot cut, and every ``refresh_every`` seconds while the rest of the frame
changes, every line is re-read and a probe (the detector on a small copy of the frame) looks for text
where no known line is. The detector proper runs only where something changed: on the band of rows
around a line whose reading differs or around the probe's new text. A line first found late is traced
back through the skipped keyframes to when it appeared.

Overlays are composited over the video, so their own pixels stay put while the background under them
pans: each re-read that confirms a line narrows its check to the pixels that stayed the same, and a
panning background then stops costing a re-read at every keyframe.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal, Protocol, Sequence

import numpy as np
from rapidfuzz import fuzz

from reelkit.text.dedupe import LineFilter, boxes_overlap, text_distance
from reelkit.text.detect import PPOCRDetector, TextBox, box_iou
from reelkit.text.formats import TimedLine
from reelkit.text.lexicon import Lexicon, LexiconCorrector
from reelkit.text.recognize import Reading, TextRecognizer
from reelkit.video import Keyframe, KeyframeSampler, VideoReader, prefetch

Progress = Callable[[int, int], None]


class Detector(Protocol):
    def __call__(self, rgb: np.ndarray) -> list[TextBox]: ...


class Recognizer(Protocol):
    def __call__(self, crops: list[np.ndarray]) -> list[Reading]: ...


@dataclass(frozen=True)
class ExtractorConfig:
    sample_every: float = 0.2  # seconds between keyframes checked for changes
    # Longer side frames are read at: larger video (1440p, 4K) is read as its 1080p copy would be, which holds
    # the same text at a quarter of the pixels (0: full size).
    max_side: int = 1920
    refresh_every: float = 1.0  # seconds between looks for new lines while the frame keeps changing
    probe_side: int = 320  # longer side of the cheap detection that looks for new lines (0: full detections)
    new_text: float = 0.2  # share of a probed box outside the known lines' boxes that makes it a new line
    max_band: float = 0.6  # share of the frame's height above which a detection covers the whole frame
    scale: int = 4  # downscaling of the grey frames used for shot cuts and the refresh check
    pixel_tolerance: int = 12  # luma difference under which a pixel counts as unchanged (video noise)
    region_change: float = 0.1  # share of a line's stable pixels that changed for the line to count as changed
    min_stable: float = 0.05  # share of a box's pixels that must stay stable to narrow its check to them
    frame_change: float = 2.0  # the same over the whole frame, for deciding on a refresh
    same_text: float = 0.25  # normalised Levenshtein distance under which two readings are one line
    min_confidence: float = 0.5
    min_box_iou: float = 0.3  # box overlap for a detection to continue a line
    same_box_iou: float = 0.8  # box overlap for a line to count as not moved
    nested_box: float = 0.8  # share of the smaller box inside the larger for a piece of a line
    nested_text: float = 90.0  # RapidFuzz partial ratio for a piece's text to be part of the line's


def _abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


@dataclass
class _Track:
    box: TextBox
    first_seen: float
    last_seen: float
    previous_sample: float  # keyframe time before first_seen, for the midpoint start estimate
    votes: dict[str, float] = field(default_factory=dict)  # text -> confidence x seconds it stood
    best_confidence: dict[str, float] = field(default_factory=dict)
    reference: np.ndarray | None = None  # luma crop of the box when last confirmed
    stable: np.ndarray | None = None  # pixels of the box that stayed the same across confirmations
    current: Reading | None = None  # the latest reading, standing since ``read_at``
    read_at: float = 0.0

    def add(self, reading: Reading, now: float) -> None:
        """A reading stands until the next one. Votes weigh readings by the time they stood, so a line
        re-read often over a busy background does not outvote the reading that held while it was calm."""
        self._close(now)
        self.current, self.read_at = reading, now
        self.best_confidence[reading.text] = max(self.best_confidence.get(reading.text, 0.0), reading.confidence)

    def _standing_vote(self, until: float) -> float:
        return self.current.confidence * max(until - self.read_at, 0.01) if self.current is not None else 0.0

    def _close(self, until: float) -> None:
        if self.current is not None:
            self.votes[self.current.text] = self.votes.get(self.current.text, 0.0) + self._standing_vote(until)
            self.read_at = until

    def changed(self, gray: np.ndarray, config: "ExtractorConfig") -> bool:
        crop = self.box.crop(gray)
        if self.reference is None or crop.shape != self.reference.shape:
            return True
        broken = _abs_diff(crop, self.reference) > config.pixel_tolerance
        return float(broken[self.stable].mean()) > config.region_change

    def confirm(self, gray: np.ndarray, config: "ExtractorConfig", same_line: bool) -> None:
        """A confirmation of the same line in the same place keeps only the pixels that still match the
        reference (the line's first sighting there), so a slow pan cannot creep in; anything else, or a
        line whose own pixels move, starts a new reference."""
        crop = self.box.crop(gray)
        if same_line and self.reference is not None and crop.shape == self.reference.shape:
            held = _abs_diff(crop, self.reference) <= config.pixel_tolerance
            narrowed = self.stable & held
            if narrowed.mean() >= config.min_stable:
                self.stable = narrowed
                return
        self.reference = crop.copy()
        self.stable = np.ones(crop.shape, bool)

    @property
    def text(self) -> str:
        tally = dict(self.votes)
        if self.current is not None:
            tally[self.current.text] = tally.get(self.current.text, 0.0) + self._standing_vote(self.last_seen)
        return max(tally, key=tally.get)

    def to_line(self, end: float) -> TimedLine:
        start = self.first_seen if self.previous_sample < 0 else (self.previous_sample + self.first_seen) / 2
        text = self.text
        return TimedLine(text, round(start, 3), round(end, 3), self.box.as_list(), round(self.best_confidence[text], 4))


def _in_video_pixels(lines: list[TimedLine], reader: VideoReader) -> list[TimedLine]:
    """Boxes found in frames read shrunk (``ExtractorConfig.max_side``), in pixels of the video's frame."""
    x_scale, y_scale = reader.to_video_scale
    if x_scale == y_scale == 1:
        return lines
    width, height = reader.info.width, reader.info.height
    return [replace(line, box=[min(width, round(line.box[0] * x_scale)), min(height, round(line.box[1] * y_scale)),
                               min(width, round(line.box[2] * x_scale)), min(height, round(line.box[3] * y_scale))])
            for line in lines]


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(_abs_diff(a, b).mean()) if a.size else 0.0


class OverlayExtractor:
    """Extracts timed text-overlay lines from a video: ``OverlayExtractor()("clip.mp4")``.

    Composed of swappable predictors: a detector (frame -> line boxes), a probe (a cheaper detector that
    only has to notice new lines; by default the same detector at ``config.probe_side``), a recogniser
    (line crops -> readings), a keyframe sampler and a line filter.
    """

    def __init__(self, detector: Detector | None = None, recognizer: Recognizer | None = None,
                 config: ExtractorConfig = ExtractorConfig(), line_filter: LineFilter = LineFilter(),
                 probe: Detector | None = None) -> None:
        self.detector = detector or PPOCRDetector()
        if probe is None and isinstance(self.detector, PPOCRDetector) and config.probe_side > 0:
            probe = self.detector.at_side(config.probe_side)
        self.probe = probe  # a cheap detector that only has to notice text where no known line is
        self.recognizer = recognizer or TextRecognizer()
        self.config = config
        self.sampler = KeyframeSampler(sample_every=config.sample_every, scale=config.scale)
        self.line_filter = line_filter
        self.stats: dict[str, int] = {}

    @classmethod
    def from_names(cls, model: str = "crnn_small", weights: str | Path | None = None,
                   decoder: Literal["greedy", "beam"] = "greedy", sample_every: float = 0.2,
                   lexicon: bool = True, words: Sequence[str] = ()) -> "OverlayExtractor":
        """``lexicon``: English lexicon decoding, with ``words`` added to the word list."""
        corrector: LexiconCorrector | str | None = "english" if lexicon else None
        if lexicon and words:
            corrector = LexiconCorrector(Lexicon.english().with_words(words))
        return cls(recognizer=TextRecognizer(model, weights=weights, decoder=decoder, corrector=corrector),
                   config=ExtractorConfig(sample_every=sample_every))

    def __call__(self, video: str | Path | VideoReader, progress: Progress | None = None) -> list[TimedLine]:
        """The lines of a video, given by its path (read at ``config.max_side``) or as a reader of its frames;
        boxes in pixels of the video."""
        reader = video if isinstance(video, VideoReader) else VideoReader(video, max_side=self.config.max_side)
        lines = self.line_filter(self._track(reader, progress))
        return _in_video_pixels(lines, reader)

    # -- the keyframe loop ------------------------------------------------------------------------------

    def _read(self, rgb: np.ndarray, boxes: list[TextBox]) -> list[Reading]:
        crops = [box.crop(rgb) for box in boxes]
        self.stats["lines_read"] += len(crops)
        return self.recognizer(crops) if crops else []

    def _usable(self, reading: Reading) -> bool:
        return reading.confidence >= self.config.min_confidence and any(c.isalnum() for c in reading.text)

    def _same(self, reading: Reading, track: _Track) -> bool:
        return text_distance(reading.text, track.text) <= self.config.same_text

    def _continues(self, box: TextBox, reading: Reading, track: _Track) -> bool:
        """A detection continues a line on screen: the same text in about the same place, or a box nested
        in the line's box (or holding it) whose text is contained in the line's (or holds it)."""
        cfg = self.config
        if box_iou(box, track.box) >= cfg.min_box_iou and self._same(reading, track):
            return True
        return (boxes_overlap(box.as_list(), track.box.as_list()) >= cfg.nested_box
                and fuzz.partial_ratio(reading.text.casefold(), track.text.casefold()) >= cfg.nested_text)

    def _track(self, reader: VideoReader, progress: Progress | None) -> list[TimedLine]:
        cfg = self.config
        self.stats = {"keyframes": 0, "probes": 0, "detections": 0, "rereads": 0, "lines_read": 0}
        total = max(1, int(reader.info.duration * reader.info.fps))
        active: list[_Track] = []
        finished: list[TimedLine] = []
        skipped: list[Keyframe] = []  # keyframes since the last detection
        reference: np.ndarray | None = None  # small grey frame at the last detection
        last_detection = -np.inf
        previous_time = -1.0
        last_time = 0.0
        for keyframe in prefetch(self.sampler(reader)):
            self.stats["keyframes"] += 1
            now = keyframe.frame.time
            last_time = now
            small = keyframe.small_gray
            rgb: np.ndarray | None = None
            detect = reference is None  # a detection over the whole frame
            look = keyframe.shot_cut  # look for lines that were not on screen before
            if not detect and not look and now - last_detection >= cfg.refresh_every - 1e-6:
                look = _mean_abs_diff(small, reference) > cfg.frame_change
            if self.probe is None:
                detect, look = detect or look, False
            changed_text: list[TextBox] | None = None  # where a detection is due, when not the whole frame
            probed = False
            gray = keyframe.frame.gray() if active or detect else None
            if not detect:
                # A look re-reads every line, as a detection would: more readings make a steadier vote.
                changed = list(active) if look else [t for t in active if t.changed(gray, cfg)]
                if changed:
                    self.stats["rereads"] += 1
                    rgb = keyframe.frame.rgb()
                    readings = self._read(rgb, [t.box for t in changed])
                    differs = [t for r, t in zip(readings, changed) if not (self._usable(r) and self._same(r, t))]
                    for reading, track in zip(readings, changed):
                        if track not in differs:
                            track.add(reading, now)
                            track.confirm(gray, cfg, same_line=True)
                    if differs and self.probe is None:
                        detect = True
                    elif differs:
                        kept = [t for t in active if t not in differs]
                        new_text, probed = self._new_text(rgb, kept), True
                        if new_text or any(self._usable(r) for r, t in zip(readings, changed) if t in differs):
                            changed_text = [t.box for t in differs] + new_text
                        else:  # the lines that no longer read have ended, and nothing took their place
                            finished.extend(t.to_line((t.last_seen + now) / 2) for t in differs)
                            active, look = kept, True
            if look and not detect and not probed:
                rgb = keyframe.frame.rgb() if rgb is None else rgb
                changed_text = self._new_text(rgb, active) or None
            if detect or changed_text:
                rgb = keyframe.frame.rgb() if rgb is None else rgb
                gray = keyframe.frame.gray() if gray is None else gray
                rows = None if detect else self._rows_to_detect(changed_text, active, rgb.shape[0])
                active, ended = self._detect(rgb, gray, now, previous_time, last_detection, active, skipped,
                                             keyframe.shot_cut, rows)
                finished.extend(ended)
                detect = True
            if detect or look:  # a probe that saw nothing new vouches for this keyframe as a detection would
                reference, last_detection, skipped = small, now, []
            else:
                skipped.append(keyframe)
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

    def _new_text(self, rgb: np.ndarray, active: list[_Track]) -> list[TextBox]:
        """The probe's boxes that lie mostly outside the known lines' boxes, each widened by half its
        height on every side (the probe's coarse boxes jitter by a few of its own pixels)."""
        self.stats["probes"] += 1
        known = [t.box.grown(t.box.height // 2) for t in active]
        return [box for box in self.probe(rgb)
                if box.area and 1 - sum(box.intersection(k) for k in known) / box.area > self.config.new_text]

    def _rows_to_detect(self, changed_text: list[TextBox], active: list[_Track], height: int) -> tuple[int, int] | None:
        """The band of rows around the text that changed, a line height of margin above and below, widened
        to hold every line it cuts; None (the whole frame) for a detector without ``detect_rows`` or when
        the band would cover most of the frame anyway."""
        if not hasattr(self.detector, "detect_rows"):
            return None
        margin = max(b.height for b in changed_text)
        top = max(0, min(b.y0 for b in changed_text) - margin)
        bottom = min(height, max(b.y1 for b in changed_text) + margin)
        for track in active:
            if track.box.y0 < bottom and track.box.y1 > top:
                top, bottom = min(top, track.box.y0), max(bottom, track.box.y1)
        return None if bottom - top > self.config.max_band * height else (top, bottom)

    def _detect(self, rgb: np.ndarray, gray: np.ndarray, now: float, previous_time: float, last_detection: float,
                active: list[_Track], skipped: list[Keyframe], shot_cut: bool,
                rows: tuple[int, int] | None = None) -> tuple[list[_Track], list[TimedLine]]:
        """A detection over the whole frame, or over a band of ``rows`` (lines outside it carry on)."""
        cfg = self.config
        self.stats["detections"] += 1
        outside: list[_Track] = []
        if rows is None:
            boxes = self.detector(rgb)
        else:
            boxes = self.detector.detect_rows(rgb, *rows)  # type: ignore[attr-defined]
            outside = [t for t in active if t.box.y1 <= rows[0] or t.box.y0 >= rows[1]]
            active = [t for t in active if t not in outside]
        readings = self._read(rgb, boxes)
        still: list[_Track] = []
        new: list[_Track] = []
        grown: list[tuple[_Track, bool]] = []  # lines whose box now holds more than this detection's box
        for box, reading in zip(boxes, readings):
            if not self._usable(reading):
                continue
            match = next((t for t in active if t not in still and self._continues(box, reading, t)), None)
            if match is None:
                match = _Track(box, now, now, previous_time)
                new.append(match)
                match.add(reading, now)
                match.confirm(gray, cfg, same_line=False)
                continue
            still.append(match)
            # The detector's box jitters by a pixel or two between frames: a line that stayed put
            # keeps its box, and with it the pixels its change check has learnt to watch.
            same_place = box_iou(box, match.box) >= cfg.same_box_iou
            if not same_place:
                # A piece of the line (the detector missed a dash) or the whole of it: keep the union.
                previous = match.box
                nested = boxes_overlap(box.as_list(), previous.as_list()) >= cfg.nested_box
                match.box = box.union(previous) if nested else box
                if match.box != box:  # only a piece was read: the vote goes to a reading of the whole
                    grown.append((match, match.box == previous))
                    continue
            match.add(reading, now)
            match.confirm(gray, cfg, same_line=same_place)
        if grown:
            for (track, kept_box), reading in zip(grown, self._read(rgb, [t.box for t, _ in grown])):
                if self._usable(reading):
                    track.add(reading, now)
                track.confirm(gray, cfg, same_line=kept_box)
        ended = [t.to_line((t.last_seen + now) / 2) for t in active if t not in still]
        if skipped and not shot_cut:
            for track in new:
                # Every line on screen passed its check at each skipped keyframe, so a new line over
                # one of them cannot have been there yet: it appeared after the previous keyframe.
                if not any(boxes_overlap(track.box.as_list(), old.box.as_list()) >= cfg.nested_box for old in active):
                    self._trace_back(track, skipped, last_detection)
        return outside + still + new, ended

    def _trace_back(self, track: _Track, skipped: list[Keyframe], last_detection: float) -> None:
        """Binary search over the skipped keyframes for the first one already showing the line."""
        text = track.text
        low, high = 0, len(skipped)  # skipped[high:] show the line (the detection frame counts as shown)
        while low < high:
            middle = (low + high) // 2
            keyframe = skipped[middle]
            reading = self._read(keyframe.frame.rgb(), [track.box])[0]
            if self._usable(reading) and text_distance(reading.text, text) <= self.config.same_text:
                high = middle
            else:
                low = middle + 1
        if high < len(skipped):
            track.first_seen = skipped[high].frame.time
            # high == 0: shown since the first skipped keyframe, so it appeared after the last detection.
            track.previous_sample = skipped[high - 1].frame.time if high > 0 else last_detection
