"""``reelkit thumbnails``: the best thumbnail frames of a video, as JPEGs, a contact sheet and JSON.

Registered by :mod:`reelkit.cli` with ``app.command("thumbnails")(thumbnails_command)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def thumbnails_command(
    video: Path = typer.Argument(..., help="The video to pick thumbnails from."),
    top: int = typer.Option(5, "-k", "--top", help="How many thumbnails to keep."),
    out: Optional[Path] = typer.Option(None, "-o", "--out",
                                       help="Folder for the results (default: the video's folder)."),
    every: float = typer.Option(0.5, "--every", min=0.05, help="Seconds between candidate frames."),
    no_text: bool = typer.Option(False, "--no-text", help="Skip the overlay-text scorer (faster)."),
    subject: str = typer.Option("saliency", help="Subject segmenter: saliency (spectral residual) or move (MOVE, "
                                                 "once `reelkit train move` has trained it)."),
) -> None:
    """Pick the best thumbnail frames: <stem>_thumb1.jpg ..., <stem>_contact_sheet.jpg, <stem>_thumbnails.json."""
    from reelkit.cli import console, counted, progress_bar, writable_dir
    from reelkit.errors import ThumbnailError
    from reelkit.thumbnails.pipeline import ThumbnailRanker, export_thumbnails
    from reelkit.thumbnails.scorers import SUBJECT_SEGMENTERS
    from reelkit.video import VideoReader

    if top < 1:
        raise ThumbnailError(f"--top must be at least 1, got {top}")
    if subject not in SUBJECT_SEGMENTERS:
        raise ThumbnailError(f"unknown --subject {subject!r}; choose one of {', '.join(SUBJECT_SEGMENTERS)}")
    VideoReader(video)  # a missing or unreadable file fails here, before any folder is made
    ranker = ThumbnailRanker.default(every=every, text=not no_text, subject=subject)  # so do missing weights
    out = writable_dir(out if out is not None else video.parent)
    with progress_bar() as progress:
        task = progress.add_task(video.name, total=None)
        result = ranker.rank(video, top,
                             progress=lambda done, total: progress.update(task, completed=done, total=total))
        progress.update(task, description=f"{video.name}: {counted(len(result.thumbnails), 'thumbnail')}")
    written = export_thumbnails(result.thumbnails, out, video.stem, result.rejected, crop=result.crop)
    skipped = ", ".join(f"{n} {reason}" for reason, n in result.rejected.items() if n)
    bars = "; black bars cropped" if result.crop else ""
    console.print(f"{counted(result.candidates, 'candidate frame')}; rejected: {skipped or 'none'}{bars}",
                  highlight=False)
    for path in written:
        typer.echo(str(path))
