"""Lexicon-based transcription for the CRNN (Shi, Bai and Yao, TPAMI 2017, Sec. 2.3), made open-vocabulary.

The paper picks, among the lexicon words within edit distance delta of the lexicon-free reading l', the one
the network finds most likely: l* = argmax_{l in N_delta(l')} p(l|y), with p(l|y) the CTC probability summed
over all alignments, and uses delta = 3 in its experiments. Overlay text is not confined to a lexicon (names, handles,
numbers), so here the reading itself stays a candidate and each word it lacks is replaced only when a lexicon
word (or two, for a missing space) scores higher once a lexicon prior ``bonus`` is added:
log p(l*|y) + bonus > log p(l'|y). The word list is pyspellchecker's English frequency list.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from reelkit.errors import TextError
from reelkit.text.recognize import Reading

# A word of letters with punctuation at either end; words with digits, @handles and #tags are left be.
_TOKEN = re.compile(r"^([^\w@#]*)([A-Za-z]+)([^\w@#]*)$")
# A word of one or two letters must be this common (OpenSubtitles counts: "truly" 93,722) to replace a reading
# or to be split off one, so that "!ery" does not become "!ry", nor "limesfod" "limes od".
COMMON_COUNT = 20_000


class Lexicon:
    """Lower-case words with their counts in a corpus, and their near neighbours under Levenshtein distance."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = {w: c for w, c in counts.items() if w.isalpha() and w.isascii()}
        by_length: dict[int, list[str]] = {}
        for word in sorted(self.counts):
            by_length.setdefault(len(word), []).append(word)
        self._by_length = by_length
        # per lexicon: the same misread word comes back on every re-read of its line
        self._pool = functools.lru_cache(maxsize=64)(self._pool)
        self.neighbours = functools.lru_cache(maxsize=4096)(self.neighbours)

    @classmethod
    @functools.cache
    def english(cls, min_count: int = 200) -> "Lexicon":
        """pyspellchecker's English list (word counts from OpenSubtitles): words seen at least ``min_count`` times."""
        source = resources.files("spellchecker") / "resources" / "en.json.gz"
        counts = json.loads(gzip.decompress(source.read_bytes()))
        return cls({word: count for word, count in counts.items() if count >= min_count})

    def with_words(self, words: Iterable[str]) -> "Lexicon":
        """This lexicon plus ``words`` (a channel's names, its slang), each counted as common."""
        return Lexicon(self.counts | {w.lower(): max(self.counts.get(w.lower(), 0), COMMON_COUNT) for w in words})

    def __contains__(self, word: str) -> bool:
        return word.lower() in self.counts

    def common(self, word: str) -> bool:
        return self.counts.get(word.lower(), 0) >= COMMON_COUNT

    def _pool(self, shortest: int, longest: int) -> list[str]:
        return [w for length in range(shortest, longest + 1) for w in self._by_length.get(length, ())]

    def neighbours(self, word: str, max_distance: int) -> tuple[str, ...]:
        """Lexicon words within ``max_distance`` edits of ``word`` (lower case), nearest first: N_delta(l')."""
        word = word.lower()
        pool = self._pool(len(word) - max_distance, len(word) + max_distance)
        found = process.extract(word, pool, scorer=Levenshtein.distance, score_cutoff=max_distance, limit=None)
        return tuple(match for match, _, _ in sorted(found, key=lambda m: m[1]))


def read_word_list(path: str | Path) -> list[str]:
    """The words of a UTF-8 text file, separated by spaces or lines, punctuation at their ends dropped; words with
    other characters than A-Z (digits, accents, apostrophes inside) are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TextError(f"word list {path} not found") from None
    except UnicodeDecodeError:
        raise TextError(f"word list {path} is not UTF-8 text") from None
    except OSError as error:
        raise TextError(f"cannot read word list {path}: {error.strerror or error}") from None
    words = [match[2] for word in text.split() if (match := _TOKEN.match(word))]
    if not words:
        raise TextError(f"word list {path} holds no words of the letters A-Z")
    return words


def _cased_like(candidate: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return candidate.upper()
    if original[0].isupper():
        return candidate[0].upper() + candidate[1:]
    return candidate


def ctc_log_likelihood(log_probs: np.ndarray, texts: list[str], charset: str) -> np.ndarray:
    """log p(l|y) for each text under one line's (time, classes) CTC log-probabilities (Sec. 2.3, blank = 0)."""
    index = {c: i + 1 for i, c in enumerate(charset)}
    targets = [torch.tensor([index[c] for c in text], dtype=torch.long) for text in texts]
    lp = torch.from_numpy(np.ascontiguousarray(log_probs, dtype=np.float32)).unsqueeze(1).expand(-1, len(texts), -1)
    loss = F.ctc_loss(lp, torch.cat(targets), torch.full((len(texts),), lp.shape[0], dtype=torch.long),
                      torch.tensor([len(t) for t in targets]), blank=0, reduction="none", zero_infinity=False)
    return -loss.numpy()


@dataclass
class LexiconCorrector:
    """Replaces words of a CRNN reading that are not in the lexicon by lexicon words the network finds
    likelier, after a prior ``bonus`` (a log-probability) for lexicon words.

    ``max_distance`` is the paper's delta (3); a word of n letters looks only ``n // 3`` edits away (at least
    one), so short words are not turned into other short words. ``min_length``: shorter words are kept.
    """

    lexicon: Lexicon
    bonus: float = 3.0
    max_distance: int = 3
    min_length: int = 3

    def candidates(self, core: str) -> list[str]:
        """Lexicon words (and pairs of words, for a space the reading lost) near ``core``, cased like it."""
        distance = min(self.max_distance, max(1, len(core) // 3))
        found = [w for w in self.lexicon.neighbours(core, distance) if len(w) > 2 or self.lexicon.common(w)]
        pairs = []
        for split in range(1, len(core)):
            left, right = core[:split], core[split:]
            if any(len(half) <= 2 and not self.lexicon.common(half) for half in (left, right)):
                continue
            # one half must be a word as read; the other may be one edit off (a search, so only then)
            if left in self.lexicon:
                lefts = [left.lower()]
                rights = [right.lower()] if right in self.lexicon else self._near(right)
            elif right in self.lexicon:
                lefts, rights = self._near(left), [right.lower()]
            else:
                continue
            pairs.extend(f"{_cased_like(a, left)} {_cased_like(b, right)}" for a in lefts for b in rights)
        return list(dict.fromkeys([_cased_like(c, core) for c in found] + pairs))

    def _near(self, part: str) -> list[str]:
        return list(self.lexicon.neighbours(part, 1)[:3]) if len(part) > 3 else []

    def __call__(self, reading: Reading, log_probs: np.ndarray, charset: str) -> Reading:
        words = reading.text.split(" ")
        fixable = []
        for position, word in enumerate(words):
            match = _TOKEN.match(word)
            if match and len(match[2]) >= self.min_length and match[2] not in self.lexicon:
                fixable.append((position, match))
        if not fixable:
            return reading
        known = set(charset)  # a model with a smaller charset cannot spell every listed word
        shift = 0  # words a split added before the next fixable word
        for original_position, match in fixable:  # one word at a time, judged in the line as corrected so far
            position = original_position + shift
            options = [o for o in self.candidates(match[2]) if set(o) <= known]
            if not options:
                continue
            before, after = words[:position], words[position + 1:]
            lines = [" ".join(words)] + [" ".join(before + [match[1] + option + match[3]] + after) for option in options]
            scores = ctc_log_likelihood(log_probs, lines, charset)
            best = int(np.argmax(scores[1:])) + 1
            if scores[best] + self.bonus > scores[0]:
                words = lines[best].split(" ")
                shift += options[best - 1].count(" ")
        text = " ".join(words)
        return reading if text == reading.text else Reading(text, reading.confidence)
