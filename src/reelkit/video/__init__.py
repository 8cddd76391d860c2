"""Video decoding (PyAV), shot cuts and keyframes (PySceneDetect)."""

from reelkit.video.decode import VIDEO_SUFFIXES, DecodedFrame, VideoInfo, VideoReader, probe, working_size
from reelkit.video.keyframes import Keyframe, KeyframeSampler
from reelkit.video.prefetch import prefetch

__all__ = ["VIDEO_SUFFIXES", "DecodedFrame", "Keyframe", "KeyframeSampler", "VideoInfo", "VideoReader", "prefetch",
           "probe", "working_size"]
