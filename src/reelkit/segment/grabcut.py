"""Subject segmentation without training and without a user: OpenCV's GrabCut (Rother, Kolmogorov & Blake,
SIGGRAPH 2004), started from priors instead of a user's rectangle. ``reelkit segment``'s default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from reelkit.segment.saliency import otsu_level, spectral_residual_saliency

# GrabCut's labels as a soft mask: sure and probable foreground above 0.5, probable and sure background below.
_SOFT = np.zeros(4, np.float32)
_SOFT[[cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD]] = (0.0, 1.0, 0.25, 0.75)


@dataclass
class GrabCutSegmenter:
    """``segmenter(image)`` -> soft foreground mask (H, W) in [0, 1] at the image's own size.

    The frame's ``border`` (a share of its shorter side) is sure background; a centred ellipse (semi-axes
    ``centre_radius`` of each side) and the spectral-residual salient region (its map blurred by
    ``saliency_blur`` of the map's width, thresholded by Otsu) are probable foreground; everything else is
    probable background. GrabCut's colour models and graph cut (``iterations`` rounds) then decide, on the image
    shrunk to ``analysis_side``. The defaults were chosen on the *training* scenes of :mod:`reelkit.segment.data`
    (docs/benchmarks.md, segmentation section).
    """

    threshold: float = 0.5
    analysis_side: int = 256
    border: float = 0.06
    centre_radius: float = 0.6
    saliency_blur: float = 0.15
    iterations: int = 5

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self(image) for image in images]

    def seeds(self, rgb: np.ndarray) -> np.ndarray:
        """GrabCut's starting labels for ``rgb``."""
        height, width = rgb.shape[:2]
        labels = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
        saliency = spectral_residual_saliency(rgb)
        saliency = cv2.GaussianBlur(saliency, (0, 0), self.saliency_blur * saliency.shape[1])
        saliency = cv2.resize(cv2.normalize(saliency, None, 0.0, 1.0, cv2.NORM_MINMAX), (width, height))
        labels[saliency >= otsu_level(saliency)] = cv2.GC_PR_FGD
        rows, columns = np.mgrid[0:height, 0:width]
        ellipse = (((rows - height / 2) / (height * self.centre_radius)) ** 2
                   + ((columns - width / 2) / (width * self.centre_radius)) ** 2) <= 1
        labels[ellipse] = cv2.GC_PR_FGD
        edge = max(1, round(self.border * min(height, width)))
        labels[:edge], labels[-edge:], labels[:, :edge], labels[:, -edge:] = (cv2.GC_BGD,) * 4
        return labels

    def __call__(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        scale = min(1.0, self.analysis_side / max(height, width))
        small = image if scale == 1.0 else cv2.resize(
            image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        labels = self.seeds(small)
        if not (labels == cv2.GC_PR_FGD).any() or not (labels == cv2.GC_BGD).any():
            return np.zeros((height, width), np.float32)  # too small to have a border and an inside
        background_model, foreground_model = np.zeros((1, 65)), np.zeros((1, 65))
        cv2.setRNGSeed(0)  # GrabCut's k-means start draws from OpenCV's random state: the same picture, the same mask
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, None, background_model, foreground_model,
                    self.iterations, cv2.GC_INIT_WITH_MASK)
        return cv2.resize(_SOFT[labels], (width, height), interpolation=cv2.INTER_LINEAR)
