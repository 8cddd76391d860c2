"""Hybrid retrieval over the archive: BM25 (SQLite FTS5) and MiniLM embeddings (FAISS), fused by
reciprocal rank fusion (Cormack, Clarke & Buettcher 2009: score = sum over rankings of 1 / (k + rank), k = 60).

In the fusion, a keyword match votes only when it holds at least half the query's words (see
``HYBRID_MIN_MATCH``). Filters (channel, category, date range, face emotion) are SQL conditions applied
inside both retrievers, so a filtered search ranks only the videos that pass.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Sequence

import numpy as np

from reelkit.archive.index import FTS_COLUMNS, ArchiveIndex, VideoRecord
from reelkit.errors import ArchiveError

MODES = ("bm25", "embedding", "hybrid")
SORTS = ("views", "newest", "oldest")
RRF_K = 60
DEPTH = 50  # how many of each retriever's ranking are fused
# In the fusion, a keyword match counts only when it has at least half the question's words: a video
# that shares one word of a long description is weak evidence, and RRF would give it a full vote.
HYBRID_MIN_MATCH = 0.5
RERANK_POOL = 25  # most relevant videos re-sorted when the user asks for "most viewed" or "latest"

# Title counts most: it is what the creator chose to say about the video. The tags column is long and
# repetitive, so it counts least among the descriptive fields.
BM25_WEIGHTS = {"title": 4.0, "tags": 1.5, "channel": 2.0, "overlays": 2.0, "category": 1.0}

# Left out of the keyword query: NLTK's English stop words (contractions as \w+ splits them), which match
# nearly every title, and the wording of requests ("show me videos about ...").
STOPWORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself
it its itself they them their theirs themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or because as until while of at by for with
about against between into through during before after above below to from up down in out on off over under again
further then once here there when where why how all any both each few more most other some such no nor not only
own same so than too very s t can will just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn
haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn
show find give get list search looking look want wanna need see watch please video videos clip clips one ones
something anything
""".split())

_WORD = re.compile(r"\w+", re.UNICODE)

# Emotion labels (as the index stores them) in the words an answer uses.
EMOTION_ADJECTIVES = {"surprise": "surprised", "fear": "scared", "disgust": "disgusted"}


@dataclass(frozen=True)
class Filters:
    """Conditions a video must meet. Dates select videos trending (or made) on any day of the range."""

    channels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    emotion: str | None = None

    def __bool__(self) -> bool:
        return bool(self.channels or self.categories or self.date_from or self.date_to or self.emotion)

    def replace(self, **changes: Any) -> "Filters":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "categories": list(self.categories),
                "date_from": self.date_from.isoformat() if self.date_from else None,
                "date_to": self.date_to.isoformat() if self.date_to else None, "emotion": self.emotion}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Filters":
        """The inverse of :meth:`to_dict`; anything malformed is dropped rather than trusted."""
        data = data if isinstance(data, dict) else {}

        def day(value: Any) -> date | None:
            try:
                return date.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                return None

        def texts(value: Any) -> tuple[str, ...]:
            return tuple(str(v) for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        emotion = data.get("emotion")
        return cls(channels=texts(data.get("channels")), categories=texts(data.get("categories")),
                   date_from=day(data.get("date_from")), date_to=day(data.get("date_to")),
                   emotion=emotion if isinstance(emotion, str) else None)

    def describe(self) -> str:
        """The filters in words: "from Apple, in Music, in October 2017, with happy faces"."""
        parts = []
        if self.channels:
            parts.append("from " + " or ".join(self.channels))
        if self.categories:
            parts.append("in " + " or ".join(self.categories))
        if self.date_from or self.date_to:
            parts.append(describe_dates(self.date_from, self.date_to))
        if self.emotion:
            parts.append(f"with {EMOTION_ADJECTIVES.get(self.emotion, self.emotion)} faces")
        return ", ".join(parts)

    def where(self) -> tuple[str, list[Any]]:
        """An SQL condition on the ``videos`` table aliased ``v``, and its parameters."""
        clauses, params = ["1"], []
        if self.channels:
            clauses.append(f"lower(v.channel) IN ({','.join('?' * len(self.channels))})")
            params += [c.lower() for c in self.channels]
        if self.categories:
            clauses.append(f"v.category IN ({','.join('?' * len(self.categories))})")
            params += list(self.categories)
        if self.date_from:  # the video's days overlap the range
            clauses.append("v.date_last >= ?")
            params.append(self.date_from.isoformat())
        if self.date_to:
            clauses.append("v.date_first <= ?")
            params.append(self.date_to.isoformat())
        if self.emotion:
            clauses.append("EXISTS (SELECT 1 FROM json_each(v.emotions) WHERE json_each.value = ?)")
            params.append(self.emotion)
        return " AND ".join(clauses), params


def describe_dates(start: date | None, end: date | None) -> str:
    """ "in October 2017", "on 3 Oct 2017", "from 1 to 15 Dec 2017", "since 3 Oct 2017"."""
    def day(d: date) -> str:
        return f"{d.day} {d:%b %Y}"

    if start and end:
        if start == end:
            return f"on {day(start)}"
        if start.day == 1 and end.day == calendar.monthrange(end.year, end.month)[1]:
            if (start.year, start.month) == (end.year, end.month):
                return f"in {start:%B %Y}"
            if start.month == 1 and end.month == 12:
                return f"in {start.year}" if start.year == end.year else f"in {start.year}-{end.year}"
        if (start.year, start.month) == (end.year, end.month):
            return f"from {start.day} to {day(end)}"
        return f"from {day(start)} to {day(end)}"
    return f"since {day(start)}" if start else f"until {day(end)}"


@dataclass
class SearchHit:
    """One video found: its score (RRF, BM25 or cosine, by mode; views when browsing), its 1-based rank in
    each retriever that found it, and its cosine similarity to the query when the embeddings found it."""

    record: VideoRecord
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    similarity: float | None = None

    @property
    def key(self) -> str:
        return self.record.key

    def citation(self, number: int) -> dict[str, Any]:
        """What an answer cites: enough to show the video and link to it."""
        r = self.record
        return {"n": number, "key": r.key, "video_id": r.key if r.source == "youtube" else None,
                "title": r.title, "channel": r.channel, "category": r.category,
                "date": r.date_first.isoformat() if r.date_first else None,
                "date_last": r.date_last.isoformat() if r.date_last else None,
                "views": r.views, "url": r.url, "path": r.path, "thumbnail": r.thumbnail,
                "score": round(float(self.score), 4)}


def query_tokens(text: str) -> list[str]:
    """The words of ``text`` worth matching, lower case; all of them when every one is a stop word."""
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS]
    return content or words


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text: any of its words, plus the whole text as a phrase.

    Every token is quoted, so the user's punctuation (quotes, ``*``, ``:``, ``-``, parentheses, AND/OR/NEAR)
    is never FTS5 syntax. The phrase adds to the score of videos that contain the words in order.
    """
    tokens = query_tokens(text)
    if not tokens:
        return None
    terms = [f'"{t}"' for t in dict.fromkeys(tokens)]
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) > 1:
        terms.insert(0, '"' + " ".join(words) + '"')
    return " OR ".join(terms)


def bm25_ranking(index: ArchiveIndex, text: str, filters: Filters = Filters(), depth: int = DEPTH,
                 min_match: float = 0.0) -> list[tuple[int, float]]:
    """(row id, BM25 score, higher is better) of the best keyword matches that pass the filters.

    With ``min_match``, only videos that contain at least that share of the query's distinct words
    (rounded up) are kept: Lucene's "minimum should match".
    """
    match = fts_query(text)
    if match is None:
        return []
    where, params = filters.where()
    weights = ", ".join(str(BM25_WEIGHTS[c]) for c in FTS_COLUMNS)
    with index.connect() as conn:
        rows = conn.execute(
            f"SELECT videos_fts.rowid, bm25(videos_fts, {weights}) AS score FROM videos_fts "
            f"JOIN videos v ON v.id = videos_fts.rowid WHERE videos_fts MATCH ? AND {where} "
            f"ORDER BY score LIMIT ?", [match, *params, depth]).fetchall()
        ranking = [(row[0], -row[1]) for row in rows]  # FTS5's bm25() is lower-is-better
        tokens = list(dict.fromkeys(query_tokens(text)))
        needed = math.ceil(min_match * len(tokens))
        if needed > 1 and ranking:
            found = [row_id for row_id, _ in ranking]
            matched = dict.fromkeys(found, 0)
            for token in tokens:  # one indexed lookup per word, among the few videos ranked
                for (row_id,) in conn.execute(f"SELECT rowid FROM videos_fts WHERE videos_fts MATCH ? AND rowid IN "
                                              f"({','.join('?' * len(found))})", [f'"{token}"', *found]):
                    matched[row_id] += 1
            ranking = [(row_id, s) for row_id, s in ranking if matched[row_id] >= needed]
    return ranking


def embedding_ranking(index: ArchiveIndex, vector: np.ndarray, filters: Filters = Filters(),
                      depth: int = DEPTH, exclude: Sequence[int] = ()) -> list[tuple[int, float]]:
    """(row id, cosine similarity) of the nearest videos that pass the filters."""
    faiss_index, ids = index.vectors()
    if faiss_index.ntotal == 0:
        return []
    allowed = None
    if filters:
        where, params = filters.where()
        with index.connect() as conn:
            allowed = {row[0] for row in conn.execute(f"SELECT v.id FROM videos v WHERE {where}", params)}
        if not allowed:
            return []
    # Filtering after the search: with a filter, search everything (a few thousand dot products).
    k = faiss_index.ntotal if allowed is not None else min(faiss_index.ntotal, depth + len(exclude))
    scores, rows = faiss_index.search(np.ascontiguousarray(vector.reshape(1, -1), np.float32), k)
    out = []
    for score, row in zip(scores[0], rows[0]):
        video = int(ids[row])
        if row >= 0 and video not in exclude and (allowed is None or video in allowed):
            out.append((video, float(score)))
            if len(out) == depth:
                break
    return out


def rrf_fuse(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: (item, sum of 1 / (k + rank)) over the rankings, best first."""
    scores: dict[int, float] = {}
    best: dict[int, int] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best[item] = min(best.get(item, rank), rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], best[pair[0]]))


def embed_query(text: str) -> np.ndarray:
    from reelkit.embeddings import embed_sentences

    return embed_sentences([text])[0]


def search(index: ArchiveIndex, text: str, filters: Filters = Filters(), mode: str = "hybrid", limit: int = 5,
           sort: str | None = None) -> list[SearchHit]:
    """The videos that best match ``text`` and pass ``filters``, by ``mode`` ("bm25", "embedding", "hybrid").

    With ``sort`` ("views", "newest", "oldest"), the most relevant videos are re-sorted by it.
    """
    if mode not in MODES:
        raise ArchiveError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    if not text.strip():
        return browse(index, filters, sort or "views", limit)
    depth = max(DEPTH, limit)
    rankings: dict[str, list[tuple[int, float]]] = {}
    if mode in ("bm25", "hybrid"):
        rankings["bm25"] = bm25_ranking(index, text, filters, depth, HYBRID_MIN_MATCH if mode == "hybrid" else 0.0)
    if mode in ("embedding", "hybrid"):
        rankings["embedding"] = embedding_ranking(index, embed_query(text), filters, depth)
    if mode == "hybrid":
        fused = rrf_fuse([[item for item, _ in ranking] for ranking in rankings.values()])
    else:
        fused = rankings[mode]
    return _hits(index, fused[:RERANK_POOL if sort else limit], rankings, sort, limit)


def similar(index: ArchiveIndex, key: str, filters: Filters = Filters(), limit: int = 5,
            sort: str | None = None) -> list[SearchHit]:
    """The videos whose embeddings are nearest to video ``key``'s, itself left out."""
    seed = index.get(key)
    vector = index.vector(key)
    if seed is None or vector is None:
        raise ArchiveError(f"video {key} is not in the archive")
    with index.connect() as conn:
        seed_id = conn.execute("SELECT id FROM videos WHERE key = ?", (key,)).fetchone()[0]
    ranking = embedding_ranking(index, vector, filters, max(DEPTH, limit), exclude=[seed_id])
    return _hits(index, ranking[:RERANK_POOL if sort else limit], {"embedding": ranking}, sort, limit)


def browse(index: ArchiveIndex, filters: Filters = Filters(), sort: str = "views", limit: int = 5) -> list[SearchHit]:
    """The videos that pass ``filters``, most viewed (or newest, or oldest) first; the score is the views."""
    order = {"views": "v.views DESC NULLS LAST, v.date_last DESC", "newest": "v.date_last DESC NULLS LAST, v.views DESC",
             "oldest": "v.date_first ASC NULLS LAST, v.views DESC"}[sort]
    where, params = filters.where()
    with index.connect() as conn:
        ids = [row[0] for row in conn.execute(f"SELECT v.id FROM videos v WHERE {where} ORDER BY {order} LIMIT ?",
                                              [*params, limit])]
    records = index.records_by_id(ids)
    return [SearchHit(records[i], float(records[i].views or 0)) for i in ids if i in records]


def count(index: ArchiveIndex, filters: Filters = Filters()) -> int:
    """How many videos pass ``filters``."""
    where, params = filters.where()
    with index.connect() as conn:
        return conn.execute(f"SELECT count(*) FROM videos v WHERE {where}", params).fetchone()[0]


def _hits(index: ArchiveIndex, ranked: list[tuple[int, float]], rankings: dict[str, list[tuple[int, float]]],
          sort: str | None, limit: int) -> list[SearchHit]:
    positions = {name: {item: rank for rank, (item, _) in enumerate(ranking, 1)} for name, ranking in rankings.items()}
    records = index.records_by_id([item for item, _ in ranked])
    cosines = dict(rankings.get("embedding", []))
    hits = [SearchHit(records[item], score, {name: p[item] for name, p in positions.items() if item in p},
                      cosines.get(item)) for item, score in ranked if item in records]
    if sort == "views":
        hits.sort(key=lambda h: -(h.record.views or 0))
    elif sort == "newest":
        hits.sort(key=lambda h: h.record.date_last or date.min, reverse=True)
    elif sort == "oldest":
        hits.sort(key=lambda h: h.record.date_first or date.max)
    return hits[:limit]
