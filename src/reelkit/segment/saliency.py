"""Spectral-residual saliency (Hou & Zhang, CVPR 2007) thresholded by Otsu's method: how the thumbnail ranker
finds a frame's subject, ``reelkit segment --method saliency``, and one of the priors GrabCut starts from
(:mod:`reelkit.segment.grabcut`). Neither needs training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np


def spectral_residual_saliency(rgb: np.ndarray, width: int = 64) -> np.ndarray:
    """Saliency map in [0, 1] (Hou & Zhang 2007): the log amplitude spectrum minus its local mean,
    recombined with the phase; at ``width`` pixels wide, as in the paper."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    height = max(8, round(width * gray.shape[0] / gray.shape[1]))
    small = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amplitude - cv2.blur(log_amplitude, (3, 3), borderType=cv2.BORDER_REPLICATE)
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), width / 24)
    return cv2.normalize(saliency, None, 0.0, 1.0, cv2.NORM_MINMAX)


def otsu_level(saliency: np.ndarray) -> float:
    """Otsu's threshold of a [0, 1] map, on its 8-bit levels: ``saliency >= level`` is the salient part."""
    level, _ = cv2.threshold((saliency * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (level + 1) / 255


@dataclass
class SaliencySegmenter:
    """``segmenter(image)`` -> soft foreground mask (H, W) in [0, 1] at the image's own size: the saliency map
    rescaled piecewise-linearly so that Otsu's level of each image sits at ``threshold``'s default, 0.5."""

    threshold: float = 0.5
    width: int = 64

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self(image) for image in images]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        saliency = spectral_residual_saliency(image, self.width)
        level = min(max(otsu_level(saliency), 1e-3), 1 - 1e-3)
        soft = np.where(saliency < level, 0.5 * saliency / level, 0.5 + 0.5 * (saliency - level) / (1 - level))
        height, width = image.shape[:2]
        return cv2.resize(soft.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR).clip(0, 1)
