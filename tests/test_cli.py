import json

import pytest

from reelkit import __version__
from reelkit.text import parse_cues

from conftest import run_cli


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"reelkit {__version__}"


@pytest.mark.parametrize("command", [[], ["overlays"], ["train"], ["train", "crnn"], ["synth"], ["synth", "clip"]])
def test_help_on_every_command(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout


def _assert_one_line_error(result):
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["missing", "directory", "not_a_video", "text_file", "empty", "truncated",
                                  "unsupported_codec", "audio_with_cover"])
def test_bad_video_gives_one_line_error_and_no_output(bad_videos, clean_dir, kind):
    result = run_cli("overlays", str(bad_videos[kind]), "-o", str(clean_dir), "--format", "srt")
    _assert_one_line_error(result)
    assert bad_videos[kind].name in result.stderr
    assert not clean_dir.exists() or not any(clean_dir.iterdir())
    if kind != "truncated":  # found unreadable before anything is made (a truncated file fails while decoding)
        assert not clean_dir.exists()


@pytest.mark.parametrize("command", ["overlays", "thumbnails", "faces"])
def test_a_video_failing_midway_leaves_no_empty_folder(bad_videos, tmp_path, command):
    """The folder is made before decoding starts; a command that then fails removes the folders it made and left
    empty (one holding a file, earlier results, stays)."""
    out = tmp_path / "new" / "out"
    result = run_cli(command, str(bad_videos["cut_midway"]), "-o", str(out))
    _assert_one_line_error(result)
    assert "truncated" in result.stderr and not (tmp_path / "new").exists()
    if command != "overlays":  # overlays goes on to its other videos and keeps each one's bar ("failed")
        # the progress display had started: a failure wipes it and leaves no blank line in a pipe either
        assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "earlier.json").write_text("{}")
    assert run_cli(command, str(bad_videos["cut_midway"]), "-o", str(kept)).returncode == 2
    assert [p.name for p in kept.iterdir()] == ["earlier.json"]


def test_an_error_before_any_progress_is_exactly_one_line(tmp_path):
    # The training command opens its progress display before it reads the data.
    result = run_cli("train", "emotionaldan", "--data", str(tmp_path / "nowhere"),
                     "--out", str(tmp_path / "e.safetensors"))
    assert result.returncode == 2 and result.stderr.startswith("error: labelled faces not found"), result.stderr
    assert result.stderr.count("\n") == 1 and not result.stdout


def test_unwritable_output_folder(tmp_path, demo_video):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = run_cli("overlays", str(demo_video), "-o", str(blocker / "out"))
    _assert_one_line_error(result)
    assert "cannot write" in result.stderr


def test_usage_errors_are_one_line(demo_video, clean_dir):
    cases = {("overlays", str(demo_video), "-o", str(clean_dir), "--sample-every", "often"): "--sample-every",
             ("analyze", str(demo_video), "-o", str(clean_dir), "-k", "0"): "--top",
             ("analyze",): "Missing argument",
             ("no-such-command",): "No such command"}
    for args, words in cases.items():
        result = run_cli(*args)
        _assert_one_line_error(result)
        assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout
        assert words in result.stderr and "--help" in result.stderr
    assert not clean_dir.exists()


def test_good_video_results_survive_a_bad_one(bad_videos, demo_video, clean_dir):
    result = run_cli("overlays", str(bad_videos["truncated"]), str(demo_video), "-o", str(clean_dir), "-f", "srt", "-f", "vtt")
    _assert_one_line_error(result)
    assert sorted(p.name for p in clean_dir.iterdir()) == ["demo.json", "demo.srt", "demo.vtt"]
    lines = json.loads((clean_dir / "demo.json").read_text())
    assert lines and {"text", "start", "end", "box", "confidence"} == set(lines[0])
    assert len(parse_cues((clean_dir / "demo.srt").read_text())) == len(lines)
    assert (clean_dir / "demo.vtt").read_text().startswith("WEBVTT")


def test_synth_clip_writes_video_and_truth(tmp_path):
    out = tmp_path / "clip.mp4"
    result = run_cli("synth", "clip", str(out), "--width", "320", "--height", "240", "--duration", "3", "--seed", "5")
    assert result.returncode == 0, result.stderr
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert truth and all(0 <= t["start"] < t["end"] <= 3.0 for t in truth)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.truth.json"]


def test_synth_clip_rejects_other_containers(tmp_path):
    result = run_cli("synth", "clip", str(tmp_path / "clip.avi"))
    _assert_one_line_error(result)
    assert not any(tmp_path.iterdir())


def test_missing_weights_name_the_training_command(tmp_path, demo_video, clean_dir):
    result = run_cli("overlays", str(demo_video), "-o", str(clean_dir), "--weights", str(tmp_path / "none.safetensors"))
    _assert_one_line_error(result)
    assert "none.safetensors" in result.stderr and "reelkit train crnn" in result.stderr
    assert not clean_dir.exists() or not any(clean_dir.iterdir())


def test_fine_tuning_from_unusable_weights_fails_before_writing(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not weights")
    for init in (tmp_path / "missing.safetensors", junk):
        out = tmp_path / "out" / "crnn.safetensors"
        result = run_cli("train", "crnn", "--init", str(init), "--out", str(out), "--samples", "8")
        _assert_one_line_error(result)
        assert not out.parent.exists()


def test_overlays_take_a_word_list_and_refuse_a_bad_one(tmp_path, demo_video, clean_dir):
    missing = run_cli("overlays", str(demo_video), "-o", str(clean_dir), "--words", str(tmp_path / "none.txt"))
    _assert_one_line_error(missing)
    assert "none.txt not found" in missing.stderr and not clean_dir.exists()
    words = tmp_path / "words.txt"
    words.write_text("caterpillar bore\n")
    both = run_cli("overlays", str(demo_video), "-o", str(clean_dir), "--words", str(words), "--no-lexicon")
    _assert_one_line_error(both)
    assert "--no-lexicon" in both.stderr and not clean_dir.exists()
    result = run_cli("overlays", str(demo_video), "-o", str(clean_dir), "--words", str(words))
    assert result.returncode == 0, result.stderr
    assert json.loads((clean_dir / "demo.json").read_text())
    empty = tmp_path / "empty.txt"
    empty.write_text("1234\n")
    for command in ("overlays", "analyze"):
        refused = run_cli(command, str(demo_video), "-o", str(tmp_path / command), "--words", str(empty))
        _assert_one_line_error(refused)
        assert "holds no words" in refused.stderr and not (tmp_path / command).exists()
