"""Segmentation metrics against ground-truth masks: mean IoU, F-max (beta^2 = 0.3) and pixel accuracy."""

from __future__ import annotations

import numpy as np

BETA2 = 0.3  # the saliency literature's F-measure weighting of precision


def iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(prediction, truth).sum()
    return float(np.logical_and(prediction, truth).sum() / union) if union else 1.0


def f_max(scores: np.ndarray, truths: np.ndarray, thresholds: int = 255) -> float:
    """Max over thresholds of F_beta from precision and recall averaged over images.

    ``scores`` (N, H, W) in [0, 1], ``truths`` (N, H, W) bool."""
    levels = np.linspace(0, 1, thresholds + 1)[1:-1] if thresholds > 1 else np.array([0.5])
    flat_scores = scores.reshape(len(scores), -1)
    flat_truth = truths.reshape(len(truths), -1).astype(bool)
    positives = flat_truth.sum(1)
    best = 0.0
    for level in levels:
        predicted = flat_scores >= level
        hits = np.logical_and(predicted, flat_truth).sum(1)
        precision = np.where(predicted.sum(1) > 0, hits / np.maximum(predicted.sum(1), 1), 0.0).mean()
        recall = np.where(positives > 0, hits / np.maximum(positives, 1), 1.0).mean()
        if precision + recall > 0:
            best = max(best, (1 + BETA2) * precision * recall / (BETA2 * precision + recall))
    return float(best)


def segmentation_metrics(scores: np.ndarray, truths: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """mean IoU and pixel accuracy of ``scores >= threshold``, F-max of the soft scores, and the mean area (share of
    the image) of the predicted and of the true masks: a segmenter can fail by drawing masks of the wrong size."""
    predictions = scores >= threshold
    truths = truths.astype(bool)
    return {"miou": float(np.mean([iou(p, t) for p, t in zip(predictions, truths)])),
            "fmax": f_max(scores, truths),
            "pixel_accuracy": float((predictions == truths).mean()),
            "mask_area": float(predictions.mean()),
            "truth_area": float(truths.mean()),
            "images": int(len(scores))}
