"""reelkit's cache: results worth keeping between runs (title embeddings, generated scenes, exported networks),
under $XDG_CACHE_HOME/reelkit or ~/.cache/reelkit. Losing it, or not being allowed to write it, costs only time."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def cache_dir(kind: str) -> Path:
    """The folder for one kind of cached result (it may not exist yet)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reelkit" / kind


def save_atomically(path: Path, write: Callable[[BinaryIO], None]) -> bool:
    """Write ``path`` through ``write(handle)`` under a temporary name and rename it, so that a reader never sees
    half a file; False (and nothing left behind) when the cache cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(partial, path)
        return True
    except OSError:
        Path(partial).unlink(missing_ok=True)
        return False
