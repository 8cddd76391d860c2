"""The headline model: a linear scorer over a frozen sentence embedding (all-MiniLM-L6-v2, 384-d) and
hashed word n-grams, predicting a video's log views relative to its channel's typical (see
:mod:`reelkit.headlines.data`). Also the surface features of the wording that the length-only
baseline uses.

Everything the scorer needs besides the sentence encoder lives in its state dict (the n-grams' IDFs
are a buffer), so the shipped weights file is self-contained.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reelkit.cache import cache_dir, save_atomically
from reelkit.registry import register_model

TRAIN_COMMAND = "reelkit train headlines"
ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
FEATURE_NAMES = ("words", "characters", "has_number", "question", "exclamation", "caps_share", "all_caps_words",
                 "segments", "brackets", "colon", "hashtag", "capitalised_words")
_TOKEN = re.compile(r"[a-z0-9']+")


def embed_titles(titles: list[str]) -> np.ndarray:
    """(n, 384) unit-length all-MiniLM-L6-v2 embeddings, from the encoder reelkit loads once per process."""
    from reelkit.embeddings import embed_sentences

    return embed_sentences(list(titles))


def surface_features(titles: list[str]) -> np.ndarray:
    """(n, len(FEATURE_NAMES)) raw surface features of the wording, in FEATURE_NAMES order."""
    rows = []
    for title in titles:
        words = title.split()
        letters = [c for c in title if c.isalpha()]
        rows.append([
            len(words),
            len(title),
            any(c.isdigit() for c in title),
            "?" in title,
            "!" in title,
            sum(c.isupper() for c in letters) / max(len(letters), 1),
            sum(w.isupper() and len(w) > 1 for w in words) / max(len(words), 1),
            # "Song | Artist | Channel": creators append show and channel names after separators.
            title.count("|") + title.count(" - ") + title.count(" — "),
            "(" in title or "[" in title,
            ":" in title,
            "#" in title,
            sum(w[:1].isupper() for w in words) / max(len(words), 1),
        ])
    return np.asarray(rows, dtype=np.float32).reshape(len(titles), len(FEATURE_NAMES))


def hashed_ngrams(titles: list[str], buckets: int) -> np.ndarray:
    """(n, buckets) presence (0/1) of lower-cased word unigrams and bigrams, hashed with CRC-32.

    Hashing instead of a fitted vocabulary keeps the model a plain state dict: no word list to ship.
    """
    out = np.zeros((len(titles), buckets), dtype=np.float32)
    for row, title in enumerate(titles):
        tokens = _TOKEN.findall(title.lower())
        grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
        for gram in grams:
            out[row, zlib.crc32(gram.encode()) % buckets] = 1.0
    return out


@dataclass(frozen=True)
class HeadlineModelConfig:
    ngram_buckets: int = 16384

    def to_dict(self) -> dict:
        return asdict(self)


class HeadlineModel(nn.Module):
    """(embedding, n-grams) -> predicted log(views / channel's typical views).

    A bag-of-words linear model like the baseline's, with the sentence embedding beside it: a linear
    scorer over the unit-length MiniLM embedding and the unit-length TF-IDF vector of the hashed n-grams
    (binary term counts, no minimum document frequency, unlike the baseline's vectoriser). The n-gram
    IDFs are a buffer fitted on the training titles, so the state dict is the whole model;
    :func:`reelkit.headlines.train.fit_headline_model` fits the weights by ridge regression.
    """

    def __init__(self, config: HeadlineModelConfig = HeadlineModelConfig()) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("ngram_idf", torch.ones(config.ngram_buckets))
        self.linear = nn.Linear(EMBEDDING_DIM + config.ngram_buckets, 1)

    def set_idf(self, ngrams: np.ndarray) -> None:
        """The smoothed IDF ln((1 + n) / (1 + df)) + 1 of the training titles' n-gram presence."""
        document_frequency = (ngrams > 0).sum(0)
        self.ngram_idf.copy_(torch.as_tensor(np.log((1 + len(ngrams)) / (1 + document_frequency)) + 1.0))

    def inputs(self, titles: list[str], embeddings: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The forward arguments for ``titles``; pass ``embeddings`` when they are already computed."""
        embeddings = embed_titles(titles) if embeddings is None else embeddings
        return (torch.as_tensor(embeddings, dtype=torch.float32),
                torch.as_tensor(hashed_ngrams(titles, self.config.ngram_buckets)))

    def design(self, embeddings: torch.Tensor, ngrams: torch.Tensor) -> torch.Tensor:
        """The (n, width) vectors the linear scorer weighs."""
        return torch.cat([embeddings, nn.functional.normalize(ngrams * self.ngram_idf, dim=1)], dim=1)

    def forward(self, embeddings: torch.Tensor, ngrams: torch.Tensor) -> torch.Tensor:
        return self.linear(self.design(embeddings, ngrams)).squeeze(1)


@register_model("headline_minilm", train_command=TRAIN_COMMAND)
def headline_minilm() -> HeadlineModel:
    return HeadlineModel(HeadlineModelConfig())


def cached_embeddings(titles: list[str], directory: Path | None = None) -> np.ndarray:
    """:func:`embed_titles`, stored as .npy under ``directory`` keyed by a hash of the titles.

    Encoding the training set takes most of a training run's time; with the cache a rerun takes seconds.
    An unwritable cache is not an error: the embeddings are then recomputed next time.
    """
    directory = cache_dir("headlines") if directory is None else Path(directory)
    key = hashlib.sha256(json.dumps([ENCODER, *titles]).encode()).hexdigest()[:24]
    path = directory / f"{key}.npy"
    if path.is_file():
        try:
            embeddings = np.load(path)
            if embeddings.shape == (len(titles), EMBEDDING_DIM):
                return embeddings
        except (OSError, ValueError):
            pass
    embeddings = embed_titles(titles)
    save_atomically(path, lambda handle: np.save(handle, embeddings))
    return embeddings
