"""The overlay pipeline with the shipped detector and recogniser on the bundled example."""

import pytest

from reelkit.text import OverlayExtractor
from reelkit.text.detect import TextBox, box_iou
from reelkit.text.evaluate import cer, score_lines


@pytest.fixture(scope="module")
def extracted(demo_video):
    extractor = OverlayExtractor()
    lines = extractor(demo_video)
    return extractor, lines


def test_finds_every_known_line(extracted, demo_truth):
    _, lines = extracted
    scores = score_lines(demo_truth, lines)
    assert scores.recall == 1.0, [l.text for l in lines]
    assert scores.precision == 1.0, [l.text for l in lines]
    assert scores.mean_cer <= 0.02


def test_lines_are_timed_and_placed(extracted, demo_truth):
    _, lines = extracted
    for truth in demo_truth:
        line = min(lines, key=lambda l: cer(l.text, truth.text))
        # within 1.5 keyframe intervals (0.2 s): a line read one keyframe late is still placed in time
        assert abs(line.start - truth.start) <= 0.3 and abs(line.end - truth.end) <= 0.3, (line, truth)
        assert box_iou(TextBox(*line.box), TextBox(*truth.box)) > 0.4


def test_wrapped_caption_gives_two_entries_and_handle_one(extracted, demo_truth):
    _, lines = extracted
    handle = [l for l in lines if l.text == "@bore_my"]
    assert len(handle) == 1 and handle[0].start == 0.0 and handle[0].end == pytest.approx(8.0)
    two_line = [l for l in lines if l.text in ("that they do what", "they want to do.")]
    assert len(two_line) == 2


def test_ocr_runs_on_few_frames(extracted):
    extractor, _ = extracted
    # 40 keyframes in 8 s; the detector looks at the whole frame only at changes and refreshes.
    assert extractor.stats["keyframes"] == 40
    assert extractor.stats["detections"] <= 12
