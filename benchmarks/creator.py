"""Creator tools: headline ranking, popularity with explanations, clean thumbnails, `reelkit analyze` time.

    .venv/bin/python benchmarks/creator.py                          # everything (see docs/benchmarks.md)
    .venv/bin/python benchmarks/creator.py --parts popularity,thumbnails
    .venv/bin/python benchmarks/creator.py --parts faces
    .venv/bin/python benchmarks/creator.py --parts analyze,analyze_hdr
    .venv/bin/python benchmarks/creator.py --parts analyze_4k --analyze-repeats 1    # only when asked for

(a) Headlines: Spearman's rho of the shipped headline model, a length-only and a bag-of-words ridge baseline on the
same held-out channels of the 2017 trending data, and of the same three methods refitted in a 5-fold
cross-validation grouped by channel (every video scored by models that never saw its channel). (b) Popularity: AUC
of "popular" on a held-out demo archive (backgrounds never trained on) and Grad-CAM pointing-game accuracy on every
sampled frame that shows the planted star. (c) Thumbnails: share of the top-5 that are clean on videos with planted
black, blurred, transition and duplicate frames. (d) Wall time of `reelkit analyze` (a fresh process, as a user
runs it) on a 30 s 720p clip, and (``analyze_hdr``) on the same clip stored as a phone's HDR video (HEVC Main 10,
HLG), with the overlay lines of both runs; and (``analyze_4k``, only when asked for) on the clip scaled to 4K, both
ways. (e) Faces in thumbnail candidates: the face scorer's finder, the same detector with `reelkit faces`'
re-framed searches, and OpenCV's face cascade with an eye check (the scorer's finder until 2026-12-06), on real
face photos (face crops) pasted into 720x1280 frames at four sizes and on frames without faces. Results to
docs/benchmarks/creator.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from arguments import ArgumentParser

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
REELKIT = Path(sys.executable).parent / "reelkit"
IMAGES = ROOT / "docs" / "benchmarks" / "creator"


def headlines_part() -> dict:
    from reelkit.headlines.evaluate import cross_validate_headlines, evaluate_headlines

    return {**evaluate_headlines(), "cross_validation": cross_validate_headlines()}


def popularity_part(videos: int) -> dict:
    from reelkit.popularity import PopularityPredictor
    from reelkit.popularity.demo import make_demo_archive
    from reelkit.popularity.evaluate import evaluate_popularity

    folder = CACHE / f"demo_archive_heldout_{videos}"
    archive = folder / "archive.csv"
    if not archive.is_file():
        make_demo_archive(folder, videos=videos, seed=1, split="heldout")
    predictor = PopularityPredictor.from_name("popularity_small")
    started = time.perf_counter()
    metrics = evaluate_popularity(predictor, archive)
    seconds = time.perf_counter() - started
    _explain_examples(predictor, archive)
    return {**metrics, "seconds": seconds}


def _explain_examples(predictor, archive: Path) -> None:
    """Grad-CAM sheets and attention charts of the first held-out video with the star and of one without."""
    from reelkit.popularity import read_archive, write_explanations

    truth = json.loads((archive.parent / "truth.json").read_text())
    videos = read_archive(archive)
    with_star = next(v for v in videos if truth[str(v.path.relative_to(archive.parent))]["star"])
    without = next(v for v in videos if not truth[str(v.path.relative_to(archive.parent))]["star"])
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, video in (("star", with_star), ("no_star", without)):
        write_explanations(predictor(video.path, video.headline), IMAGES, f"popularity_{name}")


def thumbnails_part(videos: int) -> dict:
    from reelkit.thumbnails.evaluate import evaluate_clean_share

    return evaluate_clean_share(videos, seed=100, k=5)


def analyze_part(repeats: int) -> dict:
    clip = _analyze_clip()
    return {"video": "1280x720, 30 s, 30 fps (reelkit synth clip --seed 7)", **_time_analyze(clip, repeats, "analyze")}


def analyze_hdr_part(repeats: int) -> dict:
    """The same clip as a phone records it by default (HEVC Main 10, HLG, BT.2020), read tone-mapped."""
    from reelkit.video import VideoReader
    from reelkit.video.encode import write_hdr

    clip = _analyze_clip()
    hdr = CACHE / "analyze_720p_30s_hlg.mp4"
    if not hdr.is_file():
        write_hdr(hdr, (frame.rgb() for frame in VideoReader(clip)), fps=30, transfer="hlg", crf=20)
    timed = _time_analyze(hdr, repeats, "analyze_hdr")
    report = json.loads((CACHE / "analyze_hdr_out" / "report.json").read_text())
    sdr_report = CACHE / "analyze_out" / "report.json"
    sdr_lines = None
    if sdr_report.is_file():
        sdr_lines = [line["text"] for line in json.loads(sdr_report.read_text())["overlays"]]
    return {"video": "the analyze clip re-encoded: HEVC Main 10, HLG, BT.2020 (write_hdr, crf 20)", **timed,
            "report_hdr": report["video"]["hdr"], "overlay_lines": [line["text"] for line in report["overlays"]],
            "overlay_lines_sdr_run": sdr_lines}


def analyze_4k_part(repeats: int) -> dict:
    """The clip at 3840x2160, as H.264 and as a phone's HLG HEVC: overlays are read at 1920x1080."""
    import cv2

    from reelkit.video import VideoReader
    from reelkit.video.encode import write_h264, write_hdr

    clip = _analyze_clip()
    sdr, hdr = CACHE / "analyze_2160p_30s.mp4", CACHE / "analyze_2160p_30s_hlg.mp4"
    if not sdr.is_file():
        write_h264(sdr, (cv2.resize(frame.rgb(), (3840, 2160), interpolation=cv2.INTER_CUBIC)
                         for frame in VideoReader(clip)), fps=30, crf=23)
    if not hdr.is_file():
        write_hdr(hdr, (frame.rgb() for frame in VideoReader(clip)), fps=30, transfer="hlg", crf=23,
                  size=(3840, 2160))
    return {"video": "the analyze clip scaled to 3840x2160 (bicubic): H.264 crf 23, HEVC Main 10 HLG crf 23",
            "sdr": _time_analyze(sdr, repeats, "analyze_4k"), "hlg": _time_analyze(hdr, repeats, "analyze_4k_hlg")}


def _analyze_clip() -> Path:
    clip = CACHE / "analyze_720p_30s.mp4"
    if not clip.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(REELKIT), "synth", "clip", str(clip), "--width", "1280", "--height", "720",
                        "--duration", "30", "--seed", "7"], check=True, capture_output=True)
    return clip


def _time_analyze(clip: Path, repeats: int, name: str) -> dict:
    out = CACHE / f"{name}_out"
    runs = []
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        result = subprocess.run([str(REELKIT), "analyze", str(clip), "--headline", "My morning routine", "-o", str(out)],
                                capture_output=True, text=True)
        runs.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip().splitlines()[-1])
    report = json.loads((out / "report.json").read_text())
    IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copy(out / f"{clip.stem}_contact_sheet.jpg", IMAGES / f"{name}_contact_sheet.jpg")
    return {"wall_seconds": runs, "median_wall_seconds": sorted(runs)[len(runs) // 2],
            "stage_seconds_last_run": report["timings"]}


FACE_SHARES = (0.14, 0.25, 0.45, 0.7)  # face height / the frame's short side


class CascadeFaceFinder:
    """The baseline: OpenCV's frontal-face Haar cascade on the frame shrunk until a face of 10 % of its short
    side fills the cascade's 24-px window, keeping a face only where the eye cascade finds an eye in its
    upper five eighths (minNeighbors 5 and 3)."""

    def __init__(self) -> None:
        import cv2

        self.cv2 = cv2
        self.face = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self.eye = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")

    def __call__(self, rgb):
        from types import SimpleNamespace

        cv2 = self.cv2
        height, width = rgb.shape[:2]
        scale = min(1.0, 24 / (0.1 * min(height, width)))
        small = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        found = []
        for x, y, w, h in self.face.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)):
            upper = gray[y:y + (5 * h) // 8, x:x + w]
            side = max(8, upper.shape[1] // 10)
            if len(self.eye.detectMultiScale(upper, scaleFactor=1.1, minNeighbors=3, minSize=(side, side))):
                found.append(SimpleNamespace(box=tuple(v / scale for v in (x, y, x + w, y + h))))
        return found


def faces_part(photos: int, finders: dict | None = None) -> dict:
    """Recall of faces at each size and the number of faceless frames with a false face, per finder (name ->
    finder; None is the scorer's default), through :meth:`FaceScorer.detect` (faces under 10 % of the short
    side do not count)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from reelkit.faces.data import load_labels, read_rgb, stratified_split
    from reelkit.thumbnails import Candidate, FaceScorer
    from reelkit.video import VideoReader

    rng = np.random.default_rng(0)
    width, height = 720, 1280

    def frame_from(image: np.ndarray) -> np.ndarray:
        image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
        scale = max(height / image.shape[0], width / image.shape[1]) * rng.uniform(1.0, 1.6)
        size = (int(image.shape[1] * scale) + 1, int(image.shape[0] * scale) + 1)
        big = np.asarray(Image.fromarray(image).resize(size))
        y, x = rng.integers(0, big.shape[0] - height + 1), rng.integers(0, big.shape[1] - width + 1)
        return np.ascontiguousarray(big[y:y + height, x:x + width])

    dataset = load_labels()
    test = stratified_split(dataset.labels).test[:photos]
    backgrounds = [skimage.data.coffee(), skimage.data.rocket(), skimage.data.hubble_deep_field()]
    positives: list[tuple[float, np.ndarray]] = []
    for number, index in enumerate(test):
        share = FACE_SHARES[number % len(FACE_SHARES)] * rng.uniform(0.85, 1.15)
        side = int(share * width)  # the data set's photos are face crops: the face fills the photo
        frame = frame_from(backgrounds[number % len(backgrounds)])
        x, y = rng.integers(0, width - side), rng.integers(0, height - side)
        photo = read_rgb(dataset.folder / "images" / dataset.names[index])
        frame[y:y + side, x:x + side] = np.asarray(Image.fromarray(photo).resize((side, side)))
        positives.append((FACE_SHARES[number % len(FACE_SHARES)], frame))
    negatives = [(f"demo.mp4 at {f.time:.1f} s", f.rgb()) for f in VideoReader(ROOT / "examples" / "demo.mp4")
                 if f.index % 3 == 0]  # a dahlia
    for name in ("coffee", "rocket", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "coins", "moon",
                 "page", "text", "grass", "gravel", "brick", "colorwheel", "logo", "cell"):
        negatives += [(f"skimage.data.{name}", frame_from(getattr(skimage.data, name)())) for _ in range(4)]
    results: dict = {
        "photos": f"the first {photos} test-split photos of ../shared/data/facial_expressions, pasted into 720x1280 "
                  "crops of scikit-image photos (coffee, rocket, Hubble) so that the face is about "
                  f"{', '.join(f'{s:.0%}' for s in FACE_SHARES)} of the 720-px side (+-15 %), in turn",
        "faceless": f"{len(negatives)} frames: every third frame of examples/demo.mp4 (a dahlia) and 4 random "
                    "720x1280 crops of each of 16 scikit-image photos without a human face (a cat among them)"}
    if finders is None:
        from reelkit.faces.detect import FaceDetector, TinyFaceDetector, search_framed

        tiny = TinyFaceDetector()
        finders = {"FrameFaceFinder: face-api's tiny detector, then square tiles, then one grey-bordered search "
                   "(the scorer's)": None,
                   "the same without the tiles (the scorer's finder before)":
                       lambda rgb: tiny(rgb) or search_framed(tiny, rgb, ((0.5, 416),)),
                   "face-api's tiny detector, one search": tiny,
                   "FaceDetector: the tiny detector, then tiles, then up to six grey-bordered searches (reelkit faces)":
                       FaceDetector(tiny=tiny),
                   "OpenCV face cascade + eye check (the scorer's finder before that)": CascadeFaceFinder()}
    for name, finder in finders.items():
        scorer = FaceScorer(finder=finder)
        scorer.detect(Candidate.from_rgb(positives[0][1]))  # warm-up
        started = time.perf_counter()
        found = [bool(scorer.detect(Candidate.from_rgb(frame))) for _, frame in positives]
        false = [name for name, frame in negatives if scorer.detect(Candidate.from_rgb(frame))]
        seconds = time.perf_counter() - started
        results[name] = {
            "recall_by_face_share": {f"{share:.2f}": float(np.mean([hit for (s, _), hit in zip(positives, found)
                                                                    if s == share])) for share in FACE_SHARES},
            "recall": float(np.mean(found)), "false_face_frames": len(false), "false_faces_in": false,
            "faceless_frames": len(negatives),
            "ms_per_frame": 1000 * seconds / (len(positives) + len(negatives))}
    return results


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="headlines,popularity,thumbnails,analyze,analyze_hdr,faces")
    parser.add_argument("--archive-videos", type=int, default=200, help="Held-out demo archive size.")
    parser.add_argument("--thumbnail-videos", type=int, default=10)
    parser.add_argument("--face-photos", type=int, default=240, help="Face photos pasted into frames (faces part).")
    parser.add_argument("--analyze-repeats", type=int, default=3, help="Runs of `reelkit analyze` timed (median reported).")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "benchmarks" / "creator.json")
    args = parser.parse_args()
    if min(args.archive_videos, args.thumbnail_videos, args.face_photos, args.analyze_repeats) < 1:
        parser.error("--archive-videos, --thumbnail-videos, --face-photos and --analyze-repeats must be at least 1")
    parts = [p for p in args.parts.split(",") if p]
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    runners = {"headlines": headlines_part, "popularity": lambda: popularity_part(args.archive_videos),
               "thumbnails": lambda: thumbnails_part(args.thumbnail_videos),
               "analyze": lambda: analyze_part(args.analyze_repeats),
               "analyze_hdr": lambda: analyze_hdr_part(args.analyze_repeats),
               "analyze_4k": lambda: analyze_4k_part(args.analyze_repeats),
               "faces": lambda: faces_part(args.face_photos)}
    unknown = [part for part in parts if part not in runners]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}; choose from {', '.join(runners)}")
    for part in parts:
        print(f"running {part} ...", file=sys.stderr)
        results[part] = runners[part]()
        print(json.dumps(results[part], indent=1, default=str), file=sys.stderr)
    results["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
