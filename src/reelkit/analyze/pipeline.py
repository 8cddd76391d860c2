"""``reelkit analyze``: every capability on one video, into one report.json and one report.html."""

from __future__ import annotations

import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from reelkit import __version__
from reelkit.embeddings import load_in_background
from reelkit.text.formats import atomic_write, write_results
from reelkit.video import DecodeStopped, SharedDecode

Progress = Callable[[str, float], None]  # (stage description, share of the whole job done)

# Each stage's label in progress reports and its share of the total time on a typical clip, for one progress bar
# over all of them. The first reads the overlays and samples the thumbnail candidates side by side, from one decode
# of the video (report.json's timings give "overlays" and "candidates" for its two halves).
STAGES = {"frames": ("reading overlays and frames", 0.7), "thumbnails": ("scoring thumbnails", 0.15),
          "popularity": ("popularity", 0.1), "headlines": ("headline ideas", 0.05)}


@dataclass
class AnalyzeConfig:
    thumbnails: int = 5
    sample_every: float = 0.5  # seconds between thumbnail candidates
    variants: int = 8  # headline suggestions
    popularity_model: str = "popularity_small"
    popularity_weights: str | None = None
    words: tuple[str, ...] = ()  # added to the overlay reader's word list (a channel's names and slang)


class _FaceLog:
    """Wraps the thumbnail ranker's face scorer and keeps every face it sees, for the report, with boxes in
    pixels of the video (candidates of a video wider than the thumbnail size are shrunk, letterbox bars cropped)."""

    def __init__(self, scorer: Any, video_size: tuple[int, int]) -> None:
        self.scorer, self.name, self.weight = scorer, scorer.name, scorer.weight
        self.video_size = video_size
        self.faces: list[dict[str, Any]] = []

    def __call__(self, candidate: Any) -> Any:
        score = self.scorer(candidate)
        # The scorer judges the emotion of the largest face only (the first box); the others have none.
        for number, box in enumerate(score.details.get("faces", [])):
            emotion = score.details.get("emotions") if number == 0 else None
            video_box = [int(round(v)) for v in candidate.to_video(box, self.video_size)]
            self.faces.append({"time": round(candidate.time, 2), "box": video_box, "emotion": emotion})
        return score


class _OverlayText:
    """The thumbnail text scorer, fed with the overlay lines already read instead of detecting text again."""

    def __init__(self, lines: list[Any], video_size: tuple[int, int]) -> None:
        from reelkit.thumbnails.scorers import TextScorer

        self.scorer = TextScorer()
        self.name, self.weight = self.scorer.name, self.scorer.weight
        self.lines, self.video_size = lines, video_size

    def __call__(self, candidate: Any) -> Any:
        height, width = candidate.rgb.shape[:2]
        boxes = [[round(v) for v in candidate.from_video(line.box, self.video_size)]
                 for line in self.lines if line.start <= candidate.time <= line.end]
        boxes = [b for b in boxes if b[3] - b[1] <= self.scorer.max_line_height * height
                 and b[2] > 0 and b[3] > 0 and b[0] < width and b[1] < height]  # not in cropped-away bars
        return self.scorer.score_boxes(boxes, (height, width))


@dataclass
class VideoAnalyzer:
    """Callable: ``VideoAnalyzer()(video, out_dir, headline)`` -> the report dict (also written to disk).

    Composed of the capability predictors, each swappable; defaults are built on first use.
    """

    config: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    overlays: Any = None
    popularity: Any = None
    improver: Any = None

    def _build(self) -> None:
        if self.overlays is None:
            from reelkit.text import OverlayExtractor

            self.overlays = OverlayExtractor.from_names(words=self.config.words)
        if self.popularity is None:
            from reelkit.popularity import PopularityPredictor

            self.popularity = PopularityPredictor.from_name(self.config.popularity_model, self.config.popularity_weights)
        if self.improver is None:
            from reelkit.headlines import HeadlineImprover

            self.improver = HeadlineImprover()

    def __call__(self, video: str | Path, out_dir: str | Path, headline: str | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
        from reelkit.errors import ThumbnailError
        from reelkit.popularity import write_explanations
        from reelkit.popularity.archive import FramePicker, sample_times
        from reelkit.popularity.pipeline import EXPLAINED_SIDE
        from reelkit.thumbnails import ThumbnailRanker, export_thumbnails
        from reelkit.thumbnails.candidates import CandidateSampler, SamplerConfig
        from reelkit.thumbnails.scorers import PopularityScorer, default_scorers

        video, out_dir = Path(video), Path(out_dir)
        decode = SharedDecode(video)  # a bad video fails here, before any model loads
        info = decode.source.info
        headline = headline.strip() if headline and headline.strip() else None
        load_in_background()  # the headline embedder, needed after the overlays
        self._build()
        scorers = default_scorers(text=False)  # loads the face models: missing weights fail before any work
        timings: dict[str, float] = {}
        done = 0.0

        def stage(name: str, work: Callable[[], Any]) -> Any:
            nonlocal done
            if progress:
                progress(STAGES[name][0], done)
            started = time.perf_counter()
            result = work()
            timings[name] = round(time.perf_counter() - started, 2)
            done += STAGES[name][1]
            return result

        started = time.perf_counter()
        # The popularity model's frames are picked on the way (when the container says how long the video is).
        picker = (FramePicker(sample_times(info.duration, self.popularity.config.frames), max_side=EXPLAINED_SIDE)
                  if info.duration > 0 else None)
        sampler = CandidateSampler(SamplerConfig(every=self.config.sample_every), tap=picker)
        lines, sampling = stage("frames", lambda: self._read_frames(decode, sampler, timings, progress, done))
        faces = _FaceLog(next(s for s in scorers if s.name == "face"), (info.width, info.height))
        scorers = [faces if s.name == "face" else s for s in scorers]
        scorers.append(_OverlayText(lines, (info.width, info.height)))
        scorers.append(PopularityScorer(self.popularity.frame_score(headline)))
        ranker = ThumbnailRanker(sampler, scorers)
        try:
            ranked = stage("thumbnails", lambda: ranker.choose(sampling, self.config.thumbnails, video))
        except ThumbnailError as error:  # e.g. a video that is black throughout: the rest of the report stands
            ranked, thumbnail_note, rejected = None, str(error), error.rejected
        else:
            thumbnail_note, rejected = None, ranked.rejected
        thumb_paths = export_thumbnails(ranked.thumbnails, out_dir, video.stem, ranked.rejected,
                                        crop=ranked.crop) if ranked else []
        report = stage("popularity", lambda: self.popularity.explain(*picker.result(), headline) if picker
                       else self.popularity(video, headline))
        images = write_explanations(report, out_dir, video.stem)
        subtitles = write_results(lines, out_dir / video.stem, ["json", "srt", "vtt"])
        seeds = [line.text for line in lines if len(line.text.split()) >= 3][:3]
        suggestions = stage("headlines", lambda: self._headlines(headline, seeds))
        timings["total"] = round(time.perf_counter() - started, 2)
        result = {
            "reelkit_version": __version__,
            "video": {"path": str(video), "name": video.name, "width": info.width, "height": info.height,
                      "fps": round(info.fps, 3), "duration": round(info.duration, 3), "hdr": info.hdr},
            "headline": headline,
            "overlays": [line.to_dict() for line in lines],
            "faces": faces.faces,
            "thumbnails": [{"rank": rank, "time": round(t.time, 2), "score": round(t.score, 4), "reason": t.reason,
                            "scores": {k: round(v, 4) for k, v in t.scores.items()}, "image": path.name}
                           for rank, (t, path) in enumerate(zip(ranked.thumbnails, thumb_paths), 1)] if ranked else [],
            "thumbnail_note": thumbnail_note,
            "rejected_candidates": rejected,
            "popularity": {**report.to_json(), "model": self.config.popularity_model,
                           "images": {k: p.name for k, p in images.items()}},
            "headlines": suggestions,
            "timings": timings,
            "files": {"contact_sheet": thumb_paths[len(ranked.thumbnails)].name if ranked else None,
                      "report_html": "report.html",
                      "overlays": {path.suffix[1:]: path.name for path in subtitles}},
        }
        write_report(result, out_dir)
        if progress:
            progress("done", 1.0)
        return result

    def _read_frames(self, decode: SharedDecode, sampler: Any, timings: dict[str, float], progress: Progress | None,
                     start: float) -> tuple[list[Any], Any]:
        """The overlay lines and the thumbnail candidates, read side by side from one decode: the overlays in a
        thread, the candidates here. Progress follows the one further behind."""
        overlay_frames, candidate_frames = decode.reader(self.overlays.config.max_side), decode.reader()
        shares = {"overlays": 0.0, "candidates": 0.0}
        label, share_of_stage = STAGES["frames"]
        caller = threading.current_thread()  # progress is reported from here only, as callers expect

        def advance(part: str, finished: int, total: int) -> None:
            shares[part] = finished / max(total, 1)
            if progress and threading.current_thread() is caller:
                progress(label, start + share_of_stage * min(shares.values()))

        def read_overlays() -> list[Any]:
            began = time.perf_counter()
            try:
                return self.overlays(overlay_frames, progress=lambda d, t: advance("overlays", d, t))
            except BaseException:
                decode.close()  # stops the candidates too: the analysis has failed
                raise
            finally:
                overlay_frames.detach()
                timings["overlays"] = round(time.perf_counter() - began, 2)

        with ThreadPoolExecutor(1, thread_name_prefix="reelkit-overlays") as pool:
            overlay_job = pool.submit(read_overlays)
            began = time.perf_counter()
            try:
                sampling = sampler(candidate_frames, progress=lambda d, t: advance("candidates", d, t))
            except DecodeStopped:
                overlay_job.result()  # the overlay reader's failure stopped the decode: raise that
                raise
            except BaseException:
                decode.close()
                raise
            finally:
                candidate_frames.detach()
                timings["candidates"] = round(time.perf_counter() - began, 2)
            while True:
                try:
                    lines = overlay_job.result(timeout=0.5)
                    break
                except FutureTimeout:
                    advance("candidates", 1, 1)
        return lines, sampling

    def _headlines(self, headline: str | None, overlay_lines: list[str]) -> dict[str, Any]:
        """Variants of the user's headline, or, without one, the overlay lines ranked as headline ideas."""
        if headline is None and not overlay_lines:
            return {"original": None, "variants": []}
        if headline is None:
            scores = self.improver.scorer(overlay_lines)
            variants = sorted(({"headline": text, "score": round(float(s), 4), "multiplier": round(math.exp(s), 3),
                                "reason": "from the video's own text overlay"} for text, s in zip(overlay_lines, scores)),
                              key=lambda v: v["score"], reverse=True)
            return {"original": None, "variants": variants}
        ranked = self.improver(headline, alternatives=overlay_lines, n=self.config.variants)
        original = self.improver.scorer([headline])[0]
        return {"original": {"headline": headline, "score": round(float(original), 4),
                             "multiplier": round(math.exp(original), 3)},
                "variants": [{"headline": v.text, "score": round(v.score, 4), "multiplier": round(v.multiplier, 3),
                              "reason": v.reason.replace("your alternative", "the video's own overlay text")}
                             for v in ranked]}


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    from reelkit.analyze.report import render_html

    atomic_write(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    atomic_write(out_dir / "report.html", render_html(report))
