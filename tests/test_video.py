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
    import cv2
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
    shrunk = next(iter(VideoReader(path, max_side=32)))  # read at half size, still upright
    assert (shrunk.width, shrunk.height) == (16, 32)
    assert np.abs(shrunk.rgb().astype(int) - half).mean() < 2 and shrunk.gray().shape == (32, 16)
    assert np.abs(shrunk.gray().astype(int) - cv2.resize(luma, (16, 32), interpolation=cv2.INTER_AREA)).max() <= 1


def _rgb_to_xyz(primaries: list[tuple[float, float]], white: tuple[float, float] = (0.3127, 0.3290)):
    import numpy as np

    def xyz(x, y):
        return np.array([x / y, 1.0, (1 - x - y) / y])

    columns = np.stack([xyz(*p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, xyz(*white))


def test_hdr_transfer_functions_meet_the_itu_anchors():
    import numpy as np

    from reelkit.video import hdr

    assert hdr.pq_eotf(np.array(1.0)) == pytest.approx(10000)
    nits = np.array([0.01, 1.0, 100.0, 203.0, 1000.0, 4000.0])
    assert hdr.pq_eotf(hdr.pq_inverse_eotf(nits)) == pytest.approx(nits, rel=1e-6)
    assert hdr.pq_inverse_eotf(203.0) == pytest.approx(0.58, abs=0.005)  # BT.2408: reference white is PQ 58 %
    signal = np.linspace(0, 1, 11)
    assert hdr.hlg_oetf(hdr.hlg_inverse_oetf(signal)) == pytest.approx(signal, abs=1e-7)  # the constants have 8 digits
    assert hdr.hlg_inverse_oetf(0.5) == pytest.approx(1 / 12)
    # BT.2408: HLG reference white, 75 % signal, is 203 nits on a 1000-nit display (a grey's Y_S is its E).
    assert 1000 * hdr.hlg_inverse_oetf(0.75) ** hdr.hlg_system_gamma(1000) == pytest.approx(203, abs=1)
    bt709 = _rgb_to_xyz([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)])
    bt2020 = _rgb_to_xyz([(0.708, 0.292), (0.170, 0.797), (0.131, 0.046)])
    assert hdr.BT2020_TO_BT709 == pytest.approx(np.linalg.inv(bt709) @ bt2020, abs=2e-4)
    light = np.array([1.0, 50.0, 80.0, 203.0, 500.0, 1000.0])
    mapped = hdr.bt2390_eetf(light, 1000, 203)
    assert mapped[:3] == pytest.approx(light[:3], rel=1e-6)  # shadows and mid-tones pass unchanged
    assert mapped[-1] == pytest.approx(203, rel=1e-6) and np.all(np.diff(mapped) > 0)


@pytest.mark.parametrize("transfer", ["hlg", "pq"])
def test_hdr_video_is_read_tone_mapped_to_sdr(tmp_path, transfer):
    import cv2
    import numpy as np
    from skimage import data

    from reelkit.video.encode import write_h264, write_hdr

    picture = np.ascontiguousarray(data.astronaut()[::4, ::4])
    picture[:16, :16] = (255, 255, 255)
    picture[:16, 16:32] = (200, 30, 30)
    write_h264(tmp_path / "sdr.mp4", [picture] * 2, fps=5, crf=10)
    write_hdr(tmp_path / "hdr.mp4", [picture] * 2, fps=5, transfer=transfer, crf=10)
    assert probe(tmp_path / "hdr.mp4").hdr == transfer and probe(tmp_path / "sdr.mp4").hdr is None
    frame = next(iter(VideoReader(tmp_path / "hdr.mp4")))
    sdr_frame = next(iter(VideoReader(tmp_path / "sdr.mp4")))
    rgb, sdr = frame.rgb(), sdr_frame.rgb().astype(int)
    assert rgb.dtype == np.uint8 and rgb.shape == picture.shape
    # Read as SDR, the HDR pixels look flat and dim; tone-mapped, they are the SDR video's, except that the
    # highlights (the white suit) roll off a little.
    assert np.abs(frame.frame.to_ndarray(format="rgb24").astype(int) - sdr).mean() > 15
    below_knee = picture.max(axis=2) < 170
    assert np.abs(rgb.astype(int) - sdr)[below_knee].mean() < 4 and np.abs(rgb.astype(int) - sdr).mean() < 7
    assert rgb[:16, :16].mean() > 220 and rgb[4:12, 20:28].mean(axis=(0, 1)) == pytest.approx((200, 30, 30), abs=12)
    assert np.abs(frame.gray().astype(int) - sdr_frame.gray()).mean() < 3
    half = frame.resized(64, 64, "bgr24")  # scaled in HDR, then tone-mapped: as the full picture, shrunk
    assert np.abs(half[..., ::-1].astype(int) - cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)).mean() < 4
    assert np.abs(frame.small_bgr(2).astype(int) - half).mean() < 1


def test_pq_highlights_roll_off_below_the_peak_the_stream_declares(tmp_path):
    import av
    import numpy as np

    from reelkit.video import hdr

    nits = np.array([20.0, 300.0, 1000.0, 2000.0, 4000.0])
    grey = np.repeat((hdr.pq_inverse_eotf(nits) * 65535).round().astype(np.uint16)[None, :, None], 3, axis=2)
    for_1000 = hdr.ToneMapper("pq", peak_nits=1000).rgb(grey)[0, :, 0]
    for_4000 = hdr.ToneMapper("pq", peak_nits=4000).rgb(grey)[0, :, 0]
    assert list(for_1000[2:]) == [255, 255, 255]  # mapped for 1000 nits, 2000 and 4000 clip to white
    assert np.all(np.diff(for_4000.astype(int)) > 0) and for_4000[-1] == 255
    assert for_4000[0] == for_1000[0]  # in the shadows, below both knees, the peak changes nothing

    # HDR10 carries its peak as MaxCLL and the mastering display's luminance; the reader uses it.
    path = tmp_path / "hdr10.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx265", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p10le"
        # No B-frames (as in reelkit.video.encode.write_hdr): with them, PyAV 18.1 hands libx265's last packets to
        # the muxer with an unset DTS now and then, and the MP4 muxer refuses them ("not yet implemented").
        stream.options = {"preset": "ultrafast", "x265-params": "log-level=error:bframes=0:colorprim=bt2020:"
                          "transfer=smpte2084:colormatrix=bt2020nc:max-cll=4000,400:master-display=G(13250,34500)"
                          "B(7500,3000)R(34000,16000)WP(15635,16450)L(40000000,50)"}
        for index in range(2):
            picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 30000, np.uint16), format="rgb48le")
            picture = picture.reformat(format="yuv420p10le")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    frame = next(iter(VideoReader(path)))
    assert hdr.tone_mapper_for(frame.frame).peak_nits == 4000 and frame.rgb().dtype == np.uint8


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file"),
    ("directory", "is a folder"),
    ("not_a_video", "not a readable video.*corrupt or truncated"),
    ("text_file", "a .txt file is not a video format"),
    ("empty", "empty file"),
    ("truncated", "truncated"),
    ("cut_midway", "truncated: frames stop at 4.1s of a declared 8.0s"),
    ("unsupported_codec", "unsupported video codec"),
    ("audio_with_cover", "no video stream, only a cover picture"),
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


def _read_in_threads(readers, stop_after=None):
    """Each reader consumed in its own thread: {reader index: [(index, time, shape)] or the exception raised}."""
    import threading

    results = {}

    def consume(number, reader):
        seen = []
        try:
            for frame in reader:
                seen.append((frame.index, frame.time, frame.gray().shape))
                if stop_after is not None and number == 0 and len(seen) == stop_after:
                    reader.detach()
                    break
            results[number] = seen
        except Exception as error:  # noqa: BLE001 - the test looks at it
            results[number] = error

    threads = [threading.Thread(target=consume, args=(n, r)) for n, r in enumerate(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a reader of the shared decode hangs"
    return results


def test_a_shared_decode_gives_every_reader_every_frame_at_its_own_size(demo_video):
    from reelkit.video.shared import SharedDecode

    expected = [(f.index, f.time) for f in VideoReader(demo_video)]
    decode = SharedDecode(demo_video, ahead=2)
    full, shrunk = decode.reader(), decode.reader(max_side=480)
    results = _read_in_threads([full, shrunk])
    assert [(i, t) for i, t, _ in results[0]] == [(i, t) for i, t, _ in results[1]] == expected
    assert {shape for _, _, shape in results[0]} == {(960, 540)} and {shape for _, _, shape in results[1]} == {(480, 270)}
    assert shrunk.to_video_scale == (2.0, 2.0) and full.info == shrunk.info
    with pytest.raises(RuntimeError, match="before it starts"):
        decode.reader()


def test_shared_frames_match_a_plain_read(demo_video):
    """Each reader scales through its own scaler (the av frame's own is not thread-safe): the pixels are the same."""
    import numpy as np

    from reelkit.video.shared import SharedDecode

    plain = {f.index: f.rgb() for f in VideoReader(demo_video, max_side=480) if f.index % 40 == 0}
    decode = SharedDecode(demo_video)
    readers = [decode.reader(max_side=480), decode.reader(max_side=480)]
    pictures = [{}, {}]

    def consume(number):
        for frame in readers[number]:
            if frame.index % 40 == 0:
                pictures[number][frame.index] = frame.rgb()

    import threading

    threads = [threading.Thread(target=consume, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for read in pictures:
        assert read.keys() == plain.keys()
        assert all(np.array_equal(read[i], plain[i]) for i in plain)


def test_a_reader_that_stops_early_does_not_hold_the_others_back(demo_video):
    from reelkit.video.shared import SharedDecode

    decode = SharedDecode(demo_video, ahead=2)
    results = _read_in_threads([decode.reader(), decode.reader()], stop_after=5)
    assert len(results[0]) == 5 and len(results[1]) == 240


def test_a_damaged_video_fails_every_reader_and_close_stops_them(bad_videos, demo_video):
    from reelkit.video.shared import DecodeStopped, SharedDecode

    decode = SharedDecode(bad_videos["cut_midway"])
    results = _read_in_threads([decode.reader(), decode.reader(max_side=200)])
    assert all(isinstance(r, VideoError) and "truncated" in str(r) for r in results.values())

    decode = SharedDecode(demo_video, ahead=2)
    first, second = decode.reader(), decode.reader()
    frames = iter(first)
    next(frames)
    decode.close()  # as when another reader fails: the rest stop instead of waiting for frames
    with pytest.raises(DecodeStopped):
        for _ in second:
            pass


def test_threads_reading_one_hdr_frame_get_the_same_pixels(tmp_path):
    """PyAV's reformat rewrites the source frame's colour tags while it scales and restores them after; readers of
    a shared decode in two threads must not see (or keep) the rewritten tags, which read HLG as SDR."""
    import threading
    from dataclasses import replace

    import numpy as np
    from av.video.reformatter import VideoReformatter
    from skimage import data

    from reelkit.video.encode import write_hdr

    write_hdr(tmp_path / "hlg.mp4", [np.ascontiguousarray(data.astronaut()[::2, ::2])] * 2, fps=5, transfer="hlg", crf=20)
    frame = next(iter(VideoReader(tmp_path / "hlg.mp4")))
    expected = {"rgb": frame.rgb(), "resized": frame.resized(128, 128), "gray": frame.gray()}
    wrong = []

    def read(copy):
        for _ in range(40):
            got = {"rgb": copy.rgb(), "resized": copy.resized(128, 128), "gray": copy.gray()}
            wrong.extend(name for name in got if not np.array_equal(got[name], expected[name]))

    copies = [replace(frame, reformatter=VideoReformatter()) for _ in range(2)]
    threads = [threading.Thread(target=read, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong and frame.frame.color_trc == 18  # still tagged HLG (ARIB STD-B67)


def test_a_stream_whose_size_changes_midway_is_read_at_its_first_size(size_change_video):
    """Clips joined without re-encoding change the picture size midway; analysers need one geometry, so the later
    frames are fitted into the first size between black bars (before, every command failed with a traceback)."""
    import cv2
    import numpy as np

    frames = list(VideoReader(size_change_video))
    assert len(frames) == 120 and {(f.frame.width, f.frame.height) for f in frames} == {(640, 360), (360, 640)}
    assert {f.rgb().shape for f in frames} == {f.gray().shape + (3,) for f in frames} == {(360, 640, 3)}
    assert {f.resized(160, 90, "bgr24").shape for f in frames} == {(90, 160, 3)}
    later = frames[100]
    rgb = later.rgb()
    # 360x640 fitted into 640x360: 202 px wide in the middle, black on both sides.
    assert rgb[:, :200].max() == 0 and rgb[:, -200:].max() == 0 and rgb[:, 230:410].std() > 20
    picture = later.frame.to_ndarray(format="rgb24")
    expected = cv2.resize(picture, (202, 360), interpolation=cv2.INTER_AREA)
    assert np.abs(rgb[:, 219:421].astype(int) - expected).mean() < 3
    shrunk = list(VideoReader(size_change_video, max_side=320))
    assert {f.rgb().shape for f in shrunk} == {(180, 320, 3)}
