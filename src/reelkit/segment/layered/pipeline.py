"""Segmenting images with a trained layered model: image -> mask network (once trained), or image -> encoder ->
latent -> generator's mask."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from reelkit.errors import SegmentError, WeightsError
from reelkit.segment.images import predict_resized
from reelkit.segment.layered.models import CONFIGS, LayeredModel
from reelkit import images as image_files

DEFAULT_MODEL = "layered_small"


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); a missing or unreadable file is a :class:`SegmentError`."""
    return image_files.read_image(path, SegmentError)


@dataclass
class LayeredSegmenter:
    """``segmenter(image)`` -> soft foreground mask (H, W) float in [0, 1] at the image's own size.

    The model's mask network segments once it is trained; ``use_encoder`` (or a model without one) takes
    mask(G(E(x))) instead, optionally refined by ``refine_steps``."""

    model: LayeredModel
    threshold: float = 0.5
    batch_size: int = 64
    use_encoder: bool = False
    refine_steps: int = 0  # optional: Adam steps on z from E(x) that lower |composite(G(z)) - x| (GAN inversion)
    refine_lr: float = 0.05

    @classmethod
    def from_name(cls, name: str = DEFAULT_MODEL, weights: str | Path | None = None,
                  threshold: float = 0.5) -> "LayeredSegmenter":
        from reelkit.registry import create_model

        if name not in CONFIGS:
            raise SegmentError(f"unknown layered model {name!r}; choose one of {', '.join(CONFIGS)}")
        try:
            model = create_model(name, pretrained=weights is None, weights=weights)
        except WeightsError as error:
            raise SegmentError(str(error)) from None
        return cls(model.eval(), threshold)

    @property
    def size(self) -> int:
        return self.model.config.image_size

    @torch.no_grad()
    def predict(self, images: list[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Soft masks for RGB uint8 images of any size (resized to the model's, masks resized back)."""
        self.model.eval()

        def run(batch: np.ndarray) -> np.ndarray:
            return self._masks(torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(127.5).sub(1.0))
        return predict_resized(images, self.size, self.batch_size, run)

    def _masks(self, x: torch.Tensor) -> np.ndarray:
        if self.model.has_mask_net and not self.use_encoder:
            return self.model.segment(x)[:, 0].numpy()
        z = self.model.encoder(x)
        if self.refine_steps:
            with torch.enable_grad():
                z = z.detach().requires_grad_(True)
                optimizer = torch.optim.Adam([z], lr=self.refine_lr)
                for _ in range(self.refine_steps):
                    loss = (self.model.generator(z).composite() - x).abs().mean((1, 2, 3)).sum()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        return self.model.generator(z.detach()).mask[:, 0].numpy()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.predict([image])[0]


def overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (255, 40, 40),
            threshold: float = 0.5) -> np.ndarray:
    """The image with the background darkened and the foreground tinted, its outline drawn."""
    from scipy import ndimage

    foreground = mask >= threshold
    out = image.astype(np.float32)
    out[~foreground] *= 0.45
    out[foreground] = 0.7 * out[foreground] + 0.3 * np.asarray(colour, np.float32)
    edge = foreground & ~ndimage.binary_erosion(foreground, iterations=max(1, min(image.shape[:2]) // 150))
    out[edge] = colour
    return np.clip(out, 0, 255).astype(np.uint8)


def segment_files(paths: list[Path], out_dir: Path, segmenter,
                  extra: Callable[[str, np.ndarray, np.ndarray], list[Path]] | None = None,
                  images: list[np.ndarray] | None = None) -> list[Path]:
    """For each image ``<stem>_mask.png`` (0/255) and ``<stem>_overlay.jpg`` in ``out_dir``, plus what
    ``extra(stem, image, soft_mask)`` writes; ``images`` are the files' pixels when the caller has read them.

    Every image is read first, so an unreadable one fails before anything is written."""
    if images is None:
        images = [read_image(path) for path in paths]
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) != len(stems):
        raise SegmentError("two input images share a file name stem; their outputs would overwrite each other")
    written: list[Path] = []
    for stem, image, mask in zip(stems, images, segmenter.predict(images)):
        binary = (mask >= segmenter.threshold).astype(np.uint8) * 255
        for name, array, fmt in ((f"{stem}_mask.png", binary, "PNG"), (f"{stem}_overlay.jpg", overlay(image, mask), "JPEG")):
            path = out_dir / name
            tmp = path.with_name(f".{name}.part")
            Image.fromarray(array).save(tmp, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
            tmp.replace(path)
            written.append(path)
        if extra is not None:
            written.extend(extra(stem, image, mask))
    return written
