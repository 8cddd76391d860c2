"""Command-line front end of :mod:`reelkit.headlines`: the ``headlines`` sub-app (``score``, ``improve``)
and the ``train headlines`` command, registered on the main app by :mod:`reelkit.cli`.

Errors are :class:`~reelkit.errors.HeadlineError`; the main entry point prints them on one line and
exits with code 2.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from reelkit.errors import HeadlineError

headlines_app = typer.Typer(help="Score video headlines and propose better ones.", no_args_is_help=True)


def read_headlines(headlines: list[str], file: Path | None) -> list[str]:
    """The headlines given as arguments, then those of ``file`` (one per non-blank line)."""
    out = list(headlines)
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise HeadlineError(f"headlines file {file} not found") from None
        except IsADirectoryError:
            raise HeadlineError(f"headlines file {file} is a folder") from None
        except (OSError, UnicodeDecodeError) as error:
            raise HeadlineError(f"cannot read headlines file {file}: {error}") from None
        from_file = [line for line in lines if line.strip()]
        if not from_file:
            raise HeadlineError(f"headlines file {file} has no headlines")
        out.extend(from_file)
    if not out:
        raise HeadlineError("give at least one headline, or --file with one headline per line")
    return out


def score_headlines(headlines: list[str], file: Path | None = None) -> list[dict]:
    """One {"headline", "score", "multiplier"} record per headline."""
    from reelkit.headlines.pipeline import HeadlineScorer, clean_headlines

    cleaned = clean_headlines(read_headlines(headlines, file))
    scores = HeadlineScorer()(cleaned)
    return [{"headline": h, "score": round(s, 4), "multiplier": round(math.exp(s), 4)}
            for h, s in zip(cleaned, scores)]


@headlines_app.command("score")
def score_command(
    headlines: Optional[List[str]] = typer.Argument(None, help="Headlines to score."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="A text file with one headline per line."),
) -> None:
    """Print one JSON line per headline: its score (predicted log of views over the channel's typical
    views) and the multiplier exp(score)."""
    for record in score_headlines(headlines or [], file):
        typer.echo(json.dumps(record, ensure_ascii=False))


@headlines_app.command("improve")
def improve_command(
    headline: str = typer.Argument(..., help="The headline to improve."),
    alt: Optional[List[str]] = typer.Option(None, "--alt", help="Your own alternative headline; repeat for several."),
    n: int = typer.Option(8, "-n", min=1, help="How many variants to show (your alternatives are always shown)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per variant instead of a table."),
) -> None:
    """Rank rewrites of a headline (numbers, question, length, wording, case) and your alternatives."""
    from rich.console import Console
    from rich.table import Table

    from reelkit.headlines.pipeline import HeadlineImprover

    improver = HeadlineImprover()
    variants = improver.improve(headline, alt or [], n)
    original = improver.scorer([headline])[0]
    if as_json:
        for v in variants:
            typer.echo(json.dumps({"headline": v.text, "score": round(v.score, 4), "multiplier": round(v.multiplier, 4),
                                   "change": round(v.change, 4), "reason": v.reason, "source": v.source},
                                  ensure_ascii=False))
        return
    if not variants:  # a headline without words ("!!!") gives the templates nothing to work on
        typer.echo(f"original: {' '.join(headline.split())}  (score {original:+.3f}); no rewrites of a headline "
                   "without words: give your own with --alt")
        return
    table = Table(title=f"original: {' '.join(headline.split())}  (score {original:+.3f})")
    for column in ("#", "headline", "score", "vs original", "why"):
        table.add_column(column)
    for rank, v in enumerate(variants, 1):
        table.add_row(str(rank), v.text, f"{v.score:+.3f}", f"{v.change:+.0%}", v.reason.split(": ", 1)[-1])
    Console().print(table)


def train_headlines_command(
    out: Path = typer.Option(Path("src/reelkit/weights/headline_minilm.safetensors"), help="Weights file to write."),
    data: Optional[Path] = typer.Option(None, help="USvideos.csv (default: ../shared/data/youtube_trending/ "
                                                   "beside the checkout)."),
    seed: int = typer.Option(0, help="Seed of the grouped train/validation/test split of the channels."),
    max_videos: Optional[int] = typer.Option(None, min=3, help="Train on only this many training videos."),
) -> None:
    """Train the headline scorer on trending YouTube videos; writes weights and model card."""
    from reelkit.headlines.data import DEFAULT_CSV
    from reelkit.headlines.train import HeadlineTrainConfig, train_headlines, write_headline_card

    config = HeadlineTrainConfig(data=str(data or DEFAULT_CSV), seed=seed, max_videos=max_videos)
    # Check before training, create after it: a failed run leaves no empty folder behind.
    existing = next(folder for folder in (out.parent, *out.parent.parents) if folder.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise HeadlineError(f"cannot write to {out.parent}: {existing} is not a writable folder")
    from reelkit.cli import console

    command = "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with console.status("encoding titles and fitting the headline model"):
        model, result = train_headlines(config, log=console.print)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HeadlineError(f"cannot write to {out.parent}: {error.strerror or error}") from None
    write_headline_card(model, config, result, out, command)
    test = result.metrics["test"]
    console.print(f"test rho {test['model']['rho']:.3f} (length-only {test['length_only']['rho']:.3f}, "
               f"bag-of-words ridge {test['bag_of_words_ridge']['rho']:.3f}); wrote {out} and {out.with_suffix('.md')}")
