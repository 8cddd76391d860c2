"""How ``GrabCutSegmenter``'s defaults were chosen: mean IoU of a grid of its settings on the *training* scenes
of ``reelkit.segment.data`` (never the held-out ones, which ``benchmarks/segment.py`` scores), best first.

    .venv/bin/python benchmarks/segment_grabcut.py [--scenes 300] [--json docs/benchmarks/segment_grabcut.json]
"""

from __future__ import annotations

import itertools
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from reelkit.segment.data import make_scenes
from reelkit.segment.grabcut import GrabCutSegmenter
from reelkit.segment.metrics import iou
from arguments import ArgumentParser

ROOT = Path(__file__).resolve().parent.parent
GRID = {"centre_radius": (0.2, 0.3, 0.4, 0.5, 0.6), "saliency_blur": (0.08, 0.15, 0.25), "border": (0.03, 0.06)}


def score(segmenter: GrabCutSegmenter, images: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    start = time.perf_counter()
    predictions = segmenter.predict(list(images))
    seconds = time.perf_counter() - start
    return {"miou": float(np.mean([iou(p >= segmenter.threshold, m) for p, m in zip(predictions, masks)])),
            "ms_per_image": round(seconds * 1000 / len(images), 2)}


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "docs/benchmarks/segment_grabcut.json")
    args = parser.parse_args()
    scenes = make_scenes(args.scenes, args.size, "train", args.seed)
    rows = []
    for values in itertools.product(*GRID.values()):
        segmenter = GrabCutSegmenter(**dict(zip(GRID, values)))
        rows.append({**{k: getattr(segmenter, k) for k in GRID}, **score(segmenter, scenes.images, scenes.masks)})
        print(rows[-1], flush=True)
    rows.sort(key=lambda row: row["miou"], reverse=True)
    default = GrabCutSegmenter()
    report = {"split": "train", "scenes": args.scenes, "size": args.size, "seed": args.seed, "grid": GRID,
              "default": asdict(default), "default_result": score(default, scenes.images, scenes.masks),
              "rows": rows, "machine": platform.machine(),
              "command": " ".join(["benchmarks/segment_grabcut.py", *sys.argv[1:]])}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print("| centre radius | saliency blur | border | mean IoU (train scenes) |\n|---|---|---|---|")
    for row in rows[:8]:
        print(f"| {row['centre_radius']} | {row['saliency_blur']} | {row['border']} | {row['miou']:.3f} |")


if __name__ == "__main__":
    main()
