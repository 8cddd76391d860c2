"""``reelkit train move``: MOVE's adversarial training of a mask head on frozen DINO features (Sec. 3).

Each iteration trains the discriminator on one batch, then the segmenter on the next (official ``engine.py``):
- discriminator, hinge loss: real = ``real`` (or the MAE-autoencoded real) and ``composed_noshift``; fake =
  ``composed`` (shifted foreground on the inpainted background) and ``real_shift_copy_paste`` (Sec. 3.2);
- segmenter: the generator hinge loss of ``composed`` plus the mask terms on the shifted mask and on its 8-px
  average- and max-pooled versions: binarisation (weight 12.5, ramped up) and minimum area 0.05 (weight 100).
"""

from __future__ import annotations

import hashlib
import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from reelkit.errors import SegmentError
from reelkit.segment.move.models import (MOVE_CONFIGS, MoveComposer, MoveSegmenter, FeatureExtractor,
                                         ProjectedDiscriminator, binarisation_loss, build_backbones, hinge_d_loss,
                                         hinge_g_loss, max_area_loss, min_area_loss, normalise, trainable_parts)
from reelkit.optim import KaFiStO, backward_and_step
from reelkit.segment.move.vit import check_device, check_optim


@dataclass
class MoveTrainConfig:
    model: str = "move_small"
    steps: int = 1500  # segmenter steps (as many discriminator steps)
    batch_size: int = 32  # official 32
    lr: float = 2e-4  # AdamW, betas (0.9, 0.95), no weight decay (official)
    lr_d: float = 2e-4  # AdamW, betas (0, 0.99) (official)
    betas: tuple[float, float] = (0.9, 0.95)
    betas_d: tuple[float, float] = (0.0, 0.99)
    min_area: float = 0.05  # official --min_mask_area
    min_area_weight: float = 100.0  # official --min_mask_alpha
    max_area: float = 1.0
    max_area_weight: float = 0.0
    bin_weight: float = 12.5  # official --bin_mask_alpha
    bin_warmup: int = 2500  # official --bin_warmup_iters (linear ramp of the binarisation weight)
    scale_min: float = 0.9  # RandomResizedCrop scale (0.9, 1) + flip (official)
    scenes: int = 20000
    seed: int = 0
    max_minutes: float | None = None
    log_every: int = 25
    extractor_weights: str | None = None  # official DINO / MAE checkpoint files (default: the config's registry names)
    inpainter_weights: str | None = None
    device: str = "cpu"  # "cuda" for the paper-scale config
    copy_real_in_inpainted: bool | None = None  # override the model config's (official --copy_real_in_inpainted)
    optim: str = "adamw"  # or "kafisto" for both players, at its own defaults (lr and lr_d unused)

    def validate(self) -> None:
        check_device(self.device)
        check_optim(self.optim)
        if self.model not in MOVE_CONFIGS:
            raise SegmentError(f"unknown MOVE model {self.model!r}; choose one of {', '.join(MOVE_CONFIGS)}")
        if self.batch_size < 2 or self.steps < 1 or self.scenes < self.batch_size:
            raise SegmentError("MOVE training needs batch size >= 2, steps >= 1 and at least one batch of scenes")
        if not 0 < self.scale_min <= 1:
            raise SegmentError(f"scale_min must be in (0, 1], got {self.scale_min}")
        config = MOVE_CONFIGS[self.model]
        for path, registered in ((self.extractor_weights, config.extractor_weights), (self.inpainter_weights, config.inpainter_weights)):
            if path and not Path(path).is_file():
                raise SegmentError(f"backbone weights file {path} does not exist")
            if not path and not registered:
                raise SegmentError(f"model {self.model!r} has no shipped backbones: give --backbone-weights (DINO) "
                                   "and --inpainter-weights (MAE) checkpoint files")


@dataclass
class MoveTrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    threads: int = 1


def random_resized_crop(images: torch.Tensor, scale_min: float, generator: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop(scale=(scale_min, 1), ratio=(3/4, 4/3)) and a horizontal flip, batched by grid_sample."""
    n = images.shape[0]
    area = scale_min + (1 - scale_min) * torch.rand(n, generator=generator)
    log_ratio = (torch.rand(n, generator=generator) * 2 - 1) * math.log(4 / 3)
    ratio = torch.exp(log_ratio)
    width = torch.sqrt(area * ratio).clamp(max=1.0)
    height = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
    cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def mask_terms(mask_shifted: torch.Tensor, config: MoveTrainConfig, patch: int, step: int) -> dict[str, torch.Tensor]:
    """Weighted mask losses on the shifted mask and its patch-pooled versions (official: avg and max, 16 px)."""
    ramp = min(1.0, step / config.bin_warmup) if config.bin_warmup else 1.0
    terms: dict[str, torch.Tensor] = {}
    for name, mask in (("", mask_shifted), ("_avg", F.avg_pool2d(mask_shifted, patch)),
                       ("_max", F.max_pool2d(mask_shifted, patch))):
        terms[f"bin{name}"] = config.bin_weight * ramp * binarisation_loss(mask)
        terms[f"min_area{name}"] = config.min_area_weight * min_area_loss(mask, config.min_area)
        if config.max_area_weight:
            terms[f"max_area{name}"] = config.max_area_weight * max_area_loss(mask, config.max_area)
    return terms


class SceneBatches:
    """Endless shuffled batches of training scenes, ImageNet-normalised, augmented."""

    def __init__(self, images: np.ndarray, batch_size: int, scale_min: float, generator: torch.Generator,
                 device: str = "cpu"):
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        self.device = device
        self.batch_size, self.scale_min, self.generator = batch_size, scale_min, generator
        self.order, self.position = torch.randperm(len(self.images), generator=generator), 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = torch.randperm(len(self.images), generator=self.generator), 0
        index = self.order[self.position: self.position + self.batch_size]
        self.position += self.batch_size
        batch = self.images[index].float() / 255
        return normalise(random_resized_crop(batch, self.scale_min, self.generator)).to(self.device)


def build_training(config: MoveTrainConfig) -> tuple[MoveComposer, ProjectedDiscriminator]:
    model_config = MOVE_CONFIGS[config.model]
    if config.copy_real_in_inpainted is not None:
        model_config = replace(model_config, copy_real_in_inpainted=config.copy_real_in_inpainted)
    vit, mae = build_backbones(model_config, config.extractor_weights, config.inpainter_weights)
    segmenter = MoveSegmenter(FeatureExtractor(vit, model_config.extractor_block), model_config)
    return MoveComposer(segmenter, mae, model_config), ProjectedDiscriminator(vit, model_config)


def train_move(config: MoveTrainConfig, progress=None, log: Callable[[str], None] = print,
               monitor: Callable[[MoveSegmenter], dict[str, float]] | None = None
               ) -> tuple[MoveSegmenter, MoveTrainResult]:
    """Train; ``monitor`` (optional) is called every ``log_every`` steps and its numbers go into the history."""
    from reelkit.segment.data import cached_scenes

    config.validate()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    composer, discriminator = build_training(config)
    composer.to(config.device)
    discriminator.to(config.device)
    size = composer.config.image_size
    scenes = cached_scenes(config.scenes, size, "train", config.seed)
    batches = SceneBatches(scenes.images, config.batch_size, config.scale_min, generator, config.device)
    trainable = [p for p in composer.segmenter.parameters() if p.requires_grad]
    trainable_d = [p for p in discriminator.parameters() if p.requires_grad]
    kafisto = config.optim == "kafisto"
    optimizer = KaFiStO(trainable) if kafisto else torch.optim.AdamW(trainable, lr=config.lr, betas=config.betas,
                                                                      weight_decay=0.0)
    optimizer_d = KaFiStO(trainable_d) if kafisto else torch.optim.AdamW(trainable_d, lr=config.lr_d,
                                                                          betas=config.betas_d, weight_decay=0.0)
    result = MoveTrainResult(threads=torch.get_num_threads())
    task = progress.add_task("training MOVE", total=config.steps) if progress is not None else None
    start, sums, count = time.perf_counter(), {}, 0
    patch = composer.inpainter.patch_size
    composer.train()
    discriminator.train()
    for step in range(1, config.steps + 1):
        # Discriminator phase.
        with torch.no_grad():
            out = composer(batches.next())
        real_logits = discriminator(out["real"]) + discriminator(out["composed_noshift"])
        fake_logits = discriminator(out["composed"]) + discriminator(out["real_shift_copy_paste"])
        loss_d = hinge_d_loss(real_logits, fake_logits)  # averaged over inputs and heads (official)
        backward_and_step(optimizer_d, loss_d)
        # Segmenter phase.
        out = composer(batches.next())
        loss_g = hinge_g_loss(discriminator(out["composed"]), aim_at_zero=kafisto)
        terms = mask_terms(out["mask_shifted"], config, patch, step)
        loss = loss_g + sum(terms.values())
        if not math.isfinite(loss.item()):
            raise SegmentError(f"MOVE training diverged at step {step} (loss {loss.item()})")
        backward_and_step(optimizer, loss)
        for key, value in {"loss_d": loss_d, "loss_g": loss_g, "mask_area": out["mask"].mean(), **terms}.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach())
        count += 1
        result.steps = step
        if task is not None:
            progress.advance(task)
        elapsed = time.perf_counter() - start
        stop = config.max_minutes is not None and elapsed > config.max_minutes * 60
        if step % config.log_every == 0 or step == config.steps or stop:
            row = {"step": step, "minutes": elapsed / 60, **{k: v / count for k, v in sums.items()}}
            if monitor is not None:
                composer.eval()
                row.update(monitor(composer.segmenter))
                composer.train()
            result.history.append(row)
            log(" ".join(f"{k} {v:.4g}" for k, v in row.items()))
            sums, count = {}, 0
        if stop:
            log(f"time limit of {config.max_minutes} min reached after {step} steps")
            break
    result.seconds = time.perf_counter() - start
    return composer.segmenter.eval(), result


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backbone_digests(config: MoveTrainConfig) -> dict[str, str]:
    """sha256 of the backbone files the head was trained on: a head is only valid on those features."""
    from reelkit.registry import weights_path

    model_config = MOVE_CONFIGS[config.model]
    extractor = config.extractor_weights or weights_path(model_config.extractor_weights)
    inpainter = config.inpainter_weights or weights_path(model_config.inpainter_weights)
    return {"extractor_sha256": file_digest(extractor), "inpainter_sha256": file_digest(inpainter)}


def plot_history(result: MoveTrainResult, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in result.history]
    panels = [("adversarial", ("loss_d", "loss_g")), ("mask terms", ("bin", "min_area", "bin_max", "min_area_avg")),
              ("mask", ("mask_area", "train_iou"))]
    figure, axes = plt.subplots(1, len(panels), figsize=(13, 3.6))
    for axis, (name, keys) in zip(axes, panels):
        for key in keys:
            values = [row.get(key) for row in result.history]
            if any(v is not None for v in values):
                axis.plot(steps, values, label=key)
        axis.set_title(name)
        axis.set_xlabel("step")
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_move_outputs(segmenter: MoveSegmenter, config: MoveTrainConfig, result: MoveTrainResult,
                       metrics: dict[str, float], out: Path, command: str) -> list[Path]:
    """Weights (head + LayerNorm), model card (.md) and training curves (_curve.png)."""
    from reelkit.registry import save_weights
    from reelkit.segment.data import SOURCES
    from reelkit.text.formats import atomic_write

    model_config = MOVE_CONFIGS[config.model]
    out.parent.mkdir(parents=True, exist_ok=True)
    digests = backbone_digests(config)
    save_weights(trainable_parts(segmenter), out, {"model": config.model, "train_config": asdict(config),
                                                   "metrics": metrics, "command": command,
                                                   "seconds": round(result.seconds, 1), **digests})
    curve = out.with_name(out.stem + "_curve.png")
    plot_history(result, curve, f"MOVE {config.model}")
    copy_real = model_config.copy_real_in_inpainted if config.copy_real_in_inpainted is None else config.copy_real_in_inpainted
    backbones = (f"DINO `{model_config.extractor_weights}` and MAE `{model_config.inpainter_weights}` (reelkit's own, "
                 "`reelkit train dino` / `reelkit train mae`)" if not config.extractor_weights else
                 f"DINO {config.extractor_weights} and MAE {config.inpainter_weights}")
    lines = [
        f"# {out.stem}", "",
        "MOVE (\"MOVE: Unsupervised Movable Object Segmentation and Detection\", Bielski & Favaro, NeurIPS 2022): a "
        "mask head on frozen self-supervised ViT features, trained so that the predicted foreground, shifted at random "
        "onto the MAE-inpainted background, fools a discriminator. No labels are used.", "",
        f"- Command: `{command}`",
        f"- Data: {config.scenes} scenes of `reelkit.segment.data` (split `train`, {model_config.image_size} px, seed "
        f"{config.seed}; backgrounds {', '.join(SOURCES['train']['backgrounds'])}); masks are never read.",
        f"- Backbones (frozen): {backbones}; features of block {model_config.extractor_block}; sha256 "
        f"{digests['extractor_sha256'][:12]} / {digests['inpainter_sha256'][:12]}.",
        f"- Model `{config.model}`: {model_config.image_size} px, shift range {model_config.shift_range}, head min "
        f"channels {model_config.head_min_channels}, copy real image outside the inpainted tokens: "
        f"{copy_real}; discriminator: frozen DINO blocks {model_config.disc_blocks} with fixed random projections "
        f"to {model_config.disc_channels} channels + pixel head {model_config.disc_pixel_widths}, "
        f"{'DiffAugment colour' if model_config.disc_augment else 'no augmentation'}, hinge loss.",
        f"- Training: {result.steps} steps (of {config.steps}{f', time limit {config.max_minutes} min' if config.max_minutes else ''}), "
        f"batch {config.batch_size}, "
        + ("KaFiStO at its defaults for both (generator hinge term relu(1 - D)); " if config.optim == "kafisto" else
           f"AdamW lr {config.lr} / {config.lr_d} (D), betas {config.betas} / {config.betas_d}; ")
        + f"mask terms: binarisation {config.bin_weight} (ramp {config.bin_warmup} steps), minimum area {config.min_area} "
        f"(weight {config.min_area_weight}); wall time {result.seconds / 60:.1f} min on {platform.machine()}, "
        f"{result.threads} thread(s).",
        *[f"- {name.replace('_', ' ')}: {value:.4g}" if isinstance(value, float) else f"- {name.replace('_', ' ')}: {value}"
          for name, value in metrics.items()],
        f"- Training curves: `{curve.name}`", "",
    ]
    atomic_write(out.with_suffix(".md"), "\n".join(lines))
    return [out, out.with_suffix(".md"), curve]


@torch.no_grad()
def predict_masks(segmenter: MoveSegmenter, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Soft masks (N, H, W) for uint8 scenes at the model's size."""
    segmenter.eval()
    device = next(segmenter.head.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start: start + batch_size]).permute(0, 3, 1, 2).float().to(device) / 255
        out.append(segmenter(normalise(x))[:, 0].cpu().numpy())
    return np.concatenate(out)


def scene_metrics(soft: np.ndarray, truths: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Mean IoU, F-max, pixel accuracy and CorLoc (largest predicted region's box vs the object's box, IoU >= 0.5)."""
    from reelkit.segment.metrics import f_max, iou
    from reelkit.segment.move.pipeline import box_iou, mask_boxes

    binary = soft >= threshold
    hits = []
    for prediction, truth in zip(binary, truths):
        boxes, truth_boxes = mask_boxes(prediction), mask_boxes(truth, min_area=0.0)
        hits.append(bool(boxes) and bool(truth_boxes) and box_iou(boxes[0], truth_boxes[0]) >= 0.5)
    return {"miou": float(np.mean([iou(p, t) for p, t in zip(binary, truths)])), "fmax": f_max(soft, truths),
            "pixel_accuracy": float((binary == truths).mean()), "corloc": float(np.mean(hits))}


def evaluate_heldout(segmenter: MoveSegmenter, count: int = 300, seed: int = 0) -> dict[str, float]:
    from reelkit.segment.data import make_scenes

    scenes = make_scenes(count, segmenter.config.image_size, "heldout", seed)
    return {f"heldout_{k}": v for k, v in scene_metrics(predict_masks(segmenter, scenes.images), scenes.masks).items()}


def train_monitor(config: MoveTrainConfig, count: int = 256) -> Callable[[MoveSegmenter], dict[str, float]]:
    """IoU on the last ``count`` *training* scenes' masks, logged for the curves only: training never reads masks
    and nothing is tuned on held-out scenes."""
    from reelkit.segment.data import cached_scenes
    from reelkit.segment.metrics import iou

    scenes = cached_scenes(config.scenes, MOVE_CONFIGS[config.model].image_size, "train", config.seed)
    images, truths = scenes.images[-count:], scenes.masks[-count:]

    def monitor(segmenter: MoveSegmenter) -> dict[str, float]:
        binary = predict_masks(segmenter, images) >= 0.5
        return {"train_iou": float(np.mean([iou(p, t) for p, t in zip(binary, truths)]))}
    return monitor
