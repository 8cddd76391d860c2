"""Training data for the GAN engine: Fashion-MNIST from Debian and the 2-D Gaussian mixtures."""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reelkit.errors import GANError

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist_files(split: str = "train", root: Path = FASHION_MNIST) -> tuple[Path, Path]:
    """The images and labels files of a split; a clear error when the Debian package is missing."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError("split must be 'train' or 'test'")
    images_path, labels_path = root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"
    if not images_path.is_file() or not labels_path.is_file():
        raise GANError(f"Fashion-MNIST not found in {root}: install the Debian package dataset-fashion-mnist")
    return images_path, labels_path


def load_fashion_mnist(split: str = "train", root: Path = FASHION_MNIST) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float tensors (N, 1, 28, 28) in [0, 1] and labels (N,); split is "train" or "test"."""
    images_path, labels_path = fashion_mnist_files(split, root)
    images = torch.from_numpy(_read_idx(images_path).astype(np.float32) / 255.0).unsqueeze(1)
    return images, torch.from_numpy(_read_idx(labels_path).astype(np.int64))


@dataclass(frozen=True)
class GaussianMixture2D:
    """Equal-weight isotropic Gaussians: the ring of 8 (radius 2, std 0.02) or the 5x5 grid (spacing 2,
    std 0.05), as in the unrolled-GAN / VEEGAN / PacGAN mode-collapse benchmarks."""

    name: str
    means: torch.Tensor
    std: float

    @classmethod
    def ring8(cls) -> "GaussianMixture2D":
        angles = torch.arange(8) * (2 * math.pi / 8)
        return cls("ring8", 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1), 0.02)

    @classmethod
    def grid25(cls) -> "GaussianMixture2D":
        axis = torch.arange(-4.0, 5.0, 2.0)
        return cls("grid25", torch.cartesian_prod(axis, axis), 0.05)

    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        modes = torch.randint(len(self.means), (count,), generator=generator)
        return self.means[modes] + self.std * torch.randn(count, 2, generator=generator)

    def evaluate(self, samples: torch.Tensor, min_per_mode: int = 20) -> dict[str, float]:
        """Modes covered and share of high-quality samples (within 3 std of the nearest mode); a mode is
        covered when at least ``min_per_mode`` high-quality samples fall on it."""
        distances = torch.cdist(samples.float(), self.means)
        nearest, mode = distances.min(dim=1)
        good = nearest <= 3 * self.std
        counts = torch.bincount(mode[good], minlength=len(self.means))
        return {"modes_covered": int((counts >= min_per_mode).sum()), "modes": len(self.means),
                "high_quality": float(good.float().mean())}


MIXTURES = {"ring8": GaussianMixture2D.ring8, "grid25": GaussianMixture2D.grid25}
