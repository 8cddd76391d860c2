"""The paper's filtering step: phrases read on several keyframes are merged by Levenshtein distance
into one timed line, and near-duplicate phrases that overlap in time and place are dropped."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from reelkit.text.formats import TimedLine


def text_distance(a: str, b: str) -> float:
    """Case-insensitive normalised Levenshtein distance in [0, 1]."""
    return Levenshtein.normalized_distance(a.casefold(), b.casefold())


def _wording(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c == " ").strip()


def wording_distance(a: str, b: str) -> float:
    """:func:`text_distance` over letters, digits and spaces: punctuation, thin and often misread (or mended by the
    lexicon in one reading and not another), is left out unless a text has nothing else."""
    wording_a, wording_b = _wording(a), _wording(b)
    return text_distance(wording_a, wording_b) if wording_a and wording_b else text_distance(a, b)


def _overlap_1d(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def boxes_overlap(a: list[int], b: list[int]) -> float:
    """Intersection over the smaller box's area (1.0 when one box holds the other)."""
    inter = _overlap_1d(a[0], a[2], b[0], b[2]) * _overlap_1d(a[1], a[3], b[1], b[3])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return inter / smaller if smaller > 0 else 0.0


@dataclass(frozen=True)
class LineFilter:
    """Merges repeats and drops near-duplicates among timed lines.

    ``max_distance``: normalised Levenshtein distance under which two readings are the same phrase;
    ``max_gap``: seconds between two sightings of a phrase that still make one line (a flicker or a
    missed keyframe); ``containment``: RapidFuzz partial ratio above which a phrase overlapping another in
    time and place counts as a duplicate fragment of it.
    """

    max_distance: float = 0.25
    max_gap: float = 0.6
    containment: float = 90.0
    min_overlap: float = 0.5

    def __call__(self, lines: list[TimedLine]) -> list[TimedLine]:
        return sorted(self.drop_duplicates(self.merge_repeats(lines)), key=lambda l: (l.start, l.box[1], l.box[0]))

    def merge_repeats(self, lines: list[TimedLine]) -> list[TimedLine]:
        merged: list[TimedLine] = []
        for line in sorted(lines, key=lambda l: l.start):
            for kept in merged:
                if (line.start - kept.end <= self.max_gap and wording_distance(line.text, kept.text) <= self.max_distance
                        and boxes_overlap(line.box, kept.box) >= self.min_overlap):
                    weight_kept = (kept.end - kept.start) * kept.confidence
                    weight_line = (line.end - line.start) * line.confidence
                    if weight_line > weight_kept:
                        kept.text, kept.box = line.text, line.box
                    kept.confidence = max(kept.confidence, line.confidence)
                    kept.start, kept.end = min(kept.start, line.start), max(kept.end, line.end)
                    break
            else:
                merged.append(TimedLine(line.text, line.start, line.end, list(line.box), line.confidence))
        return merged

    def drop_duplicates(self, lines: list[TimedLine]) -> list[TimedLine]:
        def weight(line: TimedLine) -> float:
            return len(line.text) * line.confidence * (line.end - line.start)

        ordered = sorted(lines, key=weight, reverse=True)
        kept: list[TimedLine] = []
        for line in ordered:
            duplicate = False
            for other in kept:
                shared = _overlap_1d(line.start, line.end, other.start, other.end)
                if shared < self.min_overlap * min(line.end - line.start, other.end - other.start):
                    continue
                if boxes_overlap(line.box, other.box) < self.min_overlap:
                    continue
                if fuzz.partial_ratio(line.text.casefold(), other.text.casefold()) >= self.containment:
                    duplicate = True
                    break
            if not duplicate:
                kept.append(line)
        return kept
