"""Headline scoring and headline variants for short-form videos.

A headline's score is the predicted log of a video's views over its channel's typical views, learnt
from trending YouTube videos of 2017 (``headline_minilm``: a ridge-fitted linear scorer over all-MiniLM-L6-v2
sentence embeddings and TF-IDF hashed n-grams). :class:`HeadlineImprover` rewrites a headline and
ranks the rewrites and the user's own alternatives by that score, saying what changed in each.

    >>> from reelkit.headlines import HeadlineScorer, HeadlineImprover
    >>> HeadlineScorer()(["I Tried 5 Viral Hacks"])
    >>> HeadlineImprover().improve("i tried viral hacks", alternatives=["Viral hacks, tested"], n=5)
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the CLI imports this package to register its commands, and torch and
# scikit-learn would otherwise slow every ``reelkit`` invocation.
_EXPORTS = {"load_trending": "data", "HeadlineImprover": "pipeline", "HeadlineScorer": "pipeline", "Variant": "pipeline"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
