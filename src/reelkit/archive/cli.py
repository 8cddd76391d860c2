"""Command-line front end of :mod:`reelkit.archive`: the ``archive`` sub-app (``index``, ``remove``, ``ask``,
``stats``), registered on the main app by :mod:`reelkit.cli`.

Errors are :class:`~reelkit.errors.ArchiveError` (or the video errors of an analysis); the main entry
point prints them on one line and exits with code 2.
"""

from __future__ import annotations

import json
import os
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

import typer

from reelkit.errors import ArchiveError

archive_app = typer.Typer(help="Index videos into a searchable archive and ask it questions.", no_args_is_help=True)

DEFAULT_DB = Path("reelkit-archive") / "archive.sqlite"
DB_HELP = "Archive file (default: $REELKIT_ARCHIVE, else reelkit-archive/archive.sqlite)."


class Mode(str, Enum):
    hybrid = "hybrid"
    bm25 = "bm25"
    embedding = "embedding"


def archive_path(db: Path | None) -> Path:
    return db or Path(os.environ.get("REELKIT_ARCHIVE") or DEFAULT_DB)


def classify(path: Path) -> str:
    """What a path given to ``index`` is: "csv", "report" or "video"."""
    if not path.exists():
        raise ArchiveError(f"{path} not found")
    if path.is_dir():
        if not (path / "report.json").is_file():
            raise ArchiveError(f"folder {path} has no report.json (write one with `reelkit analyze VIDEO -o {path}`)")
        return "report"
    suffix = path.suffix.lower()
    return {".csv": "csv", ".json": "report"}.get(suffix, "video")


def parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ArchiveError(f"--date {text!r} is not a date; write it as YYYY-MM-DD") from None


def parse_category(text: str | None) -> str | None:
    from rapidfuzz import fuzz, process

    from reelkit.archive.index import CATEGORIES

    if text is None:
        return None
    best = process.extractOne(text, list(CATEGORIES.values()), scorer=fuzz.WRatio, score_cutoff=85)
    if best is None:
        raise ArchiveError(f"unknown category {text!r}; choose one of {', '.join(CATEGORIES.values())}")
    return best[0]


@archive_app.command("index")
def index_command(
    paths: List[Path] = typer.Argument(..., help="Trending CSVs (USvideos.csv format), report.json files (or folders "
                                                 "holding one) from `reelkit analyze`, or video files to analyse."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    channel: Optional[str] = typer.Option(None, help="Channel of the reports and videos (default: local)."),
    headline: Optional[str] = typer.Option(None, help="Title of the reports and videos (default: the report's "
                                                      "headline, else the file name)."),
    day: Optional[str] = typer.Option(None, "--date", help="Date of the reports and videos, YYYY-MM-DD (default: the "
                                                           "video file's modification day)."),
    category: Optional[str] = typer.Option(None, help="YouTube category of the reports and videos, e.g. Comedy."),
) -> None:
    """Add videos to the archive (or replace them: indexing is idempotent). Prints a JSON summary."""
    from reelkit.archive.index import ArchiveIndex, IndexSummary
    from reelkit.cli import progress_bar

    sources = [(classify(path), path) for path in paths]  # every path checked before any work
    options = {"channel": channel, "title": headline, "day": parse_day(day), "category": parse_category(category)}
    db = archive_path(db)
    created, folder_created = not db.exists(), not db.parent.exists()
    index = ArchiveIndex(db, create=True)
    total = IndexSummary()
    try:
        with progress_bar() as progress:
            for kind, path in sources:
                task = progress.add_task(f"{path.name}", total=None)

                def report(stage: str, done: int, size: int, task: Any = task, name: str = path.name) -> None:
                    progress.update(task, description=f"{name}: {stage}", completed=done, total=size)

                if kind == "csv":
                    summary = index.add_csv(path, progress=report)
                elif kind == "report":
                    summary = index.add_report(path, **options)
                else:
                    summary = index.add_video(path, progress=report, **options)
                total += summary
                progress.update(task, description=f"{path.name}: {summary.added} added, {summary.updated} replaced")
    except BaseException:
        if created and len(index) == 0:  # a failed first run leaves no empty archive behind
            for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                leftover.unlink(missing_ok=True)
            if folder_created and not any(db.parent.iterdir()):
                db.parent.rmdir()
        raise
    typer.echo(json.dumps({"archive": str(db), "added": total.added, "replaced": total.updated,
                           "embedded": total.embedded, "skipped_rows": total.skipped_rows, "videos": len(index)}))


@archive_app.command("remove")
def remove_command(
    targets: List[str] = typer.Argument(..., help="Video keys (a YouTube id, or local:... as `ask` cites them), "
                                                  "video files, report.json files, or folders of reports."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Remove videos from the archive (the files themselves are left alone). Prints a JSON summary."""
    from reelkit.archive import ArchiveIndex

    db = archive_path(db)
    index = ArchiveIndex(db)
    keys: list[str] = []
    for target in targets:  # every target checked before anything is removed
        found = index.keys_matching(target)
        if not found:
            raise ArchiveError(f"no video in archive {db} matches {target!r} (a key, video file, report or folder)")
        keys += found
    removed = index.remove(list(dict.fromkeys(keys)))
    typer.echo(json.dumps({"archive": str(db), "removed": removed, "videos": len(index)}))


@archive_app.command("ask")
def ask_command(
    question: str = typer.Argument(..., help="A question, or a follow-up to the last answer."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    conversation: Optional[Path] = typer.Option(None, help="JSON file that keeps the conversation between calls "
                                                           "(default: conversation.json beside the archive)."),
    new: bool = typer.Option(False, "--new", help="Start a new conversation instead of following up."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON (text, citations, filters, state)."),
    mode: Mode = typer.Option(Mode.hybrid, help="Retrieval: BM25 keywords, embeddings, or both fused."),
    limit: int = typer.Option(5, min=1, max=20, help="Videos listed per answer, unless the question says."),
) -> None:
    """Ask the archive a question; successive calls follow up on each other ("only from Apple")."""
    from reelkit.archive import ArchiveBot, ArchiveIndex
    from reelkit.text.formats import atomic_write

    db = archive_path(db)
    index = ArchiveIndex(db)
    conversation = conversation or db.parent / "conversation.json"
    state = None if new else load_conversation(conversation)
    answer = ArchiveBot(index, mode=mode.value, limit=limit).ask(question, state)
    atomic_write(conversation, json.dumps(answer.state, indent=1) + "\n")
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), indent=1, ensure_ascii=False))
        return
    typer.echo(answer.text)
    if answer.citations:
        typer.echo("")
        for c in answer.citations:
            extra = f"  (thumbnail: {c['thumbnail']})" if c["thumbnail"] else ""
            typer.echo(f"[{c['n']}] {c['url'] or c['path'] or c['key']}{extra}")


@archive_app.command("stats")
def stats_command(db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Print what the archive holds (JSON): videos by source and category, channels, dates."""
    from reelkit.archive import ArchiveIndex

    typer.echo(json.dumps(ArchiveIndex(archive_path(db)).stats(), indent=1))


def load_conversation(path: Path) -> dict[str, Any] | None:
    """The state saved by the last ``ask``, or None for a new conversation."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ArchiveError(f"conversation file {path} cannot be read; start a new one with --new") from None
