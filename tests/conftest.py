from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reelkit.text.formats import TimedLine

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo.mp4"


@pytest.fixture(scope="session")
def demo_video() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def demo_truth() -> list[TimedLine]:
    return [TimedLine(**d) for d in json.loads(DEMO.with_suffix(".truth.json").read_text())]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``reelkit`` entry point as a user would."""
    exe = Path(sys.executable).parent / "reelkit"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "reelkit"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture
def bad_videos(tmp_path: Path) -> dict[str, Path]:
    """One file for each way a video can be unusable."""
    files = {}
    files["missing"] = tmp_path / "nope.mp4"
    files["directory"] = tmp_path / "folder.mp4"
    files["directory"].mkdir()
    files["not_a_video"] = tmp_path / "notes.mp4"
    files["not_a_video"].write_text("these are meeting notes, not a video\n" * 50)
    files["text_file"] = tmp_path / "notes.txt"
    files["text_file"].write_text("these are meeting notes, not a video\n" * 50)
    files["empty"] = tmp_path / "empty.mp4"
    files["empty"].touch()
    data = DEMO.read_bytes()
    files["truncated"] = tmp_path / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 3])
    files["cut_midway"] = tmp_path / "cut_midway.mp4"
    _cut_midway(files["cut_midway"])
    files["unsupported_codec"] = tmp_path / "unknown_codec.avi"
    files["unsupported_codec"].write_bytes(_avi_with_unknown_codec(tmp_path))
    files["audio_with_cover"] = tmp_path / "song.mp3"
    _mp3_with_cover_art(files["audio_with_cover"])
    return files


@pytest.fixture(scope="session")
def size_change_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two clips joined without re-encoding (a raw H.264 stream): 2 s of a 640x360 picture, then 2 s at 360x640."""
    import av
    import numpy as np
    from skimage import data

    picture = np.tile(data.astronaut(), (2, 2, 1))
    path = tmp_path_factory.mktemp("size_change") / "joined.h264"
    with path.open("wb") as joined:
        for width, height in ((640, 360), (360, 640)):
            part = path.with_name(f"{width}x{height}.h264")
            with av.open(str(part), "w", format="h264") as out:
                stream = out.add_stream("libx264", rate=30)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                for shift in range(60):
                    rgb = np.ascontiguousarray(np.roll(picture, 4 * shift, axis=1)[:height, :width])
                    out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
                out.mux(stream.encode())
            joined.write(part.read_bytes())
    return path


def _cut_midway(path: Path) -> None:
    """The example as a fast-start MP4 (index first) cut in half: it opens, and decoding stops at 4.1 s of a
    declared 8 s, after frames have been handed out."""
    import av

    whole = path.with_name("faststart.mp4")
    with av.open(str(DEMO)) as source, av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()


def _mp3_with_cover_art(path: Path) -> None:
    """Half a second of silence with an album cover: FFmpeg lists the cover as a (one-frame) video stream."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        audio = container.add_stream("libmp3lame", rate=44100, layout="mono")
        cover = container.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
        for packet in [*cover.encode(picture.reformat(format="yuvj420p")), *cover.encode()]:
            container.mux(packet)
        for index in range(20):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
            sound.sample_rate, sound.pts = 44100, index * 1152
            container.mux(audio.encode(sound))
        container.mux(audio.encode())


def _avi_with_unknown_codec(tmp_path: Path) -> bytes:
    """A valid AVI whose video stream's FourCC names no codec FFmpeg knows."""
    import av
    import numpy as np

    path = tmp_path / "mjpeg.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuvj420p"
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path.read_bytes().replace(b"MJPG", b"QQQQ")


@pytest.fixture
def clean_dir(tmp_path: Path):
    out = tmp_path / "out"
    yield out
    shutil.rmtree(out, ignore_errors=True)
