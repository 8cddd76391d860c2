"""Tilted heads and loose boxes: EmotionalDAN against its no-landmark ablation on test photos whose heads are
rotated and whose face boxes are shifted and rescaled, at growing strengths.

A face detector's box on a video frame is rarely as well placed as on this data set's tight, upright photos,
and heads tilt. The landmark stages exist for that case (DAN sec. 3: each stage warps the face back to the
canonical shape), so this script measures each pair's macro-F1 on its seed's test split with every photo
rotated about its box's centre by N(0, L * 10) degrees and its box moved by N(0, L * 0.1) of its size and
rescaled by N(1, L * 0.1): L = 1 is as strong as training's default perturbations, L = 2 as DAN's. The draws
depend on ``--draw-seed`` only, so both models of a pair (and every pair of a seed) see the same pictures::

    .venv/bin/python benchmarks/faces_robustness.py \\
        --pair src/reelkit/weights/emotionaldan_small.safetensors runs/faces/exp/e18_lw0.safetensors

Prints a markdown table, writes every number to ``--json`` and a plot of macro-F1 against strength to ``--plot``.
``--add-to JSON`` puts the pairs of an earlier run with the same strengths and draws into the same table, file and plot.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from arguments import ArgumentParser
from faces import emotion_scores, landmark_errors, run_emotionaldan
from faces_seeds import pair_seed, training_settings
from reelkit.errors import ReelkitError
from reelkit.faces.data import (DEFAULT_CACHE, FaceDataset, TeacherLandmarks, load_labels, read_rgb, stratified_split,
                                teacher_landmarks)

ROOT = Path(__file__).resolve().parent.parent
SHIFT, ROTATION, SCALE = 0.1, 10.0, 0.1  # per unit of strength: `reelkit train emotionaldan`'s default perturbations


def tilt_and_loosen(photo: np.ndarray, box: np.ndarray, strength: float, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photo rotated about the box's centre (the head tilts, the box stays upright), the box shifted and
    rescaled, by draws of the given strength, and the 2x3 rotation matrix (to move the teacher's landmarks)."""
    shift, angle, factor = rng.normal(0, 1, 2), rng.normal(0, 1), rng.normal(0, 1)
    if strength == 0:
        return photo, box, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    size = box[2:] - box[:2]
    centre = (box[:2] + box[2:]) / 2
    rotation = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle * ROTATION * strength), 1.0)
    tilted = cv2.warpAffine(photo, rotation, (photo.shape[1], photo.shape[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    centre = centre + shift * SHIFT * strength * size
    size = size * max(1 + factor * SCALE * strength, 0.5)
    return tilted, np.concatenate([centre - size / 2, centre + size / 2]).astype(np.float32), rotation


def score_pair(dataset: FaceDataset, teacher: TeacherLandmarks, seed: int, emotionaldan: Path, ablation: Path,
               strengths: list[float], draw_seed: int) -> dict:
    indices = stratified_split(dataset.labels, seed).test
    teacher_test = teacher.select([dataset.names[i] for i in indices])
    boxes = teacher_test.boxes
    trusted = teacher_test.detected  # where the detector missed, the teacher's landmarks are a guess (as in faces.py)
    photos = [read_rgb(dataset.folder / "images" / dataset.names[i]) for i in indices]
    labels = dataset.labels[indices]
    settings = training_settings(emotionaldan)  # models older than the perturbation options trained at the defaults
    trained_with = [settings.get("translation", SHIFT), settings.get("rotation", ROTATION), settings.get("scale", SCALE)]
    result: dict = {"seed": seed, "emotionaldan": str(emotionaldan), "ablation": str(ablation), "test_photos": len(labels),
                    "trained_with": trained_with, "strengths": []}
    for strength in strengths:
        rng = np.random.default_rng(draw_seed)
        moved = [tilt_and_loosen(photo, box, strength, rng) for photo, box in zip(photos, boxes)]
        target = np.stack([points @ m[2][:, :2].T + m[2][:, 2] for points, m in zip(teacher_test.landmarks, moved)])
        row: dict = {"strength": strength}
        for system, weights in (("emotionaldan", emotionaldan), ("ablation", ablation)):
            probabilities, landmarks = run_emotionaldan(weights, [m[0] for m in moved], np.stack([m[1] for m in moved]))
            scores = emotion_scores(labels, probabilities.argmax(1))
            row[system] = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"],
                           "landmark_error": landmark_errors(landmarks[trusted], target[trusted])}
        row["gain"] = row["emotionaldan"]["macro_f1"] - row["ablation"]["macro_f1"]
        print(f"seed {seed}, strength {strength:g}: EmotionalDAN {row['emotionaldan']['macro_f1']:.3f}, "
              f"ablation {row['ablation']['macro_f1']:.3f}", file=sys.stderr)
        result["strengths"].append(row)
    return result


def earlier_pairs(path: Path, strengths: list[float], draw_seed: int) -> list[dict]:
    if not path.is_file():
        raise ReelkitError(f"{path}: no such file")
    try:
        earlier = json.loads(path.read_text())
        pairs = earlier["pairs"]
        same = earlier["draw_seed"] == draw_seed and all([r["strength"] for r in p["strengths"]] == strengths for p in pairs)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReelkitError(f"{path}: not a JSON written by this script ({type(error).__name__})") from None
    if not same:
        raise ReelkitError(f"{path} was run with other strengths or another --draw-seed; its pairs cannot join this table")
    return pairs


def markdown(pairs: list[dict]) -> str:
    lines = ["| seed | trained with (shift, rotation, scale) | strength (rotation std, box shift std, box scale std) | EmotionalDAN acc. / macro-F1 | "
             "ablation acc. / macro-F1 | macro-F1 gain (points) | EmotionalDAN landmark error |", "|---|---|---|---|---|---|---|"]
    for pair in pairs:
        for row in pair["strengths"]:
            s = row["strength"]
            ours, theirs = row["emotionaldan"], row["ablation"]
            shift, rotation, scale = pair["trained_with"]
            lines.append(f"| {pair['seed']} | {shift:g}, {rotation:g} deg, {scale:g} | {s:g} ({ROTATION * s:g} deg, {SHIFT * s:.2g}, {SCALE * s:.2g}) | "
                         f"{ours['accuracy']:.3f} / {ours['macro_f1']:.3f} | {theirs['accuracy']:.3f} / "
                         f"{theirs['macro_f1']:.3f} | {100 * row['gain']:+.1f} | {ours['landmark_error']:.4f} |")
    return "\n".join(lines)


def plot(pairs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 5))
    for colour, pair in enumerate(pairs):
        strengths = [row["strength"] for row in pair["strengths"]]
        shift, rotation, scale = pair["trained_with"]
        for system, style in (("emotionaldan", "-o"), ("ablation", "--s")):
            label = (f"{'EmotionalDAN' if system == 'emotionaldan' else 'ablation'}, seed {pair['seed']}, "
                     f"trained at {shift:g} / {rotation:g} deg / {scale:g}")
            axis.plot(strengths, [row[system]["macro_f1"] for row in pair["strengths"]], style, color=f"C{colour}",
                      label=label)
    axis.set_xlabel(f"strength (x {ROTATION:g} deg tilt, {SHIFT:g} box shift, {SCALE:g} box scale)")
    axis.set_ylabel("test macro-F1")
    axis.set_title("Tilted heads and loose boxes")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", nargs=2, type=Path, action="append", required=True,
                        metavar=("EMOTIONALDAN", "ABLATION"), help="Weights of one seed's pair (repeat per seed).")
    parser.add_argument("--strengths", default="0,0.5,1,2", help="Comma-separated strengths (0: the photos as they are).")
    parser.add_argument("--draw-seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=ROOT / DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, default=ROOT / "docs/benchmarks/faces_robustness.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/benchmarks/faces_robustness.png")
    parser.add_argument("--add-to", type=Path, metavar="JSON", help="An earlier run's JSON: its pairs join this run's.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        strengths = [float(s) for s in args.strengths.split(",")]
        if not strengths or min(strengths) < 0:
            raise ValueError
    except ValueError:
        print(f"error: --strengths must be non-negative numbers separated by commas, not {args.strengths!r}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.draw_seed < 0:
        print(f"error: --draw-seed must be a non-negative whole number, not {args.draw_seed}", file=sys.stderr)
        raise SystemExit(2)
    try:
        earlier = earlier_pairs(args.add_to, strengths, args.draw_seed) if args.add_to else []
        seeds = [pair_seed(emotionaldan, ablation) for emotionaldan, ablation in args.pair]
        dataset = load_labels()
        teacher = teacher_landmarks(dataset, args.cache)
    except ReelkitError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    pairs = earlier + [score_pair(dataset, teacher, seed, emotionaldan, ablation, strengths, args.draw_seed)
                       for seed, (emotionaldan, ablation) in zip(seeds, args.pair)]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"draw_seed": args.draw_seed, "per_strength": {"rotation_deg": ROTATION,
                                     "box_shift": SHIFT, "box_scale": SCALE}, "pairs": pairs}, indent=2) + "\n")
    plot(pairs, args.plot)
    print(markdown(pairs))


if __name__ == "__main__":
    main()
