"""Subject segmentation: reelkit's scene generator (:mod:`reelkit.segment.data`) and its segmenters, each
``segmenter(image_rgb_uint8) -> (H, W) soft mask in [0, 1]``: two that need no training,
:class:`GrabCutSegmenter` (``reelkit segment``'s default) and :class:`SaliencySegmenter`, and the research
engines :mod:`reelkit.segment.layered` (the perturbed layered GAN) and :mod:`reelkit.segment.move` (MOVE)."""

from reelkit.segment.grabcut import GrabCutSegmenter
from reelkit.segment.saliency import SaliencySegmenter

__all__ = ["GrabCutSegmenter", "SaliencySegmenter"]
