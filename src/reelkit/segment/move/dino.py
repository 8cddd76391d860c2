"""``reelkit train dino``: DINO self-distillation (Caron et al., "Emerging Properties in Self-Supervised Vision
Transformers", ICCV 2021) of reelkit's small ViT on reelkit's synthetic scenes.

A student (ViT + projection head) sees 2 global and several local crops of each image; a teacher of the same
architecture, an exponential moving average of the student (Sec. 3.1), sees only the 2 global crops. The student
matches the teacher's centred, sharpened softmax by cross-entropy over every pair of different views (Sec. 3.1,
Eq. 3). The shipped weights are the teacher's backbone only (what DINO releases and MOVE freezes).

Defaults follow the official code (github.com/facebookresearch/dino, ``main_dino.py``, ``vision_transformer.py``,
``utils.py``); each is noted where it is set. ``dino_vits16`` is the official ViT-S/16 recipe; ``dino_tiny`` is the
CPU recipe for 64 px scenes (smaller head output, fewer and smaller local crops). Training is time-bounded:
the schedules (learning rate, weight decay, teacher momentum and temperature, last-layer freeze) run over the
planned number of steps, and with ``max_minutes`` that plan is cut, after a few measured steps, to what fits the
budget, so a time-bounded run still ends with the learning rate at its minimum and the momentum near 1.

The augmentations are written with torch ops on whole batches (no torchvision); see :func:`multi_crop`.
"""

from __future__ import annotations

import copy
import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
import typer
from torch import nn

from reelkit.errors import SegmentError
from reelkit.optim import KaFiStO, schedule_lr, step_optimizer
from reelkit.segment.move.vit import (IMAGENET_MEAN, IMAGENET_STD, KAFISTO_SCHEDULED, VIT_CONFIGS, PretrainResult,
                                      VisionTransformer, check_device, check_optim, create_vit)


# --------------------------------------------------------------------------------------------------- configs

@dataclass
class DinoConfig:
    name: str = "dino_tiny"
    backbone: str = "vit_tiny_patch8_64"
    device: str = "cpu"  # "cuda" for the full-scale config
    global_size: int = 64  # official: 224 (main_dino.py DataAugmentationDINO)
    local_size: int = 32  # official: 96
    local_crops: int = 6  # official: --local_crops_number 8
    global_scale: tuple[float, float] = (0.4, 1.0)  # official: --global_crops_scale 0.4 1.
    local_scale: tuple[float, float] = (0.05, 0.4)  # official: --local_crops_scale 0.05 0.4
    out_dim: int = 4096  # official: --out_dim 65536 (ImageNet); reelkit's scenes are far less varied
    hidden_dim: int = 2048  # official: DINOHead hidden_dim 2048
    bottleneck_dim: int = 256  # official: DINOHead bottleneck_dim 256
    norm_last_layer: bool = True  # official: --norm_last_layer True (weight_g fixed to 1)
    batch_size: int = 64  # official: --batch_size_per_gpu 64 (x 16 GPUs for the paper's 1024)
    epochs: float = 10.0  # plans the steps (epochs * scenes / batch); official: --epochs 100
    base_lr: float = 0.0005  # official: --lr 0.0005 for batch 256, scaled linearly with the batch (Sec. 3 / App.)
    min_lr: float = 1e-6  # official: --min_lr 1e-6 (cosine schedule)
    warmup_fraction: float = 0.1  # official: --warmup_epochs 10 of 100 (linear lr warm-up)
    weight_decay: float = 0.04  # official: --weight_decay 0.04
    weight_decay_end: float = 0.4  # official: --weight_decay_end 0.4 (cosine)
    clip_grad: float = 3.0  # official: --clip_grad 3.0 (per-parameter norm, utils.clip_gradients)
    freeze_last_layer_fraction: float = 0.05  # official: --freeze_last_layer 1 epoch of 100; longer share here
    momentum_teacher: float = 0.996  # official: --momentum_teacher 0.996, cosine to 1 (Sec. 3.1)
    warmup_teacher_temp: float = 0.04  # official: --warmup_teacher_temp 0.04
    teacher_temp: float = 0.04  # official: --teacher_temp 0.04
    teacher_temp_warmup_fraction: float = 0.1  # official: --warmup_teacher_temp_epochs (README: 30 of 300)
    student_temp: float = 0.1  # official: DINOLoss student_temp 0.1
    center_momentum: float = 0.9  # official: DINOLoss center_momentum 0.9
    blur_reference: tuple[int, int] = (224, 96)  # sigma range 0.1-2 px is the official one at 224 / 96 px; scaled
    scenes: int = 20000  # training scenes (reelkit.segment.data, split train, cached)
    seed: int = 0
    log_every: int = 10
    max_minutes: float | None = None  # stop after this wall time; the plan is cut to fit it
    calibrate_steps: int = 5  # steps timed before the plan is cut to max_minutes
    optim: str = "adamw"  # or "kafisto": its target share follows the lr schedule's shape (1 at the peak)

    def validate(self) -> None:
        check_device(self.device)
        check_optim(self.optim)
        if self.backbone not in VIT_CONFIGS:
            raise SegmentError(f"unknown ViT {self.backbone!r}; choose one of {', '.join(VIT_CONFIGS)}")
        patch = VIT_CONFIGS[self.backbone].patch_size
        if self.global_size % patch or self.local_size % patch or self.local_size < patch:
            raise SegmentError(f"crop sizes {self.global_size}/{self.local_size} must be multiples of the patch size {patch}")
        if self.batch_size < 2 or self.scenes < self.batch_size:
            raise SegmentError(f"batch size must be >= 2 and <= scenes ({self.scenes}), got {self.batch_size}")
        if self.local_crops < 0 or self.out_dim < 2 or self.epochs <= 0:
            raise SegmentError("local_crops must be >= 0, out_dim >= 2 and epochs > 0")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise SegmentError(f"max_minutes must be positive, got {self.max_minutes}")
        for name in ("global_scale", "local_scale"):
            low, high = getattr(self, name)
            if not 0 < low <= high <= 1:
                raise SegmentError(f"{name} must satisfy 0 < low <= high <= 1, got {(low, high)}")

    @property
    def image_size(self) -> int:
        return VIT_CONFIGS[self.backbone].image_size

    @property
    def lr(self) -> float:
        return self.base_lr * self.batch_size / 256  # linear scaling rule (main_dino.py)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.scenes // self.batch_size)  # drop_last=True as the official loader

    @property
    def planned_steps(self) -> int:
        return max(1, round(self.epochs * self.steps_per_epoch))


DINO_CONFIGS: dict[str, DinoConfig] = {
    # The official ViT-S/16 recipe (main_dino.py defaults; ImageNet, 224 px images, here at image_size 224).
    "dino_vits16": DinoConfig(name="dino_vits16", backbone="vit_small_patch16", global_size=224, local_size=96,
                              local_crops=8, out_dim=65536, epochs=100, freeze_last_layer_fraction=0.01,
                              teacher_temp_warmup_fraction=0.0, scenes=1281167),
    # reelkit's CPU recipe: 64 px scenes, 8 px patches, 2 x 64 px global and 6 x 32 px local crops. A run of a few
    # hundred steps needs a shorter teacher memory than 0.996 (which leaves ~40% of the random init in the teacher
    # after 250 steps: prod(m) ~ exp(-(1 - m0) * steps / 2)); 0.99 leaves ~8% after 500.
    "dino_tiny": DinoConfig(momentum_teacher=0.99),
    # For tests: a step in a fraction of a second.
    "dino_micro": DinoConfig(name="dino_micro", backbone="vit_micro_patch8_32", global_size=32, local_size=16,
                             local_crops=2, out_dim=64, hidden_dim=64, bottleneck_dim=16, batch_size=8, epochs=1,
                             scenes=32, log_every=2, calibrate_steps=2),
}


def dino_config(name: str, **overrides) -> DinoConfig:
    if name not in DINO_CONFIGS:
        raise SegmentError(f"unknown DINO config {name!r}; choose one of {', '.join(DINO_CONFIGS)}")
    return replace(DINO_CONFIGS[name], **{k: v for k, v in overrides.items() if v is not None})


# ------------------------------------------------------------------------------------------------ head, loss

class WeightNormLinear(nn.Module):
    """Linear without bias, weight = g * v / ||v|| per output row (Salimans & Kingma 2016), as DINO's last layer."""

    def __init__(self, in_dim: int, out_dim: int, fixed_norm: bool = True):
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(out_dim, in_dim))
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))  # nn.Linear's default init
        # official: weight_g filled with 1 and frozen when norm_last_layer (vision_transformer.py DINOHead)
        self.weight_g = nn.Parameter(torch.ones(out_dim, 1), requires_grad=not fixed_norm)

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_g * F.normalize(self.weight_v, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class DINOHead(nn.Module):
    """3-layer MLP (GELU) to an L2-normalised bottleneck, then the weight-normalised last layer (Sec. 3.1, App.)."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 2048, bottleneck_dim: int = 256,
                 norm_last_layer: bool = True):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, bottleneck_dim))
        for module in self.mlp:
            if isinstance(module, nn.Linear):  # official: trunc_normal std 0.02, zero bias
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        self.last_layer = WeightNormLinear(bottleneck_dim, out_dim, fixed_norm=norm_last_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(F.normalize(self.mlp(x), dim=-1))


class DINOModel(nn.Module):
    """Backbone + head over a list of crops; crops of one size go through the backbone together."""

    def __init__(self, backbone: VisionTransformer, head: DINOHead):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, crops: list[torch.Tensor]) -> torch.Tensor:
        outputs, start = [], 0
        while start < len(crops):
            end = start
            while end < len(crops) and crops[end].shape[-2:] == crops[start].shape[-2:]:
                end += 1
            outputs.append(self.backbone(torch.cat(crops[start:end])))
            start = end
        return self.head(torch.cat(outputs))  # (crops * N, out_dim), crop-major


class DINOLoss(nn.Module):
    """H(P_t(x_g), P_s(x')) summed over global views x_g and every other view x' (Sec. 3.1, Eq. 3), averaged."""

    def __init__(self, out_dim: int, crops: int, student_temp: float = 0.1, center_momentum: float = 0.9):
        super().__init__()
        self.crops, self.student_temp, self.center_momentum = crops, student_temp, center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(self, student_output: torch.Tensor, teacher_output: torch.Tensor, teacher_temp: float,
                update_center: bool = True) -> torch.Tensor:
        student = F.log_softmax(student_output / self.student_temp, dim=-1).chunk(self.crops)
        teacher = F.softmax((teacher_output - self.center) / teacher_temp, dim=-1).detach().chunk(2)  # centre, sharpen
        total, terms = student_output.new_zeros(()), 0
        for t, q in enumerate(teacher):
            for s, log_p in enumerate(student):
                if s == t:  # the same view for teacher and student is skipped (official DINOLoss)
                    continue
                total = total + (-q * log_p).sum(-1).mean()
                terms += 1
        if update_center:
            self.update_center(teacher_output)
        return total / terms

    @torch.no_grad()
    def update_center(self, teacher_output: torch.Tensor) -> None:
        """c <- m c + (1 - m) mean(teacher outputs) (Sec. 3.1, Eq. 4; m = 0.9)."""
        batch_center = teacher_output.mean(0, keepdim=True)
        self.center.mul_(self.center_momentum).add_(batch_center * (1 - self.center_momentum))


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """theta_t <- m theta_t + (1 - m) theta_s (Sec. 3.1)."""
    for param_t, param_s in zip(teacher.parameters(), student.parameters()):
        param_t.mul_(momentum).add_(param_s.detach(), alpha=1 - momentum)


def cosine_value(base: float, final: float, step: int, total: int, warmup: int = 0, warmup_start: float = 0.0) -> float:
    """Linear warm-up from ``warmup_start`` over ``warmup`` steps, then cosine from ``base`` to ``final`` (utils.cosine_scheduler)."""
    if step < warmup:
        return warmup_start + (base - warmup_start) * step / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return final + 0.5 * (base - final) * (1 + math.cos(math.pi * progress))


def param_groups(model: nn.Module) -> list[dict]:
    """No weight decay on biases and norms (official utils.get_params_groups: names ending .bias or 1-D tensors)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name.endswith(".bias") or param.ndim == 1 else decay).append(param)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def clip_gradients(model: nn.Module, clip: float) -> None:
    """Each parameter's gradient scaled to norm <= clip separately (official utils.clip_gradients)."""
    for param in model.parameters():
        if param.grad is not None:
            norm = param.grad.norm(2)
            coef = clip / (norm + 1e-6)
            if coef < 1:
                param.grad.mul_(coef)


# -------------------------------------------------------------------------------------------- augmentation

_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as PIL's convert("L")


def _uniform(n: int, low: float, high: float, generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(n, *shape, generator=generator) * (high - low) + low


def _coin(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def random_resized_crop(images: torch.Tensor, size: int, scale: tuple[float, float], generator: torch.Generator,
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), flip_p: float = 0.5, tries: int = 10) -> torch.Tensor:
    """RandomResizedCrop (area fraction in ``scale``, log-uniform aspect in ``ratio``, 10 tries, else the whole
    image) and a horizontal flip with probability ``flip_p``, as one bicubic affine resample per image."""
    n, _, height, width = images.shape
    area = _uniform(n, *scale, generator, tries) * height * width
    aspect = torch.exp(_uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator, tries))
    w, h = torch.sqrt(area * aspect), torch.sqrt(area / aspect)
    ok = (w <= width) & (h <= height)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.zeros(n, dtype=torch.long))
    w = torch.where(ok.any(1), w.gather(1, first[:, None])[:, 0], torch.full((n,), float(width)))
    h = torch.where(ok.any(1), h.gather(1, first[:, None])[:, 0], torch.full((n,), float(height)))
    x0 = torch.rand(n, generator=generator) * (width - w)
    y0 = torch.rand(n, generator=generator) * (height - h)
    sign = torch.where(_coin(n, flip_p, generator), -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = sign * w / width
    theta[:, 0, 2] = (x0 + w / 2) / width * 2 - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (y0 + h / 2) / height * 2 - 1
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bicubic", padding_mode="border", align_corners=False).clamp_(0, 1)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    weights = images.new_tensor(_GRAY).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    r, g, b = images.unbind(1)
    maxc, minc = images.max(1).values, images.min(1).values
    delta = maxc - minc
    flat = delta == 0
    s = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    d = torch.where(flat, torch.ones_like(delta), delta)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(flat, torch.zeros_like(h), h)
    return torch.stack([torch.remainder(h / 6.0, 1.0), s, maxc], 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    h, s, v = hsv.unbind(1)
    sector = torch.floor(h * 6.0)
    f = h * 6.0 - sector
    sector = sector.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # (r, g, b) per sector 0..5 of the hue circle
    table = torch.stack([torch.stack(c, 1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))], 1)
    return table.gather(1, sector[:, None, None].expand(-1, 1, 3, -1, -1)).squeeze(1)


def color_jitter(images: torch.Tensor, generator: torch.Generator, brightness: float = 0.4, contrast: float = 0.4,
                 saturation: float = 0.2, hue: float = 0.1, p: float = 0.8) -> torch.Tensor:
    """ColorJitter(0.4, 0.4, 0.2, 0.1) applied with probability 0.8 (official DataAugmentationDINO), per image
    factors; the four operations run in one random order per call (torchvision draws one per image)."""
    n = len(images)
    apply = _coin(n, p, generator).view(n, 1, 1, 1)
    factors = {
        "brightness": _uniform(n, 1 - brightness, 1 + brightness, generator).view(n, 1, 1, 1),
        "contrast": _uniform(n, 1 - contrast, 1 + contrast, generator).view(n, 1, 1, 1),
        "saturation": _uniform(n, 1 - saturation, 1 + saturation, generator).view(n, 1, 1, 1),
        "hue": _uniform(n, -hue, hue, generator).view(n, 1, 1),
    }
    out = images
    for index in torch.randperm(4, generator=generator).tolist():
        name = ("brightness", "contrast", "saturation", "hue")[index]
        f = factors[name]
        if name == "brightness":
            out = (out * f).clamp(0, 1)
        elif name == "contrast":
            mean = grayscale(out).mean((2, 3), keepdim=True)
            out = (mean + f * (out - mean)).clamp(0, 1)
        elif name == "saturation":
            gray = grayscale(out)
            out = (gray + f * (out - gray)).clamp(0, 1)
        else:
            hsv = rgb_to_hsv(out)
            hsv = torch.stack([torch.remainder(hsv[:, 0] + f, 1.0), hsv[:, 1], hsv[:, 2]], 1)
            out = hsv_to_rgb(hsv).clamp(0, 1)
    return torch.where(apply, out, images)


def random_grayscale(images: torch.Tensor, generator: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """RandomGrayscale(p=0.2) (official)."""
    chosen = _coin(len(images), p, generator).view(-1, 1, 1, 1)
    return torch.where(chosen, grayscale(images).expand_as(images), images)


def gaussian_blur(images: torch.Tensor, generator: torch.Generator, p: float, sigma: tuple[float, float]) -> torch.Tensor:
    """Gaussian blur with probability ``p`` and sigma uniform in ``sigma`` per image (official utils.GaussianBlur:
    radius 0.1 to 2 at 224 / 96 px; reelkit scales the range with the crop size)."""
    n, c, height, width = images.shape
    chosen = _coin(n, p, generator)
    if not chosen.any():
        return images
    sigmas = _uniform(n, *sigma, generator)
    radius = max(1, min(math.ceil(3 * sigma[1]), min(height, width) // 2 - 1))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-offsets[None] ** 2 / (2 * sigmas[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)
    identity = (offsets == 0).to(images.dtype).expand(n, -1)
    kernel = torch.where(chosen[:, None], kernel, identity).repeat_interleave(c, 0)  # (n*c, k)
    x = F.pad(images.reshape(1, n * c, height, width), (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(n * c, 1, 1, -1), groups=n * c)
    x = F.conv2d(x, kernel.view(n * c, 1, -1, 1), groups=n * c)
    return x.view(n, c, height, width)


def solarize(images: torch.Tensor, generator: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """Invert pixels >= 0.5 with probability ``p`` (official utils.Solarization: PIL ImageOps.solarize, threshold 128)."""
    chosen = _coin(len(images), p, generator).view(-1, 1, 1, 1)
    return torch.where(chosen & (images >= 0.5), 1 - images, images)


def normalize(images: torch.Tensor) -> torch.Tensor:
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def multi_crop(images: torch.Tensor, config: DinoConfig, generator: torch.Generator) -> list[torch.Tensor]:
    """DINO's multi-crop views of (N, 3, H, W) images in [0, 1] (official DataAugmentationDINO): 2 global crops
    (blur p 1.0 for the first; blur p 0.1 and solarisation p 0.2 for the second) and ``local_crops`` local crops
    (blur p 0.5), each with flip, colour jitter and random grayscale; ImageNet-normalised."""
    global_sigma = tuple(s * config.global_size / config.blur_reference[0] for s in (0.1, 2.0))
    local_sigma = tuple(s * config.local_size / config.blur_reference[1] for s in (0.1, 2.0))

    def view(size: int, scale: tuple[float, float]) -> torch.Tensor:
        crop = random_resized_crop(images, size, scale, generator)
        return random_grayscale(color_jitter(crop, generator), generator)

    first = gaussian_blur(view(config.global_size, config.global_scale), generator, 1.0, global_sigma)
    second = solarize(gaussian_blur(view(config.global_size, config.global_scale), generator, 0.1, global_sigma), generator, 0.2)
    locals_ = [gaussian_blur(view(config.local_size, config.local_scale), generator, 0.5, local_sigma)
               for _ in range(config.local_crops)]
    return [normalize(x) for x in (first, second, *locals_)]


def to_unit(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def to_vit_input(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> the ViT's ImageNet-normalised NCHW input."""
    return normalize(to_unit(images))


# ---------------------------------------------------------------------------------------------------- training

def build_student(config: DinoConfig) -> DINOModel:
    backbone = create_vit(config.backbone)
    head = DINOHead(backbone.embed_dim, config.out_dim, config.hidden_dim, config.bottleneck_dim, config.norm_last_layer)
    return DINOModel(backbone, head)


def load_training_images(config: DinoConfig) -> np.ndarray:
    from reelkit.segment.data import cached_scenes

    return cached_scenes(config.scenes, config.image_size, "train", config.seed).images


def train_dino(config: DinoConfig, progress=None, log: Callable[[str], None] = print,
               images: np.ndarray | None = None) -> tuple[VisionTransformer, PretrainResult]:
    """Train student and teacher; returns the teacher's backbone (eval mode) and the history."""
    config.validate()
    if images is None:
        images = load_training_images(config)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    student = build_student(config).to(config.device).train()
    teacher = copy.deepcopy(student).eval().requires_grad_(False)  # teacher starts as the student (main_dino.py)
    crops = 2 + config.local_crops
    loss_fn = DINOLoss(config.out_dim, crops, config.student_temp, config.center_momentum).to(config.device)
    groups = param_groups(student)  # lr and wd set by the schedules each step
    optimizer = KaFiStO(groups) if config.optim == "kafisto" else torch.optim.AdamW(groups, lr=0.0)
    result = PretrainResult(planned_steps=config.planned_steps, threads=torch.get_num_threads())
    planned = config.planned_steps
    order, position = torch.empty(0, dtype=torch.long), 0
    keys = ("loss", "teacher_entropy", "batch_entropy")
    running = dict.fromkeys(keys, 0.0)
    count = 0
    task = progress.add_task(f"train DINO {config.name}", total=planned) if progress else None
    log(f"DINO {config.name}: {len(images)} scenes, batch {config.batch_size}, {crops} crops, planned {planned} steps"
        + (f", time limit {config.max_minutes} min" if config.max_minutes else ""))
    start = time.perf_counter()
    step, last_plan = 0, (0, 0.0)  # (step, seconds) of the last re-plan
    while step < planned:
        if position + config.batch_size > len(order):
            order, position = torch.randperm(len(images), generator=generator), 0
        batch = to_unit(images[order[position: position + config.batch_size].numpy()])
        position += config.batch_size
        views = [view.to(config.device) for view in multi_crop(batch, config, generator)]

        warmup = round(config.warmup_fraction * planned)
        lr = schedule_lr(config.optim, cosine_value(config.lr, config.min_lr, step, planned, warmup), config.lr)
        wd = cosine_value(config.weight_decay, config.weight_decay_end, step, planned)
        momentum = cosine_value(config.momentum_teacher, 1.0, step, planned)
        temp_warmup = round(config.teacher_temp_warmup_fraction * planned)
        teacher_temp = (config.warmup_teacher_temp + (config.teacher_temp - config.warmup_teacher_temp) * step / temp_warmup
                        if step < temp_warmup else config.teacher_temp)
        optimizer.param_groups[0].update(lr=lr, weight_decay=wd)  # only the first group is decayed
        optimizer.param_groups[1].update(lr=lr)

        with torch.no_grad():
            teacher_output = teacher(views[:2])  # only the global views go through the teacher
        student_output = student(views)
        loss = loss_fn(student_output, teacher_output, teacher_temp)
        if not math.isfinite(loss.item()):
            raise SegmentError(f"DINO loss is {loss.item()} at step {step + 1}; stopping")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad:
            clip_gradients(student, config.clip_grad)
        if step < round(config.freeze_last_layer_fraction * planned):
            for param in student.head.last_layer.parameters():
                param.grad = None  # last layer frozen early on (official cancel_gradients_last_layer)
        step_optimizer(optimizer, loss)
        ema_update(teacher, student, momentum)
        step += 1

        with torch.no_grad():  # collapse monitors (Sec. 5.3): per-sample and batch-mean entropy of the teacher
            probs = F.softmax((teacher_output - loss_fn.center) / teacher_temp, dim=-1)
            sample_entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean().item()
            mean = probs.mean(0)
            batch_entropy = -(mean * mean.clamp_min(1e-12).log()).sum().item()
        for key, value in zip(keys, (loss.item(), sample_entropy, batch_entropy)):
            running[key] += value
        count += 1
        elapsed = time.perf_counter() - start
        if config.max_minutes is not None and step >= config.calibrate_steps and step < planned and (
                step == config.calibrate_steps or step % config.log_every == 0):
            # re-plan from the step time since the last re-plan (a shared CPU's speed drifts), so the schedules
            # reach their final values when the budget runs out
            per_step = (elapsed - last_plan[1]) / (step - last_plan[0])
            fits = min(config.planned_steps, step + max(1, int((60 * config.max_minutes * 0.98 - elapsed) / per_step)))
            if fits != planned:
                if step == config.calibrate_steps or abs(fits - planned) > 0.05 * planned:
                    log(f"{per_step:.2f} s/step: plan {planned} -> {fits} steps to fit {config.max_minutes} min")
                planned = fits
                if task is not None:
                    progress.update(task, total=planned)
            last_plan = (step, elapsed)
        if step % config.log_every == 0 or step == planned:
            entry = {"step": step, **{k: v / count for k, v in running.items()}, "lr": lr, "weight_decay": wd,
                     "momentum": momentum, "teacher_temp": teacher_temp, "seconds": round(elapsed, 1)}
            result.history.append(entry)
            running, count = dict.fromkeys(keys, 0.0), 0
            log(f"step {step}/{planned}: loss {entry['loss']:.4f}, teacher entropy {entry['teacher_entropy']:.3f}, "
                f"batch entropy {entry['batch_entropy']:.3f}, lr {lr:.2e}, m {momentum:.5f}, {elapsed:.0f} s")
        if task is not None:
            progress.advance(task)
        if config.max_minutes is not None and elapsed > 60 * config.max_minutes:
            result.stopped_by_time = True
            log(f"time limit of {config.max_minutes} min reached after {step} of {planned} steps")
            break
    if count:
        result.history.append({"step": step, **{k: v / count for k, v in running.items()},
                               "seconds": round(time.perf_counter() - start, 1)})
    result.steps, result.planned_steps = step, planned
    result.seconds = time.perf_counter() - start
    return teacher.backbone.cpu().eval(), result


# ------------------------------------------------------------------------------------------------- evaluation

def patch_labels(masks: np.ndarray, patch: int) -> np.ndarray:
    """(N, H, W) bool -> (N, h*w) bool: a patch is foreground when more than half its pixels are object."""
    n, height, width = masks.shape
    cover = masks.reshape(n, height // patch, patch, width // patch, patch).mean((2, 4))
    return (cover > 0.5).reshape(n, -1)


@torch.no_grad()
def patch_features(backbone: VisionTransformer, images: np.ndarray, block: int, norm: bool, batch: int = 100) -> np.ndarray:
    backbone.eval()
    feats = [backbone.block_tokens(to_vit_input(images[i: i + batch]), block, norm)[:, 1:]
             for i in range(0, len(images), batch)]
    return torch.cat(feats).numpy()


def _balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in (False, True) if np.any(truth == c)]))


def separability(features: np.ndarray, labels: np.ndarray, k: int = 20) -> dict[str, float]:
    """Linear-probe and k-NN (cosine, k=20) balanced accuracy of fg/bg patches; scenes split in halves
    (train on the first, test on the second) so no scene is on both sides."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    half = len(features) // 2
    dim = features.shape[-1]
    x_train, y_train = features[:half].reshape(-1, dim), labels[:half].reshape(-1)
    x_test, y_test = features[half:].reshape(-1, dim), labels[half:].reshape(-1)
    if y_train.all() or not y_train.any():
        return {}
    scaler = StandardScaler().fit(x_train)
    probe = LogisticRegression(max_iter=2000, class_weight="balanced").fit(scaler.transform(x_train), y_train)
    linear = _balanced_accuracy(y_test, probe.predict(scaler.transform(x_test)))
    a = torch.from_numpy(x_train).float()
    b = torch.from_numpy(x_test).float()
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    train_labels = torch.from_numpy(y_train)
    votes = []
    for i in range(0, len(b), 2048):
        nearest = (b[i: i + 2048] @ a.T).topk(min(k, len(a)), dim=1).indices
        # class-balanced vote: each neighbour weighted by the inverse frequency of its class
        weights = torch.where(train_labels[nearest], 1 / train_labels.float().mean(), 1 / (1 - train_labels.float().mean()))
        fg = (weights * train_labels[nearest].float()).sum(1)
        votes.append(fg > weights.sum(1) / 2)
    knn = _balanced_accuracy(y_test, torch.cat(votes).numpy())
    return {"linear": linear, "knn": knn}


def evaluate_separability(backbone: VisionTransformer, config: DinoConfig, count: int = 300, seed: int = 0
                          ) -> dict[str, float]:
    """fg/bg patch separability on ``count`` held-out scenes for the trained backbone and a random one (same init seed),
    from the penultimate block (MOVE's features) and the last normed block."""
    from reelkit.segment.data import make_scenes

    scenes = make_scenes(count, config.image_size, "heldout", seed)
    labels = patch_labels(scenes.masks, backbone.patch_size)
    torch.manual_seed(config.seed)
    random_backbone = create_vit(config.backbone)
    metrics: dict[str, float] = {"heldout_scenes": count, "heldout_fg_patch_fraction": round(float(labels.mean()), 4)}
    for tag, model in (("dino", backbone), ("random", random_backbone)):
        for where, block, norm in (("penultimate", -2, False), ("last", -1, True)):
            for name, value in separability(patch_features(model, scenes.images, block, norm), labels).items():
                metrics[f"{tag}_{where}_{name}_bal_acc"] = round(value, 4)
    return metrics


# ---------------------------------------------------------------------------------------------------- outputs

def plot_history(result: PretrainResult, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    steps = [h["step"] for h in result.history]
    left.plot(steps, [h["loss"] for h in result.history], label="DINO loss")
    left.set_xlabel("step")
    left.legend(fontsize=7)
    right.plot(steps, [h["teacher_entropy"] for h in result.history], label="teacher entropy (per sample)")
    right.plot(steps, [h["batch_entropy"] for h in result.history], label="entropy of the batch-mean teacher output")
    right.set_xlabel("step")
    right.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_dino_outputs(backbone: VisionTransformer, config: DinoConfig, result: PretrainResult,
                       metrics: dict[str, float], out: Path, command: str) -> list[Path]:
    """Teacher-backbone weights (keys exactly as VisionTransformer), model card (.md) and curves (_curve.png)."""
    from reelkit.registry import save_weights
    from reelkit.segment.data import SOURCES
    from reelkit.text.formats import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(backbone, out, {"model": config.backbone, "train_config": asdict(config), "metrics": metrics,
                                 "command": command, "steps": result.steps, "seconds": round(result.seconds, 1)})
    curve = out.with_name(out.stem + "_curve.png")
    plot_history(result, curve, f"DINO {config.name} ({config.backbone}), batch {config.batch_size}, {result.steps} steps")
    vit = VIT_CONFIGS[config.backbone]
    losses = [h["loss"] for h in result.history]
    lines = [
        f"# {out.stem}", "",
        "DINO self-distillation (Caron et al., \"Emerging Properties in Self-Supervised Vision Transformers\", ICCV "
        "2021) of a small ViT on reelkit's synthetic scenes. The weights are the teacher's backbone (no head), in "
        "DINO's parameter layout; MOVE uses them as its frozen feature extractor (`create_model(\"dino_vittiny8\", "
        "pretrained=True)`, `block_tokens(x, block=-2)`).", "",
        f"- Command: `{command}`",
        f"- Data: {config.scenes} scenes of `reelkit.segment.data` (split `train`, {config.image_size} px, seed "
        f"{config.seed}, `cached_scenes`): photo crops of {', '.join(SOURCES['train']['backgrounds'])} with one pasted "
        "object. No labels are used. Input: (x / 255 - ImageNet mean) / ImageNet std, NCHW.",
        f"- Backbone: `{config.backbone}`: {vit.image_size} px, patch {vit.patch_size}, dim {vit.embed_dim}, depth "
        f"{vit.depth}, {vit.num_heads} heads (no stochastic depth: the official student uses drop path 0.1).",
        f"- Head: 3-layer MLP (GELU, hidden {config.hidden_dim}), L2-normalised bottleneck {config.bottleneck_dim}, "
        f"weight-normalised last layer to {config.out_dim} (norm fixed to 1: {config.norm_last_layer}).",
        f"- Crops: 2 global at {config.global_size} px (scale {config.global_scale}), {config.local_crops} local at "
        f"{config.local_size} px (scale {config.local_scale}); flip, colour jitter 0.4/0.4/0.2/0.1 (p 0.8), grayscale "
        "p 0.2, Gaussian blur p 1.0 / 0.1 / 0.5 (sigma range scaled with the crop size), solarisation p 0.2 on the "
        "second global crop; torch ops, bicubic resampling.",
        f"- Optimisation: {KAFISTO_SCHEDULED if config.optim == 'kafisto' else 'AdamW'}, "
        f"batch {config.batch_size}, lr {config.lr:.3g} (0.0005 x batch / 256) with "
        f"{config.warmup_fraction:.0%} linear warm-up then cosine to {config.min_lr}, weight decay {config.weight_decay} "
        f"-> {config.weight_decay_end} (cosine; none on biases and norms), per-parameter gradient clipping "
        f"{config.clip_grad}, last layer frozen for the first {config.freeze_last_layer_fraction:.0%} of the steps; "
        f"teacher momentum {config.momentum_teacher} -> 1 (cosine), teacher temperature {config.warmup_teacher_temp} -> "
        f"{config.teacher_temp}, student temperature {config.student_temp}, centre momentum {config.center_momentum}.",
        f"- Steps: {result.steps} (final plan {result.planned_steps}; the schedules run over the plan"
        f"{f', re-planned every {config.log_every} steps from the measured step time to fit {config.max_minutes} min' if config.max_minutes else ''}), "
        f"{result.steps * config.batch_size / config.scenes:.2f} epochs; wall time {result.seconds / 60:.1f} min.",
        f"- Loss: first {losses[0]:.4f}, final {losses[-1]:.4f} (ln {math.log(config.out_dim):.2f} "
        "would be a uniform student against a one-hot teacher)." if losses else "- Loss: none logged.",
        f"- Machine: {platform.machine()} ({platform.processor() or 'unknown CPU'}), {result.threads} torch thread(s).",
        "- fg/bg separability (held-out scenes, patch is foreground when > 50% of its pixels are object; balanced "
        "accuracy on the second half of the scenes of a linear probe / class-balanced cosine 20-NN fitted on the "
        "first half; `random` is the same ViT at initialisation; `penultimate` = block -2 un-normed, MOVE's "
        "features; `last` = the normed output tokens):",
        *[f"  - {name}: {value:.4g}" if isinstance(value, float) else f"  - {name}: {value}"
          for name, value in metrics.items()],
        f"- Training curves (loss; teacher entropies, collapse monitors): `{curve.name}`", "",
    ]
    atomic_write(out.with_suffix(".md"), "\n".join(lines))
    return [out, out.with_suffix(".md"), curve]


# -------------------------------------------------------------------------------------------------------- CLI

def train_dino_command(
    out: Path = typer.Option(Path("src/reelkit/weights/dino_vittiny8.safetensors"), "--out", "-o",
                             help="Weights file to write (model card .md and _curve.png beside it)."),
    config: str = typer.Option("dino_tiny", "--config", help="dino_tiny (64 px, CPU), dino_vits16 (the official "
                                                             "ViT-S/16 recipe), dino_micro (tests)."),
    scenes: Optional[int] = typer.Option(None, min=2, help="Training scenes (default: the config's; split train)."),
    batch_size: Optional[int] = typer.Option(None, min=2),
    epochs: Optional[float] = typer.Option(None, min=0.0, help="Epochs that plan the schedules (default: the config's)."),
    local_crops: Optional[int] = typer.Option(None, min=0, help="Local crops per image (default: the config's)."),
    momentum_teacher: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Initial teacher EMA momentum "
                                                     "(cosine to 1; default: the config's)."),
    max_minutes: Optional[float] = typer.Option(None, min=0.01, help="Wall-time budget; the plan is cut to fit it."),
    heldout: int = typer.Option(300, min=0, help="Held-out scenes for the fg/bg separability metric (0: skip)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch threads (default: torch's)."),
    device: str = typer.Option("cpu", help="cpu, or cuda for the full-scale config."),
    optim: str = typer.Option("adamw", help="adamw (the paper's) or kafisto (the same schedules' shape as its target)."),
    seed: int = typer.Option(0),
) -> None:
    """Train DINO (self-distillation) on reelkit's scenes; writes the teacher backbone, model card and curves."""
    from reelkit.cli import console, progress_bar
    from reelkit.segment.cli import report_training_run, start_training_run

    settings = dino_config(config, scenes=scenes, batch_size=batch_size, epochs=epochs, local_crops=local_crops,
                           momentum_teacher=momentum_teacher, max_minutes=max_minutes, seed=seed, device=device,
                           optim=optim)
    settings.validate()  # a bad config fails before any folder is made
    command = start_training_run(out, threads)
    with progress_bar() as progress:
        backbone, result = train_dino(settings, progress=progress, log=console.print)
    metrics: dict[str, float] = {}
    if heldout:
        with console.status(f"fg/bg separability on {heldout} held-out scenes"):
            metrics = evaluate_separability(backbone, settings, heldout)
    metrics["train_steps"] = result.steps
    metrics["train_minutes"] = round(result.seconds / 60, 1)
    metrics["final_loss"] = round(result.history[-1]["loss"], 4) if result.history else float("nan")
    report_training_run(metrics, write_dino_outputs(backbone, settings, result, metrics, out, command))
