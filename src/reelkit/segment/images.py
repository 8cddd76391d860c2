"""Running a fixed-size segmenter on images of any size."""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image


def predict_resized(images: list[np.ndarray] | np.ndarray, size: int, batch_size: int,
                    run: Callable[[np.ndarray], np.ndarray], resample: int = Image.BILINEAR) -> list[np.ndarray]:
    """Soft masks for RGB uint8 images of any size: each is resized to ``size`` x ``size``, ``run`` maps a batch
    (N, size, size, 3) uint8 to masks (N, size, size), and each mask is resized back to its image, in [0, 1]."""
    masks: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start: start + batch_size]
        resized = np.stack([np.asarray(Image.fromarray(np.asarray(image, np.uint8)).convert("RGB").resize(
            (size, size), resample)) for image in chunk])
        for image, mask in zip(chunk, run(resized)):
            height, width = np.asarray(image).shape[:2]
            if (height, width) != mask.shape:
                mask = np.asarray(Image.fromarray(mask.astype(np.float32), mode="F").resize((width, height),
                                                                                      Image.BILINEAR))
            masks.append(np.clip(mask, 0.0, 1.0))
    return masks
