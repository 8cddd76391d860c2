"""Faces: face-api's detector and 68-point landmarks ported to PyTorch, and EmotionalDAN for landmarks and
emotion (8 classes: anger, contempt, disgust, fear, happiness, neutral, sadness, surprise).

>>> from reelkit.faces import FaceAnalyzer
>>> faces = FaceAnalyzer()(rgb)  # doctest: +SKIP
>>> faces[0]["box"], faces[0]["landmarks"][30], faces[0]["emotion"]["happiness"]  # doctest: +SKIP

``FaceAnalyzer(detector=..., predictor=...)`` takes any detector (``rgb -> list[Detection]``) and any
predictor (``(rgb, boxes) -> [{"landmarks", "emotion"}]``); ``EmotionAdapter()`` is the emotion model of
the thumbnail ranker's ``FaceScorer(emotion=...)``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the CLI imports this package to register its commands, and PyTorch and OpenCV
# would otherwise slow every ``reelkit`` invocation.
_EXPORTS = {
    "Detection": "detect", "FaceDetector": "detect", "FaceLandmarks68": "detect", "FrameFaceFinder": "detect",
    "TinyFaceDetector": "detect",
    "face_api_dir": "detect", "read_tfjs_weights": "detect",
    "CONFIGS": "models", "EMOTIONS": "models", "EmotionalDAN": "models", "EmotionalDANConfig": "models",
    "EmotionAdapter": "pipeline", "EmotionalDANPredictor": "pipeline", "FaceAnalyzer": "pipeline", "annotate": "pipeline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
