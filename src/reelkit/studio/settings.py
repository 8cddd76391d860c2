"""Where the studio keeps its files and database, who may write, and how large an upload may be."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from reelkit.errors import StudioError

DEFAULT_MAX_UPLOAD_MB = 500


def _read_or_create_token(data_dir: Path) -> str:
    """The token in ``data_dir/token``; a new random one (readable by the owner only) on first start."""
    path = data_dir / "token"
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


@dataclass
class StudioSettings:
    """The studio's configuration; every field can also come from a ``REELKIT_*`` environment variable.

    ``database_url`` defaults to an SQLite file in ``data_dir`` (``REELKIT_DATABASE_URL`` may name a
    PostgreSQL database instead), ``token`` to ``REELKIT_TOKEN`` or a random token kept in
    ``data_dir/token``, and ``archive`` to ``data_dir/archive.sqlite``. ``words`` (``REELKIT_WORDS``) is a
    text file of the team's names and slang for the overlay reader's word list, read again by each analysis.
    """

    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("REELKIT_DATA", "reelkit-studio")))
    database_url: str | None = None
    token: str | None = None
    max_upload_bytes: int = field(default_factory=lambda: int(float(os.environ.get(
        "REELKIT_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 1024 * 1024))
    workers: int = 1
    max_attempts: int = 3  # tries in all: a restart during a job costs one
    archive: Path | None = None
    words: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        try:
            for folder in (self.data_dir, self.media_dir, self.upload_dir):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StudioError(f"cannot use data folder {self.data_dir}: {error.strerror or error}") from None
        self.database_url = (self.database_url or os.environ.get("REELKIT_DATABASE_URL")
                             or f"sqlite:///{self.data_dir / 'studio.sqlite'}")
        self.token = self.token or os.environ.get("REELKIT_TOKEN") or _read_or_create_token(self.data_dir)
        self.archive = Path(self.archive or os.environ.get("REELKIT_ARCHIVE") or self.data_dir / "archive.sqlite")
        words = self.words or os.environ.get("REELKIT_WORDS")
        self.words = Path(words).resolve() if words else None
        if self.max_upload_bytes <= 0:
            raise StudioError("the upload limit must be positive")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def upload_dir(self) -> Path:
        """Uploads in progress; a file moves to ``media_dir`` only once it is complete and checked."""
        return self.data_dir / "uploads"
