"""Video decoding with PyAV, with every way a file can be unusable turned into a one-line VideoError."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from reelkit.errors import VideoError
from reelkit.video.hdr import TRANSFERS, tone_mapper_for

# Pixel formats whose first plane is full-resolution 8-bit luma.
PLANAR_YUV = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"})

# High-bit-depth planar YUV (what FFmpeg's software decoders give for HDR video): luma bits.
HIGH_BIT_DEPTH_YUV = {f"yuv{sampling}p{bits}le": bits for sampling in ("420", "422", "444") for bits in (10, 12)}
FULL_RANGE = 2  # AVCOL_RANGE_JPEG
# From tone-mapped RGB to each format `DecodedFrame.resized` gives.
SDR_CONVERSIONS = {"rgb24": None, "bgr24": cv2.COLOR_RGB2BGR, "gray": cv2.COLOR_RGB2GRAY}

# The turn that shows a frame upright, for each display rotation (degrees counterclockwise).
UPRIGHT = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}

# A decoded stream that stops this far short of the duration its container declares is truncated.
TRUNCATION_TOLERANCE = 0.9

# Containers people mean as videos: FFmpeg's failure on one of these is a damaged file, on anything else
# most likely the wrong kind of file (FFmpeg itself goes by content, so other names are still tried).
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".flv", ".wmv", ".mpg", ".mpeg",
                            ".ts", ".mts", ".m2ts", ".3gp", ".ogv", ".gif"})


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # as displayed: the coded picture turned by ``rotation``
    height: int
    fps: float
    duration: float  # seconds, as the container declares it (0 if unknown)
    codec: str
    # Degrees counterclockwise (0, 90, 180 or 270) by which the container's display matrix turns the coded
    # picture: phones store a portrait video as landscape sensor pixels plus this rotation.
    rotation: int = 0
    hdr: str | None = None  # "hlg" or "pq" for HDR video (read tone-mapped to SDR), None for SDR


@dataclass
class DecodedFrame:
    """A decoded frame and its presentation time; pixel arrays are made on demand, upright as displayed
    (``rotation`` is the stream's :attr:`VideoInfo.rotation`), and 8-bit SDR BT.709 even for HDR video
    (tone-mapped, see :mod:`reelkit.video.hdr`)."""

    index: int
    time: float
    frame: av.VideoFrame
    rotation: int = 0
    max_side: int = 0  # the picture is read shrunk so that its longer side is at most this (0: full size)
    # Scales and converts the picture. By default the av frame's own, which two threads must not share: readers
    # of one decode in several threads (reelkit.video.shared) each pass their own.
    reformatter: VideoReformatter | None = field(default=None, repr=False)
    # Held while the av frame is read: PyAV's reformat rewrites the source frame's colour tags while it scales and
    # puts them back after, so another thread could read (and keep) the rewritten ones. Copies share it.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # The coded size every frame of the stream is read at: its first frame's. A stream whose picture size changes
    # midway (clips joined without re-encoding) has its other frames fitted into that size between black bars, so
    # that every analyser sees one geometry (None: the frame's own size).
    coded_size: tuple[int, int] | None = None

    @property
    def width(self) -> int:
        return self._size[0]

    @property
    def height(self) -> int:
        return self._size[1]

    @property
    def _coded(self) -> tuple[int, int]:
        return self.coded_size or (self.frame.width, self.frame.height)

    @property
    def _size(self) -> tuple[int, int]:
        width, height = self._coded
        return working_size(*((height, width) if self.rotation % 180 else (width, height)), self.max_side)

    @property
    def _shrunk(self) -> bool:
        return 0 < self.max_side < max(self._coded)

    @property
    def _resized_midway(self) -> bool:
        return self.coded_size is not None and self.coded_size != (self.frame.width, self.frame.height)

    def _fitted(self, width: int, height: int) -> np.ndarray:
        """The upright picture of a frame whose size differs from the stream's, fitted into ``width`` x ``height``
        (RGB) between black bars."""
        picture = replace(self, coded_size=None, max_side=0)
        scale = min(width / picture.width, height / picture.height)
        fit_width, fit_height = max(1, round(picture.width * scale)), max(1, round(picture.height * scale))
        canvas = np.zeros((height, width, 3), np.uint8)
        top, left = (height - fit_height) // 2, (width - fit_width) // 2
        canvas[top:top + fit_height, left:left + fit_width] = picture.resized(fit_width, fit_height)
        return canvas

    def rgb(self) -> np.ndarray:
        if self._resized_midway:
            return self._fitted(self.width, self.height)
        if self._shrunk:
            return self.resized(self.width, self.height)
        mapper = self._tone_mapper()
        if mapper is not None:
            return self._upright(mapper.rgb(self._reformat(format="rgb48le").to_ndarray()))
        return self._upright(self._reformat(format="rgb24").to_ndarray())

    def gray(self) -> np.ndarray:
        """The luma plane (uint8): for unrotated, unshrunk planar YUV video, a view of the Y plane; for HDR
        video, its luma plane tone-mapped."""
        name = self.frame.format.name
        mapper = self._tone_mapper()
        if self._resized_midway or (mapper is not None and name not in HIGH_BIT_DEPTH_YUV):
            return cv2.cvtColor(self.rgb(), cv2.COLOR_RGB2GRAY)
        coded = (self.height, self.width) if self.rotation % 180 else (self.width, self.height)
        if mapper is not None:
            plane = self.frame.planes[0]
            codes = np.frombuffer(plane, np.uint16).reshape(plane.height, plane.line_size // 2)[:, : plane.width]
            if self._shrunk:  # shrunk before the lookup, which then reads a quarter of the pixels or fewer
                codes = cv2.resize(codes, coded, interpolation=cv2.INTER_AREA)
            with self.lock:
                full_range = self.frame.color_range == FULL_RANGE
            table = mapper.luma_table(HIGH_BIT_DEPTH_YUV[name], full_range)
            return self._upright(np.take(table, codes))
        if name in PLANAR_YUV:
            plane = self.frame.planes[0]
            luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        else:
            luma = self._reformat(format="gray").to_ndarray()
        if self._shrunk:
            luma = cv2.resize(luma, coded, interpolation=cv2.INTER_AREA)
        return self._upright(luma)

    def resized(self, width: int, height: int, format: str = "rgb24",
                reformatter: VideoReformatter | None = None) -> np.ndarray:
        """The upright picture scaled to ``width`` x ``height`` by area averaging; a ``reformatter`` kept
        across frames reuses its scaler."""
        if self._resized_midway:
            if format not in SDR_CONVERSIONS:
                raise ValueError(f"frames of another size than the stream's resize to {', '.join(SDR_CONVERSIONS)}")
            fitted = self._fitted(width, height)
            conversion = SDR_CONVERSIONS[format]
            return fitted if conversion is None else cv2.cvtColor(fitted, conversion)
        if self.rotation % 180:
            width, height = height, width
        mapper = self._tone_mapper()
        scaled_format = "rgb48le" if mapper is not None else format
        scaled = self._reformat(reformatter, width=width, height=height, format=scaled_format, interpolation="AREA")
        if mapper is None:
            return self._upright(scaled.to_ndarray())
        if format not in SDR_CONVERSIONS:
            raise ValueError(f"HDR frames resize to {', '.join(SDR_CONVERSIONS)}, not {format}")
        sdr = mapper.rgb(scaled.to_ndarray())
        conversion = SDR_CONVERSIONS[format]
        return self._upright(sdr if conversion is None else cv2.cvtColor(sdr, conversion))

    def _reformat(self, reformatter: VideoReformatter | None = None, **options) -> av.VideoFrame:
        reformatter = reformatter or self.reformatter
        with self.lock:
            return self.frame.reformat(**options) if reformatter is None else reformatter.reformat(self.frame, **options)

    def _tone_mapper(self):
        with self.lock:
            return tone_mapper_for(self.frame)

    def small_bgr(self, scale: int) -> np.ndarray:
        """The frame shrunk ``scale`` times (area averaging), as BGR for OpenCV-based analysers."""
        return self.resized(max(1, self.width // scale), max(1, self.height // scale), "bgr24")

    def _upright(self, pixels: np.ndarray) -> np.ndarray:
        if not self.rotation:
            return pixels
        return cv2.rotate(pixels, UPRIGHT[self.rotation])  # several times faster than copying np.rot90's view


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size a ``width`` x ``height`` picture is read at when its longer side may be at most ``max_side``
    (0: any)."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale)), max(2, round(height * scale))


def _check_path(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")


def _open(path: Path) -> av.container.InputContainer:
    _check_path(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as error:
        raise _unreadable(path, _reason(error)) from None
    if container.format.name == "tty":  # FFmpeg renders any text file as ANSI art
        container.close()
        raise _unreadable(path, "text, not video")
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: contains no video stream")
    stream = _picture_stream(container)
    if stream is None:
        container.close()
        raise VideoError(f"{path}: contains no video stream, only a cover picture (an audio file?)")
    if stream.codec_context is None or stream.codec_context.name in ("", "none"):
        tag = getattr(stream.codec_context, "codec_tag", "") if stream.codec_context else ""
        container.close()
        raise VideoError(f"{path}: unsupported video codec {tag or 'unknown'!r}")
    return container


def _picture_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that moves: a still attached as cover art (an MP3's, an M4A's) is not one."""
    return next((stream for stream in container.streams.video
                 if not stream.disposition & av.stream.Disposition.attached_pic), None)


def _unreadable(path: Path, reason: str) -> VideoError:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoError(f"{path}: not a readable video ({reason}); is it corrupt or truncated?")
    kind = f"a {path.suffix.lower()} file" if path.suffix else "a file without an extension"
    return VideoError(f"{path}: not a readable video ({reason}); {kind} is not a video format reelkit reads "
                      "(MP4, MOV, MKV, WebM, AVI, ...)")


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.split(":")[0].strip().lower() or type(error).__name__


def probe(path: str | Path) -> VideoInfo:
    """Read a video's displayed size and rotation, frame rate, declared duration, codec and HDR transfer
    (decoding only the first frame)."""
    path = Path(path)
    with _open(path) as container:
        return _info(path, container)


def _info(path: Path, container: av.container.InputContainer) -> VideoInfo:
    stream = _picture_stream(container)
    rate = stream.average_rate or stream.guessed_rate or Fraction(30)
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise VideoError(f"{path}: video stream has no picture size (corrupt header?)")
    rotation, hdr = _first_frame_facts(container)
    if rotation % 180:
        width, height = height, width
    return VideoInfo(path, width, height, float(rate), duration, stream.codec_context.name, rotation, hdr)


def _first_frame_facts(container: av.container.InputContainer) -> tuple[int, str | None]:
    """The display matrix's rotation, rounded to a quarter turn, and the HDR transfer, read from the first
    frame: FFmpeg hands the stream's matrix to every decoded frame, and PyAV reads it nowhere else."""
    try:
        first = next(container.decode(_picture_stream(container)), None)
    except av.FFmpegError:
        return 0, None  # the reader reports the damage, with how far decoding got
    if first is None:
        return 0, None
    return round(first.rotation / 90) % 4 * 90, TRANSFERS.get(first.color_trc)


class VideoReader:
    """Iterates the decoded frames of a video, using FFmpeg's frame threads.

    Raises :class:`VideoError` for missing, empty, non-video, undecodable and truncated files, and for
    videos with no frames at all.
    """

    def __init__(self, path: str | Path, max_side: int = 0) -> None:
        self.path = Path(path)
        self.max_side = max_side  # frames are read shrunk to this longer side (0: full size)
        with _open(self.path) as container:
            self.info = _info(self.path, container)

    @property
    def to_video_scale(self) -> tuple[float, float]:
        """Factors (x, y) from pixels of the frames it yields to pixels of the video: (1, 1) unless shrunk."""
        width, height = working_size(self.info.width, self.info.height, self.max_side)
        return self.info.width / width, self.info.height / height

    def __iter__(self) -> Iterator[DecodedFrame]:
        container = _open(self.path)
        stream = _picture_stream(container)
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 1)
        start = stream.start_time or 0
        index = 0
        last_time = 0.0
        coded_size: tuple[int, int] | None = None
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else None
                time = float((pts - start) * time_base) if pts is not None else index / self.info.fps
                last_time = time
                coded_size = coded_size or (frame.width, frame.height)
                yield DecodedFrame(index, time, frame, self.info.rotation, self.max_side, coded_size=coded_size)
                index += 1
        except av.FFmpegError as error:
            raise VideoError(f"{self.path}: decoding failed after {index} frames ({_reason(error)}); "
                             "the file is corrupt or truncated") from None
        finally:
            container.close()
        if index == 0:
            raise VideoError(f"{self.path}: contains no decodable frames")
        covered = last_time + 1.0 / self.info.fps
        if self.info.duration > 0 and covered < TRUNCATION_TOLERANCE * self.info.duration:
            raise VideoError(f"{self.path}: truncated: frames stop at {covered:.1f}s of a declared "
                             f"{self.info.duration:.1f}s")
