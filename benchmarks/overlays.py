"""Overlay extraction benchmark: reelkit against Tesseract 5 and RapidOCR on held-out synthetic clips.

The clips use fonts, backgrounds and text that CRNN training never sees (``split="heldout"``): 6-10 s,
portrait and landscape, H.264, captions changing every 1.5-3 s, most with a persistent handle or title.
The baselines read frames sampled every 0.5 s; consecutive identical readings at the same place are
joined into one line (their only de-duplication). Run from the repo root:

    .venv/bin/python benchmarks/overlays.py --clips 20
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from reelkit.text import ExtractorConfig, OverlayExtractor, PPOCRDetector, TextRecognizer, TimedLine, from_json
from reelkit.text.dedupe import boxes_overlap
from reelkit.text.evaluate import LineScores, score_lines
from reelkit.text.synth import ClipGenerator, write_clip
from reelkit.video import VideoReader
from arguments import ArgumentParser

CACHE = Path(__file__).parent / ".cache" / "overlays"


def make_clips(count: int, seed: int) -> list[tuple[Path, list[TimedLine], float]]:
    CACHE.mkdir(parents=True, exist_ok=True)
    generator = ClipGenerator("heldout")
    clips = []
    for index in range(count):
        rng = np.random.default_rng(seed + index)
        width, height = (720, 1280) if index % 2 == 0 else (1280, 720)
        duration = round(float(rng.uniform(6.0, 10.0)), 2)
        path = CACHE / f"clip_{seed + index:05d}.mp4"
        truth_path = path.with_suffix(".truth.json")
        if not (path.exists() and truth_path.exists()):
            spec = generator.spec(rng, width, height, duration)
            write_clip(spec, path)
            truth_path.write_text(json.dumps(generator.ground_truth(spec)))
        clips.append((path, from_json(truth_path.read_text()), duration))
    return clips


def join_repeats(observations: list[tuple[float, str, list[int], float]], step: float) -> list[TimedLine]:
    """Per-frame readings -> lines: a reading identical to one at the same place on the previous sample
    extends it; anything else starts a new line."""
    open_lines: list[TimedLine] = []
    done: list[TimedLine] = []
    for t in sorted({o[0] for o in observations}):
        current = [o for o in observations if o[0] == t]
        still = []
        for _, text, box, conf in current:
            match = next((l for l in open_lines if l.text == text and boxes_overlap(l.box, box) > 0.5
                          and l not in still), None)
            if match:
                match.end = t + step
                still.append(match)
            else:
                still.append(TimedLine(text, t, t + step, box, conf))
        done.extend(l for l in open_lines if l not in still)
        open_lines = still
    return done + open_lines


def sampled_frames(path: Path, step: float):
    next_time = 0.0
    for frame in VideoReader(path):
        if frame.time + 1e-3 >= next_time:
            next_time = frame.time + step
            yield frame.time, frame.rgb()


def run_tesseract(path: Path, step: float = 0.5) -> list[TimedLine]:
    import pytesseract

    observations = []
    for t, rgb in sampled_frames(path, step):
        data = pytesseract.image_to_data(rgb, output_type=pytesseract.Output.DICT)
        lines: dict[tuple[int, int, int], list[int]] = {}
        for i, word in enumerate(data["text"]):
            if word.strip() and float(data["conf"][i]) >= 0:
                lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(i)
        for indices in lines.values():
            text = " ".join(data["text"][i] for i in indices)
            x0 = min(data["left"][i] for i in indices)
            y0 = min(data["top"][i] for i in indices)
            x1 = max(data["left"][i] + data["width"][i] for i in indices)
            y1 = max(data["top"][i] + data["height"][i] for i in indices)
            conf = float(np.mean([float(data["conf"][i]) for i in indices])) / 100
            observations.append((t, text, [x0, y0, x1, y1], conf))
    return join_repeats(observations, step)


def run_rapidocr(path: Path, step: float = 0.5) -> list[TimedLine]:
    from rapidocr import RapidOCR

    engine = run_rapidocr.engine = getattr(run_rapidocr, "engine", None) or RapidOCR(params={"Global.log_level": "critical"})
    observations = []
    for t, rgb in sampled_frames(path, step):
        result = engine(np.ascontiguousarray(rgb[..., ::-1]))
        if result.boxes is None:
            continue
        for quad, text, score in zip(result.boxes, result.txts, result.scores):
            quad = np.asarray(quad)
            box = [int(quad[:, 0].min()), int(quad[:, 1].min()), int(quad[:, 0].max()), int(quad[:, 1].max())]
            observations.append((t, text, box, float(score)))
    return join_repeats(observations, step)


WORK: dict[str, float] = {}  # reelkit's keyframes, detections, re-reads and lines read, summed over clips


def timed_corrector(recognizer: TextRecognizer) -> None:
    """Counts the seconds the recogniser's lexicon decoding takes, in ``WORK["lexicon_seconds"]``."""
    correct = recognizer.corrector

    def timed(*args):
        started = time.perf_counter()
        reading = correct(*args)
        WORK["lexicon_seconds"] = WORK.get("lexicon_seconds", 0.0) + time.perf_counter() - started
        return reading

    recognizer.corrector = timed


def run_reelkit(path: Path, extractor: OverlayExtractor) -> list[TimedLine]:
    lines = extractor(path)
    for key, value in extractor.stats.items():
        WORK[key] = WORK.get(key, 0) + value
    return lines


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--systems", default="reelkit,tesseract,rapidocr")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/overlays.json"))
    parser.add_argument("--show-misses", action="store_true", help="Print the lines each system missed.")
    parser.add_argument("--refresh-every", type=float, default=ExtractorConfig.refresh_every,
                        help="reelkit: seconds between full detections while the frame keeps changing.")
    parser.add_argument("--max-side", type=int, default=640, help="reelkit: longer side of the detector input.")
    parser.add_argument("--lexicon", action=argparse.BooleanOptionalAction, default=True,
                        help="reelkit: lexicon decoding of words missing from the English word list.")
    args = parser.parse_args()

    clips = make_clips(args.clips, args.seed)
    video_seconds = sum(d for _, _, d in clips)
    recognizer = TextRecognizer(corrector="english" if args.lexicon else None)
    if args.lexicon:
        timed_corrector(recognizer)
    extractor = OverlayExtractor(detector=PPOCRDetector(max_side=args.max_side), recognizer=recognizer,
                                 config=ExtractorConfig(refresh_every=args.refresh_every))
    runners = {
        "reelkit": lambda p: run_reelkit(p, extractor),
        "tesseract": run_tesseract,
        "rapidocr": run_rapidocr,
    }
    results = {}
    for name in args.systems.split(","):
        total = LineScores(0, 0, 0, 0.0)
        started = time.perf_counter()
        predictions = {path: runners[name](path) for path, _, _ in clips}
        wall = time.perf_counter() - started
        for path, truth, _ in clips:
            scores = score_lines(truth, predictions[path])
            total = total + scores
            if args.show_misses and scores.matched < scores.truths:
                print(f"{name} {path.name}: truth {[t.text for t in truth]} got {[p.text for p in predictions[path]]}")
        results[name] = {"recall": total.recall, "precision": total.precision, "mean_cer": total.mean_cer,
                         "video_seconds_per_second": video_seconds / wall, "wall_seconds": wall,
                         "truth_lines": total.truths, "predicted_lines": total.predictions}
        if name == "reelkit":
            results[name]["work"] = dict(WORK)
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr)
    machine = f"{platform.machine()}, {__import__('os').cpu_count()} cores"
    print(f"\n{len(clips)} held-out clips, {video_seconds:.0f} s of video, {machine}\n")
    print("| system | line recall | precision | mean CER (found lines) | video s / wall s |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['recall']:.3f} | {r['precision']:.3f} | {r['mean_cer']:.4f} | {r['video_seconds_per_second']:.2f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"clips": len(clips), "video_seconds": video_seconds, "machine": machine,
                                     "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
