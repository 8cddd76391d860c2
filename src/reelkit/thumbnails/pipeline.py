"""The thumbnail ranker: candidate frames -> scorers -> weighted mean -> near-duplicates dropped -> top k.

Like docTR's predictors, :class:`ThumbnailRanker` is a callable composed of swappable parts: a
candidate sampler and a list of scorers. :func:`export_thumbnails` writes the chosen frames as JPEGs,
a labelled contact sheet and a JSON report, all or nothing.
"""

from __future__ import annotations

import bisect
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reelkit.errors import OutputError, ThumbnailError
from reelkit.thumbnails.candidates import (Candidate, CandidateSampler, Rejection, Sampler, SamplerConfig, Sampling,
                                          drop_near_duplicates)
from reelkit.thumbnails.scorers import FrameScorer, PopularityScorer, Score, combine, default_scorers
from reelkit.video import VideoReader

Progress = Callable[[int, int], None]

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@dataclass
class Thumbnail:
    time: float  # seconds
    score: float  # weighted mean of the scorers' values, in [0, 1]
    reason: str  # a sentence from the reasons of the largest contributors
    scores: dict[str, float]  # scorer name -> value
    reasons: dict[str, str]  # scorer name -> reason
    details: dict[str, dict[str, Any]]  # scorer name -> its details (face boxes, measurements)
    rgb: np.ndarray = field(repr=False)
    index: int = 0  # frame number in the video


@dataclass
class RankResult:
    thumbnails: list[Thumbnail]  # best first
    rejected: dict[str, int]  # rejection reason -> candidates rejected for it
    candidates: int  # candidate frames sampled (kept and rejected)
    rejections: list[Rejection]
    crop: tuple[float, float, float, float] | None = None  # the picture inside letterbox bars, when cropped


class ThumbnailRanker:
    """Picks the best thumbnail frames of a video.

    Near-duplicates (dHash within ``duplicate_distance`` bits) give way to the better-scoring frame;
    with ``one_per_shot`` the best frame of each shot comes before second choices from the same shot,
    and second choices ``min_gap`` seconds from every frame chosen come before closer ones.

    >>> ranker = ThumbnailRanker()  # default sampler and scorers
    >>> thumbnails = ranker("clip.mp4", k=5)  # doctest: +SKIP
    >>> with_model = ThumbnailRanker.default(popularity=model)  # doctest: +SKIP
    """

    def __init__(self, sampler: Sampler | None = None, scorers: Sequence[FrameScorer] | None = None,
                 duplicate_distance: int = 10, one_per_shot: bool = True, min_gap: float = 1.5) -> None:
        self.sampler = sampler or CandidateSampler()
        self.one_per_shot = one_per_shot
        self.min_gap = min_gap
        self.scorers = list(default_scorers() if scorers is None else scorers)
        if not self.scorers:
            raise ThumbnailError("a thumbnail ranker needs at least one scorer")
        names = [s.name for s in self.scorers]
        if len(set(names)) != len(names):
            raise ThumbnailError(f"scorer names must be unique, got {', '.join(names)}")
        self.duplicate_distance = duplicate_distance

    @classmethod
    def default(cls, every: float = 0.5, text: bool = True,
                popularity: Callable[[np.ndarray], float] | None = None,
                popularity_weight: float = 1.0, subject: str = "saliency") -> ThumbnailRanker:
        """The built-in sampler and scorers; ``popularity`` (RGB -> [0, 1]) adds a :class:`PopularityScorer`;
        ``subject`` picks the subject segmenter (``move`` or ``saliency``)."""
        scorers = default_scorers(text=text, subject=subject)
        if popularity is not None:
            scorers.append(PopularityScorer(popularity, weight=popularity_weight))
        return cls(CandidateSampler(SamplerConfig(every=every)), scorers)

    def __call__(self, video: str | Path, k: int = 5, progress: Progress | None = None) -> list[Thumbnail]:
        return self.rank(video, k, progress).thumbnails

    def rank(self, video: str | Path | VideoReader, k: int = 5, progress: Progress | None = None) -> RankResult:
        """The ``k`` best frames, best first, and what was rejected on the way."""
        if k < 1:
            raise ThumbnailError(f"k must be at least 1, got {k}")
        frames_done = 0

        def sampling_progress(done: int, total: int) -> None:
            nonlocal frames_done
            frames_done = done
            if progress:
                progress(done, total)

        sampling = self.sampler(video, progress=sampling_progress)
        return self.choose(sampling, k, video.path if isinstance(video, VideoReader) else Path(video),
                           (lambda done, total: progress(frames_done + done, frames_done + total)) if progress else None)

    def choose(self, sampling: Sampling, k: int, video: Path, progress: Progress | None = None) -> RankResult:
        """The ``k`` best of a video's sampled candidates (``video`` names it in errors)."""
        if k < 1:
            raise ThumbnailError(f"k must be at least 1, got {k}")
        if not sampling.candidates:
            rejected = sampling.rejected_counts()
            counts = ", ".join(f"{n} {reason}" for reason, n in rejected.items() if n)
            raise ThumbnailError(f"{video}: no usable thumbnail frame ({counts or 'no frames sampled'})", rejected)
        weights = {s.name: s.weight for s in self.scorers}
        scored: list[tuple[Candidate, Thumbnail]] = []
        for number, candidate in enumerate(sampling.candidates, 1):
            scored.append((candidate, self._score(candidate, weights)))
            if progress:
                progress(number, len(sampling.candidates))
        scored.sort(key=lambda pair: pair[1].score, reverse=True)
        kept, dropped = drop_near_duplicates(scored, lambda pair: pair[0].hash, self.duplicate_distance)
        rejections = sampling.rejections + [
            Rejection(c.time, "duplicate", f"looks like a better frame (score {t.score:.2f})") for c, t in dropped]
        rejected = sampling.rejected_counts()
        rejected["duplicate"] += len(dropped)
        chosen = self._diverse(kept, sampling, k) if self.one_per_shot else [t for _, t in kept[:k]]
        return RankResult(chosen, rejected, len(sampling.candidates) + len(sampling.rejections),
                          sorted(rejections, key=lambda r: r.time), sampling.crop)

    def _diverse(self, ranked: list[tuple[Candidate, Thumbnail]], sampling: Sampling, k: int) -> list[Thumbnail]:
        """The best frame of each shot first, so the choices differ; further frames of the same shots
        only when there are fewer shots than ``k``, preferring those ``min_gap`` seconds or more from every
        frame already chosen (a slow pan changes the hash long before it changes the picture)."""
        boundaries = sorted(sampling.cuts + sampling.dissolves)
        seen: set[int] = set()
        firsts, others = [], []
        for candidate, thumbnail in ranked:
            shot = bisect.bisect(boundaries, candidate.time)
            (others if shot in seen else firsts).append(thumbnail)
            seen.add(shot)
        chosen = firsts[:k]
        for thumbnail in others:
            if len(chosen) < k and all(abs(thumbnail.time - c.time) >= self.min_gap for c in chosen):
                chosen.append(thumbnail)
        chosen += [t for t in others if all(t is not c for c in chosen)][:k - len(chosen)]
        return sorted(chosen, key=lambda t: t.score, reverse=True)

    def _score(self, candidate: Candidate, weights: Mapping[str, float]) -> Thumbnail:
        scores: dict[str, Score] = {}
        for scorer in self.scorers:
            score = scorer(candidate)
            scores[scorer.name] = Score(min(1.0, max(0.0, float(score.value))), score.reason, score.details)
        total, sentence = combine(scores, weights)
        return Thumbnail(candidate.time, total, sentence, {n: s.value for n, s in scores.items()},
                         {n: s.reason for n, s in scores.items()}, {n: s.details for n, s in scores.items()},
                         candidate.rgb, candidate.index)


# ---------------------------------------------------------------------------------------------------
# Export


def _font(path: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(path, size)
    except OSError:  # DejaVu missing: PIL's own font still gives readable labels
        return ImageFont.load_default(size=size)


def format_time(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


def _wrap(text: str, font: ImageFont.ImageFont, width: float, max_lines: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and font.getlength(last + "...") > width:
            last = last[:-1]
        lines = lines[: max_lines - 1] + [last.rstrip() + "..."]
    return lines


def contact_sheet(thumbnails: Sequence[Thumbnail], tile_width: int | None = None,
                  columns: int | None = None) -> Image.Image:
    """All thumbnails in a grid, each labelled with rank, time, score and reason."""
    height, width = thumbnails[0].rgb.shape[:2]
    landscape = width >= height
    tile_width = tile_width or (400 if landscape else 260)
    tile_height = round(tile_width * height / width)
    columns = columns or min(len(thumbnails), 3 if landscape else 5)
    rows = -(-len(thumbnails) // columns)
    title, body = _font(BOLD_FONT, 17), _font(FONT, 15)
    pad, line = 10, 20
    label = pad + line + 3 * line + pad // 2
    size = (columns * (tile_width + pad) + pad, rows * (tile_height + label + pad) + pad)
    sheet = Image.new("RGB", size, (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    for rank, thumbnail in enumerate(thumbnails, 1):
        row, column = divmod(rank - 1, columns)
        x, y = pad + column * (tile_width + pad), pad + row * (tile_height + label + pad)
        sheet.paste(Image.fromarray(thumbnail.rgb).resize((tile_width, tile_height), Image.LANCZOS), (x, y))
        text_y = y + tile_height + pad // 2
        draw.text((x, text_y), f"#{rank}  {format_time(thumbnail.time)}  score {thumbnail.score:.2f}",
                  font=title, fill=(255, 255, 255))
        for number, text in enumerate(_wrap(thumbnail.reason, body, tile_width, 3), 1):
            draw.text((x, text_y + number * line), text, font=body, fill=(210, 210, 215))
    return sheet


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _write_all(files: Mapping[Path, bytes]) -> None:
    """Every file goes to a temporary name in its folder first, and is renamed only once all are written:
    a failure leaves none of them, rather than some or a half-written one."""
    temporary: dict[Path, str] = {}
    folder = next(iter(files)).parent
    try:
        for path, data in files.items():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            temporary[path] = tmp
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        for path, tmp in temporary.items():
            os.replace(tmp, path)
    except OSError as error:
        raise OutputError(f"cannot write thumbnails to {folder}: {error.strerror or error}") from None
    finally:
        for tmp in temporary.values():
            if os.path.exists(tmp):
                os.unlink(tmp)


def report(thumbnails: Sequence[Thumbnail], names: Sequence[str], rejected: Mapping[str, int] | None,
           crop: tuple[float, float, float, float] | None = None) -> dict:
    return {
        "thumbnails": [
            {"rank": rank, "file": name, "time": round(t.time, 3), "frame": t.index, "score": round(t.score, 4),
             "reason": t.reason, "scores": {n: round(v, 4) for n, v in t.scores.items()}, "reasons": t.reasons,
             "details": t.details}
            for rank, (t, name) in enumerate(zip(thumbnails, names), 1)
        ],
        "rejected": dict(rejected or {}),
        "letterbox_crop": None if crop is None else [round(v, 4) for v in crop],
    }


def export_thumbnails(thumbnails: Sequence[Thumbnail], out_dir: str | Path, stem: str,
                      rejected: Mapping[str, int] | None = None, quality: int = 92,
                      crop: tuple[float, float, float, float] | None = None) -> list[Path]:
    """Write ``<stem>_thumb1.jpg`` ..., ``<stem>_contact_sheet.jpg`` and ``<stem>_thumbnails.json``
    (times, scores, reasons, the ``rejected`` counts by reason, and the letterbox ``crop`` as fractions of the
    frame, left, top, right, bottom); returns the paths written."""
    if not thumbnails:
        raise ThumbnailError("no thumbnails to export")
    out_dir = Path(out_dir)
    files: dict[Path, bytes] = {}
    for rank, thumbnail in enumerate(thumbnails, 1):
        files[out_dir / f"{stem}_thumb{rank}.jpg"] = _jpeg(Image.fromarray(thumbnail.rgb), quality)
    files[out_dir / f"{stem}_contact_sheet.jpg"] = _jpeg(contact_sheet(thumbnails), quality)
    content = report(thumbnails, [p.name for p in list(files)[: len(thumbnails)]], rejected, crop)
    files[out_dir / f"{stem}_thumbnails.json"] = (json.dumps(content, indent=2) + "\n").encode()
    _write_all(files)
    return list(files)
