"""Scoring timed overlay lines against ground truth, as the overlay benchmark reports it.

A ground-truth line is found when a predicted line overlapping it in time reads it with a
case-insensitive character error rate (CER) of at most ``max_cer``. Matching is one-to-one, so a line
repeated or split across several predictions counts once and the rest lower the precision.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from reelkit.text.formats import TimedLine


def cer(predicted: str, truth: str) -> float:
    """Case-insensitive character error rate of ``predicted`` against ``truth``."""
    return Levenshtein.distance(predicted.casefold(), truth.casefold()) / max(len(truth), 1)


@dataclass
class LineScores:
    truths: int
    predictions: int
    matched: int
    cer_sum: float

    @property
    def recall(self) -> float:
        return self.matched / self.truths if self.truths else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.predictions if self.predictions else 1.0

    @property
    def mean_cer(self) -> float:
        return self.cer_sum / self.matched if self.matched else 0.0

    def __add__(self, other: "LineScores") -> "LineScores":
        return LineScores(self.truths + other.truths, self.predictions + other.predictions,
                          self.matched + other.matched, self.cer_sum + other.cer_sum)


def score_lines(truth: list[TimedLine], predicted: list[TimedLine], max_cer: float = 0.1) -> LineScores:
    candidates = []
    for i, t in enumerate(truth):
        for j, p in enumerate(predicted):
            overlap = min(t.end, p.end) - max(t.start, p.start)
            if overlap > 0:
                error = cer(p.text, t.text)
                if error <= max_cer:
                    candidates.append((error, -overlap, i, j))
    used_truth, used_pred, cer_sum = set(), set(), 0.0
    for error, _, i, j in sorted(candidates):
        if i not in used_truth and j not in used_pred:
            used_truth.add(i)
            used_pred.add(j)
            cer_sum += error
    return LineScores(len(truth), len(predicted), len(used_truth), cer_sum)
