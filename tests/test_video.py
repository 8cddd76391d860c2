import pytest

from reelkit.errors import VideoError
from reelkit.video import KeyframeSampler, VideoReader, probe


def test_probe_bundled_example(demo_video):
    info = probe(demo_video)
    assert (info.width, info.height) == (540, 960)
    assert info.fps == pytest.approx(30)
    assert info.duration == pytest.approx(8.0, abs=0.05)
    assert info.codec == "h264"


def test_decode_every_frame_in_order(demo_video):
    frames = list(VideoReader(demo_video))
    assert len(frames) == 240
    times = [f.time for f in frames]
    assert times == sorted(times) and times[0] == pytest.approx(0.0)
    rgb = frames[100].rgb()
    assert rgb.shape == (960, 540, 3) and rgb.std() > 5  # a real picture, not a blank


def test_keyframes_sample_periodically(demo_video):
    keyframes = list(KeyframeSampler(sample_every=0.5)(VideoReader(demo_video)))
    times = [k.frame.time for k in keyframes]
    assert len(keyframes) == 16
    assert all(0.45 < b - a < 0.55 for a, b in zip(times, times[1:]))
    assert not keyframes[0].shot_cut


def test_shot_cut_found(tmp_path):
    import av
    import numpy as np

    path = tmp_path / "cut.mp4"
    rng = np.random.default_rng(0)
    first, second = rng.integers(0, 255, (2, 64, 96, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for index in range(40):
            image = first if index < 20 else second
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    keyframes = list(KeyframeSampler(sample_every=0.1, scale=1)(VideoReader(path)))
    cuts = [k.frame.time for k in keyframes if k.shot_cut]
    assert cuts == [pytest.approx(2.0)]


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_video_stored_with_a_display_rotation_is_read_upright(tmp_path, rotation):
    import numpy as np

    from reelkit.video.encode import write_h264

    # Phones store portrait video as sensor-oriented pixels plus a display matrix that turns them upright.
    upright = np.zeros((64, 32, 3), np.uint8)
    upright[:16, :16] = 255
    upright[40:, :, 1] = 200
    path = tmp_path / f"rotated{rotation}.mp4"
    write_h264(path, [upright] * 3, fps=5, crf=10, rotation=rotation)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (32, 64, rotation)
    frame = next(iter(VideoReader(path)))
    assert (frame.width, frame.height) == (32, 64)
    assert np.abs(frame.rgb().astype(int) - upright).mean() < 2
    luma = frame.gray()
    assert luma.shape == (64, 32) and luma[:16, :16].mean() > 200 and luma[16:40, 16:].mean() < 30
    half = frame.resized(16, 32)
    assert np.abs(half.astype(int) - upright[::2, ::2]).mean() < 3
    assert frame.small_bgr(2).shape == (32, 16, 3)


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file"),
    ("directory", "is a folder"),
    ("not_a_video", "not a readable video.*corrupt or truncated"),
    ("text_file", "a .txt file is not a video format"),
    ("empty", "empty file"),
    ("truncated", "truncated"),
    ("unsupported_codec", "unsupported video codec"),
])
def test_bad_videos_raise_video_error(bad_videos, kind, message):
    with pytest.raises(VideoError, match=message):
        for _ in VideoReader(bad_videos[kind]):
            pass


def test_prefetch_keeps_order_raises_producer_errors_and_stops_when_closed():
    import threading

    from reelkit.video import prefetch

    assert list(prefetch(range(100), size=3)) == list(range(100))

    def failing():
        yield 1
        raise VideoError("decoding failed after 1 frames")

    items = prefetch(failing())
    assert next(items) == 1
    with pytest.raises(VideoError, match="after 1 frames"):
        next(items)

    closed = threading.Event()

    def endless():
        try:
            while True:
                yield 0
        finally:
            closed.set()

    consumer = prefetch(endless(), size=2)
    next(consumer)
    consumer.close()  # the consumer stops early: the producer thread ends and closes its source
    assert closed.wait(2.0)
