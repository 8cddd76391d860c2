"""Writing H.264 video with PyAV, for reelkit's generators of test clips and demo archives."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import av
import numpy as np


def write_h264(path: str | Path, frames: Iterable[np.ndarray], fps: int, crf: int = 23, rotation: int = 0) -> None:
    """Encode RGB uint8 frames (all of one even size) as H.264 yuv420p in MP4. Written to a temporary
    file beside ``path`` and renamed at the end, so an interrupted run leaves no half-written video.

    ``rotation`` (degrees counterclockwise, a multiple of 90) stores the frames the way a phone stores a
    portrait video: the pixels turned back clockwise, and a display matrix that turns them upright."""
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, not {rotation}")
    quarter_turns = rotation // 90 % 4
    path = Path(path)
    partial = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        with av.open(str(partial), "w", format="mp4") as container:
            stream = None
            for rgb in frames:
                rgb = np.rot90(rgb, -quarter_turns)
                if stream is None:
                    stream = container.add_stream("libx264", rate=fps)
                    stream.height, stream.width = rgb.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf), "preset": "veryfast"}
                    if quarter_turns:
                        stream.set_display_rotation(quarter_turns * 90)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
            if stream is not None:
                container.mux(stream.encode())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
