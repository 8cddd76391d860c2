"""Timed overlay lines and their files: JSON, SubRip (SRT) and WebVTT, each written atomically."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from reelkit.errors import OutputError, TextError
from reelkit.files import write_atomically


@dataclass
class TimedLine:
    """One line of overlay text and when and where it is on screen."""

    text: str
    start: float  # seconds
    end: float  # seconds
    box: list[int]  # x0, y0, x1, y1 in pixels of the original frame
    confidence: float

    def to_dict(self) -> dict:
        return asdict(self)


def to_json(lines: Iterable[TimedLine]) -> str:
    return json.dumps([line.to_dict() for line in lines], indent=2) + "\n"


def from_json(text: str) -> list[TimedLine]:
    try:
        return [TimedLine(d["text"], float(d["start"]), float(d["end"]), [int(v) for v in d["box"]],
                          float(d["confidence"])) for d in json.loads(text)]
    except (ValueError, KeyError, TypeError) as error:
        raise TextError(f"not a reelkit overlay JSON file ({error})") from None


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _parse_timestamp(stamp: str) -> float:
    parts = re.split(r"[:.,]", stamp.strip())
    if len(parts) == 3:  # WebVTT allows mm:ss.ttt
        parts = ["0", *parts]
    hours, minutes, secs, millis = (int(p) for p in parts)
    return hours * 3600 + minutes * 60 + secs + millis / 1000


def _cue_order(lines: Iterable[TimedLine]) -> list[TimedLine]:
    return sorted(lines, key=lambda line: (line.start, line.box[1], line.box[0]))


def to_srt(lines: Iterable[TimedLine]) -> str:
    cues = [f"{i}\n{_timestamp(l.start, ',')} --> {_timestamp(l.end, ',')}\n{l.text}\n"
            for i, l in enumerate(_cue_order(lines), start=1)]
    return "\n".join(cues)


def to_vtt(lines: Iterable[TimedLine]) -> str:
    cues = [f"{_timestamp(l.start, '.')} --> {_timestamp(l.end, '.')}\n{l.text}\n" for l in _cue_order(lines)]
    return "WEBVTT\n\n" + "\n".join(cues)


_CUE = re.compile(r"([\d:.,]+)\s*-->\s*([\d:.,]+)[^\n]*\n(.*?)(?:\n\n|\Z)", re.S)


def parse_cues(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue of an SRT or WebVTT document."""
    text = text.replace("\r\n", "\n").strip() + "\n\n"
    return [(_parse_timestamp(a), _parse_timestamp(b), body.strip()) for a, b, body in _CUE.findall(text)]


WRITERS = {"json": to_json, "srt": to_srt, "vtt": to_vtt}


def atomic_write(path: Path, content: str) -> None:
    """Write via a temporary file in the same folder, then rename: never a half-written file."""
    try:
        write_atomically(path, lambda handle: handle.write(content.encode("utf-8")))
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def write_results(lines: list[TimedLine], stem: Path, formats: Iterable[str]) -> list[Path]:
    """Write ``stem``.json / .srt / .vtt for the requested formats; returns the paths written."""
    written = []
    for fmt in sorted(formats, key=list(WRITERS).index):
        path = stem.with_name(stem.name + "." + fmt)
        atomic_write(path, WRITERS[fmt](lines))
        written.append(path)
    return written
