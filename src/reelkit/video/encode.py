"""Writing video with PyAV, for reelkit's generators of test clips and demo archives."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import av
import cv2
import numpy as np

from reelkit.video.hdr import PRIMARIES_BT2020, TRANSFERS, hdr_from_sdr

BT2020_NCL = 9  # AVColorSpace: BT.2020 non-constant luminance
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


def write_h264(path: str | Path, frames: Iterable[np.ndarray], fps: int, crf: int = 23, rotation: int = 0) -> None:
    """Encode RGB uint8 frames (all of one even size) as H.264 yuv420p in MP4. Written to a temporary
    file beside ``path`` and renamed at the end, so an interrupted run leaves no half-written video.

    ``rotation`` (degrees counterclockwise, a multiple of 90) stores the frames the way a phone stores a
    portrait video: the pixels turned back clockwise, and a display matrix that turns them upright."""
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, not {rotation}")
    quarter_turns = rotation // 90 % 4

    def configure(stream: av.video.stream.VideoStream) -> None:
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        if quarter_turns:
            stream.set_display_rotation(quarter_turns * 90)

    def picture(rgb: np.ndarray) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(rgb, -quarter_turns)), format="rgb24")

    _write(Path(path), frames, fps, "libx264", configure, picture)


def write_hdr(path: str | Path, frames: Iterable[np.ndarray], fps: int, transfer: str = "hlg", crf: int = 20,
              size: tuple[int, int] | None = None) -> None:
    """Encode SDR RGB uint8 frames as a phone's HDR video: HEVC Main 10 in MP4, BT.2020 primaries, tagged
    HLG (``transfer="hlg"``, what phones record) or PQ (``"pq"``, HDR10), the SDR picture placed in HDR
    the BT.2408 way (:func:`reelkit.video.hdr.hdr_from_sdr`). A ``size`` (width, height) scales the HDR
    frames to it (bicubic), which is much cheaper than converting large SDR frames."""
    transfer_code = {name: code for code, name in TRANSFERS.items()}.get(transfer)
    if transfer_code is None:
        raise ValueError(f"transfer must be 'hlg' or 'pq', not {transfer!r}")
    x265_transfer = {"hlg": "arib-std-b67", "pq": "smpte2084"}[transfer]

    def configure(stream: av.video.stream.VideoStream) -> None:
        stream.pix_fmt = "yuv420p10le"
        # No B-frames: with them, libx265's flushed packets now and then reach the MP4 muxer with an unset DTS,
        # which it refuses ("not yet implemented in FFmpeg"; 22 of 40 two-frame clips without timestamps).
        stream.options = {"crf": str(crf), "preset": "ultrafast", "x265-params":
                          f"log-level=error:bframes=0:colorprim=bt2020:transfer={x265_transfer}:colormatrix=bt2020nc"}
        context = stream.codec_context
        context.color_primaries, context.color_trc, context.colorspace = PRIMARIES_BT2020, transfer_code, BT2020_NCL

    def picture(rgb: np.ndarray) -> av.VideoFrame:
        hdr = hdr_from_sdr(rgb, transfer)
        if size is not None:
            hdr = cv2.resize(hdr, size, interpolation=cv2.INTER_CUBIC)
        frame = av.VideoFrame.from_ndarray(hdr, format="rgb48le")
        frame = frame.reformat(format="yuv420p10le", dst_colorspace=BT2020_NCL, dst_color_range=LIMITED_RANGE)
        frame.color_primaries, frame.color_trc, frame.colorspace = PRIMARIES_BT2020, transfer_code, BT2020_NCL
        return frame

    _write(Path(path), frames, fps, "libx265", configure, picture)


def _write(path: Path, frames: Iterable[np.ndarray], fps: int, codec: str,
           configure: Callable[[av.video.stream.VideoStream], None],
           picture: Callable[[np.ndarray], av.VideoFrame]) -> None:
    partial = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        with av.open(str(partial), "w", format="mp4") as container:
            stream = None
            for rgb in frames:
                frame = picture(rgb)
                if stream is None:
                    stream = container.add_stream(codec, rate=fps)
                    stream.height, stream.width = frame.height, frame.width
                    configure(stream)
                container.mux(stream.encode(frame))
            if stream is not None:
                container.mux(stream.encode())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
