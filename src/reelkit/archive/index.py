"""The archive's storage: one SQLite file holding every video's record, a BM25 full-text index (FTS5)
and the MiniLM embeddings, from which a FAISS index is built when the archive is searched.

Sources are YouTube trending CSVs (``USvideos.csv`` format: one row per video per trending day),
``reelkit analyze`` reports, and video files (analysed into a cache folder beside the archive).
Reindexing a video replaces its record, so indexing is idempotent.

The file is shared by the CLI and the studio's web server: it is in WAL mode and every operation opens
its own short-lived connection, so any number of threads and processes may read while one writes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from reelkit.errors import ArchiveError

FORMAT = "reelkit-archive"
SCHEMA_VERSION = 1
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384

# YouTube's US video categories (the ``category_id`` of the trending CSV).
CATEGORIES = {
    1: "Film & Animation", 2: "Autos & Vehicles", 10: "Music", 15: "Pets & Animals", 17: "Sports",
    19: "Travel & Events", 20: "Gaming", 22: "People & Blogs", 23: "Comedy", 24: "Entertainment",
    25: "News & Politics", 26: "Howto & Style", 27: "Education", 28: "Science & Technology",
    29: "Nonprofits & Activism", 43: "Shows",
}
TRENDING_COLUMNS = ("video_id", "title", "channel_title", "category_id", "tags", "views", "date")
TRENDING_YEAR = 2017  # the trending CSV's dates are "DD.MM" days of the 2017 collection

# Emotion names as different models spell them -> one label each, so that filters match any report.
EMOTION_ALIASES = {
    "happiness": "happy", "joy": "happy", "anger": "angry", "sadness": "sad", "surprised": "surprise",
    "fearful": "fear", "scared": "fear", "disgusted": "disgust", "contempt": "disgust", "calm": "neutral",
}

# FTS5 columns, in order; search.py weights them for bm25().
FTS_COLUMNS = ("title", "tags", "channel", "overlays", "category")

# What the embedding sees: enough to describe the video, short enough to embed ~2,000 videos in a minute.
EMBED_TAGS = 12
EMBED_OVERLAY_CHARS = 400

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE videos (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('youtube', 'local')),
    title TEXT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    overlays TEXT NOT NULL DEFAULT '[]',
    faces INTEGER NOT NULL DEFAULT 0,
    emotions TEXT NOT NULL DEFAULT '[]',
    thumbnails TEXT NOT NULL DEFAULT '[]',
    date_first TEXT,
    date_last TEXT,
    views INTEGER,
    likes INTEGER,
    url TEXT,
    path TEXT,
    report TEXT
);
CREATE INDEX videos_channel ON videos (lower(channel));
CREATE INDEX videos_dates ON videos (date_first, date_last);
CREATE VIRTUAL TABLE videos_fts USING fts5 (title, tags, channel, overlays, category,
                                            tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TABLE embeddings (
    video INTEGER PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
"""

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class VideoRecord:
    """One video of the archive. ``key`` is the YouTube video id, or ``local:<stem>-<hash>`` for a video file."""

    key: str
    source: str  # "youtube" (trending CSV) or "local" (an analysed video)
    title: str
    channel: str
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    overlays: list[dict[str, Any]] = field(default_factory=list)  # {"text", "start", "end"}
    faces: int = 0
    emotions: list[str] = field(default_factory=list)  # most frequent first
    thumbnails: list[dict[str, Any]] = field(default_factory=list)  # {"rank", "time", "reason", "image"}
    date_first: date | None = None  # first trending day, or the file's date
    date_last: date | None = None
    views: int | None = None
    likes: int | None = None
    url: str | None = None
    path: str | None = None  # the video file
    report: str | None = None  # its report.json

    @property
    def thumbnail(self) -> str | None:
        return self.thumbnails[0]["image"] if self.thumbnails else None

    @property
    def overlay_text(self) -> str:
        return "\n".join(unique(line["text"] for line in self.overlays))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["date_first"] = self.date_first.isoformat() if self.date_first else None
        out["date_last"] = self.date_last.isoformat() if self.date_last else None
        out["thumbnail"] = self.thumbnail
        return out

    def embedding_text(self) -> str:
        """Title, channel, category, the first tags and the overlay text: what the sentence embedding sees."""
        parts = [self.title, f"by {self.channel}"]
        if self.category:
            parts.append(self.category)
        tags = [t for t in unique(self.tags, casefold=True) if t.casefold() not in self.title.casefold()]
        if tags:
            parts.append(", ".join(tags[:EMBED_TAGS]))
        if self.overlays:
            parts.append(self.overlay_text.replace("\n", " / ")[:EMBED_OVERLAY_CHARS])
        return ". ".join(parts)


@dataclass
class IndexSummary:
    """What one ``add_*`` call did."""

    added: int = 0  # new videos
    updated: int = 0  # videos already there, replaced
    embedded: int = 0  # videos whose embedding was (re)computed
    skipped_rows: int = 0  # CSV rows without a video id or title

    def __iadd__(self, other: "IndexSummary") -> "IndexSummary":
        self.added += other.added
        self.updated += other.updated
        self.embedded += other.embedded
        self.skipped_rows += other.skipped_rows
        return self


def unique(items: Any, casefold: bool = False) -> list[str]:
    """The non-blank strings of ``items`` in order, each once."""
    seen, out = set(), []
    for item in items:
        text = item.strip()
        marker = text.casefold() if casefold else text
        if text and marker not in seen:
            seen.add(marker)
            out.append(text)
    return out


class ArchiveIndex:
    """A video archive in one SQLite file.

    ``ArchiveIndex(path)`` opens an existing archive; ``ArchiveIndex(path, create=True)`` makes it when
    missing. Safe to share between threads; several processes may open the same file.
    """

    def __init__(self, path: str | Path, create: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {"generation": None}
        if self.path.is_dir():
            raise ArchiveError(f"archive path {self.path} is a folder; give the .sqlite file")
        if not self.path.exists():
            if not create:
                raise ArchiveError(f"no archive at {self.path}; build one with `reelkit archive index PATH`")
            self._create()
        self._check()

    # -- storage --------------------------------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection, committed on success and rolled back on error, closed either way."""
        try:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        except sqlite3.Error as error:
            raise ArchiveError(f"cannot open archive {self.path}: {error}") from None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            with conn:
                yield conn
        except sqlite3.DatabaseError as error:
            raise ArchiveError(f"archive {self.path} cannot be read or written: {error}") from None
        finally:
            conn.close()

    def _create(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ArchiveError(f"cannot create the archive's folder {self.path.parent}: {error.strerror}") from None
        # Built under a temporary name and renamed, so that a failure never leaves a half-made archive.
        tmp = self.path.with_name(f".{self.path.name}.part")
        tmp.unlink(missing_ok=True)
        try:
            conn = sqlite3.connect(tmp)
            with conn:
                conn.executescript(_SCHEMA)
                conn.executemany("INSERT INTO meta VALUES (?, ?)", [
                    ("format", FORMAT), ("schema_version", str(SCHEMA_VERSION)),
                    ("embedding_model", EMBEDDING_MODEL), ("generation", "0")])
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: readers never wait for the writer
            conn.close()
            tmp.replace(self.path)
        except (OSError, sqlite3.Error) as error:
            tmp.unlink(missing_ok=True)
            raise ArchiveError(f"cannot create archive {self.path}: {error}") from None

    def _check(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            finally:
                conn.close()
        except sqlite3.Error:
            raise ArchiveError(f"{self.path} is not a reelkit archive") from None
        if meta.get("format") != FORMAT:
            raise ArchiveError(f"{self.path} is not a reelkit archive")
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise ArchiveError(f"archive {self.path} has schema version {meta.get('schema_version')}; "
                               f"this reelkit reads version {SCHEMA_VERSION}: rebuild it with `reelkit archive index`")

    def generation(self) -> int:
        """A counter bumped by every write: cached search structures are rebuilt when it changes."""
        with self.connect() as conn:
            return int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def _cached(self, name: str, build: Callable[[], Any]) -> Any:
        generation = self.generation()
        with self._lock:
            if self._cache["generation"] != generation:
                self._cache = {"generation": generation}
            if name not in self._cache:
                self._cache[name] = build()
            return self._cache[name]

    # -- reading --------------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self.connect() as conn:
            return conn.execute("SELECT count(*) FROM videos").fetchone()[0]

    def get(self, key: str) -> VideoRecord | None:
        records = self.records_by_key([key])
        return records[0] if records else None

    def records_by_key(self, keys: Sequence[str]) -> list[VideoRecord]:
        """The records of ``keys`` that exist, in the order given."""
        found = self._records("key", list(keys))
        return [found[k] for k in keys if k in found]

    def records_by_id(self, ids: Sequence[int]) -> dict[int, VideoRecord]:
        """The records of the row ids that exist, by row id."""
        return self._records("id", [int(i) for i in ids])

    def _records(self, column: str, values: list[Any]) -> dict[Any, VideoRecord]:
        if not values:
            return {}
        with self.connect() as conn:
            rows = conn.execute(f"SELECT * FROM videos WHERE {column} IN ({','.join('?' * len(values))})",
                                values).fetchall()
        return {row[column]: _record(row) for row in rows}

    def channels(self) -> list[str]:
        """Every channel name in the archive (cached until the archive changes)."""
        def build() -> list[str]:
            with self.connect() as conn:
                return [r[0] for r in conn.execute("SELECT DISTINCT channel FROM videos ORDER BY channel")]
        return self._cached("channels", build)

    def months(self) -> set[tuple[int, int]]:
        """The (year, month) pairs in which some video was trending or made."""
        def build() -> set[tuple[int, int]]:
            with self.connect() as conn:
                rows = conn.execute("SELECT date_first, date_last FROM videos WHERE date_first IS NOT NULL").fetchall()
            months = set()
            for first, last in rows:
                start, end = date.fromisoformat(first), date.fromisoformat(last)
                for year in range(start.year, end.year + 1):
                    low = start.month if year == start.year else 1
                    high = end.month if year == end.year else 12
                    months.update((year, m) for m in range(low, high + 1))
            return months
        return self._cached("months", build)

    def vectors(self) -> tuple[Any, np.ndarray]:
        """A FAISS inner-product index over the unit embeddings, and the video row id of each of its rows."""
        def build() -> tuple[Any, np.ndarray]:
            import faiss

            with self.connect() as conn:
                rows = conn.execute("SELECT video, vector FROM embeddings ORDER BY video").fetchall()
            ids = np.array([r[0] for r in rows], np.int64)
            matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), EMBEDDING_DIM)
            index = faiss.IndexFlatIP(EMBEDDING_DIM)  # cosine similarity, the vectors being unit length
            index.add(np.ascontiguousarray(matrix))
            return index, ids
        return self._cached("vectors", build)

    def vector(self, key: str) -> np.ndarray | None:
        """The stored embedding of one video."""
        with self.connect() as conn:
            row = conn.execute("SELECT e.vector FROM embeddings e JOIN videos v ON v.id = e.video WHERE v.key = ?",
                               (key,)).fetchone()
        return None if row is None else np.frombuffer(row[0], np.float32).copy()

    def stats(self) -> dict[str, Any]:
        """Counts by source and category, the date span, the number of channels."""
        with self.connect() as conn:
            sources = dict(conn.execute("SELECT source, count(*) FROM videos GROUP BY source").fetchall())
            categories = dict(conn.execute("SELECT coalesce(category, 'unknown'), count(*) FROM videos "
                                           "GROUP BY 1 ORDER BY 2 DESC").fetchall())
            first, last = conn.execute("SELECT min(date_first), max(date_last) FROM videos").fetchone()
            channels = conn.execute("SELECT count(DISTINCT channel) FROM videos").fetchone()[0]
            embedded = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        return {"path": str(self.path), "videos": sum(sources.values()), "sources": sources, "channels": channels,
                "categories": categories, "first_date": first, "last_date": last, "embedded": embedded,
                "embedding_model": EMBEDDING_MODEL}

    # -- writing --------------------------------------------------------------------------------------

    def add_records(self, records: Sequence[VideoRecord], progress: Progress | None = None) -> IndexSummary:
        """Insert or replace records, embedding those whose text changed; all in one transaction."""
        from reelkit.embeddings import embed_sentences

        summary = IndexSummary()
        records = list({r.key: r for r in records}.values())  # a key twice in one batch: the last one wins
        texts = [r.embedding_text() for r in records]
        hashes = [hashlib.sha1(f"{EMBEDDING_MODEL}\n{t}".encode()).hexdigest() for t in texts]
        with self.connect() as conn:
            known = {}
            for start in range(0, len(records), 500):  # SQLite's limit on bound parameters
                chunk = [r.key for r in records[start:start + 500]]
                known.update(conn.execute(
                    f"SELECT v.key, e.text_hash FROM videos v LEFT JOIN embeddings e ON e.video = v.id "
                    f"WHERE v.key IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        todo = [i for i, r in enumerate(records) if known.get(r.key) != hashes[i]]
        # Embedded shortest first: batches are padded to their longest text, so similar lengths waste less.
        todo.sort(key=lambda i: len(texts[i]))
        vectors: dict[int, np.ndarray] = {}
        batch = 64
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            for i, vector in zip(chunk, embed_sentences([texts[i] for i in chunk], batch_size=batch)):
                vectors[i] = vector
            if progress:
                progress("embedding", min(start + batch, len(todo)), len(todo))
        with self.connect() as conn:
            for i, record in enumerate(records):
                if record.key in known:
                    summary.updated += 1
                else:
                    summary.added += 1
                row_id = _upsert(conn, record)
                conn.execute("DELETE FROM videos_fts WHERE rowid = ?", (row_id,))
                conn.execute("INSERT INTO videos_fts (rowid, title, tags, channel, overlays, category) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (row_id, record.title, " ; ".join(record.tags), record.channel, record.overlay_text,
                              record.category or ""))
                if i in vectors:
                    conn.execute("INSERT OR REPLACE INTO embeddings (video, text_hash, vector) VALUES (?, ?, ?)",
                                 (row_id, hashes[i], vectors[i].astype(np.float32).tobytes()))
            summary.embedded = len(vectors)
            conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        return summary

    def add_csv(self, path: str | Path, progress: Progress | None = None) -> IndexSummary:
        """Index a trending CSV (``USvideos.csv`` format)."""
        records, skipped = read_trending_csv(path)
        summary = self.add_records(records, progress)
        summary.skipped_rows = skipped
        return summary

    def add_report(self, path: str | Path, channel: str | None = None, title: str | None = None,
                   day: date | None = None, category: str | None = None) -> IndexSummary:
        """Index a ``reelkit analyze`` report (its report.json, or the folder holding it)."""
        return self.add_records([record_from_report(path, channel=channel, title=title, day=day, category=category)])

    def keys_matching(self, target: str | Path) -> list[str]:
        """The keys of the videos ``target`` names: a key itself (a YouTube id, or ``local:...``), a video
        file indexed with ``add_video``, a report.json, or a folder (every report inside it)."""
        path = Path(target).resolve()
        inside = f"{path}/"
        with self.connect() as conn:
            return [row[0] for row in conn.execute(
                "SELECT key FROM videos WHERE key = ? OR path = ? OR report = ? OR substr(report, 1, ?) = ? "
                "ORDER BY id", (str(target), str(path), str(path), len(inside), inside))]

    def remove(self, keys: Sequence[str]) -> int:
        """Remove the videos of ``keys`` (keys not in the archive are ignored); how many went."""
        with self.connect() as conn:
            ids = []
            for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters
                chunk = list(keys[start:start + 500])
                ids += [row[0] for row in conn.execute(
                    f"SELECT id FROM videos WHERE key IN ({','.join('?' * len(chunk))})", chunk)]
            for row_id in ids:  # the embedding row goes with its video (ON DELETE CASCADE)
                conn.execute("DELETE FROM videos_fts WHERE rowid = ?", (row_id,))
                conn.execute("DELETE FROM videos WHERE id = ?", (row_id,))
            if ids:
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        return len(ids)

    def add_video(self, video: str | Path, channel: str | None = None, title: str | None = None,
                  day: date | None = None, category: str | None = None, analyzer: Any = None,
                  progress: Progress | None = None) -> IndexSummary:
        """Analyse a video into ``reports/`` beside the archive (unless already done since the file last
        changed) and index its report."""
        video = Path(video).resolve()
        if not video.is_file():
            raise ArchiveError(f"video {video} not found")
        out_dir = self.path.parent / "reports" / f"{video.stem}-{_short_hash(str(video))}"
        report = out_dir / "report.json"
        if not report.exists() or report.stat().st_mtime < video.stat().st_mtime:
            if analyzer is None:
                from reelkit.analyze import VideoAnalyzer

                analyzer = VideoAnalyzer()
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ArchiveError(f"cannot create the analysis folder {out_dir}: {error.strerror}") from None
            stage_progress = (lambda stage, share: progress(f"analysing: {stage}", round(share * 100), 100)) \
                if progress else None
            analyzer(video, out_dir, headline=title, progress=stage_progress)
        return self.add_records([record_from_report(report, channel=channel, title=title, day=day, category=category,
                                                    video=video)], progress)


def _upsert(conn: sqlite3.Connection, record: VideoRecord) -> int:
    """Insert or replace a record in place, keeping its row id (the FTS and embedding rows refer to it)."""
    values = {
        "key": record.key, "source": record.source, "title": record.title, "channel": record.channel,
        "category": record.category, "tags": json.dumps(record.tags), "overlays": json.dumps(record.overlays),
        "faces": record.faces, "emotions": json.dumps(record.emotions), "thumbnails": json.dumps(record.thumbnails),
        "date_first": record.date_first.isoformat() if record.date_first else None,
        "date_last": record.date_last.isoformat() if record.date_last else None,
        "views": record.views, "likes": record.likes, "url": record.url, "path": record.path, "report": record.report,
    }
    columns = ", ".join(values)
    updates = ", ".join(f"{c} = excluded.{c}" for c in values if c != "key")
    return conn.execute(f"INSERT INTO videos ({columns}) VALUES ({', '.join('?' * len(values))}) "
                        f"ON CONFLICT (key) DO UPDATE SET {updates} RETURNING id", list(values.values())).fetchone()[0]


def _record(row: sqlite3.Row) -> VideoRecord:
    return VideoRecord(
        key=row["key"], source=row["source"], title=row["title"], channel=row["channel"], category=row["category"],
        tags=json.loads(row["tags"]), overlays=json.loads(row["overlays"]), faces=row["faces"],
        emotions=json.loads(row["emotions"]), thumbnails=json.loads(row["thumbnails"]),
        date_first=date.fromisoformat(row["date_first"]) if row["date_first"] else None,
        date_last=date.fromisoformat(row["date_last"]) if row["date_last"] else None,
        views=row["views"], likes=row["likes"], url=row["url"], path=row["path"], report=row["report"])


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


# -- sources ---------------------------------------------------------------------------------------------

_TRENDING_DAY = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})")


def parse_trending_day(text: str, year: int = TRENDING_YEAR) -> date | None:
    """A ``DD.MM`` trending day, or None when unreadable.

    The CSV's dates went through a float at some point, which drops trailing zeros: "1.1" is 1 October
    (1.10), so a one-digit month is read as that digit followed by a zero.
    """
    match = _TRENDING_DAY.match(text)
    if not match:
        return None
    day, month = match.group(1), match.group(2)
    month = month + "0" if len(month) == 1 else month
    try:
        return date(year, int(month), int(day))
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def read_trending_csv(path: str | Path, year: int = TRENDING_YEAR) -> tuple[list[VideoRecord], int]:
    """One record per video of a trending CSV (first and last trending day, the highest view count, the
    latest title and tags), and the number of rows skipped for lacking a video id or title."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in TRENDING_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                has = ",".join(reader.fieldnames or [])
                raise ArchiveError(f"{path} is not a trending CSV: it lacks column(s) {', '.join(missing)} "
                                   f"(its header: {has[:80] or 'none'})")
            rows = list(reader)
    except FileNotFoundError:
        raise ArchiveError(f"CSV {path} not found") from None
    except UnicodeDecodeError:
        raise ArchiveError(f"CSV {path} is not UTF-8 text") from None
    except csv.Error as error:
        raise ArchiveError(f"CSV {path} line {reader.line_num}: {error}") from None
    except OSError as error:
        raise ArchiveError(f"cannot read CSV {path}: {error.strerror or error}") from None
    videos: dict[str, dict[str, Any]] = {}
    skipped = 0
    for row in rows:
        key, title = (row.get("video_id") or "").strip(), (row.get("title") or "").strip()
        if not key or not title:
            skipped += 1
            continue
        day = parse_trending_day(row.get("date") or "", year)
        views = _int(row.get("views"))
        video = videos.setdefault(key, {"row": row, "day": day, "first": day, "last": day,
                                        "views": views, "likes": _int(row.get("likes"))})
        if day is not None:
            video["first"] = min(filter(None, (video["first"], day)))
            video["last"] = max(filter(None, (video["last"], day)))
            if video["day"] is None or day >= video["day"]:  # the latest row's title and tags
                video["row"], video["day"] = row, day
        if views is not None and (video["views"] is None or views > video["views"]):
            video["views"], video["likes"] = views, _int(row.get("likes"))
    if not videos:
        raise ArchiveError(f"CSV {path} has no videos (no row with a video_id and a title)")
    records = []
    for key, video in videos.items():
        row = video["row"]
        tags = [] if row["tags"].strip() in ("", "[none]") else unique(t.strip('"') for t in row["tags"].split("|"))
        category_id = _int(row["category_id"])
        records.append(VideoRecord(
            key=key, source="youtube", title=row["title"].strip(), channel=row["channel_title"].strip() or "unknown",
            category=CATEGORIES.get(category_id) if category_id is not None else None, tags=tags,
            date_first=video["first"], date_last=video["last"], views=video["views"], likes=video["likes"],
            url=f"https://www.youtube.com/watch?v={key}"))
    return records, skipped


def find_report(path: str | Path) -> Path:
    """``path`` itself when it is a file, else the report.json inside the folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise ArchiveError(f"report {path} not found")
    return path


def record_from_report(path: str | Path, channel: str | None = None, title: str | None = None,
                       day: date | None = None, category: str | None = None,
                       video: Path | None = None) -> VideoRecord:
    """The record of an analysed video, from its report.json.

    The title is ``title``, else the report's headline, else the file name; the channel is "local"
    unless given; the date is the video file's modification day (the report's when the video is gone).
    """
    report_path = find_report(path).resolve()
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArchiveError(f"cannot read report {report_path}: {error}") from None
    if not isinstance(report, dict) or not isinstance(report.get("video"), dict) \
            or not isinstance(report.get("overlays"), list):
        raise ArchiveError(f"{report_path} is not a reelkit analyze report (no video and overlays)")
    if video is None:
        video = _locate_video(report["video"], report_path.parent)
    dated = video if video is not None and video.exists() else report_path
    name = report["video"].get("name") or (video.name if video else report_path.parent.name)
    stem = Path(name).stem
    faces = [f for f in report.get("faces") or [] if isinstance(f, dict)]
    emotions: dict[str, int] = {}
    for face in faces:
        scores = face.get("emotion")
        if isinstance(scores, dict) and scores:
            label = str(max(scores, key=lambda k: scores[k])).lower()
            label = EMOTION_ALIASES.get(label, label)
            emotions[label] = emotions.get(label, 0) + 1
    thumbnails = [{"rank": t.get("rank"), "time": t.get("time"), "reason": t.get("reason"),
                   "image": str(report_path.parent / t["image"])}
                  for t in report.get("thumbnails") or [] if isinstance(t, dict) and t.get("image")]
    when = day or datetime.fromtimestamp(dated.stat().st_mtime).date()
    return VideoRecord(
        key=f"local:{stem}-{_short_hash(str(video or report_path.parent))}", source="local",
        title=(title or report.get("headline") or stem.replace("_", " ").replace("-", " ")).strip(),
        channel=(channel or "local").strip(), category=category,
        overlays=[{"text": str(line["text"]), "start": line.get("start"), "end": line.get("end")}
                  for line in report["overlays"] if isinstance(line, dict) and str(line.get("text", "")).strip()],
        faces=len(faces), emotions=sorted(emotions, key=lambda e: -emotions[e]), thumbnails=thumbnails,
        date_first=when, date_last=when, path=str(video) if video else None, report=str(report_path))


def _locate_video(info: dict[str, Any], report_dir: Path) -> Path | None:
    """The analysed video file: the report's path as given (absolute, or relative to where analyze ran,
    usually here), else a file of that name beside the report."""
    candidates = []
    if info.get("path"):
        candidates.append(Path(info["path"]))
    if info.get("name"):
        candidates.append(report_dir / info["name"])
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None
