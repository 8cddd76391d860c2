from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from reelkit.errors import FaceError, VideoError, WeightsError
from reelkit.faces.cli import faces_command, train_emotionaldan_command
from reelkit.faces.data import DEFAULT_DIR, mirror, similarity_to, transform_points
from reelkit.faces.detect import (FACE_API_ENV, FaceDetector, FaceLandmarks68, TinyFaceDetector, face_api_dir, pad_to_square,
                                  read_tfjs_weights, shrink_padded_square, tf_resize_bilinear)
from reelkit.faces.models import (BOX_MEAN_SHAPE, CONFIGS, EMOTIONS, MIRROR_68, EmotionalDAN, apply_transform,
                                  best_fit, canonical_shape, combined_loss, interocular_error, inverse_2x2,
                                  landmark_heatmap, warp_image)
from reelkit.faces.pipeline import EmotionAdapter, EmotionalDANPredictor, FaceAnalyzer

# face-api 1.7.15 itself (its Node.js build on the pure-JS TensorFlow.js CPU backend, @tensorflow/tfjs 4.22.0),
# run on skimage.data.astronaut(): the detection and landmarks the PyTorch port must reproduce.
ASTRONAUT_BOX = (163.2525, 75.6603, 279.2900, 186.6437)  # x0, y0, x1, y1
ASTRONAUT_SCORE = 0.975471
ASTRONAUT_LANDMARKS = {8: (58.350, 102.544), 30: (60.069, 52.387), 36: (32.229, 24.746), 45: (90.557, 28.685),
                       48: (38.871, 65.941), 54: (82.123, 67.390)}  # in pixels of the floored box crop
ASTRONAUT_LANDMARKS_TINY = {8: (57.834, 102.128), 30: (60.518, 51.639), 36: (32.878, 24.595),
                            45: (91.591, 28.646), 48: (37.269, 63.556), 54: (81.870, 66.339)}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def tiny() -> EmotionalDAN:
    torch.manual_seed(0)
    return EmotionalDAN(CONFIGS["emotionaldan_tiny"])


# --- EmotionalDAN ------------------------------------------------------------------------------------


def test_stage_shapes(tiny):
    size = tiny.config.image_size
    output = tiny.eval()(torch.rand(3, 1, size, size) * 255, keep_inputs=True)
    assert len(output.landmarks) == tiny.config.stages == 2
    assert all(points.shape == (3, 68, 2) for points in output.landmarks)
    assert output.logits.shape == (3, len(EMOTIONS))
    assert output.inputs[0].shape == (3, 3, size, size)  # warped image, heat map, feature image
    feature = output.inputs[0][:, 2]
    assert torch.equal(feature[:, 0::2, 0::2], feature[:, 1::2, 1::2])  # 2x nearest upscaling of the 24x24 map
    # an untrained model starts from the mean shape: fc2 is initialised to zero
    assert torch.allclose(output.landmarks[0], tiny.mean_shape.expand(3, 68, 2), atol=1e-5)
    first = tiny(torch.rand(3, 1, size, size) * 255, stages=1)  # what training stage 1 runs
    assert len(first.landmarks) == 1 and first.inputs == []


def test_canonical_transform_and_inverse():
    rng = np.random.default_rng(1)
    canonical = torch.from_numpy(canonical_shape(BOX_MEAN_SHAPE, 112, 0.25))
    assert math.isclose(float((canonical.max(0).values - canonical.min(0).values).max()), 56.0, rel_tol=1e-5)
    angle, scale, shift = 0.3, 1.7, torch.tensor([[12.0, -5.0]])
    rotation = torch.tensor([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    moved = (canonical @ rotation * scale + shift).unsqueeze(0)  # some face's landmarks
    matrix, t = best_fit(moved, canonical)  # T: landmarks -> canonical shape
    assert torch.allclose(apply_transform(moved, matrix, t), canonical.unsqueeze(0), atol=1e-3)
    noisy = moved + torch.from_numpy(rng.normal(0, 2, moved.shape)).float()
    matrix, t = best_fit(noisy, canonical)
    back = apply_transform(apply_transform(noisy, matrix, t), matrix, t, inverse=True)
    assert torch.allclose(back, noisy, atol=1e-3)
    # the image warp moves pixels as the landmark transform moves points
    image = torch.zeros(1, 1, 40, 40)
    image[0, 0, 10, 25] = 1.0  # a dot at x=25, y=10
    matrix = torch.tensor([[[0.0, 1.0], [-1.0, 0.0]]])  # rotation by 90 degrees (row vectors)
    t = torch.tensor([[[20.0, 5.0]]])  # (25, 10) -> (-10, 25) + (20, 5) = (10, 30)
    warped = warp_image(image, matrix, t)
    x, y = apply_transform(torch.tensor([[[25.0, 10.0]]]), matrix, t)[0, 0].round().long().tolist()
    assert warped[0, 0, y, x] == pytest.approx(1.0, abs=1e-5) and warped.sum() == pytest.approx(1.0, abs=1e-4)
    # cv2's 2x3 form used for crops agrees with the same least-squares similarity
    source = noisy[0].numpy().astype(np.float64)
    cv_matrix = similarity_to(source, canonical.numpy())
    matrix, t = best_fit(noisy, canonical)
    assert np.allclose(transform_points(source, cv_matrix), apply_transform(noisy, matrix, t)[0].numpy(), atol=1e-3)


def test_onnxruntime_and_torch_predictors_agree(astronaut):
    predictor = EmotionalDANPredictor.from_name()
    reference = EmotionalDANPredictor(predictor.model, runtime="torch")
    assert predictor._session is not None and reference._session is None
    with pytest.raises(ValueError, match="runtime must be one of"):
        EmotionalDANPredictor(predictor.model, runtime="onnx")
    boxes = [(170.0, 40.0, 300.0, 200.0), (150.0, 30.0, 320.0, 220.0)]  # two faces: one session run each
    fast, slow = predictor(astronaut, boxes), reference(astronaut, boxes)
    for a, b in zip(fast, slow):
        assert np.abs(a["landmarks"] - b["landmarks"]).max() < 1e-3
        assert max(abs(a["emotion"][e] - b["emotion"][e]) for e in EMOTIONS) < 1e-4


def test_closed_form_inverse_matches_linalg():
    matrices = torch.randn(5, 2, 2, dtype=torch.float64) + 2 * torch.eye(2, dtype=torch.float64)
    assert torch.allclose(inverse_2x2(matrices), torch.linalg.inv(matrices))


def test_heatmap_matches_the_equation():
    points = torch.tensor([[[3.0, 4.0], [10.5, 2.25], [0.0, 11.0]]])
    heatmap = landmark_heatmap(points, 12)
    assert heatmap.shape == (1, 1, 12, 12)
    ys, xs = np.mgrid[0:12, 0:12]
    nearest = np.min([np.hypot(xs - px, ys - py) for px, py in points[0].tolist()], axis=0)
    assert np.allclose(heatmap[0, 0].numpy(), 1 / (1 + nearest), atol=1e-6)
    assert heatmap[0, 0, 4, 3] == 1.0 and heatmap[0, 0, 11, 0] == 1.0  # row y, column x
    assert heatmap[0, 0, 4, 6] == pytest.approx(1 / 4)  # three pixels right of (3, 4)


def test_combined_loss_against_hand_computation():
    target = torch.zeros(2, 68, 2)
    target[:, 36:42] = torch.tensor([10.0, 20.0])  # eye centres 30 px apart
    target[:, 42:48] = torch.tensor([40.0, 20.0])
    predicted = target + torch.tensor([3.0, 4.0])  # every point 5 px off
    predicted[1] = target[1]  # the second face exact
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 5])
    assert torch.allclose(interocular_error(predicted, target), torch.tensor([5 / 30, 0.0]))
    ce = [-(2 - math.log(math.exp(2) + 7)), -(0 - math.log(math.e + 7))]
    total, landmark_term, emotion_term = combined_loss(predicted, target, logits, labels)
    assert landmark_term.item() == pytest.approx((5 / 30 + 0) / 2)
    assert emotion_term.item() == pytest.approx(sum(ce) / 2, rel=1e-5)
    assert total.item() == pytest.approx(0.5 * (5 / 60) + 0.5 * sum(ce) / 2, rel=1e-5)  # EmotionalDAN's Joint_Cost
    weights = torch.ones(8)
    weights[5] = 3.0
    _, masked, weighted = combined_loss(predicted, target, logits, labels, class_weights=weights,
                                        landmark_mask=torch.tensor([0.0, 1.0]))
    assert masked.item() == pytest.approx(0.0)  # the first face is left out of the landmark term
    assert weighted.item() == pytest.approx((ce[0] + 3 * ce[1]) / 4, rel=1e-5)


def test_tiny_config_trains_with_falling_loss():
    torch.manual_seed(0)
    model = EmotionalDAN(CONFIGS["emotionaldan_tiny"])
    size = model.config.image_size
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(16) % len(EMOTIONS)
    images = torch.rand(16, 1, size, size, generator=generator) * 60
    for row, label in enumerate(labels.tolist()):
        images[row, 0, 4 + 5 * label:9 + 5 * label, 10:30] = 250  # a bar whose height tells the emotion
    targets = model.mean_shape + torch.stack([labels.float() - 3.5, torch.zeros(16)], 1)[:, None, :]  # and the shift
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    model.train()
    for _ in range(25):
        output = model(images)
        loss = sum(combined_loss(points, targets, output.logits, labels)[0] for points in output.landmarks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])


def test_mirror_swaps_sides():
    assert sorted(MIRROR_68.tolist()) == list(range(68)) and np.array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    crop = np.zeros((20, 20), np.uint8)
    points = np.zeros((68, 2))
    points[36], points[45] = (3, 5), (15, 5)
    flipped, moved = mirror(crop, points)
    assert tuple(moved[45]) == (16, 5) and tuple(moved[36]) == (4, 5)  # x -> 19 - x, identities swapped


# --- face-api port -----------------------------------------------------------------------------------


def _write_manifest(folder: Path, groups: list[tuple[list[dict], list[bytes]]]) -> Path:
    manifest = []
    for index, (weights, shards) in enumerate(groups):
        paths = []
        for part, data in enumerate(shards):
            name = f"group{index}-shard{part}of{len(shards)}.bin"
            (folder / name).write_bytes(data)
            paths.append(name)
        manifest.append({"paths": paths, "weights": weights})
    path = folder / "small-weights_manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_tfjs_loader_reads_a_small_manifest(tmp_path):
    plain = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    quantised = np.array([0, 1, 255, 128], np.uint8)
    half = np.array([1.5, -2.25], np.float16)
    counts = np.array([7, -3], np.int32)
    data = plain.tobytes() + quantised.tobytes() + half.tobytes()
    path = _write_manifest(tmp_path, [
        ([{"name": "a/filters", "shape": [2, 3], "dtype": "float32"},
          {"name": "a/bias", "shape": [2, 2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
          {"name": "b", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}],
         [data[:13], data[13:]]),  # split across two shards mid-tensor
        ([{"name": "c", "shape": [2], "dtype": "int32"}], [counts.tobytes()]),
    ])
    weights = read_tfjs_weights(path)
    assert np.array_equal(weights["a/filters"], plain)
    assert np.allclose(weights["a/bias"], [[-1.0, -0.5], [126.5, 63.0]])
    assert weights["a/bias"].dtype == np.float32 and np.allclose(weights["b"], [1.5, -2.25])
    assert np.array_equal(weights["c"], counts)
    (tmp_path / "group0-shard1of2.bin").write_bytes(data[13:-2])
    with pytest.raises(WeightsError, match="truncated"):
        read_tfjs_weights(path)
    (tmp_path / "group0-shard1of2.bin").unlink()
    with pytest.raises(WeightsError, match="setup.sh"):
        read_tfjs_weights(path)


def test_missing_face_api_folder_names_the_setup_step(tmp_path, monkeypatch):
    monkeypatch.setenv(FACE_API_ENV, str(tmp_path))
    with pytest.raises(WeightsError, match=r"setup\.sh.*npm pack @vladmandic/face-api@1\.7\.15"):
        face_api_dir()
    with pytest.raises(WeightsError, match="setup.sh"):
        TinyFaceDetector()


def test_tf_bilinear_resize_samples_without_half_pixel_centres():
    x = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 2, 4)
    assert torch.allclose(tf_resize_bilinear(x, 2, 8)[0, 0, 0], torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3, 3]))
    assert torch.allclose(tf_resize_bilinear(x, 2, 2)[0, 0, 0], torch.tensor([0.0, 2.0]))


@pytest.mark.parametrize("shape", [(1, 3, 90, 160), (1, 3, 161, 70), (1, 3, 128, 128)])
def test_shrinking_without_the_padded_square_matches_padding_first(shape):
    x = torch.rand(shape) * 255
    padded_first = tf_resize_bilinear(pad_to_square(x, centre=False), 64, 64)
    assert torch.allclose(shrink_padded_square(x, 64), padded_first, atol=0.01)  # grid rounding, pixels in [0, 255]


def test_port_matches_face_api_on_the_astronaut(astronaut):
    detections = TinyFaceDetector(input_size=416)(astronaut)
    assert len(detections) == 1
    assert np.allclose(detections[0].box, ASTRONAUT_BOX, atol=0.02)
    assert detections[0].score == pytest.approx(ASTRONAUT_SCORE, abs=1e-4)
    for tiny, reference in ((False, ASTRONAUT_LANDMARKS), (True, ASTRONAUT_LANDMARKS_TINY)):
        points = FaceLandmarks68(tiny=tiny)(astronaut, ASTRONAUT_BOX) - np.array(ASTRONAUT_BOX[:2])  # as face-api returns them
        for index, expected in reference.items():
            assert np.allclose(points[index], expected, atol=0.01), (tiny, index)


def test_detector_reframes_tight_portraits(astronaut):
    tight = np.ascontiguousarray(astronaut[90:185, 170:270])  # cropped to the face, as profile pictures are
    assert TinyFaceDetector(input_size=320)(tight) == []
    found = FaceDetector()(tight)
    assert len(found) == 1
    x0, y0, x1, y1 = found[0].box
    assert x0 < 0 and y0 < 0 and x0 < 50 < x1 and y0 < 47 < y1  # the box reaches past the tight crop


class _CountingDetector(TinyFaceDetector):
    """The real tiny detector, recording the input size of every search."""

    def __init__(self, input_size: int) -> None:
        super().__init__(input_size)
        self.sizes: list[int] = []

    def __call__(self, rgb):
        self.sizes.append(self.input_size)
        return super().__call__(rgb)


def test_small_images_are_searched_framed_first_and_context_keeps_the_plain_search(astronaut):
    tiny = _CountingDetector(input_size=416)
    tight = np.ascontiguousarray(astronaut[90:185, 170:270])
    found = FaceDetector(tiny=tiny)(tight)
    assert len(found) == 1 and found[0].width >= 0.5 * 95
    assert 416 not in tiny.sizes  # a tight crop: no plain search at the full input
    # a 400-px picture with the face in context: the face is small, so the plain search runs and finds it
    context = np.ascontiguousarray(astronaut[0:400, 56:456])
    tiny.sizes = []
    found = FaceDetector(tiny=tiny)(context)
    assert 416 in tiny.sizes and len(found) == 1
    assert np.allclose(found[0].box, TinyFaceDetector(input_size=416)(context)[0].box)


# --- pipeline and CLI on the shipped model ------------------------------------------------------------


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


def test_analyzer_on_the_astronaut(analyzer, astronaut):
    faces = analyzer(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert set(face) == {"box", "score", "landmarks", "emotion"}
    assert set(face["emotion"]) == set(EMOTIONS) and sum(face["emotion"].values()) == pytest.approx(1, abs=1e-3)
    points = np.array(face["landmarks"])
    assert points.shape == (68, 2)
    x0, y0, x1, y1 = face["box"]
    assert ((points >= [x0, y0]) & (points <= [x1, y1 + 0.1 * (y1 - y0)])).all()  # the chin may reach below the box
    eyes, nose, mouth = points[36:48, 1].mean(), points[30, 1], points[48:68, 1].mean()
    assert eyes < nose < mouth and points[36:42, 0].mean() < points[30, 0] < points[42:48, 0].mean()
    teacher = torch.from_numpy(FaceLandmarks68()(astronaut, tuple(face["box"]))[None]).float()
    assert interocular_error(torch.from_numpy(points[None]).float(), teacher).item() < 0.16  # near the teacher's


def test_emotion_adapter_plugs_into_the_face_scorer(astronaut):
    from reelkit.thumbnails.candidates import Candidate
    from reelkit.thumbnails.scorers import FaceScorer

    adapter = EmotionAdapter()
    probabilities = adapter(astronaut, (150, 60, 290, 210))
    assert set(probabilities) == set(EMOTIONS) and sum(probabilities.values()) == pytest.approx(1, abs=1e-3)
    score = FaceScorer(emotion=adapter, expressive=("happiness", "surprise"))(Candidate.from_rgb(astronaut))
    assert set(score.details["emotions"]) == set(EMOTIONS)
    # The scorer's box comes from the same detector as the analyser's, so their emotions agree.
    analysed = FaceAnalyzer()(astronaut)[0]["emotion"]
    assert score.details["emotions"] == pytest.approx(analysed, abs=1e-3)


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("faces")(faces_command)
    app.command("train-emotionaldan")(train_emotionaldan_command)
    return app


def test_cli_on_a_photo_and_a_video(tmp_path, astronaut, analyzer):
    from reelkit.video.encode import write_h264

    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut).save(photo)
    video = tmp_path / "clip.mp4"
    frames = [np.ascontiguousarray(np.roll(astronaut, 4 * i, axis=1)[:, :, :]) for i in range(10)]
    write_h264(video, frames, fps=5)
    out = tmp_path / "out"
    result = CliRunner().invoke(_app(), ["faces", str(photo), str(video), "-o", str(out), "--every", "0.5"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    faces = json.loads((out / "astronaut.json").read_text())
    assert len(faces) == 1 and len(faces[0]["landmarks"]) == 68 and set(faces[0]["emotion"]) == set(EMOTIONS)
    assert Image.open(out / "astronaut_faces.jpg").size == (512, 512)
    entries = json.loads((out / "clip.json").read_text())
    assert sorted({e["time"] for e in entries}) == [0.0, 0.4, 0.8, 1.2, 1.6]  # 5 fps; within half a frame of 0.5 s steps
    assert all(len(e["landmarks"]) == 68 for e in entries)
    assert (out / "clip_faces.jpg").is_file()
    assert not list(out.glob(".*"))  # nothing half-written left behind

    # Read at half size, a video's faces are still given in its own pixels.
    from reelkit.faces.cli import video_faces

    full, _ = video_faces(analyzer, video, every=1.0, max_side=0)
    half, _ = video_faces(analyzer, video, every=1.0, max_side=256)
    assert [e["time"] for e in half] == [e["time"] for e in full] and full
    for big, small in zip(full, half):
        assert np.abs(np.subtract(big["box"], small["box"])).max() < 0.06 * 512
        assert np.abs(np.subtract(big["landmarks"], small["landmarks"])).mean() < 0.02 * 512


def test_cli_bad_inputs_fail_in_one_line_before_writing(tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("not an image")
    photo = tmp_path / "photo.cr2"  # a camera's raw format: neither kind of reader takes it
    photo.write_bytes(bytes(range(256)) * 8)
    folder = tmp_path / "photos"
    folder.mkdir()
    empty_video = tmp_path / "empty.mp4"
    empty_video.touch()
    out = tmp_path / "out"
    for bad, error, reason in ((tmp_path / "missing.png", FaceError, "no such image file"),
                               (tmp_path / "nothing.mp4", FaceError, "no such image or video file"),
                               (notes, FaceError, "not an image format"),
                               (photo, FaceError, "neither an image nor a video format"),
                               (folder, FaceError, "is a folder, not an image or video file"),
                               (empty_video, VideoError, "empty file")):
        result = CliRunner().invoke(_app(), ["faces", str(bad), "-o", str(out)])
        assert isinstance(result.exception, error), result.output
        assert "\n" not in str(result.exception) and str(bad) in str(result.exception)
        assert reason in str(result.exception)
    assert not out.exists()
    result = CliRunner().invoke(_app(), ["faces", str(notes), "-o", str(out), "--detector-size", "100"])
    assert isinstance(result.exception, FaceError) and "multiple of 32" in str(result.exception)


def test_shipped_weights_load_by_name():
    from reelkit.registry import create_model, read_metadata, weights_path

    model = create_model("emotionaldan_small", pretrained=True)
    assert isinstance(model, EmotionalDAN) and not model.training
    assert weights_path("emotionaldan_small").stat().st_size < 6_000_000
    assert read_metadata(weights_path("emotionaldan_small"))["emotions"] == list(EMOTIONS)


# --- on the labelled faces (../shared/data) ------------------------------------------------------------

needs_data = pytest.mark.skipif(not (DEFAULT_DIR / "labels.csv").is_file(),
                                reason=f"labelled faces not found at {DEFAULT_DIR} (../shared/data beside the checkout)")


def test_perturbations_move_the_initial_shape_as_a_similarity_and_never_turn_it_over():
    from reelkit.faces.data import perturb

    shape = BOX_MEAN_SHAPE.astype(np.float64) * 100 + 20
    assert np.allclose(perturb(shape, np.random.default_rng(0), 0.0, 0.0, 0.0), shape)
    rng = np.random.default_rng(0)
    centred = shape - shape.mean(0)
    for _ in range(200):  # scale std 0.5: about one draw in 40 would be negative without the floor
        moved = perturb(shape, rng, 0.2, 20.0, 0.5)
        moved_centred = moved - moved.mean(0)
        factor = np.linalg.norm(moved_centred) / np.linalg.norm(centred)
        cross = centred[:, 0] * moved_centred[:, 1] - centred[:, 1] * moved_centred[:, 0]
        dot = (centred * moved_centred).sum(1)
        angle = np.arctan2(cross.sum(), dot.sum())
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        assert factor >= 0.25 - 1e-9 and abs(angle) < np.pi / 2  # a negative scale would turn the face upside down
        assert np.allclose(centred @ rotation.T * factor, moved_centred, atol=1e-6)


@needs_data
@pytest.mark.parametrize("optim", ["adam", "kafisto"])
def test_training_end_to_end_on_a_few_labelled_faces(tmp_path, optim):
    import csv

    rows = list(csv.DictReader((DEFAULT_DIR / "labels.csv").open()))
    chosen = []
    for emotion in EMOTIONS:  # 8 photos of each emotion: enough for the stratified split
        chosen += [r for r in rows if r["emotion"] == emotion][:8]
    data = tmp_path / "faces"
    (data / "images").mkdir(parents=True)
    with (data / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "emotion"])
        for row in chosen:
            (data / "images" / row["image"]).write_bytes((DEFAULT_DIR / "images" / row["image"]).read_bytes())
            writer.writerow([row["image"], row["emotion"]])
    out = tmp_path / "weights" / "tiny.safetensors"
    result = CliRunner().invoke(_app(), ["train-emotionaldan", "--model", "emotionaldan_tiny", "--data", str(data),
                                         "--cache", str(tmp_path / "landmarks.npz"), "--out", str(out),
                                         "--epochs", "1", "--epochs", "1", "--batch-size", "8", "--threads", "1",
                                         "--optim", optim, "--translation", "0.2", "--rotation", "20", "--scale", "0.25"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert out.is_file() and out.with_suffix(".md").is_file() and (out.parent / "tiny_curve.png").is_file()
    assert "perturbations (translation 0.2, rotation 20.0 deg, scale 0.25)" in out.with_suffix(".md").read_text()
    assert (tmp_path / "landmarks.npz").is_file()
    predictor = EmotionalDANPredictor.from_name("emotionaldan_tiny", out)
    rgb = np.asarray(Image.open(data / "images" / chosen[0]["image"]).convert("RGB"))
    result = predictor(rgb, [(0, 0, rgb.shape[1], rgb.shape[0])])
    assert result[0]["landmarks"].shape == (68, 2) and set(result[0]["emotion"]) == set(EMOTIONS)


@needs_data
def test_detector_and_shipped_model_on_labelled_test_photos(analyzer):
    from reelkit.faces.data import load_labels, read_rgb, stratified_split

    dataset = load_labels()
    split = stratified_split(dataset.labels)
    test = [i for i in split.test if EMOTIONS[dataset.labels[i]] in ("happiness", "neutral")][:40]
    found, correct = 0, 0
    for index in test:
        faces = analyzer(read_rgb(dataset.folder / "images" / dataset.names[index]))
        found += bool(faces)
        if faces:
            correct += max(faces[0]["emotion"], key=faces[0]["emotion"].get) == EMOTIONS[dataset.labels[index]]
    assert found >= 36 and correct >= 0.6 * found


def test_a_small_face_in_a_phone_frame_is_found_in_tiles_and_petals_are_not(astronaut, demo_video):
    """A face a seventh of a 9:16 frame's width is too small for the whole-frame search; the square tiles find it.
    The tiles see textures larger too, so each face they find is confirmed in a crop around it: the example's
    dahlia, where unconfirmed tiles found faces, stays faceless."""
    import cv2
    from skimage import data

    from reelkit.faces.detect import FrameFaceFinder, TinyFaceDetector, search_tiles
    from reelkit.video import VideoReader

    background = cv2.resize(data.coffee(), (1280, 720)).transpose(1, 0, 2)[:, ::-1]  # a 720x1280 portrait frame
    frame = np.ascontiguousarray(background)
    face_height, face_top = 186.6 - 75.7, 75.7  # the astronaut's face box: FaceDetector on the photo
    scale = 0.14 * 720 / face_height
    person = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x, y = 300, 900
    frame[y:y + person.shape[0], x:x + person.shape[1]] = person[: 1280 - y, : 720 - x]
    expected = (x + 163.3 * scale, y + face_top * scale, x + 279.3 * scale, y + 186.6 * scale)
    tiny = TinyFaceDetector()
    assert tiny(frame) == []  # the whole-frame search misses it
    found = FrameFaceFinder(tiny)(frame)
    assert len(found) == 1 and _box_iou(found[0].box, expected) > 0.5
    assert search_tiles(tiny, frame, confirm=None)  # confirming keeps the real face
    petals = [f.rgb() for f in VideoReader(demo_video) if 7.4 <= f.time <= 7.9]
    assert sum(bool(search_tiles(tiny, p, confirm=None)) for p in petals) >= 3  # unconfirmed tiles see faces there
    assert not any(FrameFaceFinder(tiny)(p) for p in petals)


def _box_iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
