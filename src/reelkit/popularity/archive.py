"""A creator's archive: a CSV of their videos with headlines and view counts, and frame sampling.

Format (UTF-8 CSV with a header row; extra columns are ignored):

    video,headline,views,published[,collected]
    clips/cat.mp4,My cat learns piano,15400,2026-03-02,2026-04-01

``video`` is a path (relative paths are read from the CSV's folder), ``views`` a non-negative count,
``published`` and ``collected`` ISO dates (``collected``: when the views were counted; default: the
day after the newest ``published``). Popularity is views per day online, as in Trzcinski & Rokita's
normalised view counts: a video is "popular" when its log views per day is above the archive's median.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelkit.errors import PopularityError, ReelkitError
from reelkit.video import VideoReader, probe, working_size

REQUIRED_COLUMNS = ("video", "headline", "views", "published")


@dataclass(frozen=True)
class ArchiveVideo:
    path: Path
    headline: str
    views: int
    published: dt.date
    collected: dt.date

    @property
    def log_views_per_day(self) -> float:
        days = max((self.collected - self.published).days, 1)
        return float(np.log1p(self.views) - np.log(days))


def _date(value: str, line: int, column: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise PopularityError(f"archive line {line}: {column} {value!r} is not a date like 2026-03-02") from None


def read_archive(path: str | Path, check_files: bool = True) -> list[ArchiveVideo]:
    """Parse and validate an archive CSV; every problem is one line naming the CSV line."""
    path = Path(path)
    if not path.is_file():
        raise PopularityError(f"{path}: no such archive file")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            columns = set(rows[0].keys()) if rows else set()
    except (UnicodeDecodeError, csv.Error) as error:
        raise PopularityError(f"{path}: not a UTF-8 CSV file ({error})") from None
    if not rows:
        raise PopularityError(f"{path}: the archive has no videos (a header row and one line per video are needed)")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise PopularityError(f"{path}: missing column(s) {', '.join(missing)}; needed: {', '.join(REQUIRED_COLUMNS)}")
    entries = []
    for line, row in enumerate(rows, start=2):
        try:
            views = int(float(row["views"]))
        except (TypeError, ValueError):
            raise PopularityError(f"archive line {line}: views {row['views']!r} is not a number") from None
        if views < 0:
            raise PopularityError(f"archive line {line}: views cannot be negative")
        published = _date(row["published"] or "", line, "published")
        collected = _date(row["collected"], line, "collected") if row.get("collected") else None
        video = Path(row["video"] or "")
        video = video if video.is_absolute() else path.parent / video
        if check_files and not video.is_file():
            raise PopularityError(f"archive line {line}: video {video} does not exist")
        entries.append((video, (row["headline"] or "").strip(), views, published, collected))
    default_collected = max(e[3] for e in entries) + dt.timedelta(days=1)
    return [ArchiveVideo(v, h, n, p, c or default_collected) for v, h, n, p, c in entries]


def popular_labels(videos: list[ArchiveVideo], threshold: float | None = None) -> tuple[np.ndarray, float]:
    """1 for videos above the median log views per day (or ``threshold``), and the threshold used."""
    rates = np.array([v.log_views_per_day for v in videos])
    threshold = float(np.median(rates)) if threshold is None else threshold
    return (rates > threshold).astype(np.float32), threshold


def sample_times(duration: float, count: int) -> np.ndarray:
    """The middles of ``count`` equal parts of the video: the times whose frames the model sees."""
    return (np.arange(count) + 0.5) * duration / count


class FramePicker:
    """Collects the first decoded frame at or after each of ``times`` (RGB, resized to size x size when
    given, else shrunk to a longer side of at most ``max_side`` when given) from frames decoded elsewhere;
    call it on each frame, then :meth:`result`."""

    def __init__(self, times: np.ndarray, size: int | None = None, max_side: int = 0) -> None:
        self.pending = list(times)
        self.size = size
        self.max_side = max_side
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.last = None

    def __call__(self, frame) -> None:
        self.last = frame
        while self.pending and frame.time >= self.pending[0] - 1e-6:
            self.frames.append(_pixels(frame, self.size, self.max_side))
            self.times.append(frame.time)
            self.pending.pop(0)

    @property
    def done(self) -> bool:
        return not self.pending

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """The frames and their times; a stream that ended early repeats its last frame."""
        if self.last is None:
            raise PopularityError("no frames could be decoded")
        while self.pending:
            self.frames.append(_pixels(self.last, self.size, self.max_side))
            self.times.append(self.last.time)
            self.pending.pop(0)
        return np.stack(self.frames), np.array(self.times, np.float32)


def sample_frames(path: str | Path, count: int, size: int | None = None,
                  max_side: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` frames spread uniformly over the video (RGB uint8, resized to size x size when given, else
    shrunk to a longer side of at most ``max_side`` when given) and their times. Short videos repeat frames
    rather than fail."""
    info = probe(path)
    if info.duration > 0:
        picker = FramePicker(sample_times(info.duration, count), size, max_side)
        for frame in VideoReader(path):
            picker(frame)
            if picker.done:
                break
        return picker.result()
    decoded = list(VideoReader(path))  # unknown length: decode everything, then pick
    if not decoded:
        raise PopularityError(f"{path}: no frames could be decoded")
    picker = FramePicker(np.linspace(0, decoded[-1].time, count), size, max_side)
    for frame in decoded:
        picker(frame)
    return picker.result()


def _pixels(frame, size: int | None, max_side: int = 0) -> np.ndarray:
    if size is not None:
        return frame.resized(size, size)
    width, height = working_size(frame.width, frame.height, max_side)
    return frame.rgb() if (width, height) == (frame.width, frame.height) else frame.resized(width, height)


def load_archive_frames(videos: list[ArchiveVideo], count: int, size: int, progress=None) -> np.ndarray:
    """(N, T, size, size, 3) uint8 frames of every archive video; a broken video names its file."""
    clips = np.zeros((len(videos), count, size, size, 3), np.uint8)
    for index, video in enumerate(videos):
        try:
            clips[index] = sample_frames(video.path, count, size)[0]
        except ReelkitError as error:
            raise PopularityError(f"archive video {video.path.name}: {error}") from None
        if progress:
            progress()
    return clips
