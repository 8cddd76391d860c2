"""Sample-quality metrics in a classifier's feature space: FID (Heusel et al., 2017) and KID
(Binkowski et al., 2018, Sec. 3: unbiased MMD^2 with the cubic polynomial kernel, averaged over subsets)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of Gaussian fits to the two feature sets."""
    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    cov_a, cov_b = np.cov(features_a, rowvar=False), np.cov(features_b, rowvar=False)
    with warnings.catch_warnings():  # dead ReLU units make the product singular; checked just below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # near-singular product: regularise as the reference FID code does
        offset = np.eye(cov_a.shape[0]) * 1e-6
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def kernel_inception_distance(features_a: np.ndarray, features_b: np.ndarray, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Mean and std over subsets of the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3."""
    rng = np.random.default_rng(seed)
    dim = features_a.shape[1]
    size = min(subset_size, len(features_a), len(features_b))
    estimates = []
    for _ in range(subsets):
        a = features_a[rng.choice(len(features_a), size, replace=False)].astype(np.float64)
        b = features_b[rng.choice(len(features_b), size, replace=False)].astype(np.float64)
        k_aa, k_bb, k_ab = ((a @ a.T) / dim + 1) ** 3, ((b @ b.T) / dim + 1) ** 3, ((a @ b.T) / dim + 1) ** 3
        off_diagonal = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (size * (size - 1))
        estimates.append(off_diagonal - 2.0 * k_ab.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


@torch.no_grad()
def classifier_features(classifier: torch.nn.Module, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Features of images in [0, 1] from a classifier with a ``features`` method."""
    classifier.eval()
    return torch.cat([classifier.features(images[i: i + batch_size]) for i in range(0, len(images), batch_size)]).numpy()
