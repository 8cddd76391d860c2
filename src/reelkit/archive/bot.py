"""The archive bot: questions in plain English, answers in prose that cite the videos they rest on.

A conversation's state is a plain JSON dict that the caller keeps (the studio in its database, the CLI
in a file) and passes back with the next question, so that follow-ups refine the last answer:
"only from Apple", "from December", "comedy ones", "with happy faces", "more like the second one",
"what text appears in it?". Questions are read by rules (there is no language model here): filters and
references are found and taken out, and what is left is searched for.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from rapidfuzz import fuzz, process

from reelkit.archive.index import CATEGORIES, ArchiveIndex, VideoRecord
from reelkit.archive.search import (EMOTION_ADJECTIVES, MODES, SORTS, STOPWORDS, Filters, SearchHit, browse, count,
                                    describe_dates, search, similar)
from reelkit.errors import ArchiveError

STATE_VERSION = 1
MAX_LIMIT = 20
# Below this cosine similarity, with no keyword match either, a hybrid answer says it is a loose one.
LOOSE_SIMILARITY = 0.3

# -- vocabulary -----------------------------------------------------------------------------------------

NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
                "fifteen": 15, "twenty": 20}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "6th": 6, "7th": 7, "8th": 8,
            "9th": 9, "10th": 10, "last": -1}
MONTHS = {"january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
          "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9,
          "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12}
# Also ordinary words: a month only when a preposition, a day or a year says it is one.
AMBIGUOUS_MONTHS = {"may", "march", "mar", "jan", "jun"}

# Only words that name a kind of video; looser ones ("funny", "film") stay in the search text, because a
# category is a hard filter and would drop good matches filed elsewhere.
CATEGORY_WORDS = {
    "Film & Animation": ["film & animation", "film and animation", "animation", "animated", "cartoons"],
    "Autos & Vehicles": ["autos & vehicles", "autos and vehicles", "autos", "vehicles", "cars"],
    "Music": ["music", "songs"],
    "Pets & Animals": ["pets & animals", "pets and animals", "pets", "animals"],
    "Sports": ["sports", "sport"],
    "Travel & Events": ["travel & events", "travel and events", "travel"],
    "Gaming": ["gaming", "video games"],
    "People & Blogs": ["people & blogs", "people and blogs", "blogs", "vlogs"],
    "Comedy": ["comedy", "comedies", "comedic"],
    "Entertainment": ["entertainment"],
    "News & Politics": ["news & politics", "news and politics", "news", "politics", "political"],
    "Howto & Style": ["howto & style", "how-to & style", "howto and style", "howto", "how-to"],
    "Education": ["education", "educational"],
    "Science & Technology": ["science & technology", "science and technology", "science", "technology", "tech"],
    "Nonprofits & Activism": ["nonprofits & activism", "nonprofits", "nonprofit", "activism"],
    "Shows": ["shows category"],
}
assert set(CATEGORY_WORDS) == set(CATEGORIES.values())
EMOTION_WORDS = {
    "happy": "happy", "smiling": "happy", "smiley": "happy", "joyful": "happy", "cheerful": "happy",
    "laughing": "happy", "sad": "sad", "crying": "sad", "unhappy": "sad", "upset": "sad", "tearful": "sad",
    "angry": "angry", "mad": "angry", "furious": "angry", "annoyed": "angry", "surprised": "surprise",
    "shocked": "surprise", "amazed": "surprise", "astonished": "surprise", "scared": "fear", "afraid": "fear",
    "frightened": "fear", "fearful": "fear", "terrified": "fear", "disgusted": "disgust", "grossed out": "disgust",
    "neutral": "neutral", "expressionless": "neutral", "calm": "neutral",
}
EMOTION_VERBS = {"smile": "happy", "smiles": "happy", "laugh": "happy", "laughs": "happy", "cry": "sad",
                 "cries": "sad", "frown": "angry", "frowns": "angry"}
# The verbs of questions about one video ("what text appears in it?", "when was it uploaded?"): not a title.
DETAIL_WORDS = frozenset("""
appear appears appeared shown show shows say says said written write screen get got gets receive received
views view tagged tags trending trend upload uploaded post posted publish published make made come came out
release released long last lasted see seen watch find read tell know video clip
""".split())
# Words that carry no subject: when only these are left, the question only sets filters.
FILLER = STOPWORDS | {"only", "just", "ones", "those", "them", "these", "instead", "now", "also", "again", "too",
                      "same", "stuff", "things", "thing", "please", "ok", "okay", "well", "then", "more", "other",
                      "others", "else", "yes", "no", "not", "filter", "filtered", "trending", "uploaded",
                      "published", "posted", "made", "channel", "channels", "category", "faces", "face", "people",
                      "lets", "let", "s", "us", "around", "during", "between", "after", "before", "since", "until"}


def _alternation(words: Any) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_MONTH = rf"(?:{_alternation(MONTHS)})\.?"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?!\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d(?!\d)"
_TO = r"\s*(?:and|to|until|till|through|-|–)\s*(?:the\s+)?"


def _point(tag: str) -> str:
    """A date: ISO, "3 October [2017]", "October 3[, 2017]", "October [2017]" or a year."""
    return (rf"(?:(?P<{tag}iso>{_YEAR}-\d{{1,2}}-\d{{1,2}})"
            rf"|(?P<{tag}d1>{_DAY})(?:\s+of)?\s+(?P<{tag}m1>{_MONTH})(?:,?\s+(?P<{tag}y1>{_YEAR}))?"
            rf"|(?P<{tag}m2>{_MONTH})\s+(?P<{tag}d2>{_DAY})(?:,?\s+(?P<{tag}y2>{_YEAR}))?"
            rf"|(?P<{tag}m3>{_MONTH})(?:,?\s+(?P<{tag}y3>{_YEAR}))?"
            rf"|(?P<{tag}y4>{_YEAR}))(?![\w-])")


_DATE_PATTERNS = [  # (kind, pattern), tried in order; the first that reads as a date wins
    ("range", re.compile(rf"\b(?:between|from)\s+(?:the\s+)?{_point('a')}{_TO}{_point('b')}")),
    ("range", re.compile(rf"\b(?:between|from)\s+(?:the\s+)?(?P<ad0>{_DAY}){_TO}{_point('b')}")),
    ("range", re.compile(rf"\b(?P<ad0>{_DAY})\s*(?:-|–|to)\s*{_point('b')}")),
    ("since", re.compile(rf"\bfrom\s+(?:the\s+)?{_point('a')}\s+on(?:wards?)?\b")),
    ("after", re.compile(rf"\b(?P<op>after|since|starting(?:\s+(?:from|on|in))?|later than)\s+(?:the\s+)?{_point('a')}")),
    ("before", re.compile(rf"\b(?P<op>before|until|till|up to|prior to|earlier than|by)\s+(?:the\s+)?{_point('a')}")),
    ("single", re.compile(rf"\b(?P<prep>(?:in|on|from|during|of|for|at)\s+(?:the\s+)?(?:month\s+of\s+|year\s+)?)?"
                          rf"{_point('a')}(?P<noun>\s+(?:videos?|ones|clips|uploads))?")),
]

_EMO = _alternation(EMOTION_WORDS)
_EMOTION_PATTERNS = [
    re.compile(rf"\b(?:(?:with|showing|having|featuring|of)\s+)?(?:an?\s+|some\s+)?(?P<e>{_EMO})\s+"
               rf"(?:faces?|people|persons?|expressions?|looks|folks|kids|crowds?)\b"),
    re.compile(rf"\b(?:(?:with|showing|where|of)\s+)?(?:faces?|people|someone|somebody|everyone|a person|persons?)\s+"
               rf"(?:that\s+|who\s+)?(?:look(?:s|ing)?\s+|are\s+|is\s+|being\s+|seem(?:s|ing)?\s+)?(?P<e>{_EMO})\b"),
    re.compile(rf"\bwhere\s+(?:people|someone|somebody|they|he|she|everyone)\s+(?P<v>{_alternation(EMOTION_VERBS)})\b"),
]
_CATEGORY_PATTERN = re.compile(
    rf"\b(?:(?:in|from|of)\s+)?(?:the\s+)?(?:category\s+)?"
    rf"(?P<w>{_alternation(w for ws in CATEGORY_WORDS.values() for w in ws)})"
    rf"(?:\s+(?:category|videos?|ones|clips|only))?(?![\w&-])")
_CATEGORY_BY_WORD = {w: name for name, words in CATEGORY_WORDS.items() for w in words}

_CLEARS = {
    "channels": re.compile(r"\b(?:(?:from|by|on)\s+)?(?:any|all|every|other)\s+(?:channels?|creators?|uploaders?)\b"),
    "dates": re.compile(r"\b(?:(?:from|at|in|on)\s+)?(?:any|all)\s+(?:time|times|dates?|days?|months?)\b|\bwhenever\b"),
    "categories": re.compile(r"\b(?:(?:in|of|from)\s+)?(?:any|all|every)\s+(?:categor(?:y|ies)|genres?|kinds?|types?)\b"),
    "emotion": re.compile(r"\b(?:(?:with\s+)?any|all)\s+(?:faces?|emotions?|moods?)\b"),
    "all": re.compile(r"\b(?:no|without|drop|remove|clear|reset|forget)\s+(?:the\s+|all\s+|any\s+|those\s+)?filters?\b"
                      r"|\bunfiltered\b"),
}
_SORTS = [
    ("views", re.compile(r"\b(?:(?:sorted|ordered|ranked)\s+)?by\s+(?:views|popularity|view count)\b"
                         r"|\b(?:the\s+)?(?:most\s+(?:viewed|popular|watched|seen)|(?:highest|most)\s+views|"
                         r"biggest hits?|most successful|popular|top\s+(?=videos|clips|ones|hits))\b")),
    ("newest", re.compile(r"\b(?:(?:sorted|ordered)\s+)?by\s+date\b"
                          r"|\b(?:the\s+)?(?:latest|newest|most recent|recent(?:ly)?)\b")),
    ("oldest", re.compile(r"\b(?:the\s+)?(?:oldest|earliest)\b")),
]
_LIMIT = re.compile(rf"\b(?:top|first|show(?:\s+me)?|give\s+me|list|find(?:\s+me)?|get(?:\s+me)?)\s+"
                    rf"(?P<n>\d{{1,2}}|{_alternation(NUMBER_WORDS)})\b(?!\s*(?:st|nd|rd|th)\b)"
                    rf"|\b(?P<m>\d{{1,2}}|{_alternation(NUMBER_WORDS)})\s+"
                    rf"(?=(?:more\s+)?(?:videos|results|clips|ones|hits)\b)")

_DETAILS = [  # (attribute asked about, pattern)
    ("text", re.compile(r"\b(?:what|which|any|read)\s+(?:the\s+)?(?:on[- ]screen\s+)?"
                        r"(?:text|words?|captions?|overlays?|subtitles?|writing)\b"
                        r"|\b(?:text|captions?|overlays?|subtitles?|writing)\s+"
                        r"(?:appears?|is shown|are shown|shows?|is on|are on|on (?:the )?screen|in it)\b"
                        r"|\bwhat does\b(?=.*\bsay\b)|\bon[- ]screen text\b")),
    ("tags", re.compile(r"\b(?:its|the|what|which|show|list|any)\s+(?:are\s+(?:the\s+|its\s+)?)?"
                        r"(?:tags?|keywords?|hashtags?)\b"
                        r"|\btags?\s+(?:of|for|on)\b|\bhow is (?:it|that) tagged\b")),
    ("channel", re.compile(r"\bwho\s+(?:made|makes|uploaded|posted|published|created|produced|owns|did|is behind|put out)\b"
                           r"|\b(?:which|what)\s+channel\b|\bwhose\s+(?:video|channel|is)\b|\bby whom\b")),
    ("date", re.compile(r"\bwhen\s+(?:was|did|is|were)\b|\bwhat\s+(?:date|day)\b|\bwhich\s+(?:date|day)s?\b"
                        r"|\bhow long (?:was|did) (?:it|that)\b")),
    ("views", re.compile(r"\bhow many\s+(?:views|likes)\b|\bhow\s+(?:popular|successful|big)\b|\bview count\b"
                         r"|\bnumber of views\b")),
    ("category", re.compile(r"\b(?:what|which)\s+(?:category|genre)\b"
                            r"|\b(?:what|which)\s+(?:kind|type|sort)\s+of\s+(?:video|clip|thing)\s+is\b")),
    ("thumbnail", re.compile(r"\bthumbnails?\b|\bcover\s+(?:image|frame|picture)\b|\bpreview image\b")),
    ("faces", re.compile(r"\b(?:any|what|which|how many)\s+(?:faces?|emotions?)\b|\bwho\s+(?:is|appears)\s+(?:in|on)\b")),
    ("link", re.compile(r"\b(?:the|its|a)\s+(?:link|url)\b|\blink to\b|\bwhere can i\s+(?:watch|see|find)\b")),
    ("all", re.compile(r"\btell me\s+(?:more\s+)?about\b|\b(?:more\s+)?(?:details|info|information)\b"
                       r"|\bdescribe\b|\bwhat(?:'s| is| are)\b(?=.*\babout$)")),
]
_SIMILAR = re.compile(r"\b(?:more|others?|anything|something|some(?:thing)? else|videos?|ones?|clips?|stuff)\s+"
                      r"(?:just\s+|a bit\s+)?(?:like|similar to|resembling)\b|\bsimilar\s+(?:to|ones|videos|clips)\b"
                      r"|\blike\s+(?:it|that|this)(?:\s+one)?\b|\bsimilar\b")
_ORDINAL = re.compile(rf"\b(?:the\s+)?(?P<o>{_alternation(ORDINALS)})(?:\s+(?:one|video|result|clip|hit))?\b"
                      r"|(?:#|\bnumber\s+|\bno\.?\s*|\b(?:video|result|clip|hit)\s+#?)(?P<n>\d{1,2})\b")
_PRONOUN = re.compile(r"\b(?:it|its|it's|this|that|this one|that one|this video|that video|the video|the clip"
                      r"|the same one)\b")
_COUNT = re.compile(r"\bhow many\s+(?:videos|clips|ones|of them|are there)\b|\bnumber of videos\b")
_RESET = re.compile(r"^(?:start over|start again|new (?:search|conversation|topic|question)|reset|"
                    r"forget (?:it|that|everything|all that)|clear (?:everything|all|the conversation))\b[\s,.:;!-]*")
_HELP = re.compile(r"^(?:help|\?+|what can (?:you|i) (?:do|ask)|how does this work|what do you do|"
                   r"what (?:can|should) i ask(?: you)?)$")
_THANKS = re.compile(r"^(?:thanks?(?: you)?(?: very much| a lot)?|thx|cheers|ok(?:ay)?|hi|hello|hey|good morning|"
                     r"good evening)$")
_REFINE_START = re.compile(r"^(?:(?:and|but|now|ok(?:ay)?|so)\s+)?(?:only|just|but|of (?:those|these|them)"
                           r"|among (?:those|these|them)|which of (?:those|these|them)|what about|how about|now|and"
                           r"|instead)\b")
_FRESH = re.compile(r"\b(?:videos?|clips?|songs?)\b|^(?:show|find|list|give|get|search|are there|is there|what are|"
                    r"which are|do you have)\b")
_CHANNEL_LEAD = re.compile(r"\b(?:only\s+|just\s+)?(?:uploaded by|made by|posted by|published by|created by|"
                           r"from the channel|on the channel|from channel|from|by|on)\s+(?:the\s+channel\s+|channel\s+)?")
_POSSESSIVE = re.compile(r"\b(?P<name>[\w&.!-]+(?:\s+[\w&.!-]+){0,3})'s\b")
_REQUEST = re.compile(
    r"^(?:(?:and|but|so|ok|okay|now|also|then|hey|please)\s+)*(?:(?:can|could|would|will)\s+you\s+)?(?:please\s+)?"
    r"(?:show|find|give|get|list|search(?:\s+for)?|look(?:\s+for|\s+up)?|fetch|pull up|bring up|"
    r"i(?:'m| am)?\s+(?:want|need|looking for|would like|'d like)(?:\s+to\s+(?:see|watch|find))?|"
    r"do you have|are there(?:\s+any)?|is there(?:\s+an?|\s+any)?|any)?(?:\s+me)?\s*"
    r"(?:(?:some|any|all|the|a|an)\s+)?(?:(?:videos?|clips?|ones?)\s+)?"
    r"(?:(?:about|on|of|with|where|that|featuring|showing)\s+)?")
_BARRIER = " | "


@dataclass
class Question:
    """What a question asks, as the parser read it."""

    text: str
    intent: str  # search, similar, details, count, help, thanks, reset
    content: str = ""  # what to search for, filters taken out
    filters: Filters = field(default_factory=Filters)  # filters stated in this question
    cleared: frozenset[str] = frozenset()  # filters the user dropped: channels, dates, categories, emotion, all
    detail: str | None = None  # for details: text, tags, channel, date, views, category, thumbnail, faces, link, all
    reference: int | None = None  # 0: "it"; n: the nth result of the last list; -1: the last one
    refine: bool = False  # a follow-up that narrows or widens the last answer
    sort: str | None = None
    limit: int | None = None
    reset: bool = False
    unknown_channel: str | None = None  # "from X" where no channel is like X


class QuestionParser:
    """Reads questions against what the archive holds (its channels and months)."""

    def __init__(self, index: ArchiveIndex) -> None:
        self.index = index

    def parse(self, question: str, has_context: bool) -> Question:
        text = _normalise(question)
        reset_match = _RESET.match(text)
        reset = bool(reset_match)
        if reset_match:
            text = text[reset_match.end():].strip()
            has_context = False
        if not text:
            return Question(question, "reset" if reset else "help", reset=reset)
        if _HELP.match(text):
            return Question(question, "help", reset=reset)
        if _THANKS.match(text.strip(" !.")):
            return Question(question, "thanks", reset=reset)
        q = Question(question, "search", reset=reset)
        work = text
        for attribute, pattern in _DETAILS:
            if pattern.search(work):
                q.intent, q.detail = "details", attribute
                work = pattern.sub(_BARRIER, work)
                break
        if q.intent == "search" and _SIMILAR.search(work):
            q.intent = "similar"
            work = _SIMILAR.sub(_BARRIER, work)
        if q.intent == "search" and _COUNT.search(work):
            q.intent = "count"
            work = _COUNT.sub(_BARRIER, work)
        if q.intent in ("details", "similar") or _only_reference(work):
            work, q.reference = _take_reference(work)
            if q.intent == "search" and q.reference is not None:
                q.intent = "details"  # "and the third one?": the last question, about another video
        work, q.limit = _take_limit(work)
        work, q.sort = _take_sort(work)
        work, q.cleared = _take_clears(work)
        work, dates = self._take_dates(work)
        work, emotion = _take_emotion(work)
        work, categories = _take_categories(work)
        work, channels, q.unknown_channel = self._take_channels(work)
        q.filters = Filters(channels=channels, categories=categories, date_from=dates[0], date_to=dates[1],
                            emotion=emotion)
        content = _clean_content(work)
        if has_context and content and not q.filters:
            # "only Apple", "just comedy", "what about happy ones": a bare name in a follow-up is a filter
            bare = _REFINE_START.sub("", content).strip()
            channel = self.match_channel(bare, strict=True)
            emotion = EMOTION_WORDS.get(re.sub(r"\s+(?:ones?|faces?)$", "", bare))
            if channel:
                q.filters, content, q.unknown_channel = Filters(channels=(channel,)), "", None
            elif emotion:
                q.filters, content = Filters(emotion=emotion), ""
        if q.unknown_channel and not _subject_words(content.replace(q.unknown_channel, " ")):
            content = ""  # "only from Banana Republic": nothing to search for but a channel we do not have
        if _subject_words(content) == ["new"]:  # "Taylor Swift's new video"
            content, q.sort = "", q.sort or "newest"
        q.content = content
        if has_context and q.intent == "search":
            subject = _subject_words(content)
            if not subject and (q.filters or q.cleared or q.sort or q.limit or q.unknown_channel):
                # "only music" narrows the last answer; "most viewed music videos" asks afresh
                q.refine = bool(_REFINE_START.match(text)) or not _FRESH.search(text)
            elif subject and _REFINE_START.match(content):
                q.refine = True
                q.content = _REFINE_START.sub("", content).strip()
        elif has_context and q.intent == "count" and not _subject_words(content):
            q.refine = not q.filters
        return q

    # -- filters ------------------------------------------------------------------------------------------

    def _take_dates(self, text: str) -> tuple[str, tuple[date | None, date | None]]:
        for kind, pattern in _DATE_PATTERNS:
            for match in pattern.finditer(text):
                span = self._read_dates(kind, match)
                if span is not None:
                    return _cut(text, match), span
        return text, (None, None)

    def _read_dates(self, kind: str, match: re.Match) -> tuple[date | None, date | None] | None:
        groups = match.groupdict()
        try:
            if kind == "range":
                end_point = self._point(groups, "b")
                if end_point is None:
                    return None
                if groups.get("ad0"):
                    start = end_point[0].replace(day=int(re.sub(r"\D", "", groups["ad0"])))
                else:
                    start_point = self._point(groups, "a", near=end_point[0])
                    if start_point is None:
                        return None
                    start = start_point[0]
                return (start, end_point[1]) if start <= end_point[1] else None
            point = self._point(groups, "a")
            if point is None:
                return None
            if kind == "single":
                month_only = groups.get("am3") and not groups.get("ay3")
                # "2017 recap", "may i see", "the women's march": a year or a month alone is a date only
                # after a preposition ("in 2017", "from october") or before "videos" ("october videos")
                if not groups.get("prep") and (groups.get("ay4") or month_only and (
                        not groups.get("noun") or groups["am3"].rstrip(".") in AMBIGUOUS_MONTHS)):
                    return None
                return point
            if kind == "since" or (kind == "after" and groups["op"] not in ("after", "later than")):
                return point[0], None
            if kind == "after":
                return point[1] + timedelta(days=1), None
            if groups["op"] in ("before", "prior to", "earlier than"):
                return None, point[0] - timedelta(days=1)
            return None, point[1]
        except ValueError:  # 31 February and the like
            return None

    def _point(self, groups: dict[str, str | None], tag: str, near: date | None = None) -> tuple[date, date] | None:
        """The first and last day a date expression covers; a missing year is the archive's (see _year)."""
        def get(name: str) -> str | None:
            return groups.get(tag + name)

        if get("iso"):
            day = date.fromisoformat("-".join(f"{int(p):02d}" if i else p for i, p in enumerate(get("iso").split("-"))))
            return day, day
        for d, m, y in (("d1", "m1", "y1"), ("d2", "m2", "y2")):
            if get(m):
                month = MONTHS[get(m).rstrip(".")]
                year = int(get(y)) if get(y) else self._year(month, near)
                day = date(year, month, int(re.sub(r"\D", "", get(d))))
                return day, day
        if get("m3"):
            month = MONTHS[get("m3").rstrip(".")]
            year = int(get("y3")) if get("y3") else self._year(month, near)
            return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        if get("y4"):
            year = int(get("y4"))
            return date(year, 1, 1), date(year, 12, 31)
        return None

    def _year(self, month: int, near: date | None) -> int:
        """A month named without a year: the one at or before the range's end (``near``) when it has one,
        else the latest year the archive has videos in that month, else its latest year, else this year."""
        if near is not None:
            return near.year if month <= near.month else near.year - 1
        months = self.index.months()
        years = [y for y, m in months if m == month] or [y for y, _ in months] or [date.today().year]
        return max(years)

    def _take_channels(self, text: str) -> tuple[str, tuple[str, ...], str | None]:
        for lead in _CHANNEL_LEAD.finditer(text):
            rest = text[lead.end():]
            words = re.split(r"\s+", re.split(r"[|,;?!]", rest, maxsplit=1)[0].strip())[:8]
            # "by X" and "only from X" name a channel more surely than a bare "from X" does
            lead_words = lead.group().split()
            surely = "by" in lead_words or lead_words[0] in ("only", "just")
            for n in range(len(words), 0, -1):
                names = [p.strip() for p in re.split(r"\s+(?:or|and|&)\s+|,", " ".join(words[:n])) if p.strip()]
                matched = [self.match_channel(name, author=surely) for name in names]
                if names and all(matched):
                    end = lead.end() + re.match(r"\s*" + r"\s+".join(map(re.escape, words[:n])), rest).end()
                    return text[:lead.start()] + _BARRIER + text[end:], tuple(dict.fromkeys(matched)), None
        for match in _POSSESSIVE.finditer(text):
            words = match.group("name").split()
            for n in range(len(words), 0, -1):
                channel = self.match_channel(" ".join(words[-n:]), strict=True)
                if channel:
                    start = match.start() + match.group(0).rindex(words[-n])
                    return text[:start] + _BARRIER + text[match.end():], (channel,), None
        lead = re.search(r"\b(?:only|just)\s+(?:from|by)\s+(?P<name>[^|,;?!]+)", text)
        unknown = lead.group("name").strip() if lead else None
        return text, (), unknown

    def match_channel(self, name: str, strict: bool = False, author: bool = False) -> str | None:
        """The archive's channel that ``name`` means: the same name in any case, one a typo away, or
        (unless ``strict``) one whose name contains all of ``name``'s words; ``author`` when the name
        followed "by" or "only from", which name a channel more surely than "from" does."""
        name = re.sub(r"^(?:the\s+)?channel\s+", "", name.strip().lower()).strip(" .'\"")
        name = re.sub(r"'s$", "", name)
        if len(name) < 2 or all(w in FILLER for w in name.split()):
            return None
        lower = {c.lower(): c for c in self.index.channels()}
        names = [name, name[4:]] if name.startswith("the ") else [name]  # "the verge" and "vox" alike
        for candidate in names:
            if candidate in lower:
                return lower[candidate]
        for candidate in names:
            best = process.extractOne(candidate, list(lower), scorer=fuzz.ratio, score_cutoff=95 if strict else 88)
            if best:
                return lower[best[0]]
        name = names[-1]
        if strict or len(name) < 4:
            return None
        # The start of a channel's name, half of it at least ("jimmy kimmel" for "Jimmy Kimmel Live"), or,
        # after "by" or "only from", two of its words or more ("by jimmy fallon": "The Tonight Show Starring
        # Jimmy Fallon"; "from new york" is a place more often than "CBS New York").
        words = name.split()
        containing = [c for c in lower if all(w in c.split() for w in words) and (
            (c.startswith(name) and len(name) >= 0.5 * len(c)) or (author and len(words) > 1))]
        return lower[max(containing, key=lambda c: fuzz.ratio(name, c))] if containing else None


def _cut(text: str, match: re.Match) -> str:
    """``text`` without what ``match`` found, a barrier in its place (so that a channel name read after a
    "from" never runs into the words beyond a filter taken out)."""
    return text[:match.start()] + _BARRIER + text[match.end():]


def _normalise(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text.lower()).strip().rstrip("?!. ")


def _only_reference(text: str) -> bool:
    """ "the second one?", "and number 3", "what about the last one": a reference and nothing else."""
    rest = _ORDINAL.sub(" ", text, count=1)
    return rest != text and not _subject_words(_clean_content(rest))


def _take_reference(text: str) -> tuple[str, int | None]:
    match = _ORDINAL.search(text)
    if match:
        number = ORDINALS[match.group("o")] if match.group("o") else int(match.group("n"))
        return _cut(text, match), number
    match = _PRONOUN.search(text)
    if match:
        return _cut(text, match), 0
    return text, None


def _take_limit(text: str) -> tuple[str, int | None]:
    match = _LIMIT.search(text)
    if not match:
        return text, None
    word = match.group("n") or match.group("m")
    number = int(word) if word.isdigit() else NUMBER_WORDS[word]
    if not 1 <= number <= MAX_LIMIT:
        return text, None
    return _cut(text, match), number


def _take_sort(text: str) -> tuple[str, str | None]:
    for name, pattern in _SORTS:
        match = pattern.search(text)
        if match:
            return _cut(text, match), name
    return text, None


def _take_clears(text: str) -> tuple[str, frozenset[str]]:
    cleared = set()
    for name, pattern in _CLEARS.items():
        if pattern.search(text):
            cleared.add(name)
            text = pattern.sub(_BARRIER, text)
    return text, frozenset(cleared)


def _take_emotion(text: str) -> tuple[str, str | None]:
    for pattern in _EMOTION_PATTERNS:
        match = pattern.search(text)
        if match:
            emotion = EMOTION_WORDS[match.group("e")] if "e" in pattern.groupindex else EMOTION_VERBS[match.group("v")]
            return _cut(text, match), emotion
    return text, None


def _take_categories(text: str) -> tuple[str, tuple[str, ...]]:
    found = []
    for match in _CATEGORY_PATTERN.finditer(text):
        found.append(_CATEGORY_BY_WORD[match.group("w")])
    return (_CATEGORY_PATTERN.sub(_BARRIER, text), tuple(dict.fromkeys(found))) if found else (text, ())


def _clean_content(text: str) -> str:
    """What is left to search for: the request's wording and the filters' leftovers taken off."""
    parts = [p.strip(" \t,;:.?!-\"'") for p in text.split("|")]
    text = " ".join(p for p in parts if p)
    text = _REQUEST.sub("", text, count=1).strip()
    text = re.sub(r"^(?:(?:the|a|an|some|any|all|of|about|on|with|only|just)\s+)+", "", text)
    text = re.sub(r"(?:\s+(?:videos?|clips?|ones?|please|only|too|instead|again))+$", "", text)
    return text.strip(" ,;:.?!-\"'")


def _subject_words(text: str, ignore: frozenset[str] = frozenset()) -> list[str]:
    return [w for w in re.findall(r"\w+", text.lower()) if w not in FILLER and w not in ORDINALS and w not in ignore]


# -- answers ---------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """The bot's reply: prose, the videos it cites (numbered as in the prose), the filters applied, and
    the conversation state to pass with the next question."""

    text: str
    citations: list[dict[str, Any]]
    filters: dict[str, Any]
    state: dict[str, Any]
    intent: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "citations": self.citations, "filters": self.filters, "intent": self.intent,
                "state": self.state}


def _empty_state() -> dict[str, Any]:
    return {"version": STATE_VERSION, "turns": 0, "last": None, "results": [], "focus": None, "detail": None}


def _load_state(state: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of the caller's state; anything unusable (another version, hand-edited) starts afresh."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return _empty_state()
    out = _empty_state()
    out["turns"] = state.get("turns") if isinstance(state.get("turns"), int) else 0
    last = state.get("last")
    if isinstance(last, dict) and last.get("kind") in ("search", "similar", "browse"):
        out["last"] = {"kind": last["kind"], "content": str(last.get("content") or ""),
                       "seed": last.get("seed") if isinstance(last.get("seed"), str) else None,
                       "filters": Filters.from_dict(last.get("filters")).to_dict(),
                       "sort": last.get("sort") if last.get("sort") in SORTS else None,
                       "limit": last.get("limit") if isinstance(last.get("limit"), int) else None}
    results = state.get("results")
    out["results"] = [k for k in results if isinstance(k, str)] if isinstance(results, list) else []
    out["focus"] = state.get("focus") if isinstance(state.get("focus"), str) else None
    out["detail"] = state.get("detail") if isinstance(state.get("detail"), str) else None
    return out


class ArchiveBot:
    """Answers questions about an archive: ``ArchiveBot(index).ask(question, state) -> Answer``.

    ``mode`` picks the retrieval ("hybrid", "bm25", "embedding"); ``limit`` is how many videos a list
    shows unless the question says ("top 10").
    """

    def __init__(self, index: ArchiveIndex, mode: str = "hybrid", limit: int = 5) -> None:
        if mode not in MODES:
            raise ArchiveError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        self.index, self.mode, self.limit = index, mode, limit
        self.parser = QuestionParser(index)

    def warm_up(self) -> None:
        """Load the sentence model and build the vector index now, not on the first question."""
        search(self.index, "warm up", mode="embedding", limit=1)

    def ask(self, question: str, state: dict[str, Any] | None = None) -> Answer:
        if not question or not question.strip():
            raise ArchiveError("ask a question, e.g. \"music videos from October\"")
        if len(self.index) == 0:
            raise ArchiveError(f"the archive {self.index.path} is empty; add videos with `reelkit archive index PATH`")
        state = _load_state(state)
        q = self.parser.parse(question, has_context=state["last"] is not None or bool(state["focus"]))
        if q.reset:
            state = _empty_state()
        state["turns"] += 1
        if q.intent == "reset":
            return Answer("Starting over: ask me about the archive's videos.", [], Filters().to_dict(), state, "reset")
        if q.intent == "help":
            return Answer(self._help(), [], Filters().to_dict(), state, "help")
        if q.intent == "thanks":
            return Answer("You're welcome. Ask me anything else about the archive.", [], Filters().to_dict(), state,
                          "thanks")
        if q.intent == "details":
            return self._details(q, state)
        if q.intent == "similar":
            return self._similar(q, state)
        if q.intent == "count":
            return self._count(q, state)
        return self._search(q, state)

    # -- intents ------------------------------------------------------------------------------------------

    def _filters_for(self, q: Question, state: dict[str, Any]) -> Filters:
        """The question's filters, on top of the last answer's when it refines it."""
        base = Filters.from_dict(state["last"]["filters"]) if q.refine and state["last"] else Filters()
        if "all" in q.cleared:
            base = Filters()
        changes: dict[str, Any] = {}
        if "channels" in q.cleared:
            changes["channels"] = ()
        if "categories" in q.cleared:
            changes["categories"] = ()
        if "dates" in q.cleared:
            changes["date_from"] = changes["date_to"] = None
        if "emotion" in q.cleared:
            changes["emotion"] = None
        f = q.filters
        if f.channels:
            changes["channels"] = f.channels
        if f.categories:
            changes["categories"] = f.categories
        if f.date_from or f.date_to:
            changes["date_from"], changes["date_to"] = f.date_from, f.date_to
        if f.emotion:
            changes["emotion"] = f.emotion
        return base.replace(**changes)

    def _search(self, q: Question, state: dict[str, Any]) -> Answer:
        last = state["last"] if q.refine else None
        if q.unknown_channel and not q.content and not q.filters.channels:
            return self._unknown_channel(q, state)
        filters = self._filters_for(q, state)
        sort = q.sort or (last["sort"] if last else None)
        limit = q.limit or (last["limit"] if last and last["limit"] else None) or self.limit
        if last and last["kind"] == "similar" and last["seed"]:
            return self._run_similar(last["seed"], filters, sort, limit, state, q, refined=True)
        content = q.content
        if last:
            content = f"{last['content']} {q.content}".strip() if q.content else last["content"]
        kind = "search" if _subject_words(content) else "browse"
        if kind == "search":
            hits = search(self.index, content, filters, self.mode, limit, sort)
        else:
            hits = browse(self.index, filters, sort or "views", limit)
        state["last"] = {"kind": kind, "content": content if kind == "search" else "", "seed": None,
                         "filters": filters.to_dict(), "sort": sort, "limit": q.limit or (last["limit"] if last else None)}
        if not hits:
            return self._nothing(content if kind == "search" else "", filters, state, "search")
        if kind == "search":
            lead = f"The best match{'es' if len(hits) > 1 else ''} for “{content}”"
        else:
            lead = {"views": "The most viewed videos", "newest": "The newest videos",
                    "oldest": "The oldest videos"}[sort or "views"]
        lead += (" " + filters.describe()) if filters else ""
        if sort and kind == "search":
            lead += {"views": ", most viewed first", "newest": ", newest first", "oldest": ", oldest first"}[sort]
        if q.refine:
            lead = "Narrowed down: " + lead[0].lower() + lead[1:]
        text = lead + ":\n" + _listing(hits)
        if kind == "search" and self.mode == "hybrid" and not any("bm25" in h.ranks for h in hits) \
                and (hits[0].similarity or 0.0) < LOOSE_SIMILARITY:
            text += "\nNone of these matches your words well; they are only the closest in meaning."
        return self._listed(text, hits, filters, state, "search")

    def _similar(self, q: Question, state: dict[str, Any]) -> Answer:
        seed = self._resolve(q, state)
        if isinstance(seed, Answer):
            return seed
        return self._run_similar(seed.key, self._filters_for(q, state), q.sort, q.limit or self.limit, state, q)

    def _run_similar(self, seed_key: str, filters: Filters, sort: str | None, limit: int, state: dict[str, Any],
                     q: Question, refined: bool = False) -> Answer:
        seed = self.index.get(seed_key)
        if seed is None:
            return Answer("That video is no longer in the archive; ask me to find others.", [], filters.to_dict(),
                          state, "similar")
        hits = similar(self.index, seed_key, filters, limit, sort)
        state["last"] = {"kind": "similar", "content": "", "seed": seed_key, "filters": filters.to_dict(),
                         "sort": sort, "limit": q.limit}
        if not hits:
            return self._nothing("", filters, state, "similar", seed=seed)
        lead = f"{'Narrowed down: videos' if refined else 'Videos'} most like “{seed.title}” by {seed.channel}"
        lead += (" " + filters.describe()) if filters else ""
        return self._listed(lead + ":\n" + _listing(hits), hits, filters, state, "similar")

    def _count(self, q: Question, state: dict[str, Any]) -> Answer:
        filters = self._filters_for(q, state) if q.refine else q.filters
        if _subject_words(q.content):
            hits = search(self.index, q.content, filters, self.mode, q.limit or self.limit, q.sort)
            state["last"] = {"kind": "search", "content": q.content, "seed": None, "filters": filters.to_dict(),
                             "sort": q.sort, "limit": q.limit}
            text = (f"I cannot count every video about “{q.content}”: relevance has no cut-off. "
                    f"The best matches{(' ' + filters.describe()) if filters else ''}:\n" + _listing(hits))
            return self._listed(text, hits, filters, state, "count")
        total = count(self.index, filters)
        hits = browse(self.index, filters, q.sort or "views", q.limit or 3)
        state["last"] = {"kind": "browse", "content": "", "seed": None, "filters": filters.to_dict(),
                         "sort": q.sort, "limit": q.limit}
        where = filters.describe() if filters else "in the archive"
        text = f"There {'is' if total == 1 else 'are'} {total:,} video{'' if total == 1 else 's'} {where}."
        if hits:
            text += " The most viewed:\n" + _listing(hits)
        return self._listed(text, hits, filters, state, "count")

    def _details(self, q: Question, state: dict[str, Any]) -> Answer:
        detail = q.detail or state["detail"] or "all"
        video = self._resolve(q, state)
        if isinstance(video, Answer):
            return video
        state["focus"], state["detail"] = video.key, detail
        hit = SearchHit(video, 1.0)
        return Answer(_describe(video, detail), [hit.citation(1)], Filters().to_dict(), state, "details")

    # -- helpers ------------------------------------------------------------------------------------------

    def _resolve(self, q: Question, state: dict[str, Any]) -> VideoRecord | Answer:
        """The video a question refers to: by its number in the last list, "it", a title, or a search."""
        results = state["results"]
        if q.reference not in (None, 0):
            if not results:
                return self._no_context(q, state)
            n = len(results) if q.reference == -1 else q.reference
            if not 1 <= n <= len(results):
                return Answer(f"The last answer listed {len(results)} video{'s' if len(results) != 1 else ''}; "
                              f"there is no number {n}.", [], Filters().to_dict(), state, q.intent)
            key = results[n - 1]
        elif _subject_words(q.content, DETAIL_WORDS):
            key = self._find_by_title(q.content, results)
            if key is None:
                return Answer(f"I found no video like “{q.content}”.", [], Filters().to_dict(), state, q.intent)
        else:  # "it": the video the last answer was about, or its first
            key = state["focus"] or (results[0] if results else None)
            if key is None:
                return self._no_context(q, state)
        video = self.index.get(key)
        if video is None:
            return Answer("That video is no longer in the archive; ask me to find others.", [], Filters().to_dict(),
                          state, q.intent)
        return video

    def _find_by_title(self, content: str, results: list[str]) -> str | None:
        """A video named in the question: one of the last list whose title is like the words, else the
        archive's best match for them."""
        records = self.index.records_by_key(results)
        if records:
            best = process.extractOne(content, [r.title.lower() for r in records], scorer=fuzz.token_set_ratio,
                                      score_cutoff=80)
            if best:
                return records[best[2]].key
        hits = search(self.index, content, Filters(), self.mode, 1)
        return hits[0].key if hits else None

    def _listed(self, text: str, hits: list[SearchHit], filters: Filters, state: dict[str, Any], intent: str) -> Answer:
        state["results"] = [h.key for h in hits]
        state["focus"] = hits[0].key if hits else None
        return Answer(text, [h.citation(i) for i, h in enumerate(hits, 1)], filters.to_dict(), state, intent)

    def _nothing(self, content: str, filters: Filters, state: dict[str, Any], intent: str,
                 seed: VideoRecord | None = None) -> Answer:
        """No video passes: say which filter is the one that empties the list."""
        what = f"“{content}”" if content else (f"videos like “{seed.title}”" if seed else "videos")
        where = f" {filters.describe()}" if filters else ""
        text = f"Nothing matches {what}{where}." if content else f"No {what}{where}."
        hints = []
        for name, without in (("channel", filters.replace(channels=())), ("category", filters.replace(categories=())),
                              ("dates", filters.replace(date_from=None, date_to=None)),
                              ("faces", filters.replace(emotion=None))):
            if without != filters and without:  # dropping this filter alone: how many videos are left
                n = count(self.index, without)
                if n:
                    hints.append(f"without the {name} filter, {n:,} video{'s' if n != 1 else ''} "
                                 f"{without.describe()} would be searched")
        if filters.date_from or filters.date_to:
            stats = self.index.stats()
            if stats["first_date"]:
                span = describe_dates(date.fromisoformat(stats["first_date"]), date.fromisoformat(stats["last_date"]))
                hints.append(f"the archive's videos date {span}")
        if filters.emotion:
            hints.append("emotions are known only for analysed videos with faces")
        if hints:
            hint = "; ".join(hints)
            text += " " + hint[0].upper() + hint[1:] + "."
        state["results"], state["focus"] = [], None
        return Answer(text, [], filters.to_dict(), state, intent)

    def _unknown_channel(self, q: Question, state: dict[str, Any]) -> Answer:
        close = process.extract(q.unknown_channel, self.index.channels(), scorer=fuzz.WRatio, limit=3)
        text = f"No channel in the archive is called “{q.unknown_channel}”."
        if close:
            text += " The closest: " + ", ".join(name for name, _, _ in close) + "."
        filters = Filters.from_dict(state["last"]["filters"]) if state["last"] else Filters()
        return Answer(text, [], filters.to_dict(), state, "search")

    def _no_context(self, q: Question, state: dict[str, Any]) -> Answer:
        lead = "The last answer listed no videos." if state["last"] else "Which video do you mean?"
        return Answer(f"{lead} Ask me to find some first, e.g. “music videos from October”, "
                      "then ask about “the second one”.", [], Filters().to_dict(), state, q.intent)

    def _help(self) -> str:
        stats = self.index.stats()
        span = ""
        if stats["first_date"]:
            span = " dated " + describe_dates(date.fromisoformat(stats["first_date"]),
                                              date.fromisoformat(stats["last_date"]))
        return (f"I search {stats['videos']:,} videos from {stats['channels']:,} channels{span} by their titles, tags, "
                "channels, categories and on-screen text. Try:\n"
                "- “videos about the iPhone X” or “that video where a dog balances food on its nose”\n"
                "- then narrow down: “only from Apple”, “from October”, “between 1 and 15 October”, “comedy ones”, "
                "“with happy faces”, “most viewed”, “top 10”\n"
                "- or follow one up: “more like the second one”, “what text appears in it?”, “what are its tags?”, "
                "“who made the first one?”\n"
                "- “start over” forgets the conversation.")


def _listing(hits: list[SearchHit]) -> str:
    return "\n".join(f"{i}. “{h.record.title}” by {h.record.channel} ({_facts(h.record)}) [{i}]"
                     for i, h in enumerate(hits, 1))


def _facts(r: VideoRecord) -> str:
    parts = [r.category] if r.category else []
    parts.append(_when(r))
    if r.views is not None:
        parts.append(_views(r.views))
    return ", ".join(p for p in parts if p)


def _when(r: VideoRecord) -> str:
    if r.date_first is None:
        return ""
    if r.source == "local":
        return f"file dated {r.date_first.day} {r.date_first:%b %Y}"
    return "trending " + describe_dates(r.date_first, r.date_last)


def _views(n: int) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + f"{suffix} views"
    return f"{n} view{'s' if n != 1 else ''}"


def _describe(r: VideoRecord, detail: str) -> str:
    """One video's answer to "what text appears in it?", "what are its tags?" and the like."""
    name = f"“{r.title}” [1]"
    texts = list(dict.fromkeys(line["text"] for line in r.overlays))
    if detail == "all":
        return _summary(r, name, texts)
    if detail == "text":
        if texts:
            timed = [f"“{line['text']}” ({line['start']:.1f}-{line['end']:.1f} s)" for line in r.overlays[:12]
                     if isinstance(line.get("start"), (int, float)) and isinstance(line.get("end"), (int, float))]
            more = f" and {len(r.overlays) - 12} more lines" if len(r.overlays) > 12 else ""
            return f"The text on screen in {name}: {'; '.join(timed) or '; '.join(texts)}{more}."
        if r.source == "youtube":
            return (f"I have no on-screen text for {name}: it comes from the trending list, which has no frames. "
                    "Index the video file itself (`reelkit archive index VIDEO`) to read its text.")
        return f"No text was found on screen in {name}."
    if detail == "tags":
        return (f"{name} is tagged: {', '.join(r.tags[:30])}{' …' if len(r.tags) > 30 else ''}." if r.tags
                else f"{name} has no tags.")
    if detail == "channel":
        return f"{name} is by {r.channel}." if r.channel != "local" else f"{name} is a local file ({r.path})."
    if detail == "date":
        if r.date_first is None:
            return f"I do not know when {name} was made."
        if r.source == "youtube":
            days = (r.date_last - r.date_first).days + 1
            return f"{name} was trending {describe_dates(r.date_first, r.date_last)} ({days} day{'s' if days != 1 else ''})."
        return f"{name}'s file is dated {r.date_first.day} {r.date_first:%B %Y}."
    if detail == "views":
        if r.views is None:
            return f"I have no view count for {name}: it is a local video."
        likes = f" and {r.likes:,} likes" if r.likes is not None else ""
        return f"{name} reached {r.views:,} views{likes} while trending."
    if detail == "category":
        return f"{name} is in {r.category}." if r.category else f"{name} has no category."
    if detail == "faces":
        if r.source != "local":
            return f"I do not know the faces in {name}: only analysed video files have them."
        return _faces(r, name)
    if detail == "thumbnail":
        if not r.thumbnails:
            return f"I have no thumbnails for {name}: only analysed video files have them."
        best = r.thumbnails[0]
        others = f"; {len(r.thumbnails) - 1} more beside it" if len(r.thumbnails) > 1 else ""
        return f"The best thumbnail of {name} is {best['image']} (at {best['time']} s: {best['reason']}){others}."
    where = r.url or r.path
    return (f"Watch {name} at {r.url}." if r.url else f"{name} is the file {where}.") if where \
        else f"I have no link for {name}."


def _faces(r: VideoRecord, name: str) -> str:
    if not r.faces:
        return f"No faces were seen in {name}."
    feel = f"; they look mostly {', '.join(EMOTION_ADJECTIVES.get(e, e) for e in r.emotions)}" if r.emotions else ""
    return f"{r.faces} face{'s were' if r.faces != 1 else ' was'} seen in {name}'s candidate frames{feel}."


def _summary(r: VideoRecord, name: str, texts: list[str]) -> str:
    """Everything the archive knows about one video, in a short paragraph."""
    kind = f"a {r.category} video" if r.category else "a video"
    by = f"by {r.channel}" if r.channel != "local" else "from a local file"
    sentence = f"{name} is {kind} {by}"
    if r.date_first and r.source == "youtube":
        days = (r.date_last - r.date_first).days + 1
        sentence += f", trending {describe_dates(r.date_first, r.date_last)} ({days} day{'s' if days != 1 else ''})"
    elif r.date_first:
        sentence += f", dated {r.date_first.day} {r.date_first:%b %Y}"
    if r.views is not None:
        sentence += f", with {r.views:,} views"
    parts = [sentence + "."]
    if r.tags:
        parts.append(f"Tags: {', '.join(r.tags[:12])}{' …' if len(r.tags) > 12 else ''}.")
    if texts:
        parts.append("On screen: " + ", ".join(f"“{t}”" for t in texts[:6]) + (" …" if len(texts) > 6 else "") + ".")
    elif r.source == "local":
        parts.append("No text was found on screen.")
    if r.source == "local":
        parts.append(_faces(r, "it").replace("it's candidate", "its candidate"))
    if r.thumbnails:
        parts.append(f"Best thumbnail: {r.thumbnails[0]['image']} ({r.thumbnails[0]['reason']}).")
    if r.url or r.path:
        parts.append(f"Watch it at {r.url}." if r.url else f"File: {r.path}.")
    return " ".join(parts)
