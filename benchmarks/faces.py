"""Faces benchmark: EmotionalDAN against its no-landmark ablation and fer's mini-Xception, on the held-out
test split of ../shared/data/facial_expressions, plus landmark error against the teacher and speed.

- Emotions: accuracy and macro-F1 (scikit-learn, over the 8 emotions) on the test split of
  ``reelkit.faces.data.stratified_split`` (seed 0), every system given the same face box (face-api's
  tiny face detector on the photo framed in a grey border, as in training; ``runs/faces/landmarks.npz``).
  fer's 7 classes map onto ours (angry -> anger, happy -> happiness, sad -> sadness, the rest by name);
  contempt has no counterpart, so fer never predicts it.
- Landmarks: mean point-to-point error over the distance between the eye centres (DAN eq. 7) against
  face-api's 68-point net, on test photos where the detector found the face; for reference the mean shape
  placed in the box (no network) and face-api's own tiny 68-point net.
- Speed: milliseconds per face for detection plus analysis (``FaceAnalyzer``: tiny face detector at
  320 px and at 416 px + EmotionalDAN) on this CPU, median over repeated runs, 1 PyTorch thread by default.

fer runs in its own virtual environment (its wheel wants TensorFlow, opencv-contrib-python and
facenet-pytorch, which must not go into reelkit's .venv)::

    python3 -m venv benchmarks/.cache/fer-venv
    benchmarks/.cache/fer-venv/bin/pip install --no-deps fer==25.10.3
    benchmarks/.cache/fer-venv/bin/pip install tensorflow-cpu==2.21.0 "opencv-python-headless<5" pillow requests "setuptools<81"

Run from the repo root (after ``reelkit train emotionaldan`` and the ablation
``reelkit train emotionaldan --landmark-weight 0 --out runs/faces/exp/e18_lw0.safetensors``)::

    .venv/bin/python benchmarks/faces.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from reelkit.faces.data import DEFAULT_CACHE, load_labels, read_rgb, stratified_split, teacher_landmarks
from reelkit.faces.detect import BORDER_GREY, FACE_API_VERSION, FaceDetector, FaceLandmarks68
from reelkit.faces.models import BOX_MEAN_SHAPE, EMOTIONS, interocular_error
from reelkit.faces.pipeline import EmotionalDANPredictor, FaceAnalyzer, annotate
from reelkit.registry import weights_path
from arguments import ArgumentParser

ROOT = Path(__file__).resolve().parent.parent
FER_PYTHON = ROOT / "benchmarks" / ".cache" / "fer-venv" / "bin" / "python"
FER_MAP = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "sad": "sadness",
           "surprise": "surprise", "neutral": "neutral"}
# Runs inside fer's environment: each photo framed in the same grey border, fer's own preprocessing and
# classifier (its default TFLite mini-Xception) on the face box given.
FER_SCRIPT = r"""
import json, sys, time
import cv2, numpy as np
from fer.fer import FER
jobs = json.load(open(sys.argv[1]))
detector = FER(mtcnn=False)
out, seconds = [], 0.0
for job in jobs:
    rgb = cv2.cvtColor(cv2.imread(job["path"]), cv2.COLOR_BGR2RGB)
    pad = job["pad"]
    framed = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(job["grey"],) * 3)
    x0, y0, x1, y1 = [int(round(v + pad)) for v in job["box"]]
    started = time.perf_counter()
    found = detector.detect_emotions(cv2.cvtColor(framed, cv2.COLOR_RGB2BGR), face_rectangles=[(x0, y0, x1 - x0, y1 - y0)])
    seconds += time.perf_counter() - started
    out.append(found[0]["emotions"] if found else None)
json.dump({"emotions": out, "seconds": seconds}, open(sys.argv[2], "w"))
"""


def emotion_scores(labels: np.ndarray, predicted: np.ndarray) -> dict[str, object]:
    from sklearn.metrics import confusion_matrix, f1_score

    classes = list(range(len(EMOTIONS)))
    per_class = f1_score(labels, predicted, labels=classes, average=None, zero_division=0)
    return {"accuracy": float((labels == predicted).mean()),
            "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)),
            "f1_per_emotion": {e: round(float(v), 4) for e, v in zip(EMOTIONS, per_class)},
            "confusion": confusion_matrix(labels, predicted, labels=classes).tolist()}


def run_emotionaldan(weights: Path, photos: list[np.ndarray], boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predictor = EmotionalDANPredictor.from_name("emotionaldan_small", weights, threads=1)
    probabilities, landmarks = [], []
    for rgb, box in zip(photos, boxes):
        result = predictor(rgb, [box])[0]
        probabilities.append([result["emotion"][e] for e in EMOTIONS])
        landmarks.append(result["landmarks"])
    return np.asarray(probabilities), np.asarray(landmarks, np.float32)


def run_fer(fer_python: Path, paths: list[Path], boxes: np.ndarray, photos: list[np.ndarray]) -> tuple[np.ndarray, float]:
    jobs = [{"path": str(p), "box": [float(v) for v in b], "pad": int(round(0.5 * max(rgb.shape[:2]))), "grey": BORDER_GREY}
            for p, b, rgb in zip(paths, boxes, photos)]
    with tempfile.TemporaryDirectory() as folder:
        job_file, result_file = Path(folder) / "jobs.json", Path(folder) / "out.json"
        job_file.write_text(json.dumps(jobs))
        completed = subprocess.run([str(fer_python), "-c", FER_SCRIPT, str(job_file), str(result_file)],
                                   capture_output=True, text=True, timeout=3600)
        if completed.returncode != 0:
            raise SystemExit(f"fer failed: {completed.stderr.strip().splitlines()[-1] if completed.stderr else completed.returncode}")
        result = json.loads(result_file.read_text())
    probabilities = np.zeros((len(jobs), len(EMOTIONS)))
    for row, emotions in enumerate(result["emotions"]):
        if emotions is None:
            probabilities[row, EMOTIONS.index("neutral")] = 1.0
            continue
        for name, p in emotions.items():
            probabilities[row, EMOTIONS.index(FER_MAP[name])] = p
    return probabilities, 1000 * result["seconds"] / len(jobs)


def landmark_errors(predicted: np.ndarray, target: np.ndarray) -> float:
    return float(interocular_error(torch.from_numpy(predicted).float(), torch.from_numpy(target).float()).mean())


def time_per_face(analyzer: FaceAnalyzer, images: list[np.ndarray], threads: int, repeats: int = 3) -> dict[str, object]:
    torch.set_num_threads(threads)
    analyzer(images[0])  # warm-up
    per_face = []
    faces_total = 0
    for _ in range(repeats):
        for rgb in images:
            started = time.perf_counter()
            faces = analyzer(rgb)
            elapsed = time.perf_counter() - started
            if faces:
                per_face.append(1000 * elapsed / len(faces))
                faces_total += len(faces)
    if not per_face:
        return {"median_ms_per_face": None, "images": len(images), "faces_per_run": 0}
    return {"median_ms_per_face": round(statistics.median(per_face), 2), "mean_ms_per_face": round(statistics.mean(per_face), 2),
            "images": len(images), "faces_per_run": faces_total // repeats}


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=weights_path("emotionaldan_small"))
    parser.add_argument("--ablation-weights", type=Path, default=ROOT / "runs/faces/exp/e18_lw0.safetensors")
    parser.add_argument("--fer-python", type=Path, default=FER_PYTHON)
    parser.add_argument("--cache", type=Path, default=ROOT / DEFAULT_CACHE)
    parser.add_argument("--speed-photos", type=int, default=60, help="Test photos timed for detection + analysis.")
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="PyTorch threads for the speed runs (2 on a shared 2-core machine oversubscribes it).")
    parser.add_argument("--json", type=Path, default=ROOT / "docs/benchmarks/faces.json")
    args = parser.parse_args()
    for path, how in ((args.weights, "reelkit train emotionaldan"),
                      (args.ablation_weights, "reelkit train emotionaldan --landmark-weight 0 --out "
                                              "runs/faces/exp/e18_lw0.safetensors")):
        if not path.is_file():
            raise SystemExit(f"{path} not found: train it with `{how}`")
    if not args.fer_python.is_file():
        raise SystemExit(f"fer's environment not found at {args.fer_python}: see this script's docstring")
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]  # other work on a shared machine slows every timing

    dataset = load_labels()
    split = stratified_split(dataset.labels)
    teacher = teacher_landmarks(dataset, args.cache).select([dataset.names[i] for i in split.test])
    labels = dataset.labels[split.test]
    paths = [dataset.folder / "images" / dataset.names[i] for i in split.test]
    photos = [read_rgb(p) for p in paths]
    print(f"{len(photos)} test photos; face detected in {teacher.detected.mean():.1%}", file=sys.stderr)

    systems: dict[str, dict[str, object]] = {}
    landmarks: dict[str, np.ndarray] = {}
    for name, weights in (("EmotionalDAN", args.weights), ("EmotionalDAN without landmark term", args.ablation_weights)):
        started = time.perf_counter()
        probabilities, points = run_emotionaldan(weights, photos, teacher.boxes)
        systems[name] = {**emotion_scores(labels, probabilities.argmax(1)),
                         "ms_per_face_analysis_only": round(1000 * (time.perf_counter() - started) / len(photos), 2)}
        landmarks[name] = points
        print(f"{name}: done", file=sys.stderr)
    probabilities, fer_ms = run_fer(args.fer_python, paths, teacher.boxes, photos)
    systems["fer mini-Xception"] = {**emotion_scores(labels, probabilities.argmax(1)), "ms_per_face_analysis_only": round(fer_ms, 2)}
    print("fer: done", file=sys.stderr)

    trusted = teacher.detected
    target = teacher.landmarks[trusted]
    boxes = teacher.boxes[trusted]
    mean_shape = BOX_MEAN_SHAPE[None] * (boxes[:, None, 2:] - boxes[:, None, :2]) + boxes[:, None, :2]
    tiny_net = FaceLandmarks68(tiny=True)
    tiny_points = []
    for rgb, box in zip([p for p, t in zip(photos, trusted) if t], boxes):
        pad = int(round(0.5 * max(rgb.shape[:2])))
        import cv2

        framed = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(BORDER_GREY,) * 3)
        tiny_points.append(tiny_net(framed, tuple(float(v) + pad for v in box)) - pad)
    landmark_table = {
        "EmotionalDAN": landmark_errors(landmarks["EmotionalDAN"][trusted], target),
        "EmotionalDAN without landmark term": landmark_errors(landmarks["EmotionalDAN without landmark term"][trusted], target),
        "mean shape in the box (no network)": landmark_errors(mean_shape.astype(np.float32), target),
        "face-api face_landmark_68_tiny": landmark_errors(np.asarray(tiny_points, np.float32), target),
    }

    predictor = EmotionalDANPredictor.from_name("emotionaldan_small", args.weights)
    analyzer = FaceAnalyzer(FaceDetector(), predictor)
    import skimage.data

    astronaut = skimage.data.astronaut()
    frame = np.full((720, 1280, 3), 90, np.uint8)  # a 720p frame with the astronaut in it (face 1/11 of the width)
    frame[104:616, 384:896] = astronaut
    speed = {}
    for size in (320, 416):
        for threads in args.threads:  # PyTorch (the detector) and onnxruntime (EmotionalDAN) on as many threads
            timed = FaceAnalyzer(FaceDetector(size), EmotionalDANPredictor(predictor.model, threads=threads))
            speed[f"detector_{size}px_{threads}_thread"] = {
                "astronaut_512px": time_per_face(timed, [astronaut], threads, repeats=15),
                "frame_1280x720": time_per_face(timed, [frame], threads, repeats=15),
                "test_photos_tight_crops": time_per_face(timed, photos[:args.speed_photos], threads, repeats=1),
            }
    torch.set_num_threads(1)

    out_dir = args.json.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    examples = _examples_sheet(analyzer, astronaut, photos, labels)
    examples.save(out_dir / "faces_examples.jpg", quality=88)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s) "
        f"(PyTorch {torch.__version__}), CPU only", "face_api": FACE_API_VERSION,
        "test_photos": len(photos), "test_per_emotion": {e: int((labels == i).sum()) for i, e in enumerate(EMOTIONS)},
        "split": split.recipe, "face_detected_share": float(teacher.detected.mean()),
        "emotions": systems, "landmark_error": landmark_table, "landmark_faces": int(trusted.sum()),
        "speed_ms_per_face_detection_plus_analysis": speed, "examples_image": "faces_examples.jpg",
        "load_average_1min_before_and_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


def _examples_sheet(analyzer: FaceAnalyzer, astronaut: np.ndarray, photos: list[np.ndarray], labels: np.ndarray):
    from PIL import Image, ImageDraw

    from reelkit.faces.pipeline import _font

    tiles = [annotate(astronaut, analyzer(astronaut)).resize((320, 320))]
    rng = np.random.default_rng(0)
    for emotion in range(len(EMOTIONS)):
        rows = np.flatnonzero(labels == emotion)
        if len(rows) == 0:
            continue
        row = int(rng.choice(rows))
        rgb = photos[row]
        pad = int(round(0.35 * max(rgb.shape[:2])))
        framed = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), constant_values=BORDER_GREY)
        tile = annotate(framed, analyzer(framed)).resize((320, 320))
        ImageDraw.Draw(tile).text((6, 300), f"label: {EMOTIONS[emotion]}", fill=(255, 255, 255), font=_font(14))
        tiles.append(tile)
    sheet = Image.new("RGB", (3 * 320, -(-len(tiles) // 3) * 320), "white")
    for index, tile in enumerate(tiles):
        sheet.paste(tile, ((index % 3) * 320, (index // 3) * 320))
    return sheet


def markdown(report: dict) -> str:
    lines = ["| system | accuracy | macro-F1 | landmark error (inter-ocular) | ms per face (analysis only, 1 thread) |",
             "|---|---|---|---|---|"]
    for name, scores in report["emotions"].items():
        error = report["landmark_error"].get(name)
        lines.append(f"| {name} | {scores['accuracy']:.3f} | {scores['macro_f1']:.3f} | "
                     f"{'-' if error is None else f'{error:.4f}'} | {scores['ms_per_face_analysis_only']:.1f} |")
    lines += ["", "| landmarks against face-api's 68-point net | inter-ocular error |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in report["landmark_error"].items()]
    speed = report["speed_ms_per_face_detection_plus_analysis"]
    cases = list(next(iter(speed.values())))
    lines += ["", "| detection + analysis (FaceAnalyzer), ms per face | " + " | ".join(cases) + " |",
              "|---|" + "---|" * len(cases)]
    for setting, results in speed.items():
        lines.append(f"| {setting.replace('_', ' ')} | " + " | ".join(
            "not found" if results[c]["median_ms_per_face"] is None else f"{results[c]['median_ms_per_face']:.1f}"
            for c in cases) + " |")
    lines += ["", "F1 per emotion (test photos per emotion: " + ", ".join(f"{k} {v}" for k, v in report["test_per_emotion"].items()) + "):",
              "", "| system | " + " | ".join(EMOTIONS) + " |", "|---|" + "---|" * len(EMOTIONS)]
    for name, scores in report["emotions"].items():
        lines.append(f"| {name} | " + " | ".join(f"{scores['f1_per_emotion'][e]:.2f}" for e in EMOTIONS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
