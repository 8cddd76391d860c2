"""``reelkit train mae``: MAE pretraining (He et al., "Masked Autoencoders Are Scalable Vision Learners",
CVPR 2022) of reelkit's ViT on reelkit's synthetic scenes; the result is MOVE's inpainter.

The recipe follows the paper (Sec. 3, Appendix A.1, Table 8) and the official code (facebookresearch/mae:
``main_pretrain.py``, ``engine_pretrain.py``, ``util/lr_sched.py``, ``PRETRAIN.md``): random masking of 75% of
the patches, RandomResizedCrop (scale 0.2-1) and horizontal flip as the only augmentation, AdamW with betas
(0.9, 0.95) and weight decay 0.05 (none on biases and norms), lr = blr * batch / 256, a linear warm-up then a
half-cycle cosine, updated every step.

Deviation for MOVE: MOVE inpaints with MAE's *visualisation* model, which predicts raw pixels, so reelkit's
default is ``norm_pix_loss=False`` (targets are the normalised input pixels); ``--norm-pix-loss`` trains the
paper's per-patch-normalised target instead (better features, but its output is no image).

Schedules are run in fractions of the run: progress = max(step / planned steps, elapsed / max_minutes), so a
run cut by its time limit still warms up over the same share of it and ends its cosine near zero.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
import typer

from reelkit.errors import SegmentError
from reelkit.optim import KaFiStO, schedule_lr, step_optimizer
from reelkit.segment.move.vit import (IMAGENET_MEAN, IMAGENET_STD, KAFISTO_SCHEDULED, VIT_CONFIGS, MaskedAutoencoder,
                                      PretrainResult, check_device, check_optim, create_mae)


@dataclass
class MAETrainConfig:
    model: str = "vit_tiny_patch8_64"  # a name of reelkit.segment.move.vit.VIT_CONFIGS
    device: str = "cpu"  # "cuda" for the full-scale configs
    scenes: int = 20000  # training scenes of reelkit.segment.data (split "train") at the model's image size
    batch_size: int = 128
    epochs: float = 40.0  # planned; max_minutes usually ends a CPU run first (the schedule follows; see module doc)
    warmup_epochs: float = 2.0  # the same 5% share of the run as the paper's 40 of 800 epochs
    blr: float = 1.5e-3  # CPU: 10x the paper's 1.5e-4 (a few thousand steps instead of ~10^5; see CPU_NOTE)
    min_lr: float = 0.0  # official main_pretrain.py --min_lr default 0
    weight_decay: float = 0.05  # paper Table 8 / PRETRAIN.md --weight_decay 0.05
    betas: tuple[float, float] = (0.9, 0.95)  # paper Table 8; main_pretrain.py AdamW betas=(0.9, 0.95)
    mask_ratio: float = 0.75  # paper Sec. 4 / Fig. 5; main_pretrain.py --mask_ratio default 0.75
    crop_scale: tuple[float, float] = (0.2, 1.0)  # main_pretrain.py RandomResizedCrop(scale=(0.2, 1.0)), bicubic
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # torchvision's RandomResizedCrop default aspect range
    norm_pix_loss: bool = False  # MOVE needs pixels (the paper's visualisation models); True: the paper's target
    seed: int = 0
    log_every: int = 25
    max_minutes: Optional[float] = None  # wall-time budget of the training loop
    optim: str = "adamw"  # or "kafisto": its target share follows the lr schedule's shape (1 at the peak)

    def validate(self) -> None:
        check_device(self.device)
        check_optim(self.optim)
        if self.model not in VIT_CONFIGS:
            raise SegmentError(f"unknown ViT config {self.model!r}; choose one of {', '.join(VIT_CONFIGS)}")
        if self.batch_size < 2 or self.scenes < self.batch_size:
            raise SegmentError(f"batch_size must be >= 2 and scenes ({self.scenes}) >= batch_size ({self.batch_size})")
        if not self.epochs > 0 or not 0 <= self.warmup_epochs < self.epochs:
            raise SegmentError(f"epochs must be > 0 and 0 <= warmup_epochs < epochs (got {self.epochs}, {self.warmup_epochs})")
        if not 0 < self.mask_ratio < 1:
            raise SegmentError(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")
        if self.blr <= 0 or self.weight_decay < 0 or self.min_lr < 0:
            raise SegmentError("blr must be > 0, weight_decay and min_lr >= 0")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise SegmentError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {self.crop_scale}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise SegmentError(f"max_minutes must be > 0, got {self.max_minutes}")

    @property
    def lr(self) -> float:
        return self.blr * self.batch_size / 256  # linear scaling rule (PRETRAIN.md: lr = blr * eff. batch / 256)

    def steps_per_epoch(self) -> int:
        return self.scenes // self.batch_size  # drop_last=True in main_pretrain.py's loader

    def planned_steps(self) -> int:
        return max(1, round(self.epochs * self.steps_per_epoch()))


CPU_NOTE = ("blr 1.5e-3 (lr 7.5e-4 at batch 128) instead of the paper's 1.5e-4: the paper's lr (2.4e-3 at batch 4096) "
            "is scaled down linearly for small batches on the assumption of as many epochs; a 30-minute CPU run has "
            "~10^3 steps, where 7.5e-5 barely moves the model")

MAE_CONFIGS: dict[str, MAETrainConfig] = {
    # reelkit's CPU run: the 8 x 8-token tiny ViT on 64 px scenes, time-bounded.
    "vit_tiny_patch8_64": MAETrainConfig(),
    # The paper's full scale (Table 8; PRETRAIN.md): batch 4096, 800 epochs, 40 warm-up, blr 1.5e-4, at 224 px
    # (on 20,000 reelkit scenes, 3 GB as uint8 at 224 px; the paper's ImageNet-1k has 1.28 M images).
    "vit_base_patch16": MAETrainConfig(model="vit_base_patch16", batch_size=4096, epochs=800, warmup_epochs=40,
                                       blr=1.5e-4),
    "vit_large_patch16": MAETrainConfig(model="vit_large_patch16", batch_size=4096, epochs=800, warmup_epochs=40,
                                        blr=1.5e-4),
    # Tests: a step takes milliseconds.
    "vit_micro_patch8_32": MAETrainConfig(model="vit_micro_patch8_32", scenes=64, batch_size=16, epochs=2,
                                          warmup_epochs=0.5, log_every=1),
}


# ----------------------------------------------------------------------------------------------- data


def to_input(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float, ImageNet-normalised (main_pretrain.py: ToTensor + Normalize)."""
    x = images.permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_input`: (N, 3, H, W) normalised -> [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x * std + mean).clamp(0, 1)


def random_resized_crop_flip(x: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float],
                             generator: torch.Generator, flip: bool = True) -> torch.Tensor:
    """Per-image RandomResizedCrop (torchvision's sampling: area fraction uniform in ``scale``, log-uniform aspect,
    up to 10 tries, else the whole image) back to the input size with bicubic resampling, and a random
    horizontal flip; batched through one ``grid_sample``."""
    n, _, h, w = x.shape
    area = h * w
    boxes = torch.empty(n, 4)  # x0, y0, width, height in pixels
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for i in range(n):
        for _ in range(10):
            u = torch.rand(3, generator=generator).tolist()
            target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
            aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u[1])
            cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                j = torch.randint(0, h - ch + 1, (1,), generator=generator).item()
                k = torch.randint(0, w - cw + 1, (1,), generator=generator).item()
                boxes[i] = torch.tensor([k, j, cw, ch], dtype=torch.float32)
                break
        else:
            boxes[i] = torch.tensor([0, 0, w, h], dtype=torch.float32)
    # Affine map from output coords [-1, 1] to input coords [-1, 1] (align_corners=False convention).
    sx, sy = boxes[:, 2] / w, boxes[:, 3] / h
    cx, cy = (2 * boxes[:, 0] + boxes[:, 2]) / w - 1, (2 * boxes[:, 1] + boxes[:, 3]) / h - 1
    if flip:
        sx = torch.where(torch.rand(n, generator=generator) < 0.5, -sx, sx)  # RandomHorizontalFlip(p=0.5)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, cx, sy, cy
    grid = F.affine_grid(theta, (n, 3, h, w), align_corners=False)
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False)


class Batches:
    """Endless mini-batches of uint8 scenes, reshuffled every epoch (drop_last), augmented and normalised."""

    def __init__(self, images: torch.Tensor, config: MAETrainConfig, generator: torch.Generator) -> None:
        self.images, self.config, self.generator = images, config, generator
        self.order, self.position = torch.empty(0, dtype=torch.long), 0

    def next(self) -> torch.Tensor:
        size = self.config.batch_size
        if self.position + size > len(self.order):
            self.order, self.position = torch.randperm(len(self.images), generator=self.generator), 0
        batch = to_input(self.images[self.order[self.position: self.position + size]])
        self.position += size
        return random_resized_crop_flip(batch, self.config.crop_scale, self.config.crop_ratio, self.generator)


def training_images(config: MAETrainConfig) -> torch.Tensor:
    from reelkit.segment.data import cached_scenes

    return torch.from_numpy(cached_scenes(config.scenes, VIT_CONFIGS[config.model].image_size, "train", config.seed).images)


# ----------------------------------------------------------------------------------------------- optimisation


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices only: none on biases and 1-D (norm) parameters (main_pretrain.py, following
    timm's add_weight_decay); frozen sin-cos position embeddings are not optimised."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def lr_at(progress: float, config: MAETrainConfig) -> float:
    """Linear warm-up, then half-cycle cosine to min_lr (util/lr_sched.py), as a function of the run's share done."""
    warm = config.warmup_epochs / config.epochs
    if progress < warm:
        return config.lr * progress / warm
    t = min(1.0, (progress - warm) / (1 - warm))
    return config.min_lr + (config.lr - config.min_lr) * 0.5 * (1 + math.cos(math.pi * t))


def mae_step(model: MaskedAutoencoder, x: torch.Tensor, mask_ratio: float, norm_pix_loss: bool,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss, prediction (N, L, p*p*3) and mask (N, L; 1 = removed) of one MAE forward pass."""
    latent, mask, ids_restore = model.forward_encoder(x, mask_ratio, generator)
    prediction = model.forward_decoder(latent, ids_restore, model.grid_size(x))
    return model.reconstruction_loss(x, prediction, mask, norm_pix_loss), prediction, mask


def train_mae(config: MAETrainConfig, progress=None, log: Callable[[str], None] = print,
              images: torch.Tensor | None = None) -> tuple[MaskedAutoencoder, PretrainResult]:
    """Pretrain ``create_mae(config.model)``; ``images`` (N, H, W, 3) uint8 replaces the cached training scenes."""
    config.validate()
    torch.manual_seed(config.seed)
    rng = torch.Generator().manual_seed(config.seed)
    if images is None:
        images = training_images(config)
    if len(images) < config.batch_size:
        raise SegmentError(f"{len(images)} training images are fewer than one batch of {config.batch_size}")
    model = create_mae(config.model).to(config.device).train()
    groups = param_groups(model, config.weight_decay)
    optimizer = (KaFiStO(groups) if config.optim == "kafisto"
                 else torch.optim.AdamW(groups, lr=config.lr, betas=config.betas))
    batches = Batches(images, config, rng)
    planned = config.planned_steps()
    budget = 60 * config.max_minutes if config.max_minutes else math.inf
    result = PretrainResult(planned_steps=planned, threads=torch.get_num_threads())
    task = progress.add_task(f"train mae {config.model}", total=planned) if progress else None
    running, count, start = 0.0, 0, time.perf_counter()
    log(f"MAE {config.model}: {len(images)} scenes, batch {config.batch_size}, lr {config.lr:.2e}, "
        f"{planned} planned steps{f', time limit {config.max_minutes} min' if config.max_minutes else ''}, "
        f"{result.threads} thread(s), norm_pix_loss {config.norm_pix_loss}")
    step = 0
    while step < planned:
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            result.stopped_by_time = True
            log(f"time limit of {config.max_minutes} min reached after {step} steps")
            break
        progress_share = max(step / planned, elapsed / budget)
        lr = lr_at(progress_share, config)
        for group in optimizer.param_groups:  # per-step schedule (engine_pretrain.py)
            group["lr"] = schedule_lr(config.optim, lr, config.lr)
        loss, _, _ = mae_step(model, batches.next().to(config.device), config.mask_ratio, config.norm_pix_loss)
        if not math.isfinite(loss.item()):
            raise SegmentError(f"MAE loss diverged at step {step + 1} (lr {lr:.2e})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        step_optimizer(optimizer, loss)
        step += 1
        running, count = running + loss.item(), count + 1
        if step % config.log_every == 0 or step == planned:
            seconds = time.perf_counter() - start
            entry = {"step": step, "loss": running / count, "lr": lr, "seconds": round(seconds, 1),
                     "epoch": round(step / config.steps_per_epoch(), 2)}
            result.history.append(entry)
            running, count = 0.0, 0
            log(f"step {step}: loss {entry['loss']:.4f}, lr {lr:.2e}, epoch {entry['epoch']}, "
                f"{seconds:.0f} s ({step / seconds:.2f} steps/s)")
        if task is not None:
            progress.advance(task)
    if count:
        result.history.append({"step": step, "loss": running / count, "lr": lr,
                               "seconds": round(time.perf_counter() - start, 1),
                               "epoch": round(step / config.steps_per_epoch(), 2)})
    result.steps, result.seconds = step, time.perf_counter() - start
    return model.cpu().eval(), result


# ----------------------------------------------------------------------------------------------- evaluation


def block_visibility(grid: tuple[int, int], block: int) -> torch.Tensor:
    """(h*w,) with 0 on a centred ``block`` x ``block`` square of tokens, 1 elsewhere."""
    h, w = grid
    visible = torch.ones(h, w)
    top, left = (h - block) // 2, (w - block) // 2
    visible[top: top + block, left: left + block] = 0
    return visible.flatten()


@torch.no_grad()
def inpaint_block(model: MaskedAutoencoder, x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MOVE's use: encode every patch, decode with the centre block replaced by mask tokens (decode_soft).
    Returns the (N, 3, H, W) prediction and the (N, L) hidden-token mask (1 = hidden)."""
    grid = model.grid_size(x)
    visible = block_visibility(grid, block).expand(len(x), -1)
    prediction = model.unpatchify(model.decode_soft(model.encode_all(x), visible, grid), grid)
    return prediction, 1 - visible


def _masked_patch_mse(model: MaskedAutoencoder, x: torch.Tensor, prediction_patches: torch.Tensor,
                      mask: torch.Tensor) -> float:
    per_patch = ((prediction_patches - model.patchify(x)) ** 2).mean(-1)
    return ((per_patch * mask).sum() / mask.sum()).item()


@torch.no_grad()
def evaluate_heldout(model: MaskedAutoencoder, count: int = 300, mask_ratio: float = 0.75, block: int = 4,
                     seed: int = 0, batch: int = 100) -> dict[str, float]:
    """MSE (normalised-input space, per pixel and channel) on the removed patches of ``count`` held-out scenes at
    ``mask_ratio`` (fixed masks), against predicting each image's mean colour; and on a centred block of
    ``block`` x ``block`` tokens inpainted through ``decode_soft`` (MOVE's use), against the same baseline."""
    from reelkit.segment.data import make_scenes

    model.eval()
    x_all = to_input(torch.from_numpy(make_scenes(count, model.config.image_size, "heldout", seed).images))
    rng = torch.Generator().manual_seed(seed)
    sums = dict.fromkeys(("masked", "masked_mean", "block", "block_mean"), 0.0)
    for start in range(0, count, batch):
        x = x_all[start: start + batch]
        n = len(x)
        mean_colour = model.patchify(x.mean((2, 3), keepdim=True).expand_as(x).contiguous())
        latent, mask, ids_restore = model.forward_encoder(x, mask_ratio, rng)
        prediction = model.forward_decoder(latent, ids_restore, model.grid_size(x))
        sums["masked"] += n * _masked_patch_mse(model, x, prediction, mask)
        sums["masked_mean"] += n * _masked_patch_mse(model, x, mean_colour, mask)
        inpainted, hidden = inpaint_block(model, x, block)
        sums["block"] += n * _masked_patch_mse(model, x, model.patchify(inpainted), hidden)
        sums["block_mean"] += n * _masked_patch_mse(model, x, mean_colour, hidden)
    return {"heldout_masked_mse": sums["masked"] / count,
            "heldout_masked_mse_mean_colour": sums["masked_mean"] / count,
            "heldout_block_mse": sums["block"] / count,
            "heldout_block_mse_mean_colour": sums["block_mean"] / count}


# ----------------------------------------------------------------------------------------------- outputs


def plot_history(result: PretrainResult, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    steps = [h["step"] for h in result.history]
    left.plot(steps, [h["loss"] for h in result.history])
    left.set_xlabel("step")
    left.set_ylabel("masked-patch MSE (train)")
    left.set_yscale("log")
    right.plot(steps, [h["lr"] for h in result.history])
    right.set_xlabel("step")
    right.set_ylabel("learning rate")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


@torch.no_grad()
def save_samples(model: MaskedAutoencoder, path: Path, count: int = 8, mask_ratio: float = 0.75, block: int = 4,
                 seed: int = 0, norm_pix_loss: bool = False) -> None:
    """Rows on held-out scenes: original; masked input (removed patches grey); MAE reconstruction (visible
    patches pasted back, as the paper's figures); centre block hidden; the block inpainted by decode_soft."""
    from PIL import Image

    from reelkit.segment.data import make_scenes

    model.eval()
    x = to_input(torch.from_numpy(make_scenes(count, model.config.image_size, "heldout", seed).images))
    grid = model.grid_size(x)
    latent, mask, ids_restore = model.forward_encoder(x, mask_ratio, torch.Generator().manual_seed(seed))
    prediction = model.forward_decoder(latent, ids_restore, grid)
    if norm_pix_loss:  # show the normalised-target prediction with each patch's true mean and std (as the demo)
        target = model.patchify(x)
        prediction = prediction * (target.var(-1, keepdim=True) + 1e-6) ** 0.5 + target.mean(-1, keepdim=True)
    p2 = model.patch_size ** 2 * 3
    removed = model.unpatchify(mask[..., None].expand(-1, -1, p2), grid)
    grey = torch.zeros_like(x)  # 0 in normalised space = ImageNet mean colour
    masked_input = x * (1 - removed) + grey * removed
    pasted = x * (1 - removed) + model.unpatchify(prediction, grid) * removed
    inpainted, hidden = inpaint_block(model, x, block)
    hidden_px = model.unpatchify(hidden[..., None].expand(-1, -1, p2), grid)
    block_input = x * (1 - hidden_px) + grey * hidden_px
    block_pasted = x * (1 - hidden_px) + inpainted * hidden_px
    rows = [to_pixels(r) for r in (x, masked_input, pasted, block_input, block_pasted)]
    pad = 2
    canvas = torch.ones(3, len(rows) * (x.shape[2] + pad) + pad, count * (x.shape[3] + pad) + pad)
    for r, row in enumerate(rows):
        for c in range(count):
            top, left = pad + r * (x.shape[2] + pad), pad + c * (x.shape[3] + pad)
            canvas[:, top: top + x.shape[2], left: left + x.shape[3]] = row[c]
    array = (canvas * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(array).resize((array.shape[1] * 3, array.shape[0] * 3), Image.NEAREST).save(path)


def write_mae_outputs(model: MaskedAutoencoder, config: MAETrainConfig, result: PretrainResult,
                      metrics: dict[str, float], out: Path, command: str) -> list[Path]:
    """Weights (the whole MaskedAutoencoder: encoder + decoder), model card (.md), loss curve (_curve.png) and
    held-out samples (_samples.png)."""
    from reelkit.registry import save_weights
    from reelkit.segment.data import SOURCES
    from reelkit.text.formats import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(model, out, {"model": f"mae_{config.model}", "train_config": asdict(config), "metrics": metrics,
                              "command": command, "steps": result.steps, "seconds": round(result.seconds, 1)})
    curve, samples = out.with_name(out.stem + "_curve.png"), out.with_name(out.stem + "_samples.png")
    plot_history(result, curve, f"MAE {config.model}, batch {config.batch_size}, lr {config.lr:.1e}, "
                                f"mask {config.mask_ratio}, norm_pix_loss {config.norm_pix_loss}")
    save_samples(model, samples, mask_ratio=config.mask_ratio, norm_pix_loss=config.norm_pix_loss)
    vit = VIT_CONFIGS[config.model]
    final_loss = result.history[-1]["loss"] if result.history else float("nan")
    lines = [
        f"# {out.stem}", "",
        "Masked autoencoder (He et al., \"Masked Autoencoders Are Scalable Vision Learners\", CVPR 2022) pretrained "
        "by reelkit on its synthetic scenes: the ViT encoder sees a random 25% of the patches, a light decoder "
        "predicts the pixels of the rest. MOVE uses it as its inpainter (encode every patch, replace the tokens "
        "under a mask by the mask token with `decode_soft`, decode).", "",
        f"- Command: `{command}`",
        f"- Data: {config.scenes} scenes of `reelkit.segment.data` (split `train`, {vit.image_size} px, seed "
        f"{config.seed}; cached by `cached_scenes`): photo crops of {', '.join(SOURCES['train']['backgrounds'])} "
        "with one pasted object (photo cut-out or textured shape, soft shadow). No labels are used. "
        f"Augmentation: RandomResizedCrop scale {config.crop_scale} (bicubic) + horizontal flip; ImageNet "
        "mean/std normalisation.",
        f"- Model: `mae_{config.model}`: {vit.image_size} px, patch {vit.patch_size} ({vit.grid} x {vit.grid} tokens), "
        f"encoder dim {vit.embed_dim} depth {vit.depth} heads {vit.num_heads}; decoder dim {vit.decoder_dim} depth "
        f"{vit.decoder_depth} heads {vit.decoder_heads}; fixed 2-D sin-cos position embeddings.",
        f"- Loss: MSE on the removed patches, mask ratio {config.mask_ratio}, "
        + ("per-patch normalised pixel targets (the paper's norm_pix_loss)." if config.norm_pix_loss else
           "raw (ImageNet-normalised) pixel targets: norm_pix_loss off, as MAE's visualisation models, because "
           "MOVE needs the inpainter to output pixels."),
        f"- Optimisation: {KAFISTO_SCHEDULED if config.optim == 'kafisto' else f'AdamW betas {config.betas}'}, "
        f"weight decay {config.weight_decay} (none on biases/norms), "
        f"batch {config.batch_size}, blr {config.blr:g} -> lr {config.lr:.3g}, linear warm-up over "
        f"{config.warmup_epochs / config.epochs:.0%} of the run then half-cycle cosine to {config.min_lr:g}"
        + (f" ({CPU_NOTE})" if config.model == "vit_tiny_patch8_64" and config.blr == 1.5e-3 else "") + ".",
        f"- Steps: {result.steps} of {result.planned_steps} planned ({config.epochs:g} epochs of "
        f"{config.steps_per_epoch()} steps); {result.steps / config.steps_per_epoch():.1f} epochs done"
        + (f"; stopped by the time limit of {config.max_minutes} min (the schedule follows the elapsed share of it)"
           if result.stopped_by_time else "") + ".",
        f"- Wall time: {result.seconds / 60:.1f} min on {platform.machine()} ({platform.processor() or 'cpu'}), "
        f"{result.threads} torch thread(s). Final training loss (last {config.log_every} steps): {final_loss:.4f}.",
        "- Metrics (300 held-out scenes, split `heldout`: backgrounds and objects never trained on; MSE per pixel and "
        "channel in the normalised input space):",
        *[f"  - {name.replace('_', ' ')}: {value:.4g}" if isinstance(value, float) else f"  - {name.replace('_', ' ')}: {value}"
          for name, value in metrics.items()],
        "  (masked: the removed patches at mask ratio 0.75 with fixed random masks; block: the centre 4 x 4 tokens "
        "hidden through `decode_soft` after encoding every patch, MOVE's use; mean colour: predicting each "
        "image's mean colour, computed over the whole image.)",
        f"- Loss curve: `{curve.name}`; samples (rows: held-out scene, masked input, reconstruction with visible "
        f"patches pasted back, centre block hidden, block inpainted): `{samples.name}`", "",
    ]
    atomic_write(out.with_suffix(".md"), "\n".join(lines))
    return [out, out.with_suffix(".md"), curve, samples]


# ----------------------------------------------------------------------------------------------- CLI


def train_mae_command(
    out: Path = typer.Option(Path("src/reelkit/weights/mae_vittiny8.safetensors"), "--out", "-o",
                             help="Weights file to write (model card .md, _curve.png and _samples.png beside it)."),
    config_name: str = typer.Option("vit_tiny_patch8_64", "--config",
                                    help="vit_tiny_patch8_64 (CPU, 64 px), vit_base_patch16 / vit_large_patch16 "
                                         "(the paper's 224 px, batch 4096, 800 epochs), vit_micro_patch8_32 (tests)."),
    scenes: Optional[int] = typer.Option(None, min=2, help="Training scenes (split train; default: the config's)."),
    batch_size: Optional[int] = typer.Option(None, min=2, help="Batch size (lr = blr * batch / 256)."),
    epochs: Optional[float] = typer.Option(None, min=0.01, help="Planned epochs (the schedule's length)."),
    max_minutes: Optional[float] = typer.Option(None, min=0.01, help="Stop training after this many minutes."),
    blr: Optional[float] = typer.Option(None, min=0.0, help="Base learning rate (default: the config's)."),
    heldout: int = typer.Option(300, min=0, help="Held-out scenes to evaluate on after training (0: skip)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch threads (default: torch's)."),
    seed: int = typer.Option(0),
    norm_pix_loss: bool = typer.Option(False, "--norm-pix-loss/--no-norm-pix-loss",
                                       help="The paper's per-patch normalised target (off: pixels, for MOVE)."),
    device: str = typer.Option("cpu", help="cpu, or cuda for the full-scale configs."),
    optim: str = typer.Option("adamw", help="adamw (the paper's) or kafisto (the same schedule's shape as its target)."),
) -> None:
    """Pretrain a masked autoencoder (MAE) on reelkit's scenes: MOVE's inpainter. Writes weights, card, curve, samples."""
    from reelkit.cli import console, progress_bar
    from reelkit.segment.cli import report_training_run, start_training_run

    if config_name not in MAE_CONFIGS:
        raise SegmentError(f"unknown MAE config {config_name!r}; choose one of {', '.join(MAE_CONFIGS)}")
    overrides = {k: v for k, v in dict(scenes=scenes, batch_size=batch_size, epochs=epochs, max_minutes=max_minutes,
                                       blr=blr).items() if v is not None}
    config = replace(MAE_CONFIGS[config_name], seed=seed, norm_pix_loss=norm_pix_loss, device=device, optim=optim,
                     **overrides)
    if epochs is not None:  # keep the warm-up's share of the run
        base = MAE_CONFIGS[config_name]
        config = replace(config, warmup_epochs=epochs * base.warmup_epochs / base.epochs)
    config.validate()  # a bad config fails before any folder is made
    command = start_training_run(out, threads)
    with progress_bar() as progress:
        trained, result = train_mae(config, progress=progress, log=console.print)
    metrics: dict[str, float] = {}
    if heldout:
        with console.status(f"evaluating on {heldout} held-out scenes"):
            metrics = evaluate_heldout(trained, heldout, config.mask_ratio)
    metrics["train_minutes"] = round(result.seconds / 60, 1)
    report_training_run(metrics, write_mae_outputs(trained, config, result, metrics, out, command))
