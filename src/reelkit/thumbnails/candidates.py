"""Candidate frames for thumbnails: sampled every ``every`` seconds, with unusable ones rejected for a reason.

Rejections, in order of precedence:

* ``black`` / ``uniform``: a dark or featureless frame (mean or standard deviation of luma).
* ``blurred``: variance of the Laplacian of a fixed-size grey version, under a share of the video's own
  sharp frames (its 75th percentile) or under an absolute floor. Judged once the whole video is seen,
  since what counts as sharp depends on the footage. Inside a cross-fade the limit is halved: averaging
  two shots alone halves the variance (a quarter of each, for two unrelated pictures of equal sharpness).
* ``transition``: near a shot cut (PySceneDetect's ContentDetector, run on every frame at a small
  size) or inside a cross-fade. A dissolve frame is a blend of the frames ``blend_lag`` seconds before
  and after it, which a pan or zoom can also look like at low resolution; what tells them apart is that
  optical flow (OpenCV's DIS) explains the change across a pan but not across a dissolve.
* ``duplicate``: a perceptual hash (dHash) within a few bits of a better-scoring frame; applied after
  scoring, by :func:`drop_near_duplicates`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence, TypeVar

import cv2
import numpy as np
from av.video.reformatter import VideoReformatter
from scenedetect import ContentDetector, FrameTimecode

from reelkit.video import DecodedFrame, VideoReader, prefetch

Progress = Callable[[int, int], None]
T = TypeVar("T")

#: Rejection reasons, in order of precedence.
REASONS = ("black", "uniform", "blurred", "transition", "duplicate")


@dataclass(frozen=True)
class SamplerConfig:
    every: float = 0.5  # seconds between candidates
    max_candidates: int = 120  # longer videos are sampled more sparsely, which bounds memory
    max_side: int = 1280  # candidates keep their pixels at most this large (thumbnail resolution)
    analysis_side: int = 320  # long side of the grey frame for luma, sharpness and hash checks
    motion_side: int = 160  # long side of the frames checked for cuts and dissolves (every frame)
    black_luma: float = 32.0  # mean luma under which a frame is black (video black is 16 in limited range)
    flat_std: float = 8.0  # luma standard deviation under which a frame is near-uniform
    blur_ratio: float = 0.05  # sharpness under this share of the video's sharp frames is blurred
    blur_floor: float = 15.0  # Laplacian variance under which a frame is blurred whatever the video
    sharp_percentile: float = 75.0  # the video's "sharp frames" reference
    cut_threshold: float = 27.0  # ContentDetector's threshold (its default)
    transition_margin: float = 0.2  # seconds either side of a cut or dissolve frame that are rejected
    blend_lag: float = 0.2  # seconds to the neighbours a dissolve frame is a blend of
    blend_change: float = 6.0  # mean luma change between the neighbours below which nothing is changing
    blend_residual: float = 0.35  # residual of the blend fit, as a share of that change, for a blend
    motion_residual: float = 0.5  # residual after flow compensation, as a share of the change, for a dissolve
    bar_luma: float = 24.0  # rows or columns at the edge this dark in every candidate are letterbox bars, cropped
    min_bar: float = 0.02  # bars thinner than this share of the frame are left (an encoder's dark edge)


def _resize_long(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def laplacian_variance(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def dhash(gray: np.ndarray, size: int = 8) -> int:
    """Difference hash: the sign of horizontal luma steps on a (size+1) x size thumbnail, as an int."""
    small = cv2.resize(gray, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def letterbox(grays: Sequence[np.ndarray], bar_luma: float = 24.0,
              min_bar: float = 0.02) -> tuple[float, float, float, float] | None:
    """The picture inside the black bars that every frame shares (letterbox, pillarbox or both), as fractions
    (left, top, right, bottom) of the frame; None when there are none. A bar's pixels stay under ``bar_luma``
    in every frame (its 99.5th percentile, so compression noise does not count); a bar with a caption written
    in it is kept whole."""
    if not grays or len({g.shape for g in grays}) != 1:
        return None
    stack = np.stack(grays)
    _, height, width = stack.shape
    dark_rows = np.percentile(stack.transpose(1, 0, 2).reshape(height, -1), 99.5, axis=1) <= bar_luma
    dark_columns = np.percentile(stack.transpose(2, 0, 1).reshape(width, -1), 99.5, axis=1) <= bar_luma

    def bar(dark: np.ndarray, length: int) -> int:
        run = len(dark) if dark.all() else int(np.argmin(dark))
        if run < min_bar * length:
            return 0
        # Dark again before the middle: what stopped the run is a caption in the bar, and the bar stays.
        inner = dark[run:length // 2].astype(np.int8)
        stretches = np.diff(np.flatnonzero(np.diff(np.concatenate(([0], inner, [0])))))[::2]
        return 0 if (stretches >= min_bar * length).any() else run + 1  # one more line: the bar's soft edge

    top, bottom = bar(dark_rows, height), bar(dark_rows[::-1], height)
    left, right = bar(dark_columns, width), bar(dark_columns[::-1], width)
    # A picture under a fifth of the frame is a dark video, not bars (a 2.39:1 film in a 9:16 frame is 23.5 %).
    if not top + bottom + left + right or top + bottom > 0.8 * height or left + right > 0.8 * width:
        return None
    return left / width, top / height, 1 - right / width, 1 - bottom / height


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass(eq=False)
class Candidate:
    """A frame that may become a thumbnail; scorers read its pixels through :meth:`resized`."""

    time: float
    index: int
    rgb: np.ndarray = field(repr=False)  # long side at most SamplerConfig.max_side
    gray: np.ndarray = field(repr=False)  # long side SamplerConfig.analysis_side
    sharpness: float = 0.0  # Laplacian variance of ``gray``
    sharpness_reference: float | None = None  # the video's sharp-frame sharpness, once known
    hash: int = 0
    # The part of the video frame the pixels show (left, top, right, bottom, fractions): all of it unless
    # letterbox bars were cropped.
    frame_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    _sizes: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_rgb(cls, rgb: np.ndarray, time: float = 0.0, index: int = 0, analysis_side: int = 320) -> Candidate:
        """A candidate from a picture alone (for scoring still images); no sharpness reference."""
        gray = _resize_long(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), analysis_side)
        return cls(time, index, rgb, gray, laplacian_variance(gray), None, dhash(gray))

    def crop(self, box: tuple[float, float, float, float]) -> None:
        """Keep only ``box`` (left, top, right, bottom as fractions of the frame); sharpness and hash follow."""
        height, width = self.rgb.shape[:2]
        left, top = math.ceil(box[0] * width), math.ceil(box[1] * height)
        right, bottom = math.floor(box[2] * width), math.floor(box[3] * height)
        self.frame_box = (left / width, top / height, right / width, bottom / height)
        self.rgb = np.ascontiguousarray(self.rgb[top:bottom, left:right])
        gray_height, gray_width = self.gray.shape
        x0, y0, x1, y1 = (round(f * size) for f, size in zip(self.frame_box, (gray_width, gray_height) * 2))
        self.gray = np.ascontiguousarray(self.gray[y0:y1, x0:x1])
        self.sharpness, self.hash = laplacian_variance(self.gray), dhash(self.gray)
        self._sizes.clear()

    def to_video(self, box: Sequence[float], video_size: tuple[int, int]) -> list[float]:
        """A box (x0, y0, x1, y1) in pixels of ``rgb`` as pixels of the video frame (width, height)."""
        (left, top, right, bottom), (height, width) = self.frame_box, self.rgb.shape[:2]
        sx, sy = (right - left) * video_size[0] / width, (bottom - top) * video_size[1] / height
        ox, oy = left * video_size[0], top * video_size[1]
        return [ox + box[0] * sx, oy + box[1] * sy, ox + box[2] * sx, oy + box[3] * sy]

    def from_video(self, box: Sequence[float], video_size: tuple[int, int]) -> list[float]:
        """A box in pixels of the video frame (width, height) as pixels of ``rgb``."""
        (left, top, right, bottom), (height, width) = self.frame_box, self.rgb.shape[:2]
        sx, sy = width / ((right - left) * video_size[0]), height / ((bottom - top) * video_size[1])
        ox, oy = left * video_size[0], top * video_size[1]
        return [(box[0] - ox) * sx, (box[1] - oy) * sy, (box[2] - ox) * sx, (box[3] - oy) * sy]

    def resized(self, max_side: int) -> np.ndarray:
        """The RGB frame with its long side at most ``max_side``; cached, as several scorers share sizes."""
        if max_side not in self._sizes:
            self._sizes[max_side] = _resize_long(self.rgb, max_side)
        return self._sizes[max_side]


@dataclass(frozen=True)
class Rejection:
    time: float
    reason: str  # one of REASONS
    detail: str


@dataclass
class Sampling:
    candidates: list[Candidate]
    rejections: list[Rejection]
    cuts: list[float]  # times of the first frames of new shots
    dissolves: list[float]  # times of frames found inside a cross-fade
    crop: tuple[float, float, float, float] | None = None  # the picture inside letterbox bars (see letterbox)

    def rejected_counts(self) -> dict[str, int]:
        return {reason: sum(r.reason == reason for r in self.rejections) for reason in REASONS}


def _motion_residual(before: np.ndarray, after: np.ndarray, flow_method: cv2.DISOpticalFlow) -> float:
    """How much of the change from ``before`` to ``after`` dense optical flow leaves unexplained (0-1+)."""
    flow = flow_method.calc(after.astype(np.uint8), before.astype(np.uint8), None)
    height, width = before.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(before, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return float(np.abs(warped - after).mean()) / max(float(np.abs(after - before).mean()), 1e-6)


def is_dissolve(before: np.ndarray, frame: np.ndarray, after: np.ndarray, config: SamplerConfig,
                flow_method: cv2.DISOpticalFlow) -> bool:
    """Whether ``frame`` (grey float32) is a cross-fade between ``before`` and ``after`` rather than
    a still, a pan or a zoom: a good least-squares blend that motion does not explain."""
    change = after - before
    if float(np.abs(change).mean()) < config.blend_change:
        return False
    alpha = float(((frame - before) * change).sum() / max(float((change * change).sum()), 1e-6))
    if not 0.1 < alpha < 0.9:  # at an end of the change: the frame is one of its neighbours
        return False
    residual = float(np.abs(frame - before - alpha * change).mean()) / float(np.abs(change).mean())
    return residual < config.blend_residual and _motion_residual(before, after, flow_method) > config.motion_residual


class Sampler(Protocol):
    """What :class:`~reelkit.thumbnails.pipeline.ThumbnailRanker` needs of a candidate sampler."""

    def __call__(self, video: str | Path | VideoReader, progress: Progress | None = None) -> Sampling: ...


@dataclass
class _Pending:
    candidate: Candidate
    ready_at: float  # the time by which every cut or dissolve near it has been seen


class CandidateSampler:
    """Decodes a video once and returns its candidate frames and the rejected ones with their reasons."""

    def __init__(self, config: SamplerConfig | None = None, tap: Callable[[DecodedFrame], None] | None = None) -> None:
        self.config = config or SamplerConfig()
        self.tap = tap  # sees every decoded frame, so other analysers need not decode the video again

    def __call__(self, video: str | Path | VideoReader, progress: Progress | None = None) -> Sampling:
        """Candidates and rejections of a video, given by its path or as a reader of its frames."""
        config = self.config
        reader = video if isinstance(video, VideoReader) else VideoReader(video)
        info = reader.info
        fps = info.fps
        every = max(config.every, info.duration / config.max_candidates) if info.duration > 0 else config.every
        total = max(1, round(info.duration * fps))
        lag = max(1, round(config.blend_lag * fps))
        # min_scene_len=0 turns off PySceneDetect's flash filter: every frame over the threshold is a cut,
        # reported on the frame itself rather than merged into a later one.
        detector = ContentDetector(threshold=config.cut_threshold, min_scene_len=0)
        window: deque[tuple[float, np.ndarray]] = deque(maxlen=2 * lag + 1)
        flow_method = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        shrink = VideoReformatter()  # reused: building a scaler per frame costs more than scaling
        result = Sampling([], [], [], [])
        pending: deque[_Pending] = deque()
        settled: list[tuple[Candidate, tuple[str, str] | None]] = []
        next_time = 0.0
        frame_count = 0
        for frame in prefetch(reader):
            frame_count += 1
            if self.tap is not None:
                self.tap(frame)
            scale = config.motion_side / max(frame.width, frame.height)
            small = frame.resized(max(2, round(frame.width * scale)), max(2, round(frame.height * scale)), "bgr24",
                                  shrink)
            if detector.process_frame(FrameTimecode(frame.index, fps), small) and frame.index > 0:
                result.cuts.append(frame.time)
            window.append((frame.time, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)))
            if len(window) == window.maxlen:
                (_, before), (middle, frame_gray), (_, after) = window[0], window[lag], window[-1]
                if is_dissolve(before, frame_gray, after, config, flow_method):
                    result.dissolves.append(middle)
            slot = frame.time + 0.5 / fps  # the frame nearest a sampling time stands for it
            if slot >= next_time:
                next_time = (math.floor(slot / every) + 1) * every
                candidate = self._candidate(frame, result, shrink)
                if candidate is not None:
                    pending.append(_Pending(candidate, frame.time + config.transition_margin + lag / fps))
            while pending and pending[0].ready_at <= frame.time:
                candidate = pending.popleft().candidate
                settled.append((candidate, self._transition(candidate, result)))
            if progress and frame_count % 10 == 0:
                progress(min(frame_count, total), max(total, frame_count))
        settled += [(p.candidate, self._transition(p.candidate, result)) for p in pending]
        result.crop = letterbox([candidate.gray for candidate, _ in settled], config.bar_luma, config.min_bar)
        if result.crop is not None:  # a thumbnail with black bars wastes the space a feed gives it
            for candidate, _ in settled:
                candidate.crop(result.crop)
        self._judge(settled, result)
        result.rejections.sort(key=lambda r: r.time)
        if progress:
            progress(frame_count, frame_count)
        return result

    def _candidate(self, frame: DecodedFrame, result: Sampling, shrink: VideoReformatter) -> Candidate | None:
        config = self.config
        gray = _resize_long(np.ascontiguousarray(frame.gray()), config.analysis_side)
        mean, std = (float(v[0, 0]) for v in cv2.meanStdDev(gray))
        if mean < config.black_luma:
            result.rejections.append(Rejection(frame.time, "black", f"mean luma {mean:.0f}"))
            return None
        if std < config.flat_std:
            result.rejections.append(Rejection(frame.time, "uniform", f"luma spread {std:.1f}"))
            return None
        scale = min(1.0, config.max_side / max(frame.width, frame.height))
        if scale < 1.0:
            rgb = frame.resized(round(frame.width * scale) // 2 * 2, round(frame.height * scale) // 2 * 2,
                                reformatter=shrink)
        else:
            rgb = frame.rgb()
        return Candidate(frame.time, frame.index, rgb, gray, laplacian_variance(gray), None, dhash(gray))

    def _transition(self, candidate: Candidate, result: Sampling) -> tuple[str, str] | None:
        """("cut" or "dissolve", detail) when the candidate is near a shot cut or inside a cross-fade."""
        margin = self.config.transition_margin
        cut = next((t for t in reversed(result.cuts) if abs(t - candidate.time) <= margin), None)
        if cut is not None:
            return "cut", f"shot cut at {cut:.2f}s"
        dissolve = next((t for t in reversed(result.dissolves) if abs(t - candidate.time) <= margin), None)
        if dissolve is not None:
            return "dissolve", f"cross-fade at {dissolve:.2f}s"
        return None

    def _judge(self, settled: list[tuple[Candidate, tuple[str, str] | None]], result: Sampling) -> None:
        """Blur needs the whole video's sharpness, so it is judged last; it outranks a transition, with the
        limit halved inside a cross-fade, whose blend of two shots halves the sharpness by itself."""
        if not settled:
            return
        config = self.config
        steady = [c.sharpness for c, transition in settled if transition is None] or [c.sharpness for c, _ in settled]
        reference = float(np.percentile(steady, config.sharp_percentile))
        limit = max(config.blur_floor, config.blur_ratio * reference)
        for candidate, transition in settled:
            candidate.sharpness_reference = reference
            blur_limit = limit / 2 if transition is not None and transition[0] == "dissolve" else limit
            if candidate.sharpness < blur_limit:
                result.rejections.append(Rejection(candidate.time, "blurred",
                                                   f"sharpness {candidate.sharpness:.0f} < {blur_limit:.0f}"))
            elif transition is not None:
                result.rejections.append(Rejection(candidate.time, "transition", transition[1]))
            else:
                result.candidates.append(candidate)


def drop_near_duplicates(ranked: Sequence[T], hash_of: Callable[[T], int],
                         max_distance: int) -> tuple[list[T], list[T]]:
    """Walks ``ranked`` best first and keeps an item unless its hash is within ``max_distance`` bits of
    one already kept; returns (kept, dropped)."""
    kept: list[T] = []
    dropped: list[T] = []
    kept_hashes: list[int] = []
    for item in ranked:
        h = hash_of(item)
        if any(hamming(h, other) <= max_distance for other in kept_hashes):
            dropped.append(item)
        else:
            kept.append(item)
            kept_hashes.append(h)
    return kept, dropped
