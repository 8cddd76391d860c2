"""What the landmark term adds, over several training seeds: EmotionalDAN against its no-landmark ablation,
each pair evaluated on the validation and test splits of its own seed.

``reelkit train emotionaldan --seed S`` draws its own stratified split, so a model can only be scored on the
split it was trained with: each pair's seed is read from its weights' metadata, and both weights of a pair must
share it. One pair per ``--pair EMOTIONALDAN ABLATION``::

    .venv/bin/python benchmarks/faces_seeds.py \\
        --pair src/reelkit/weights/emotionaldan_small.safetensors runs/faces/exp/e18_lw0.safetensors \\
        --pair runs/faces/exp/e18s1_lw0.5.safetensors runs/faces/exp/e18s1_lw0.safetensors

Prints a markdown table (accuracy and macro-F1 per split and seed, the macro-F1 gain, mean and standard
deviation over seeds) and writes every number to ``--json``. ``--add-to JSON`` puts the pairs of an earlier run
(read from the JSON it wrote; their weights need not be at hand) into the same table and file, so seeds can be
added without training the earlier ones again.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from faces import emotion_scores, run_emotionaldan
from reelkit.errors import ReelkitError
from reelkit.faces.data import (DEFAULT_CACHE, FaceDataset, TeacherLandmarks, load_labels, read_rgb, stratified_split,
                                teacher_landmarks)
from reelkit.registry import read_metadata
from arguments import ArgumentParser

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("validation", "test")


def training_settings(weights: Path) -> dict:
    if not weights.is_file():
        raise ReelkitError(f"{weights} not found: train it with `reelkit train emotionaldan --seed S --out {weights}`")
    settings = read_metadata(weights).get("train_config")
    if not isinstance(settings, dict) or "seed" not in settings:
        raise ReelkitError(f"{weights} does not say how it was trained (no train_config in its metadata)")
    return settings


def pair_seed(emotionaldan: Path, ablation: Path) -> int:
    """The seed both weights were trained with; a pair is EmotionalDAN, then its no-landmark ablation."""
    ours, theirs = training_settings(emotionaldan), training_settings(ablation)
    if ours["seed"] != theirs["seed"]:
        raise ReelkitError(f"{emotionaldan} and {ablation} were trained with different seeds "
                           f"({ours['seed']}, {theirs['seed']})")
    if theirs["landmark_weight"] != 0 or ours["landmark_weight"] == 0:
        raise ReelkitError(f"a pair is EmotionalDAN (landmark weight > 0) then its ablation (landmark weight 0): "
                           f"{emotionaldan}, {ablation}")
    return ours["seed"]


def score_pair(dataset: FaceDataset, teacher: TeacherLandmarks, seed: int, emotionaldan: Path, ablation: Path) -> dict:
    split = stratified_split(dataset.labels, seed)
    result: dict = {"seed": seed, "emotionaldan": str(emotionaldan), "ablation": str(ablation)}
    for split_name in SPLITS:
        indices = getattr(split, split_name)
        boxes = teacher.select([dataset.names[i] for i in indices]).boxes
        photos = [read_rgb(dataset.folder / "images" / dataset.names[i]) for i in indices]
        labels = dataset.labels[indices]
        for system, weights in (("emotionaldan", emotionaldan), ("ablation", ablation)):
            probabilities, _ = run_emotionaldan(weights, photos, boxes)
            scores = emotion_scores(labels, probabilities.argmax(1))
            result[f"{system}_{split_name}"] = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
        result[f"gain_{split_name}"] = (result[f"emotionaldan_{split_name}"]["macro_f1"]
                                        - result[f"ablation_{split_name}"]["macro_f1"])
        gain = 100 * result[f"gain_{split_name}"]
        print(f"seed {seed}, {split_name}: macro-F1 gain {gain:+.1f} points", file=sys.stderr)
    return result


def earlier_pairs(path: Path) -> list[dict]:
    if not path.is_file():
        raise ReelkitError(f"{path}: no such file")
    try:
        pairs = json.loads(path.read_text())["pairs"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReelkitError(f"{path}: not a JSON written by this script ({type(error).__name__})") from None
    needed = {"seed"} | {f"{key}_{split}" for key in ("emotionaldan", "ablation", "gain") for split in SPLITS}
    if not isinstance(pairs, list) or not all(isinstance(p, dict) and needed <= p.keys() for p in pairs):
        raise ReelkitError(f"{path}: not a JSON written by this script (no list of scored pairs)")
    return pairs


def markdown(pairs: list[dict]) -> str:
    lines = ["| seed | split | EmotionalDAN acc. / macro-F1 | ablation acc. / macro-F1 | macro-F1 gain (points) |",
             "|---|---|---|---|---|"]
    for split_name in SPLITS:
        for pair in pairs:
            ours, theirs = pair[f"emotionaldan_{split_name}"], pair[f"ablation_{split_name}"]
            gain = 100 * pair[f"gain_{split_name}"]
            lines.append(f"| {pair['seed']} | {split_name} | {ours['accuracy']:.3f} / {ours['macro_f1']:.3f} | "
                         f"{theirs['accuracy']:.3f} / {theirs['macro_f1']:.3f} | {gain:+.1f} |")
        gains = [100 * pair[f"gain_{split_name}"] for pair in pairs]
        spread = f" ± {statistics.stdev(gains):.1f}" if len(gains) > 1 else ""
        lines.append(f"| mean of {len(gains)} | {split_name} | | | {statistics.mean(gains):+.1f}{spread} |")
    return "\n".join(lines)


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", nargs=2, type=Path, action="append", required=True,
                        metavar=("EMOTIONALDAN", "ABLATION"), help="Weights of one seed's pair (repeat per seed).")
    parser.add_argument("--cache", type=Path, default=ROOT / DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, default=ROOT / "docs/benchmarks/faces_seeds.json")
    parser.add_argument("--add-to", type=Path, metavar="JSON",
                        help="An earlier run's JSON: its pairs join this run's in the table and in --json.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:  # every pair is checked before any is scored, so a bad one wastes no work
        earlier = earlier_pairs(args.add_to) if args.add_to else []
        seeds = [pair_seed(emotionaldan, ablation) for emotionaldan, ablation in args.pair]
        every_seed = [pair["seed"] for pair in earlier] + seeds
        repeated = sorted({seed for seed in every_seed if every_seed.count(seed) > 1})
        if repeated:
            raise ReelkitError(f"seed {repeated[0]} would be counted twice; each pair needs its own seed")
        dataset = load_labels()
        teacher = teacher_landmarks(dataset, args.cache)
    except ReelkitError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    pairs = earlier + [score_pair(dataset, teacher, seed, emotionaldan, ablation)
                       for seed, (emotionaldan, ablation) in zip(seeds, args.pair)]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"pairs": pairs, "mean_gain": {
        s: float(np.mean([p[f"gain_{s}"] for p in pairs])) for s in SPLITS}}, indent=2) + "\n")
    print(markdown(pairs))


if __name__ == "__main__":
    main()
