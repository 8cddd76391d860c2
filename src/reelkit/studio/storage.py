"""Uploaded videos on disk: streamed in under a size limit, checked by content, served only by name.

An upload is written chunk by chunk to ``uploads/<random>.part<.ext>`` (never held in memory), probed with
PyAV (the container and its video stream decide whether it is a video; the extension the part file keeps
is only FFmpeg's hint and the error's wording) and only then moved to ``media/<video id>/``. Media are
served by video id and file name, both checked against what the studio itself wrote, so no request can
name a path outside that folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import anyio

from reelkit.errors import ReelkitError, VideoError
from reelkit.video import VIDEO_SUFFIXES, VideoInfo, probe

VIDEO_ID = re.compile(r"[0-9a-f]{32}")
MEDIA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")


class UploadTooLarge(ReelkitError):
    """An upload over the studio's size limit."""


@dataclass
class StoredUpload:
    id: str
    filename: str
    path: Path
    size: int
    sha256: str
    info: VideoInfo


def display_name(filename: str | None) -> str:
    """The uploaded file's base name, for display: no folders, no control characters, at most 200 chars."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "upload"


class MediaStore:
    """The studio's media folder: ``root/<video id>/source.<ext>`` and the job's ``report/`` beside it."""

    def __init__(self, root: Path, upload_dir: Path, max_bytes: int) -> None:
        self.root, self.upload_dir, self.max_bytes = Path(root), Path(upload_dir), max_bytes

    async def save(self, chunks: AsyncIterator[bytes], filename: str | None) -> StoredUpload:
        """Stream ``chunks`` to disk, then check that they are a usable video; raises on any problem."""
        video_id = secrets.token_hex(16)
        name = display_name(filename)
        suffix = Path(name).suffix.lower()
        # The part file keeps the upload's extension, so that probe's message judges the right kind of file.
        part = self.upload_dir / f"{video_id}.part{suffix if re.fullmatch(r'[.][a-z0-9]{1,8}', suffix) else ''}"
        digest, size = hashlib.sha256(), 0
        try:
            with open(part, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadTooLarge(f"upload is larger than the limit of {self.max_bytes // (1024 * 1024)} MB")
                    digest.update(chunk)
                    handle.write(chunk)
            if size == 0:
                raise VideoError("the upload is empty")
            try:
                info = await anyio.to_thread.run_sync(probe, part)  # by content: a renamed text file or a cut-off video fails here
            except VideoError as error:  # the message names the upload, never the server's own path
                raise VideoError(str(error).replace(str(part), name)) from None
            folder = self.root / video_id
            folder.mkdir(parents=True)
            path = folder / f"source{suffix if suffix in VIDEO_SUFFIXES else '.video'}"
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
        return StoredUpload(video_id, name, path, size, digest.hexdigest(), info)

    def delete(self, video_id: str) -> None:
        """Remove a video's folder: its upload and every result. It is renamed away first, so that a failure
        half-way never leaves a half-deleted video where the studio looks."""
        trash = self.root / f".deleted-{video_id}"
        try:
            os.replace(self.folder(video_id), trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def folder(self, video_id: str) -> Path:
        if not VIDEO_ID.fullmatch(video_id):
            raise FileNotFoundError(video_id)
        return self.root / video_id

    def source(self, video_id: str) -> Path:
        matches = sorted(self.folder(video_id).glob("source.*"))
        if not matches:
            raise FileNotFoundError(video_id)
        return matches[0]

    def report_dir(self, video_id: str) -> Path:
        return self.folder(video_id) / "report"

    def report_file(self, video_id: str, name: str) -> Path:
        """A file the analysis wrote for ``video_id``; FileNotFoundError for any other name."""
        if not MEDIA_NAME.fullmatch(name) or ".." in name:
            raise FileNotFoundError(name)
        folder = self.report_dir(video_id).resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            raise FileNotFoundError(name)
        return path
