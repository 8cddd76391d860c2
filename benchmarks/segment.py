"""Segmentation benchmark: reelkit's segmenters against OpenCV's spectral-residual saliency, on held-out scenes
of reelkit's scene generator (``reelkit.segment.data``, split ``heldout``: backgrounds, object photos, textures
and shapes that training never sees), all in one run.

- Metrics against the exact ground-truth masks: mean IoU and pixel accuracy of the binary masks (MOVE, layered:
  mask >= 0.5; saliency: Otsu's threshold of its map), F-max (beta^2 = 0.3, max over 254 thresholds of the
  F-measure of precision and recall averaged over images) of the soft maps, and CorLoc (the box of the largest
  predicted region overlaps the object's box with IoU >= 0.5).
- Methods: ``move`` (``move_small``, on reelkit's own DINO and MAE), ``layered`` (``--weights``: its mask network
  once trained, and then also ``layered_encoder``, mask(G(E(x))) of the same file), ``layered_no_shift`` (the same
  training without the random shift, the paper's ablation; ``runs/segment/layered_small_noshift.safetensors``; and
  ``layered_no_shift_encoder``), ``saliency_sr`` (cv2.saliency.StaticSaliencySpectralResidual
  + Otsu), reelkit's two segmenters that need no training: ``grabcut`` (``reelkit segment``'s default,
  :class:`reelkit.segment.grabcut.GrabCutSegmenter`) and ``saliency`` (its own spectral residual + Otsu, what the
  thumbnail ranker uses), and ``centre_prior`` (a centred disc of the mean object area: what a segmenter that
  ignores the image gets).
- Also: milliseconds per image (1 thread) at the benchmark's size and per 224 x 224 image (resizing included),
  the training time from each weights file (MOVE's includes its DINO and MAE), a grid of masks for a dozen
  scenes (``docs/benchmarks/segment/masks.png``), and for the layered GANs each segmenter's mean IoU on 500 of the
  generator's own scenes against the generator's masks (high there and low on the held-out scenes: the generated
  scenes do not look like real ones; low there too: the segmenter does not learn the generator's masks).

OpenCV's saliency module is in opencv-contrib-python only; reelkit's .venv has opencv-python (and rapidocr's
opencv-python-headless), which share the ``cv2`` folder, so the contrib wheel of the same version goes into a
folder of its own, put first on ``sys.path`` by this script only::

    .venv/bin/pip install --no-deps --target benchmarks/.cache/opencv-contrib "opencv-contrib-python==$(.venv/bin/python -c 'import cv2; print(cv2.__version__)').*"

Run from the repo root (after ``reelkit train move``, ``reelkit train layered`` and ``reelkit train layered
--no-shift --out runs/segment/layered_small_noshift.safetensors``)::

    .venv/bin/python benchmarks/segment.py [--scenes 300]
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable

from arguments import ArgumentParser

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "benchmarks" / ".cache" / "opencv-contrib"
if (CONTRIB / "cv2").is_dir():
    sys.path.insert(0, str(CONTRIB))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from reelkit.registry import read_metadata, weights_path  # noqa: E402
from reelkit.segment.data import SOURCES, make_scenes  # noqa: E402
from reelkit.segment.grabcut import GrabCutSegmenter  # noqa: E402
from reelkit.segment.metrics import f_max, iou  # noqa: E402
from reelkit.segment.move.pipeline import box_iou, mask_boxes  # noqa: E402
from reelkit.segment.saliency import SaliencySegmenter  # noqa: E402

Method = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # images (N,H,W,3) -> (soft (N,H,W), binary)


def saliency_sr(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's spectral residual (Hou & Zhang, 2007) thresholded by Otsu."""
    if not hasattr(cv2, "saliency"):
        raise SystemExit(f"cv2.saliency is missing: install opencv-contrib-python into {CONTRIB} (see the docstring)")
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()
    soft, binary = [], []
    for image in images:
        ok, saliency = detector.computeSaliency(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        saliency = np.clip(saliency, 0, 1).astype(np.float32)
        _, otsu = cv2.threshold((saliency * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        soft.append(saliency)
        binary.append(otsu > 0)
    return np.stack(soft), np.stack(binary)


def centre_prior(area: float) -> Method:
    def predict(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, h, w = images.shape[:3]
        yy, xx = np.mgrid[0:h, 0:w]
        radius = np.sqrt(area * h * w / np.pi)
        distance = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)
        soft = np.clip(1 - distance / (2 * radius), 0, 1)
        return np.repeat(soft[None], n, 0), np.repeat((distance <= radius)[None], n, 0)
    return predict


def segmenter_method(segmenter) -> Method:
    """A reelkit segmenter (``predict`` -> soft masks, ``threshold``) as a benchmark method."""
    def predict(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        soft = np.stack(segmenter.predict(images))
        return soft, soft >= segmenter.threshold
    return predict


def layered(weights: Path) -> dict[str, tuple[Method, float]]:
    """The segmenters of the config the weights were trained as (``""``: the mask network once trained, else the
    encoder; ``"_encoder"``: the encoder beside a mask network), each with its mean IoU on the generator's own
    scenes (against their known masks)."""
    from reelkit.segment.layered import LayeredSegmenter
    from reelkit.segment.layered.train import evaluate_generated

    segmenter = LayeredSegmenter.from_name(read_metadata(weights).get("model", "layered_small"), weights)
    found = {"": (segmenter_method(segmenter), evaluate_generated(segmenter.model)["generated_miou"])}
    if segmenter.model.has_mask_net:
        encoder = LayeredSegmenter(segmenter.model, use_encoder=True)
        found["_encoder"] = (segmenter_method(encoder), evaluate_generated(segmenter.model, use_encoder=True)["generated_miou"])
    return found


def move(weights: Path, name: str = "move_small") -> Method:
    from reelkit.segment.move.pipeline import MoveSegmentation

    return segmenter_method(MoveSegmentation.from_name(name, weights))


def corloc(binary: np.ndarray, truths: np.ndarray) -> float:
    """Fraction of scenes whose largest predicted region's box overlaps the object's box with IoU >= 0.5."""
    hits = []
    for prediction, truth in zip(binary, truths):
        boxes, truth_boxes = mask_boxes(prediction), mask_boxes(truth, min_area=0.0)
        hits.append(bool(boxes) and box_iou(boxes[0], truth_boxes[0]) >= 0.5)
    return float(np.mean(hits))


def evaluate(method: Method, images: np.ndarray, truths: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    start = time.perf_counter()
    soft, binary = method(images)
    ms = (time.perf_counter() - start) * 1000 / len(images)
    metrics = {"miou": float(np.mean([iou(p, t) for p, t in zip(binary, truths)])),
               "fmax": f_max(soft, truths),
               "pixel_accuracy": float((binary == truths).mean()),
               "corloc": corloc(binary, truths),
               "ms_per_image": round(ms, 2)}
    return metrics, binary


def ms_per_224_image(method: Method, count: int = 50) -> float:
    """Milliseconds per 224 x 224 image (held-out scenes rendered at 224 px), resizing included."""
    images = make_scenes(count, 224, "heldout", 1).images
    method(images[:2])  # warm-up
    start = time.perf_counter()
    method(images)
    return round((time.perf_counter() - start) * 1000 / count, 2)


def mask_grid(images: np.ndarray, truths: np.ndarray, predictions: dict[str, np.ndarray], path: Path,
              count: int = 12, scale: int = 2) -> None:
    """Rows: scene, ground truth, then each method's binary mask, for the first ``count`` scenes."""
    rows = [np.concatenate(list(images[:count]), 1)]
    for masks in (truths, *predictions.values()):
        grey = np.concatenate(list(masks[:count].astype(np.uint8) * 255), 1)
        rows.append(np.repeat(grey[..., None], 3, 2))
    grid = np.concatenate(rows, 0)
    Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST).save(path)


def training_info(path: Path) -> dict[str, object]:
    meta = read_metadata(path)
    config = meta.get("train_config", {})
    info = {"weights": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
            "train_minutes": round(float(meta.get("seconds", 0)) / 60, 1), "command": meta.get("command"),
            "steps": config.get("steps"), "encoder_steps": config.get("encoder_steps"), "no_shift": config.get("no_shift"),
            "mask_net_steps": config.get("mask_net_steps")}
    if config.get("generator"):  # stages 2 and 3 on a trained generator: its own training counts too
        info["generator"] = config["generator"]
        info["train_minutes"] += round(float(read_metadata(config["generator"]).get("seconds", 0)) / 60, 1)
    if meta.get("model", "").startswith("move"):  # MOVE's time includes the DINO and MAE backbones it needs
        for backbone in ("dino_vittiny8", "mae_vittiny8"):
            info["train_minutes"] += round(float(read_metadata(weights_path(backbone)).get("seconds", 0)) / 60, 1)
    return info


LABELS = {"move": "MOVE (DINO + MAE ViT-Tiny/8, reelkit-trained)", "layered": "layered GAN (shift)",
          "layered_encoder": "layered GAN (shift), encoder: mask(G(E(x)))",
          "layered_no_shift": "layered GAN, no shift (ablation)",
          "layered_no_shift_encoder": "layered GAN, no shift (ablation), encoder: mask(G(E(x)))",
          "saliency_sr": "OpenCV spectral residual + Otsu", "grabcut": "GrabCut from priors (`reelkit segment` default)",
          "saliency": "reelkit spectral residual + Otsu (thumbnails)", "centre_prior": "centre prior (no image)"}


def markdown(report: dict) -> str:
    lines = [f"Held-out scenes: {report['scenes']} at {report['size']} px (`reelkit.segment.data`, split `heldout`, "
             f"seed {report['seed']}); {report['machine']}.", "",
             "| method | mean IoU | F-max | pixel accuracy | CorLoc | ms / image | ms / 224 px image | training "
             "| IoU on its generator's scenes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, result in report["methods"].items():
        training = report["training"].get(name)
        train = f"{training['train_minutes']:.1f} min" if training else "-"
        ms_224 = f"{result['ms_per_224_image']:.1f}" if "ms_per_224_image" in result else "-"
        generated = f"{result['generated_miou']:.3f}" if "generated_miou" in result else "-"
        lines.append(f"| {LABELS.get(name, name)} | {result['miou']:.3f} | {result['fmax']:.3f} | "
                     f"{result['pixel_accuracy']:.3f} | {result['corloc']:.3f} | {result['ms_per_image']:.2f} | "
                     f"{ms_224} | {train} | {generated} |")
    return "\n".join(lines)


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--move-weights", type=Path, default=weights_path("move_small"))
    parser.add_argument("--weights", type=Path, default=weights_path("layered_small"))
    parser.add_argument("--ablation-weights", type=Path, default=ROOT / "runs/segment/layered_small_noshift.safetensors")
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "docs/benchmarks/segment.json")
    parser.add_argument("--images", type=Path, default=ROOT / "docs/benchmarks/segment")
    args = parser.parse_args()
    torch.set_num_threads(1)

    scenes = make_scenes(args.scenes, args.size, "heldout", args.seed)
    train_area = float(make_scenes(300, args.size, "train", args.seed).masks.mean())
    methods: dict[str, Method] = {}
    training: dict[str, dict] = {}
    generated_miou: dict[str, float] = {}
    for name, path in (("move", args.move_weights), ("layered", args.weights), ("layered_no_shift", args.ablation_weights)):
        if path.is_file():
            if name == "move":
                methods[name] = move(path)
            else:
                for suffix, (method, miou) in layered(path).items():
                    methods[name + suffix], generated_miou[name + suffix] = method, miou
            training[name] = training_info(path)
        else:
            print(f"{name}: no weights at {path}, skipped", file=sys.stderr)
    methods["saliency_sr"] = saliency_sr
    methods["grabcut"] = segmenter_method(GrabCutSegmenter())
    methods["saliency"] = segmenter_method(SaliencySegmenter())
    methods["centre_prior"] = centre_prior(train_area)  # the mean object area of *training* scenes

    results, predictions = {}, {}
    for name, method in methods.items():
        results[name], predictions[name] = evaluate(method, scenes.images, scenes.masks)
        if name in generated_miou:
            results[name]["generated_miou"] = generated_miou[name]
        if name in ("move", "layered", "saliency_sr", "grabcut", "saliency"):
            results[name]["ms_per_224_image"] = ms_per_224_image(method)
        print(f"{name}: {results[name]}", file=sys.stderr)
    args.images.mkdir(parents=True, exist_ok=True)
    grid_path = args.images / "masks.png"
    mask_grid(scenes.images, scenes.masks, predictions, grid_path)
    report = {"scenes": args.scenes, "size": args.size, "seed": args.seed, "split": "heldout",
              "heldout_sources": SOURCES["heldout"], "methods": results, "training": training,
              "mask_grid": {"path": str(grid_path.relative_to(ROOT)) if grid_path.is_relative_to(ROOT) else str(grid_path),
                            "rows": ["scene", "ground truth", *results]},
              "opencv": {"version": cv2.__version__, "saliency_from": str(Path(cv2.__file__).parent.parent)},
              "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s)",
              "command": "benchmarks/segment.py " + " ".join(sys.argv[1:])}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


if __name__ == "__main__":
    main()
