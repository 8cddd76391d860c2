"""Score headlines and propose better ones.

:class:`HeadlineScorer` turns headlines into predicted log-ratios of views to the channel's typical
views. :class:`HeadlineImprover` rewrites a headline with simple, explainable generators (numbers,
question form, length, wording, case), adds the user's own alternatives, and ranks them all with the
scorer, each with what changed and the predicted change against the original.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch

from reelkit.errors import HeadlineError
from reelkit.headlines.models import HeadlineModel

# A generator maps a headline to (variant, what changed) pairs; it may return none.
Generator = Callable[[str], list[tuple[str, str]]]


def clean_headlines(headlines: Iterable[str]) -> list[str]:
    """Headlines with runs of whitespace collapsed; an empty one is a :class:`HeadlineError`."""
    cleaned = [" ".join(str(h).split()) for h in headlines]
    for position, headline in enumerate(cleaned, 1):
        if not headline:
            raise HeadlineError(f"headline {position} is empty")
    return cleaned


class HeadlineScorer:
    """Callable: headlines -> predicted log(views / the channel's typical views), by the model
    ``headline_minilm`` unless another is given."""

    def __init__(self, model: HeadlineModel | None = None) -> None:
        if model is None:
            from reelkit.registry import create_model

            model = create_model("headline_minilm", pretrained=True)
        self.model = model.eval()

    # Headlines scored at once: the model's hashed n-gram input is dense (64 KB a headline), so a long
    # --file would otherwise hold gigabytes.
    chunk_size = 256

    @torch.no_grad()
    def __call__(self, headlines: Sequence[str]) -> list[float]:
        headlines = clean_headlines(headlines)
        scores: list[float] = []
        for start in range(0, len(headlines), self.chunk_size):
            scores += self.model(*self.model.inputs(headlines[start:start + self.chunk_size])).tolist()
        return scores

    def multipliers(self, headlines: Sequence[str]) -> list[float]:
        """exp(score): the predicted views as a multiple of the channel's typical views."""
        return [math.exp(s) for s in self(headlines)]


@dataclass(frozen=True)
class Variant:
    text: str
    score: float  # predicted log(views / channel's typical views)
    change: float  # predicted views relative to the original's, minus 1 (0.18: 18% more)
    reason: str
    source: str  # the generator that made it, or "yours" for the user's alternatives

    @property
    def multiplier(self) -> float:
        return math.exp(self.score)


_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to", "vs", "via", "with"}
_FILLER = {"just", "really", "very", "actually", "literally", "basically", "totally", "simply", "quite", "so"}
_LIST_NOUNS = r"(ways|tips|reasons|things|tricks|ideas|mistakes|facts|hacks|secrets|steps|signs|rules|lessons|songs|moments)"
_NUMBER_WORDS = {"two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
                 "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "fifty": "50", "hundred": "100"}
# Small hand-made list: a plain verb or adjective and a stronger word a headline editor would use.
_STRONGER = {"shows": "reveals", "show": "reveal", "says": "reveals", "tells": "reveals", "gets": "lands",
             "get": "land", "makes": "creates", "tries": "tests", "try": "test", "looks at": "inside",
             "find": "discover", "finds": "discovers", "good": "incredible", "great": "incredible", "big": "massive",
             "bad": "disastrous", "new": "brand-new", "funny": "hilarious", "scary": "terrifying", "best": "ultimate",
             "talks about": "opens up about", "talks": "opens up", "changes": "transforms"}
_DETERMINERS = {"the", "this", "that", "these", "those", "my", "your", "our", "his", "her", "their", "a", "an"}
_AUXILIARIES = ("is", "are", "was", "were", "can", "will", "does", "did", "has", "have", "should")


def _capitalise(word: str) -> str:
    """Upper-case the first letter, even after an opening bracket or quote: "(official)" -> "(Official)"."""
    return re.sub(r"[^\W\d_]", lambda m: m.group(0).upper(), word, count=1)


def _written_as_is(word: str) -> bool:
    """A name capitalised mid-word (iPhone, McDonald's), an acronym of up to 4 letters (NASA, DIY) or a
    capital letter other than the article (iPhone X): words a case change must leave alone. Longer
    all-capital words, and common words in capitals ("THE"), are shouting and may change."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return False
    if any(c.isupper() for c in letters[1:]) and not word.isupper():
        return True
    if len(letters) == 1:
        return word.isupper() and word != "A"
    if not word.isupper() or word.lower().strip("\"'().,!?:") in _COMMON_FIRST_WORDS:  # "THE", "AND": shouting
        return False
    return len(letters) <= 4


def _title_case(text: str) -> str:
    words = text.split(" ")
    return " ".join(w if _written_as_is(w) else w.lower() if i and w.lower() in _SMALL_WORDS
                    else _capitalise(w.lower() if w.isupper() else w) for i, w in enumerate(words))


def _sentence_case(text: str) -> str:
    words = [w if _written_as_is(w) else w.lower() for w in text.split(" ")]
    if not _written_as_is(words[0]):
        words[0] = _capitalise(words[0])
    return " ".join(words)


_QUESTION_WORDS = {"what", "why", "how", "who", "when", "where", "which"}
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def _title_styled(headline: str) -> bool:
    """Whether the author capitalises most words ("I Tried 5 Viral Hacks"), as opposed to sentence case or
    all lower case; templates then add their words in the same style."""
    words = _WORD.findall(headline)
    rest = [w for w in words[1:] if w.lower() not in _SMALL_WORDS]
    if not rest:
        return bool(words) and words[0][0].isupper()
    return sum(w[0].isupper() for w in rest) >= len(rest) / 2


def _styled(phrase: str, headline: str, starts: bool = False) -> str:
    """A template's words (written in title case) in ``headline``'s style: kept for a title-cased headline,
    otherwise lower case, with a capital only where the phrase ``starts`` the new headline."""
    if _title_styled(headline):
        return phrase
    phrase = phrase.lower()
    return _capitalise(phrase) if starts else phrase


def _after_prefix(core: str, headline: str) -> str:
    """``core`` once a phrase goes before it: the first word of a sentence-case headline loses the capital it had
    only for standing first, when it is a common word ("What they want" -> "The truth about what they want")."""
    first, _, rest = core.partition(" ")
    if not _title_styled(headline) and first.lower() in _COMMON_FIRST_WORDS and not any(c.isupper() for c in first[1:]):
        first = first.lower()
    return f"{first} {rest}" if rest else first


def _caps_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / max(len(letters), 1)


def _core(headline: str) -> str:
    """The headline without trailing punctuation, so templates can wrap it."""
    return headline.rstrip(" .!?")


_TAG = re.compile(r"\s*(\||–|—| - )\s*[^|–—]+$")


def _split_tag(headline: str) -> tuple[str, str]:
    """("Main part", " | Channel tag"): templates rewrite the main part and keep the tag after it."""
    found = _TAG.search(headline)
    if found and found.start() > 0:
        return headline[:found.start()], headline[found.start():]
    return headline, ""


_SUBJECT_PRONOUNS = {"i", "we", "you", "he", "she", "they", "it"}
# Closed-class words and common verbs: a count goes after them, never before ("I tried 5 viral hacks").
_PHRASE_BOUNDARY = _DETERMINERS | set(_AUXILIARIES) | _SUBJECT_PRONOUNS | {
    "me", "us", "them", "and", "or", "but", "for", "of", "to", "in", "on", "at", "with", "from", "by", "about",
    "into", "over", "than", "all", "some", "any", "more", "most", "every", "try", "tries", "trying", "test", "tests",
    "testing", "use", "uses", "using", "make", "makes", "making", "do", "doing", "get", "gets", "getting", "know",
    "need", "want", "learn", "share", "shares", "sharing", "reveal", "reveals", "watch", "see", "take", "takes",
    "give", "gives", "be", "been", "being", "had", "am"}


_COMMON_FIRST_WORDS = _PHRASE_BOUNDARY | _SMALL_WORDS | _QUESTION_WORDS


def _noun_phrase_start(headline: str, noun_start: int, max_modifiers: int = 3) -> int:
    """Where the modifiers of the noun at ``noun_start`` begin ("viral life" in "I tried viral life hacks"):
    walk back over up to ``max_modifiers`` plain words, stopping at a closed-class word, a past-tense verb
    ("-ed") or anything that is not a word."""
    start = noun_start
    for _ in range(max_modifiers):
        previous = re.search(r"([^\W\d_][\w'-]*) $", headline[:start])
        if not previous:
            break
        word = previous.group(1).lower()
        if word in _PHRASE_BOUNDARY or word.endswith("ed"):
            break
        start = previous.start(1)
    return start


def numbers(headline: str) -> list[tuple[str, str]]:
    found = re.search(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", headline, re.I)
    if found:
        digit = _NUMBER_WORDS[found.group(1).lower()]
        return [(headline[:found.start()] + digit + headline[found.end():], "writes the number as digits")]
    if any(c.isdigit() for c in headline):
        return []
    listed = re.search(r"\b" + _LIST_NOUNS + r"\b", headline, re.I)
    if listed:
        at = _noun_phrase_start(headline, listed.start())
        return [(headline[:at] + "5 " + headline[at:], "adds a count")]
    main, tag = _split_tag(headline)
    return [(f"{_core(main)}: {_styled('3 Things to Know', headline)}{tag}", "adds a number")]


# Verbs that make a headline a sentence when they follow its first words ("My cat shows ...").
_CLAUSE_VERBS = set(_AUXILIARIES) | {"shows", "says", "tells", "gets", "makes", "tries", "finds", "reveals", "goes",
                                     "takes", "gives", "wants", "needs", "does", "became", "becomes", "turns"}


def _starts_with_a_clause(text: str) -> bool:
    """True for a headline that is a sentence: it opens with a subject pronoun ("I tried ...", "We built ...") or
    a verb follows its first words ("My cat shows ...", "Apple is releasing ..."). Templates that expect a noun
    phrase ("The Truth About ...") do not fit it."""
    words = [w.lower().strip("\"'(),.!?:") for w in text.split()]
    return bool(words) and (words[0] in _SUBJECT_PRONOUNS or any(w in _CLAUSE_VERBS for w in words[1:5]))


def question(headline: str) -> list[tuple[str, str]]:
    main, tag = _split_tag(headline)
    core = _core(main)
    if "?" in main:
        return []
    how_to = re.match(r"how to (.+)", core, re.I)
    if how_to:
        return [(f"{_styled('How Do You', headline, starts=True)} {how_to.group(1)}?{tag}", "asks a question")]
    words = core.split()
    for i, word in enumerate(words[1:6], 1):
        if word.lower() in _AUXILIARIES:
            # "Apple is releasing X" -> "Is Apple releasing X?"
            subject = words[0].lower() if words[0].lower() in _DETERMINERS and not words[0].isupper() else words[0]
            asked = [_capitalise(word.lower()) if not word.isupper() else word, subject, *words[1:i], *words[i + 1:]]
            return [(" ".join(asked) + "?" + tag, "turns it into a question")]
    if words and words[0].lower() in _QUESTION_WORDS:  # "What they want to do?" asks already; "Why what ..." is none
        return [(f"{core}?{tag}", "asks a question")]
    why = f"Why {_after_prefix(core, headline)}"
    if _starts_with_a_clause(core):  # "Why I Tried Viral Hacks" is a title; "Why I tried viral hacks?" is not
        return [(f"{core}?{tag}", "asks a question"), (f"{why}{tag}", "says why")]
    return [(f"{core}?{tag}", "asks a question"), (f"{why}?{tag}", "asks why")]


def length(headline: str) -> list[tuple[str, str]]:
    out = []
    # Trailing "| Channel" or " - Channel" tags repeat what the viewer already sees under the video.
    untagged, tag = _split_tag(headline)
    if tag and len(untagged.split()) >= 2:
        out.append((untagged, "drops the trailing tag"))
    unbracketed = " ".join(re.sub(r"\s*[(\[][^)\]]*[)\]]", "", headline).split())
    if unbracketed and unbracketed != headline:
        out.append((unbracketed, "drops the parenthetical"))
    words = headline.split()
    trimmed = [w for w in words if w.lower().strip(",.!?") not in _FILLER]
    if trimmed and len(trimmed) < len(words):
        out.append((" ".join(trimmed), "drops filler words"))
    if len(words) <= 8:
        out.append((f"{_core(untagged)}, {_styled('Explained', headline)}{tag}", "makes it longer"))
        out.append((f"{_core(untagged)} ({_styled('Full Video', headline)}){tag}", "makes it longer"))
    return out


def wording(headline: str) -> list[tuple[str, str]]:
    out = []
    stronger = headline
    changed = []
    for weak, strong in _STRONGER.items():
        pattern = re.compile(rf"\b{re.escape(weak)}\b", re.I)
        if pattern.search(stronger):
            stronger = pattern.sub(lambda m, s=strong: s.upper() if m.group(0).isupper() and len(m.group(0)) > 1
                                   else _capitalise(s) if m.group(0)[0].isupper() else s, stronger, count=1)
            changed.append(f"'{weak}' -> '{strong}'")
    if changed:
        out.append((stronger, f"stronger words ({', '.join(changed[:2])})"))
    main, tag = _split_tag(headline)
    if len(main.split()) <= 6 and not main.lower().startswith("the truth") and not _starts_with_a_clause(main):
        truth = _styled("The Truth About", headline, starts=True)
        out.append((f"{truth} {_after_prefix(_core(main), headline)}{tag}", "adds a power phrase"))
    return out


def case(headline: str) -> list[tuple[str, str]]:
    if _caps_share(headline) > 0.6:
        return [(_title_case(headline.lower()), "removes ALL CAPS")]
    return [(_title_case(headline), "title case"), (_sentence_case(headline), "sentence case")]


GENERATORS: dict[str, Generator] = {"numbers": numbers, "question": question, "length": length, "wording": wording,
                                    "case": case}


# The pronoun, alone or in a contraction ("i", "i'm", "i've"), is always "I" in a rewritten headline.
_PRONOUN_I = re.compile(r"(?<![\w'’.-])i(?=$|[\s'’,!?:;)]|\.(?!\w))")


def _reason(change: float, what: str) -> str:
    return f"{change:+.0%} predicted views vs original: {what}"


class HeadlineImprover:
    """Rewrites a headline with ``generators`` (default :data:`GENERATORS`) and ranks the variants and
    the user's alternatives with ``scorer`` (any callable headlines -> log-ratio scores)."""

    def __init__(self, scorer: Callable[[Sequence[str]], list[float]] | None = None,
                 generators: dict[str, Generator] | None = None) -> None:
        self.scorer = scorer if scorer is not None else HeadlineScorer()
        self.generators = GENERATORS if generators is None else generators

    def candidates(self, headline: str, alternatives: Sequence[str] = ()) -> list[tuple[str, str, str]]:
        """(text, what changed, source) for every distinct variant, the user's alternatives first."""
        (headline,) = clean_headlines([headline])
        seen = {headline}
        out = []
        for text in clean_headlines(alternatives):
            if text not in seen:
                seen.add(text)
                out.append((text, "your alternative", "yours"))
        if not _WORD.search(headline):  # nothing to rewrite in "!!!" or "2024"
            return out
        for source, generate in self.generators.items():
            for text, what in generate(headline):
                text = _PRONOUN_I.sub("I", " ".join(text.split()))
                if text and text not in seen:
                    seen.add(text)
                    out.append((text, what, source))
        return out

    def improve(self, headline: str, alternatives: Sequence[str] = (), n: int | None = None) -> list[Variant]:
        """Variants different from ``headline``, best predicted first; at most ``n`` (all by default),
        though the user's alternatives are always kept."""
        (headline,) = clean_headlines([headline])
        candidates = self.candidates(headline, alternatives)
        scores = self.scorer([headline, *(c[0] for c in candidates)])
        original = scores[0]
        variants = [Variant(text, score, math.exp(score - original) - 1, _reason(math.exp(score - original) - 1, what),
                            source) for (text, what, source), score in zip(candidates, scores[1:])]
        variants.sort(key=lambda v: v.score, reverse=True)
        if n is None:
            return variants
        kept = variants[:n]
        return kept + [v for v in variants[n:] if v.source == "yours"]

    def __call__(self, headline: str, alternatives: Sequence[str] = (), n: int | None = None) -> list[Variant]:
        return self.improve(headline, alternatives, n)
