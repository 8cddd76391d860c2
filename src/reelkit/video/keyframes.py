"""Keyframes: frames sampled periodically inside shots, with shot cuts found by PySceneDetect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np
from scenedetect import ContentDetector, FrameTimecode

from reelkit.video.decode import DecodedFrame, VideoReader


@dataclass
class Keyframe:
    frame: DecodedFrame
    shot_cut: bool  # the first sampled frame of a new shot
    small_gray: np.ndarray  # the frame shrunk by the sampler's scale, for cheap change checks


class KeyframeSampler:
    """Yields one frame every ``sample_every`` seconds and flags those that open a new shot.

    Shot cuts come from PySceneDetect's ContentDetector (HSV content change), run on the sampled frames
    downscaled by ``scale``, which keeps it cheap while cuts still stand far above panning motion.
    """

    def __init__(self, sample_every: float = 0.2, cut_threshold: float = 27.0, scale: int = 4) -> None:
        self.sample_every = sample_every
        self.cut_threshold = cut_threshold
        self.scale = scale

    def __call__(self, reader: VideoReader) -> Iterator[Keyframe]:
        fps = reader.info.fps
        detector = ContentDetector(threshold=self.cut_threshold, min_scene_len=max(1, int(round(fps * 0.5))))
        next_time = 0.0
        for frame in reader:
            if frame.time + 0.5 / fps < next_time:
                continue
            next_time = frame.time + self.sample_every
            small = frame.small_bgr(self.scale)
            cuts = detector.process_frame(FrameTimecode(frame.index, fps), small)
            yield Keyframe(frame, bool(cuts) and frame.index > 0, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
