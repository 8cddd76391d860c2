"""Creator tools: headline ranking, popularity with explanations, clean thumbnails, `reelkit analyze` time.

    .venv/bin/python benchmarks/creator.py                          # everything (see docs/benchmarks.md)
    .venv/bin/python benchmarks/creator.py --parts popularity,thumbnails

(a) Headlines: Spearman's rho of the shipped headline model, a length-only and a bag-of-words ridge
baseline on the same held-out channels of the 2017 trending data, and of the same three methods refitted
in a 5-fold cross-validation grouped by channel (every video scored by models that never saw its channel).
(b) Popularity: AUC of "popular" on a held-out demo archive (backgrounds never trained on) and Grad-CAM
pointing-game accuracy on every sampled frame that shows the planted star. (c) Thumbnails: share of the top-5 that are clean on videos with
planted black, blurred, transition and duplicate frames. (d) Wall time of `reelkit analyze` (a fresh
process, as a user runs it) on a 30 s 720p clip. Results to docs/benchmarks/creator.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
    clip = CACHE / "analyze_720p_30s.mp4"
    if not clip.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(REELKIT), "synth", "clip", str(clip), "--width", "1280", "--height", "720",
                        "--duration", "30", "--seed", "7"], check=True, capture_output=True)
    out = CACHE / "analyze_out"
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
    shutil.copy(out / f"{clip.stem}_contact_sheet.jpg", IMAGES / "analyze_contact_sheet.jpg")
    return {"video": "1280x720, 30 s, 30 fps (reelkit synth clip --seed 7)", "wall_seconds": runs,
            "median_wall_seconds": sorted(runs)[len(runs) // 2], "stage_seconds_last_run": report["timings"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="headlines,popularity,thumbnails,analyze")
    parser.add_argument("--archive-videos", type=int, default=200, help="Held-out demo archive size.")
    parser.add_argument("--thumbnail-videos", type=int, default=10)
    parser.add_argument("--analyze-repeats", type=int, default=3, help="Runs of `reelkit analyze` timed (median reported).")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "benchmarks" / "creator.json")
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    runners = {"headlines": headlines_part, "popularity": lambda: popularity_part(args.archive_videos),
               "thumbnails": lambda: thumbnails_part(args.thumbnail_videos), "analyze": lambda: analyze_part(args.analyze_repeats)}
    for part in parts:
        print(f"running {part} ...", file=sys.stderr)
        results[part] = runners[part]()
        print(json.dumps(results[part], indent=1, default=str), file=sys.stderr)
    results["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
