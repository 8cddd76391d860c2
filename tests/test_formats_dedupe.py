import pytest

from reelkit.errors import OutputError, TextError
from reelkit.text import LineFilter, TimedLine, from_json, parse_cues, to_json, to_srt, to_vtt, write_results
from reelkit.text.evaluate import score_lines

LINES = [
    TimedLine("Hello, world!", 0.5, 2.25, [10, 20, 200, 50], 0.98),
    TimedLine("second line <b>", 0.5, 2.25, [12, 60, 190, 90], 0.91),
    TimedLine("@handle", 0.0, 3661.007, [5, 5, 80, 20], 0.99),
]


def test_json_round_trip():
    assert from_json(to_json(LINES)) == LINES


def test_json_rejects_other_files():
    with pytest.raises(TextError):
        from_json('{"not": "a list of lines"}')


@pytest.mark.parametrize("writer", [to_srt, to_vtt])
def test_subtitle_round_trip(writer):
    cues = parse_cues(writer(LINES))
    expected = sorted(((l.start, l.end, l.text) for l in LINES), key=lambda c: c[0])
    assert [(pytest.approx(a, abs=1e-3), pytest.approx(b, abs=1e-3), t) for a, b, t in expected] == cues


def test_srt_and_vtt_syntax():
    srt, vtt = to_srt(LINES), to_vtt(LINES)
    assert srt.startswith("1\n00:00:00,000 --> 01:01:01,007\n@handle\n")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 01:01:01.007\n@handle\n")


def test_write_results_is_atomic_and_complete(tmp_path):
    written = write_results(LINES, tmp_path / "clip", {"json", "srt", "vtt"})
    assert [p.name for p in written] == ["clip.json", "clip.srt", "clip.vtt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.json", "clip.srt", "clip.vtt"]


def test_write_results_into_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(OutputError):
        write_results(LINES, tmp_path / "missing" / "clip", {"json"})


def test_filter_merges_repeats_across_keyframes():
    pieces = [
        TimedLine("Follow for more", 0.0, 1.0, [10, 10, 100, 30], 0.9),
        TimedLine("Follow for mare", 1.2, 2.0, [11, 10, 101, 30], 0.6),  # a misread on one keyframe
        TimedLine("Follow for more", 2.1, 5.0, [10, 11, 100, 31], 0.95),
    ]
    merged = LineFilter()(pieces)
    assert len(merged) == 1
    assert (merged[0].text, merged[0].start, merged[0].end) == ("Follow for more", 0.0, 5.0)


def test_filter_merges_readings_that_differ_in_punctuation():
    title = [TimedLine("pout lery", 0.0, 2.1, [10, 10, 100, 30], 0.83),  # the 40-clip benchmark's title
             TimedLine("!pout !cry", 2.1, 7.4, [10, 10, 100, 30], 0.76)]
    assert [(l.text, l.start, l.end) for l in LineFilter()(title)] == [("!pout !cry", 0.0, 7.4)]
    then = [TimedLine("Wait for it...", 0.0, 2.0, [10, 10, 100, 30], 0.9), TimedLine("Now!", 2.0, 4.0, [10, 10, 100, 30], 0.9)]
    assert len(LineFilter()(then)) == 2
    marks = [TimedLine("!!!", 0.0, 2.0, [10, 10, 100, 30], 0.9), TimedLine("???", 2.0, 4.0, [10, 10, 100, 30], 0.9)]
    assert len(LineFilter()(marks)) == 2


def test_filter_keeps_same_text_far_apart_in_time():
    pieces = [TimedLine("Wait for it", 0.0, 1.0, [0, 0, 50, 10], 0.9), TimedLine("Wait for it", 5.0, 6.0, [0, 0, 50, 10], 0.9)]
    assert len(LineFilter()(pieces)) == 2


def test_filter_drops_overlapping_fragment():
    lines = [
        TimedLine("the best pizza in town", 1.0, 3.0, [10, 100, 400, 140], 0.95),
        TimedLine("pizza in town", 1.2, 2.8, [200, 100, 400, 140], 0.9),
        TimedLine("pizza in town", 1.2, 2.8, [200, 300, 400, 340], 0.9),  # elsewhere on screen: kept
    ]
    kept = LineFilter()(lines)
    assert [(l.text, l.box[1]) for l in kept] == [("the best pizza in town", 100), ("pizza in town", 300)]


def test_scoring_is_one_to_one():
    truth = [TimedLine("Big news today", 0.0, 2.0, [0, 0, 1, 1], 1.0)]
    repeated = [TimedLine("Big news today", 0.0, 1.0, [0, 0, 1, 1], 1.0), TimedLine("BIG NEWS TODAY", 1.0, 2.0, [0, 0, 1, 1], 1.0)]
    scores = score_lines(truth, repeated)
    assert (scores.recall, scores.precision, scores.mean_cer) == (1.0, 0.5, 0.0)
    assert score_lines(truth, [TimedLine("Big nevvs tod", 0.0, 2.0, [0, 0, 1, 1], 1.0)]).recall == 0.0
    assert score_lines(truth, [TimedLine("Big news today", 3.0, 4.0, [0, 0, 1, 1], 1.0)]).recall == 0.0
