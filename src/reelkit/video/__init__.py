"""Video decoding (PyAV), shot cuts and keyframes (PySceneDetect)."""

from reelkit.video.decode import VIDEO_SUFFIXES, DecodedFrame, VideoInfo, VideoReader, probe, working_size
from reelkit.video.keyframes import Keyframe, KeyframeSampler
from reelkit.video.prefetch import prefetch
from reelkit.video.shared import DecodeStopped, SharedDecode, SharedReader

__all__ = ["VIDEO_SUFFIXES", "DecodeStopped", "DecodedFrame", "Keyframe", "KeyframeSampler", "SharedDecode",
           "SharedReader", "VideoInfo", "VideoReader", "prefetch", "probe", "working_size"]
