from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conftest import run_cli
from reelkit.analyze import REPORT_SCHEMA, render_html


@pytest.fixture(scope="module")
def analyzed(demo_video, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("analyze")
    result = run_cli("analyze", str(demo_video), "--headline", "my cat tries the piano", "-k", "3", "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "report.json").read_text())


def test_report_follows_its_schema(analyzed):
    _, report = analyzed
    jsonschema.validate(report, REPORT_SCHEMA)


def test_report_content_is_consistent(analyzed, demo_truth):
    out, report = analyzed
    assert 1 <= len(report["thumbnails"]) <= 3
    assert [t["rank"] for t in report["thumbnails"]] == list(range(1, len(report["thumbnails"]) + 1))
    assert abs(sum(f["attention"] for f in report["popularity"]["frames"]) - 1) < 1e-3
    assert 0 < report["popularity"]["score"] < 1
    truth_texts = {line.text for line in demo_truth}
    assert sum(line["text"] in truth_texts for line in report["overlays"]) >= len(truth_texts) - 1
    original = report["headlines"]["original"]
    assert original["headline"] == "my cat tries the piano"
    scores = [v["score"] for v in report["headlines"]["variants"]]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 3
    assert all(report["timings"][stage] > 0 for stage in ("overlays", "thumbnails", "popularity", "headlines"))
    assert all(set(t["scores"]) == {"sharpness", "face", "subject", "text", "popularity"} for t in report["thumbnails"])


def test_every_file_the_report_names_exists(analyzed):
    out, report = analyzed
    names = [t["image"] for t in report["thumbnails"]] + list(report["popularity"]["images"].values()) + \
        [report["files"]["contact_sheet"]]
    html = (out / "report.html").read_text()
    for name in names:
        assert (out / name).stat().st_size > 1000
    for name in names[:-1]:
        assert f'src="{name}"' in html
    assert "my cat tries the piano" in html


def test_html_escapes_user_text():
    report = json.loads(json.dumps({
        "reelkit_version": "0", "video": {"name": "<b>x</b>.mp4", "duration": 1, "width": 2, "height": 2, "fps": 1},
        "headline": "<script>alert(1)</script>", "overlays": [], "faces": [], "thumbnails": [],
        "popularity": {"score": 0.5, "most_attended_time": 0, "model": "m", "images": {"gradcam": "g", "attention": "a"}},
        "headlines": {"original": None, "variants": []}, "timings": {"total": 1}, "files": {"contact_sheet": None}}))
    html = render_html(report)
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_bad_video_fails_in_one_line_without_output(bad_videos, tmp_path):
    for kind in ("not_a_video", "truncated", "empty", "cut_midway"):  # the last fails while frames are being read
        out = tmp_path / kind
        result = run_cli("analyze", str(bad_videos[kind]), "-o", str(out))
        assert result.returncode == 2, kind
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
        assert not out.exists()


def test_clips_joined_at_two_sizes_get_a_report(size_change_video, tmp_path):
    out = tmp_path / "report"
    result = run_cli("analyze", str(size_change_video), "-o", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert (report["video"]["width"], report["video"]["height"]) == (640, 360) and report["thumbnails"]


def test_a_failing_overlay_reader_fails_the_analysis_with_its_own_error(demo_video, tmp_path):
    """The overlays are read in a thread beside the thumbnail candidates: its error stops both and is the one raised."""
    from reelkit.analyze import VideoAnalyzer
    from reelkit.text import OverlayExtractor

    class BrokenReader(OverlayExtractor):
        def _read(self, rgb, boxes):
            raise RuntimeError("the recogniser broke")

    with pytest.raises(RuntimeError, match="the recogniser broke"):
        VideoAnalyzer(overlays=BrokenReader())(demo_video, tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_black_video_still_gets_a_report(tmp_path):
    import av
    import numpy as np

    video = tmp_path / "black.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width = stream.height = 128
        stream.pix_fmt = "yuv420p"
        for _ in range(45):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((128, 128, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode())
    out = tmp_path / "out"
    result = run_cli("analyze", str(video), "-o", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["thumbnails"] == [] and "black" in report["thumbnail_note"]
    assert report["rejected_candidates"]["black"] >= 1  # the counts behind the note
    assert report["files"]["contact_sheet"] is None
    assert "No usable thumbnail" in (out / "report.html").read_text()


def test_face_boxes_are_reported_in_pixels_of_the_video():
    import numpy as np
    import skimage.data
    from PIL import Image

    from reelkit.analyze.pipeline import _FaceLog
    from reelkit.thumbnails import Candidate, FaceScorer

    # A 2560-px-wide video's candidates are shrunk to 1280 px; the report's boxes are in the video's pixels.
    astronaut = skimage.data.astronaut()
    shrunk = Candidate.from_rgb(np.asarray(Image.fromarray(astronaut).resize((256, 256))))
    log = _FaceLog(FaceScorer(), video_size=(512, 512))
    log(shrunk)
    (x0, y0, x1, y1), = [face["box"] for face in log.faces]
    assert all(isinstance(v, int) for v in (x0, y0, x1, y1))  # the report's schema wants whole pixels
    assert 140 < x0 < 190 and 50 < y0 < 100 and 250 < x1 < 310 and 160 < y1 < 220  # the face in the 512-px photo


def test_faces_of_a_large_phone_video_in_the_report(tmp_path):
    import numpy as np
    import skimage.data
    from PIL import Image

    from reelkit.video.encode import write_h264

    # 1440x1440, stored sideways with a display rotation: candidates are turned upright and shrunk to 1280 px.
    upright = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1440, 1440)))
    video = tmp_path / "astronaut.mp4"
    write_h264(video, [upright] * 10, fps=5, rotation=90)
    out = tmp_path / "out"
    result = run_cli("analyze", str(video), "-k", "1", "-o", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["faces"], report["thumbnails"]
    x0, y0, x1, y1 = report["faces"][0]["box"]
    scale = 1440 / 512  # the astronaut's face is at about (163, 76, 279, 187) in the 512-px photo
    assert 140 * scale < (x0 + x1) / 2 < 300 * scale and 60 * scale < (y0 + y1) / 2 < 200 * scale
    assert report["faces"][0]["emotion"] and report["thumbnails"][0]["scores"]["face"] > 0.5
