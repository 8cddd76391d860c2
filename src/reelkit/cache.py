"""reelkit's cache: results worth keeping between runs (title embeddings, generated scenes, exported networks),
under $XDG_CACHE_HOME/reelkit or ~/.cache/reelkit. Losing it, or not being allowed to write it, costs only time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable

from reelkit.files import write_atomically


def cache_dir(kind: str) -> Path:
    """The folder for one kind of cached result (it may not exist yet)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reelkit" / kind


def save_atomically(path: Path, write: Callable[[BinaryIO], None]) -> bool:
    """:func:`reelkit.files.write_atomically`, creating the folder; False (and nothing left behind) when the cache
    cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, write)
        return True
    except OSError:
        return False
