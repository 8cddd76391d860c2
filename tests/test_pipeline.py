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


def test_phone_video_stored_sideways_reads_the_same_lines(demo_video, demo_truth, tmp_path):
    from reelkit.video import VideoReader
    from reelkit.video.encode import write_h264

    # The bundled example stored as a phone stores portrait video: landscape pixels, turned by the display matrix.
    sideways = tmp_path / "sideways.mp4"
    write_h264(sideways, (frame.rgb() for frame in VideoReader(demo_video)), fps=30, crf=18, rotation=270)
    lines = OverlayExtractor()(sideways)
    scores = score_lines(demo_truth, lines)
    assert scores.recall == 1.0 and scores.precision == 1.0, [l.text for l in lines]
    assert scores.mean_cer <= 0.02


def test_hdr_phone_video_reads_the_same_lines(demo_video, demo_truth, tmp_path):
    from reelkit.video import VideoReader
    from reelkit.video.encode import write_hdr

    # The bundled example as a phone records by default: HEVC, 10-bit, HLG, BT.2020 primaries.
    hdr = tmp_path / "hlg.mp4"
    write_hdr(hdr, (frame.rgb() for frame in VideoReader(demo_video)), fps=30, transfer="hlg", crf=18)
    lines = OverlayExtractor()(hdr)
    # One character in eight: the small handle's "@" comes back as "a" from this copy (as from an AV1 one).
    scores = score_lines(demo_truth, lines, max_cer=0.125)
    assert scores.recall == 1.0 and scores.precision == 1.0, [l.text for l in lines]
    assert scores.mean_cer <= 0.03


def test_video_larger_than_the_working_size_is_read_shrunk_with_boxes_in_its_own_pixels(demo_video, demo_truth,
                                                                                      tmp_path):
    import cv2

    from reelkit.text import ExtractorConfig
    from reelkit.video import VideoReader
    from reelkit.video.encode import write_h264

    # The example at twice its size, read with a working size of its own: the same lines, boxes twice as large.
    large = tmp_path / "large.mp4"
    write_h264(large, (cv2.resize(frame.rgb(), (1080, 1920), interpolation=cv2.INTER_CUBIC)
                       for frame in VideoReader(demo_video)), fps=30, crf=18)
    extractor = OverlayExtractor(config=ExtractorConfig(max_side=960))
    lines = extractor(large)
    scores = score_lines(demo_truth, lines)
    assert scores.recall == 1.0 and scores.precision == 1.0, [l.text for l in lines]
    for truth in demo_truth:
        line = min(lines, key=lambda l: cer(l.text, truth.text))
        doubled = TextBox(*(2 * v for v in truth.box))
        assert box_iou(TextBox(*line.box), doubled) > 0.4, (line.box, truth.box)


def test_wrapped_caption_gives_two_entries_and_handle_one(extracted, demo_truth):
    _, lines = extracted
    handle = [l for l in lines if l.text == "@bore_my"]
    assert len(handle) == 1 and handle[0].start == 0.0 and handle[0].end == pytest.approx(8.0)
    two_line = [l for l in lines if l.text in ("that they do what", "they want to do.")]
    assert len(two_line) == 2


def test_ocr_runs_on_few_frames(extracted):
    extractor, _ = extracted
    # 40 keyframes in 8 s; the detector looks at the whole frame only at changes and when the probe sees
    # text where no known line is.
    assert extractor.stats["keyframes"] == 40
    assert extractor.stats["detections"] <= 8
    assert extractor.stats["probes"] >= 1


def test_without_a_probe_every_look_is_a_full_detection(demo_video, extracted):
    from reelkit.text import ExtractorConfig

    probed, probed_lines = extracted
    extractor = OverlayExtractor(detector=probed.detector, recognizer=probed.recognizer,
                                 config=ExtractorConfig(probe_side=0))
    assert extractor.probe is None
    lines = extractor(demo_video)
    assert extractor.stats["probes"] == 0
    assert extractor.stats["detections"] > probed.stats["detections"]
    # the same lines at the same times; other frames read may flip a character of the held-out font
    assert sorted((l.start, l.end) for l in lines) == sorted((l.start, l.end) for l in probed_lines)
    for line in lines:
        assert min(cer(line.text, p.text) for p in probed_lines) <= 0.15


def test_probe_calls_text_new_only_outside_the_known_lines():
    import numpy as np

    from reelkit.text.pipeline import _Track

    caption = TextBox(100, 600, 500, 640)
    found: list[TextBox] = []
    extractor = OverlayExtractor(detector=lambda rgb: [], recognizer=lambda crops: [], probe=lambda rgb: found)
    extractor.stats = {"probes": 0}
    active = [_Track(caption, 0.0, 0.0, -1.0)]
    frame = np.zeros((720, 1280, 3), np.uint8)
    found[:] = [TextBox(92, 594, 510, 650)]  # the known caption, as the coarse probe boxes it
    assert not extractor._new_text(frame, active)
    found[:] = [TextBox(92, 594, 510, 650), TextBox(120, 660, 480, 700)]  # a second caption line below it
    assert extractor._new_text(frame, active)
    found[:] = [TextBox(90, 590, 510, 700)]  # both lines merged into one coarse box
    assert extractor._new_text(frame, active)
    assert not extractor._new_text(frame, active + [_Track(TextBox(120, 660, 480, 700), 0.0, 0.0, -1.0)])
    assert extractor.stats["probes"] == 4


def test_detector_input_matches_rapidocr_preprocessing(demo_video):
    import numpy as np
    from rapidocr.ch_ppocr_det.utils import DetPreProcess

    from reelkit.text import PPOCRDetector
    from reelkit.video import VideoReader

    frame = next(iter(VideoReader(demo_video))).rgb()
    detector = PPOCRDetector(max_side=640)
    expected = DetPreProcess(640, "max")(np.ascontiguousarray(frame[..., ::-1]))  # rapidocr takes BGR
    np.testing.assert_allclose(detector.network_input(frame), expected, atol=1e-6)
    small = detector.at_side(320)
    assert small.network_input(frame).shape[2:] == DetPreProcess(320, "max")(frame).shape[2:]
    assert small._network is detector._network


def test_change_check_learns_the_overlay_pixels_under_a_panning_background():
    import numpy as np

    from reelkit.text.pipeline import ExtractorConfig, _Track

    config = ExtractorConfig()
    rng = np.random.default_rng(0)
    texture = (rng.random((60, 400)) * 255).astype(np.uint8)
    glyphs = np.zeros((40, 200), bool)
    glyphs[10:30, 20:180:7] = True  # vertical strokes of a static caption

    def frame(shift: int, caption: np.ndarray = glyphs) -> np.ndarray:
        gray = np.roll(texture, shift, axis=1)[:, :300].copy()  # the background pans one pixel a frame
        gray[10:50, 50:250][caption] = 255
        return gray

    track = _Track(TextBox(50, 10, 250, 50), 0.0, 0.0, -1.0)
    track.confirm(frame(0), config, same_line=False)
    assert track.changed(frame(3), config)  # the whole box moved: a re-read is due
    for shift in (3, 6, 9, 12):  # re-reads confirm the same line: only the caption's own pixels stay watched
        track.confirm(frame(shift), config, same_line=True)
    assert track.stable.mean() == pytest.approx(glyphs.mean(), abs=0.01)
    assert not track.changed(frame(15), config)  # the pan alone no longer costs a re-read
    new_caption = np.zeros_like(glyphs)
    new_caption[10:30, 23:180:9] = True
    assert track.changed(frame(18, new_caption), config)  # a different caption in the same box does


def test_line_pieces_on_one_row_are_joined_and_rows_stay_apart():
    from reelkit.text.detect import merge_line_pieces

    dash, name = TextBox(100, 500, 140, 540), TextBox(175, 502, 300, 541)  # "--" and "F. M.", 35 px apart
    below = TextBox(100, 560, 300, 600)  # the next line of a wrapped caption
    far = TextBox(600, 500, 700, 540)  # another phrase across the frame
    merged = merge_line_pieces([name, below, dash, far])
    assert TextBox(100, 500, 300, 541) in merged
    assert below in merged and far in merged and len(merged) == 3


def test_a_reading_that_stood_longer_outvotes_frequent_rereads():
    from reelkit.text.pipeline import _Track
    from reelkit.text.recognize import Reading

    track = _Track(TextBox(0, 0, 100, 30), 0.0, 0.0, -1.0)
    track.add(Reading("@bore_my", 0.95), 0.0)  # calm background: read once, unchanged for 4 s
    for step in range(5):  # busy background: re-read at every keyframe, misread each time
        track.add(Reading("abore_my", 0.9), 4.0 + 0.2 * step)
    track.last_seen = 5.0
    assert track.text == "@bore_my"
    track.add(Reading("abore_my", 0.9), 5.0)
    track.last_seen = 10.0  # ... until the misreading has stood longer
    assert track.text == "abore_my"


def test_a_line_that_vanishes_ends_without_a_full_detection(tmp_path):
    """A caption shown for 1 s over a still background, then gone: the re-read that no longer finds text
    and a probe that sees none elsewhere end the line; the detector ran only on the first keyframe."""
    import numpy as np

    from reelkit.text.recognize import Reading
    from reelkit.video.encode import write_h264

    frames = []
    for index in range(40):  # 2 s at 20 fps
        frame = np.full((240, 320, 3), 40, np.uint8)
        if index < 20:
            frame[100:140, 60:260] = 230
        frames.append(frame)
    video = tmp_path / "caption.mp4"
    write_h264(video, frames, fps=20)

    def bright_boxes(rgb):
        rows, cols = np.nonzero(rgb[..., 0] > 128)
        return [TextBox(int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)] if rows.size else []

    def read(crops):
        return [Reading("caption", 0.99) if crop.mean() > 128 else Reading("", 0.0) for crop in crops]

    calls = {"detector": 0}

    def detector(rgb):
        calls["detector"] += 1
        return bright_boxes(rgb)

    extractor = OverlayExtractor(detector=detector, recognizer=read, probe=bright_boxes)
    lines = extractor(video)
    assert [line.text for line in lines] == ["caption"]
    assert lines[0].start == 0.0 and lines[0].end == pytest.approx(1.0, abs=0.11)
    assert calls["detector"] == extractor.stats["detections"] == 1
    assert extractor.stats["probes"] >= 1


def test_detection_in_a_band_of_rows_finds_the_whole_frame_boxes_inside_it(demo_video):
    from reelkit.text import PPOCRDetector
    from reelkit.video import VideoReader

    frame = next(f for f in VideoReader(demo_video) if f.time >= 3.0).rgb()  # a two-line caption and the handle
    detector = PPOCRDetector()
    whole = detector(frame)
    captions = [b for b in whole if b.y0 > frame.shape[0] // 2]
    assert len(captions) == 2
    top, bottom = min(b.y0 for b in captions) - 20, max(b.y1 for b in captions)
    banded = detector.detect_rows(frame, top, bottom)
    assert len(banded) == 2 and all(b.y0 > frame.shape[0] // 2 for b in banded)  # the handle at the top is outside
    for box in captions:
        assert max(box_iou(box, b) for b in banded) > 0.9
