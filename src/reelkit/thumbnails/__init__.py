"""Thumbnails: pick the best frames of a video as thumbnail candidates, and say why.

Candidate frames are sampled every half second; black, near-uniform, blurred, transition (cut or
cross-fade) frames are rejected with a reason, the rest are rated by plug-in scorers (sharpness,
faces, salient subject, overlay text, optionally a popularity model), combined as a weighted mean,
and near-duplicates give way to the best of them.

>>> from reelkit.thumbnails import ThumbnailRanker, export_thumbnails
>>> ranker = ThumbnailRanker()
>>> thumbnails = ranker("clip.mp4", k=5)  # doctest: +SKIP
>>> export_thumbnails(thumbnails, "out", "clip")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the CLI imports this package to register its command, and OpenCV and
# PySceneDetect would otherwise slow every ``reelkit`` invocation.
_EXPORTS = {
    "Candidate": "candidates", "CandidateSampler": "candidates", "Rejection": "candidates",
    "SamplerConfig": "candidates", "Sampling": "candidates",
    "FaceScorer": "scorers", "FrameScorer": "scorers", "PopularityScorer": "scorers", "Score": "scorers",
    "SharpnessScorer": "scorers", "SubjectScorer": "scorers", "TextScorer": "scorers",
    "RankResult": "pipeline", "Thumbnail": "pipeline", "ThumbnailRanker": "pipeline",
    "contact_sheet": "pipeline", "export_thumbnails": "pipeline",
    "clean_share": "demo", "make_planted_video": "demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
