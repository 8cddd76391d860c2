"""``reelkit train layered``: the perturbed layered GAN, then the encoder against the frozen generator.

Stage 1 (Sec. 3; code: train.py): each step the discriminator sees real scenes and composites whose
foreground and mask were shifted by a random offset; the generator minimises the adversarial loss plus the
mask-size and binarisation terms on the shifted mask. An exponential moving average of the generator's
weights (code: train.py ``accumulate``; decay 0.999 there, 0.995 by default here for runs of a few
thousand steps) is what ships. ``no_shift`` trains the same model
without the shift: the paper's ablation, which should not separate the object (Sec. 4).

Stage 2 (Sec. 3): the encoder E learns to invert the frozen generator G. On generated scenes, whose latent
code and mask are known, it minimises ||E(x) - z||^2 + |composite(G(E(x))) - x| + |mask(G(E(x))) - m|;
on real scenes, the reconstruction |composite(G(E(x))) - x| alone (reelkit's weighting: the paper's text for
this stage was not readable from reelkit's build machines, only its abstract and official code). The
generated scene x and its mask m are perturbed as in stage 1 (the shift and the background contrast jitter;
reelkit's choice): stage 1 made the *perturbed* composites look like real scenes, so those are the generated
scenes an encoder should learn from. On unperturbed ones it learnt to invert G (mask IoU 0.60-0.72 on G's own
scenes) but segmented real scenes far worse (0.08-0.24; docs/benchmarks.md).

Stage 3 (reelkit's addition; models.py): the mask network, a U-Net, learns the frozen generator's perturbed
composites, randomly blurred, -> their shifted masks, with 1 - soft IoU as the loss. It segments real scenes better than
mask(G(E(x))) (docs/benchmarks.md), so the segmenter uses it once trained; ``mask_net_steps=0`` skips it.
``generator`` starts from a trained model's file instead of the GAN stage (its encoder is kept unless
``encoder_steps`` retrains it), so stages 2 and 3 can be rerun on a generator.

Adversarial losses come from reelkit.gan (hinge by default, ``kdd``, ``ns``, ``hinge+kdd``), optimisers from
reelkit.optim (Adam with the paper's beta = (0, 0.99) by default; ``kafisto`` needs no learning rate, but its
``lr``, the share of the loss a step aims to remove, is ``kafisto_lr`` for both players: a game's losses never
reach zero, and at KaFiStO's 1 the 2-D GANs collapsed where 0.01 trained them; docs/benchmarks.md).
"""

from __future__ import annotations

import copy
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from reelkit.errors import SegmentError
from reelkit.gan.losses import LOSSES, AdversarialLoss
from reelkit.gan.train import gan_optimizer
from reelkit.optim import backward_and_step
from reelkit.optim import OPTIMIZERS, make_optimizer
from reelkit.segment.data import make_scenes
from reelkit.segment.layered.models import (CONFIGS, Layers, LayeredModel, MaskNet, binarisation_loss,
                                            create_layered, mask_size_loss, perturb, random_offsets)


@dataclass
class LayeredTrainConfig:
    model: str = "layered_small"
    loss: str = "hinge"
    optim: str = "adam"
    kafisto_lr: float = 1.0  # KaFiStO's lr for both GAN players, with optim="kafisto" (1: its default)
    steps: int = 3000  # generator steps
    batch_size: int = 32  # the paper's batch at 64 and 128 px (code: train.py --sched)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.99)  # code: train.py, Adam betas (0.0, 0.99)
    ema: float = 0.995  # weight averaging of G (code: train.py accumulate, decay 0.999 over ~10^6 steps; shorter here)
    sigma: float = 0.5  # KDD bandwidth (reelkit.gan's default)
    kdd_weight: float = 1.0
    no_shift: bool = False  # the ablation without the random shift
    scenes: int = 8000  # training scenes made by reelkit.segment.data (split "train")
    encoder_steps: int = 1500
    encoder_lr: float = 1e-3
    real_weight: float = 1.0  # weight of the real-image reconstruction in the encoder's loss
    seed: int = 0
    log_every: int = 50
    max_minutes: float | None = None  # stop the GAN stage early after this wall time (the steps done are recorded)
    bin_warmup: int = 800  # binarisation weight ramps from 0 over these steps (reelkit's; see train_gan_stage)
    checkpoint_every: int = 0  # hand the EMA generator to the checkpoint callback every this many GAN steps (0: never)
    mask_net_steps: int = 2000
    mask_net_lr: float = 1e-3
    # Largest Gaussian blur (sigma, px) of the mask network's training composites: without it, the network leans on
    # the generator's sharp pixels and fails on downsampled photos (docs/benchmarks.md).
    mask_net_blur: float = 1.0
    generator: str | None = None  # a trained model's weights file: its generator (and encoder) replace the GAN stage

    def validate(self) -> None:
        if self.model not in CONFIGS:
            raise SegmentError(f"unknown layered config {self.model!r}; choose one of {', '.join(CONFIGS)}")
        if self.loss not in LOSSES:
            raise SegmentError(f"unknown GAN loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.optim not in OPTIMIZERS:
            raise SegmentError(f"unknown optimiser {self.optim!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not 0.0 < self.kafisto_lr <= 1.0:
            raise SegmentError("kafisto_lr must be in (0, 1]")
        if self.kafisto_lr != 1.0 and self.optim != "kafisto":
            raise SegmentError("kafisto_lr applies to optim kafisto only")
        if (self.batch_size < 2 or self.steps < 1 or self.encoder_steps < 0 or self.scenes < self.batch_size
                or self.checkpoint_every < 0 or self.mask_net_steps < 0 or self.mask_net_blur < 0):
            raise SegmentError("batch_size must be >= 2, steps >= 1, encoder_steps >= 0, mask_net_steps >= 0, "
                               "mask_net_blur >= 0, checkpoint_every >= 0 and scenes >= batch_size")
        if self.generator is not None:
            check_generator_file(Path(self.generator), self.model)


@dataclass
class LayeredTrainResult:
    history: list[dict[str, float]] = field(default_factory=list)  # GAN stage, averaged per log_every steps
    encoder_history: list[dict[str, float]] = field(default_factory=list)
    mask_net_history: list[dict[str, float]] = field(default_factory=list)
    gan_seconds: float = 0.0
    gan_steps: int = 0
    encoder_seconds: float = 0.0
    mask_net_seconds: float = 0.0
    threads: int = 1

    @property
    def seconds(self) -> float:
        return self.gan_seconds + self.encoder_seconds + self.mask_net_seconds


def check_generator_file(path: Path, model: str) -> None:
    """A weights file of ``reelkit train layered`` for config ``model``, or a one-line SegmentError."""
    from reelkit.registry import read_metadata

    if not path.is_file():
        raise SegmentError(f"generator file {path} not found")
    try:
        trained_as = read_metadata(path).get("model")
    except Exception:  # safetensors raises several kinds on a file that is not one
        raise SegmentError(f"{path} is not a weights file of `reelkit train layered`") from None
    if trained_as != model:
        raise SegmentError(f"{path} holds {trained_as or 'no layered model'}, not {model}: pass --model {trained_as}"
                           if trained_as in CONFIGS else f"{path} is not a weights file of `reelkit train layered`")


def load_generator(path: Path, model: LayeredModel) -> int:
    """The generator and encoder of a trained model's file into ``model`` (a mask network in the file is not
    loaded; files from before the mask network have none); returns the file's GAN steps."""
    from safetensors.torch import load_file

    from reelkit.registry import read_metadata

    state = load_file(str(path))
    for name in ("generator", "encoder"):
        part = getattr(model, name)
        tensors = {key[len(name) + 1:]: value for key, value in state.items() if key.startswith(name + ".")}
        if set(tensors) != set(part.state_dict()) or any(v.shape != part.state_dict()[k].shape for k, v in tensors.items()):
            raise SegmentError(f"{path}: its {name} does not match config {model.config}")
        part.load_state_dict(tensors)
    meta = read_metadata(path)
    # files from before 2026-12-07 do not record the steps done, only those asked for (a time limit can stop sooner)
    return int(meta.get("gan_steps", meta.get("train_config", {}).get("steps", 0)))


def scenes_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


class RealBatches:
    """Endless shuffled mini-batches of the training scenes, randomly mirrored."""

    def __init__(self, images: torch.Tensor, batch_size: int, generator: torch.Generator) -> None:
        self.images, self.batch_size, self.generator = images, batch_size, generator
        self.order, self.position = torch.empty(0, dtype=torch.long), 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = torch.randperm(len(self.images), generator=self.generator), 0
        batch = self.images[self.order[self.position: self.position + self.batch_size]]
        self.position += self.batch_size
        flip = torch.rand(len(batch), generator=self.generator) < 0.5
        return torch.where(flip.view(-1, 1, 1, 1), batch.flip(3), batch)


@torch.no_grad()
def _accumulate(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for target, source in zip(ema.parameters(), model.parameters()):
        target.lerp_(source, 1 - decay)
    for target, source in zip(ema.buffers(), model.buffers()):
        target.copy_(source)


def render(generator: torch.nn.Module, z: torch.Tensor, max_offset: int, jitter: float,
           rng: torch.Generator | None) -> tuple[torch.Tensor, Layers]:
    """The perturbed composite the discriminator judges, and the perturbed layers."""
    layers = generator(z)
    offsets = random_offsets(len(z), max_offset, rng)
    contrast = 1 + jitter * (2 * torch.rand(len(z), generator=rng) - 1) if jitter > 0 else None
    perturbed = perturb(layers, offsets, contrast)
    return perturbed.composite(), perturbed


def train_gan_stage(config: LayeredTrainConfig, real: torch.Tensor, progress=None, log: Callable[[str], None] = print,
                    checkpoint: Callable[[int, LayeredModel], None] | None = None
                    ) -> tuple[LayeredModel, torch.nn.Module, LayeredTrainResult]:
    """The GAN stage; ``checkpoint(step, model)`` receives the model with the EMA generator (and the untrained
    encoder) every ``config.checkpoint_every`` steps, for example to save it."""
    torch.manual_seed(config.seed)
    rng = torch.Generator().manual_seed(config.seed)
    model, discriminator = create_layered(config.model)
    model_config = CONFIGS[config.model]
    generator = model.generator
    ema = copy.deepcopy(generator).eval().requires_grad_(False)
    max_offset = 0 if config.no_shift else model_config.max_offset
    loss = AdversarialLoss(config.loss, config.sigma, config.kdd_weight)
    opt_g = gan_optimizer(config.optim, generator.parameters(), config.lr_g, config.betas, config.kafisto_lr)
    opt_d = gan_optimizer(config.optim, discriminator.parameters(), config.lr_d, config.betas, config.kafisto_lr)
    batches = RealBatches(real, config.batch_size, rng)
    result = LayeredTrainResult(threads=torch.get_num_threads())
    keys = ("d_loss", "g_adv", "mask_size", "binarisation", "mask_mean")
    running = dict.fromkeys(keys, 0.0)
    task = progress.add_task(f"train {config.model} ({config.loss}{', no shift' if config.no_shift else ''})",
                             total=config.steps) if progress else None
    start = time.perf_counter()
    z_dim = model_config.z_dim
    for step in range(1, config.steps + 1):
        generator.train()
        with torch.no_grad():
            fake, _ = render(generator, torch.randn(config.batch_size, z_dim, generator=rng), max_offset,
                             model_config.bg_contrast_jitter, rng)
        d_loss = loss.discriminator(discriminator(batches.next()), discriminator(fake))
        backward_and_step(opt_d, d_loss)
        discriminator.requires_grad_(False)
        fake, perturbed = render(generator, torch.randn(config.batch_size, z_dim, generator=rng), max_offset,
                                 model_config.bg_contrast_jitter, rng)
        real_outputs = None
        if loss.uses_kdd:
            with torch.no_grad():
                real_outputs = discriminator(batches.next())
        g_adv = loss.generator(real_outputs, discriminator(fake), aim_at_zero=config.optim == "kafisto")
        size_term = mask_size_loss(perturbed.mask, model_config.min_mask)  # on the shifted mask (code: train.py)
        bin_term = binarisation_loss(perturbed.mask)
        # Below eta, the size term's push on a mask value (+w/N) and the binarisation term's pull (-w/N for m < 0.5)
        # cancel exactly at equal weights, and early in a short run the adversarial loss then empties the mask;
        # ramping the binarisation weight up keeps masks at the minimum size while objects form.
        bin_weight = model_config.bin_weight * min(1.0, step / config.bin_warmup) if config.bin_warmup else model_config.bin_weight
        g_loss = g_adv + model_config.mask_weight * size_term + bin_weight * bin_term
        backward_and_step(opt_g, g_loss)
        discriminator.requires_grad_(True)
        _accumulate(ema, generator, config.ema if step > 100 else 0.0)  # copy until the first steps settle
        values = (d_loss.item(), g_adv.item(), size_term.item(), bin_term.item(), perturbed.mask.mean().item())
        if not all(math.isfinite(v) for v in values):
            raise SegmentError(f"layered GAN losses diverged at step {step} ({dict(zip(keys, values))})")
        for key, value in zip(keys, values):
            running[key] += value
        if step % config.log_every == 0 or step == config.steps:
            count = step % config.log_every or config.log_every
            entry = {"step": step, **{k: v / count for k, v in running.items()},
                     "seconds": round(time.perf_counter() - start, 1)}
            result.history.append(entry)
            running = dict.fromkeys(keys, 0.0)
            log(f"step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in entry.items() if k != "step"))
        if task is not None:
            progress.advance(task)
        result.gan_steps = step
        if checkpoint is not None and config.checkpoint_every and step % config.checkpoint_every == 0:
            model.generator = ema
            checkpoint(step, model)
            model.generator = generator
        if config.max_minutes is not None and time.perf_counter() - start > 60 * config.max_minutes:
            if step % config.log_every:
                count = step % config.log_every
                result.history.append({"step": step, **{k: v / count for k, v in running.items()},
                                       "seconds": round(time.perf_counter() - start, 1)})
            log(f"time limit of {config.max_minutes} min reached after {step} steps")
            break
    result.gan_seconds = time.perf_counter() - start
    model.generator = ema
    return model, discriminator, result


def encoder_losses(model: LayeredModel, z: torch.Tensor, real: torch.Tensor | None, real_weight: float,
                   max_offset: int = 0, jitter: float = 0.0, rng: torch.Generator | None = None
                   ) -> dict[str, torch.Tensor]:
    """The encoder's losses against the frozen generator (see the module docstring); the generated scenes are
    perturbed as the discriminator saw them (shift up to ``max_offset`` px, background contrast ``jitter``)."""
    generator, encoder = model.generator, model.encoder
    with torch.no_grad():
        image, target = render(generator, z, max_offset, jitter, rng)
    z_hat = encoder(image)
    rebuilt = generator(z_hat)
    losses = {"latent": F.mse_loss(z_hat, z), "reconstruction": F.l1_loss(rebuilt.composite(), image),
              "mask": F.l1_loss(rebuilt.mask, target.mask)}
    if real is not None and real_weight > 0:
        losses["real_reconstruction"] = F.l1_loss(model(real).composite(), real)
    losses["total"] = (losses["latent"] + losses["reconstruction"] + losses["mask"]
                       + real_weight * losses.get("real_reconstruction", torch.zeros(())))
    return losses


def train_encoder_stage(model: LayeredModel, config: LayeredTrainConfig, real: torch.Tensor | None,
                        result: LayeredTrainResult, progress=None, log: Callable[[str], None] = print) -> LayeredModel:
    rng = torch.Generator().manual_seed(config.seed + 1)
    model.generator.eval().requires_grad_(False)  # frozen
    encoder = model.encoder.train()
    optimizer = (torch.optim.Adam(encoder.parameters(), lr=config.encoder_lr) if config.optim == "adam"
                 else make_optimizer(config.optim, encoder.parameters()))
    batches = RealBatches(real, config.batch_size, rng) if real is not None else None
    max_offset = 0 if config.no_shift else model.config.max_offset
    z_dim = model.config.z_dim
    running: dict[str, float] = {}
    task = progress.add_task(f"train {config.model} encoder", total=config.encoder_steps) if progress else None
    start = time.perf_counter()
    for step in range(1, config.encoder_steps + 1):
        z = torch.randn(config.batch_size, z_dim, generator=rng)
        losses = encoder_losses(model, z, batches.next() if batches else None, config.real_weight, max_offset,
                                model.config.bg_contrast_jitter, rng)
        backward_and_step(optimizer, losses["total"])
        for key, value in losses.items():
            running[key] = running.get(key, 0.0) + value.item()
        if not math.isfinite(losses["total"].item()):
            raise SegmentError(f"encoder loss diverged at step {step}")
        if step % config.log_every == 0 or step == config.encoder_steps:
            count = step % config.log_every or config.log_every
            entry = {"step": step, **{k: v / count for k, v in running.items()}}
            result.encoder_history.append(entry)
            running = {}
            log(f"encoder step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in entry.items() if k != "step"))
        if task is not None:
            progress.advance(task)
    result.encoder_seconds = time.perf_counter() - start
    model.eval()
    return model


def soft_iou_loss(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """1 - mean soft IoU of (N, H, W) masks in [0, 1]: the metric itself, where an L1 or cross-entropy fit to masks
    covering a tenth of the image settles on empty masks."""
    overlap = (predicted * truth).sum((1, 2))
    return 1 - (overlap / (predicted + truth - predicted * truth).sum((1, 2)).clamp_min(1e-6)).mean()


def random_blur(images: torch.Tensor, max_sigma: float, rng: torch.Generator | None = None) -> torch.Tensor:
    """Each image blurred by a Gaussian of its own sigma, uniform in [0, max_sigma] pixels (0: unchanged)."""
    count, channels = images.shape[:2]
    sigma = (torch.rand(count, generator=rng) * max_sigma).clamp_min(1e-3)
    radius = max(1, math.ceil(2.5 * max_sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernels = torch.exp(-offsets ** 2 / (2 * sigma[:, None] ** 2))
    kernels = (kernels / kernels.sum(1, keepdim=True)).repeat_interleave(channels, 0)  # (N * C, K)
    flat = images.reshape(1, count * channels, *images.shape[2:])
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernels[:, None, None, :], groups=len(kernels))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), kernels[:, None, :, None], groups=len(kernels))
    return flat.reshape(images.shape)


def train_mask_net_stage(model: LayeredModel, config: LayeredTrainConfig, result: LayeredTrainResult, progress=None,
                         log: Callable[[str], None] = print) -> LayeredModel:
    """Stage 3: the mask network on the frozen generator's perturbed composites and shifted masks."""
    rng = torch.Generator().manual_seed(config.seed + 2)
    torch.manual_seed(config.seed + 2)  # the same start whether the generator was trained here or read from a file
    model.mask_net = MaskNet(model.config)
    model.generator.eval().requires_grad_(False)
    mask_net = model.mask_net.train()
    optimizer = torch.optim.Adam(mask_net.parameters(), lr=config.mask_net_lr)
    max_offset = 0 if config.no_shift else model.config.max_offset
    running = 0.0
    task = progress.add_task(f"train {config.model} mask network", total=config.mask_net_steps) if progress else None
    start = time.perf_counter()
    for step in range(1, config.mask_net_steps + 1):
        with torch.no_grad():
            z = torch.randn(config.batch_size, model.config.z_dim, generator=rng)
            image, target = render(model.generator, z, max_offset, model.config.bg_contrast_jitter, rng)
            if config.mask_net_blur > 0:
                image = random_blur(image, config.mask_net_blur, rng)
        loss = soft_iou_loss(mask_net(image)[:, 0], target.mask[:, 0])
        backward_and_step(optimizer, loss)
        if not math.isfinite(loss.item()):
            raise SegmentError(f"mask network loss diverged at step {step}")
        running += loss.item()
        if step % config.log_every == 0 or step == config.mask_net_steps:
            entry = {"step": step, "soft_iou_loss": running / (step % config.log_every or config.log_every)}
            result.mask_net_history.append(entry)
            running = 0.0
            log(f"mask network step {step}: 1 - soft IoU {entry['soft_iou_loss']:.3f}")
        if task is not None:
            progress.advance(task)
    model.mask_net_steps.fill_(config.mask_net_steps)
    result.mask_net_seconds = time.perf_counter() - start
    model.eval()
    return model


def train_layered(config: LayeredTrainConfig, progress=None, log: Callable[[str], None] = print,
                  checkpoint: Callable[[int, LayeredModel], None] | None = None
                  ) -> tuple[LayeredModel, LayeredTrainResult]:
    """The three stages (or stages 2 and 3 on ``config.generator``); returns the shipped model (EMA generator,
    encoder, mask network) and the loss histories."""
    config.validate()
    size = CONFIGS[config.model].image_size
    real = None  # the real scenes: only the GAN stage and the encoder's reconstruction term see them
    if config.generator is None or config.encoder_steps:
        real = scenes_to_tensor(make_scenes(config.scenes, size, "train", config.seed).images)
    if config.generator is None:
        model, _, result = train_gan_stage(config, real, progress, log, checkpoint)
    else:
        model, result = create_layered(config.model)[0], LayeredTrainResult(threads=torch.get_num_threads())
        result.gan_steps = load_generator(Path(config.generator), model)
        log(f"generator and encoder from {config.generator} ({result.gan_steps} GAN steps)")
    if config.encoder_steps:
        train_encoder_stage(model, config, real, result, progress, log)
    if config.mask_net_steps:
        train_mask_net_stage(model, config, result, progress, log)
    return model.eval(), result


def plot_history(result: LayeredTrainResult, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(12, 3.2))
    steps = [h["step"] for h in result.history]
    left.plot(steps, [h["d_loss"] for h in result.history], label="discriminator")
    left.plot(steps, [h["g_adv"] for h in result.history], label="generator (adversarial)")
    left.set_xlabel("generator step")
    left.legend(fontsize=7)
    middle.plot(steps, [h["mask_mean"] for h in result.history], label="mean mask")
    middle.plot(steps, [h["binarisation"] for h in result.history], label="binarisation term")
    middle.plot(steps, [h["mask_size"] for h in result.history], label="size term")
    middle.set_xlabel("generator step")
    middle.legend(fontsize=7)
    if not result.history:  # stages 2 and 3 on a generator from a file
        for axis in (left, middle):
            axis.text(0.5, 0.5, "GAN stage: see the\ngenerator file's curves", ha="center", va="center",
                      transform=axis.transAxes)
    encoder_steps = [h["step"] for h in result.encoder_history]
    for key in ("reconstruction", "real_reconstruction", "mask", "latent"):
        if result.encoder_history and key in result.encoder_history[0]:
            right.plot(encoder_steps, [h[key] for h in result.encoder_history], label=f"encoder: {key}")
    if result.mask_net_history:
        right.plot([h["step"] for h in result.mask_net_history], [h["soft_iou_loss"] for h in result.mask_net_history],
                   label="mask network: 1 - soft IoU")
    right.set_xlabel("encoder / mask network step")
    right.set_yscale("log")
    right.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def save_layer_grid(model: LayeredModel, path: Path, count: int = 8, seed: int = 1) -> None:
    """Rows: background, foreground, mask, composite of ``count`` samples."""
    from PIL import Image

    with torch.no_grad():
        layers = model.generator(torch.randn(count, model.config.z_dim, generator=torch.Generator().manual_seed(seed)))
    rows = [layers.background, layers.foreground, layers.mask.expand(-1, 3, -1, -1) * 2 - 1, layers.composite()]
    grid = torch.cat([torch.cat(list(row), 2) for row in rows], 1)
    array = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(array).resize((array.shape[1] * 2, array.shape[0] * 2), Image.NEAREST).save(path)


def write_layered_outputs(model: LayeredModel, config: LayeredTrainConfig, result: LayeredTrainResult,
                          metrics: dict[str, float], out: Path, command: str) -> list[Path]:
    """Weights, model card (.md), training curves (_curve.png) and a sample grid (_samples.png)."""
    from reelkit.registry import save_weights
    from reelkit.text.formats import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(model, out, {"model": config.model, "train_config": asdict(config), "metrics": metrics,
                              "command": command, "seconds": round(result.seconds, 1), "gan_steps": result.gan_steps})
    curve, samples = out.with_name(out.stem + "_curve.png"), out.with_name(out.stem + "_samples.png")
    plot_history(result, curve, f"{config.model}, {config.loss}, {config.optim}{', no shift' if config.no_shift else ''}")
    save_layer_grid(model, samples)
    model_config = CONFIGS[config.model]
    lines = [
        f"# {out.stem}", "",
        "Perturbed layered GAN (\"Emergence of Object Segmentation in Perturbed Generative Models\", Bielski & "
        "Favaro, NeurIPS 2019): a generator of background, foreground and mask whose foreground is shifted at "
        "random during training, an encoder trained against the frozen generator (mask(G(E(x))) segments x), and a mask "
        "network distilled from the generator, the segmenter once trained.", "",
        f"- Command: `{command}`",
        f"- Data: {config.scenes} scenes of `reelkit.segment.data` (split `train`, {model_config.image_size} px, seed "
        f"{config.seed}): photo crops of {', '.join(__import__('reelkit.segment.data', fromlist=['SOURCES']).SOURCES['train']['backgrounds'])} "
        "with one pasted object (photo cut-out or textured shape, soft shadow). No labels are used.",
        f"- Model: `{config.model}`: {model_config.image_size} px, z {model_config.z_dim}, generator widths "
        f"{model_config.g_widths} (x2: background, foreground+mask), shift up to {model_config.max_offset} px "
        f"({model_config.shift} of the size){' (disabled: no-shift ablation)' if config.no_shift else ''}, "
        f"mask size eta {model_config.min_mask} (weight {model_config.mask_weight}), binarisation weight "
        f"{model_config.bin_weight}, background contrast jitter {model_config.bg_contrast_jitter}.",
        (f"- GAN: binarisation weight ramped up over {config.bin_warmup} steps; {result.gan_steps} steps (of {config.steps}{f', time limit {config.max_minutes} min' if config.max_minutes else ''}), batch {config.batch_size}, loss {config.loss}, optimiser {config.optim}"
         + (f" (lr G {config.lr_g}, D {config.lr_d}, betas {config.betas})" if config.optim == "adam" else
            f" (lr {config.kafisto_lr})" if config.optim == "kafisto" else "")
         + f", EMA {config.ema}; wall time {result.gan_seconds / 60:.1f} min." if config.generator is None else
         f"- GAN: the generator of {config.generator} ({result.gan_steps} GAN steps; its own card has the run)."),
        f"- Encoder: {config.encoder_steps} steps, lr {config.encoder_lr}, real-image weight {config.real_weight}, "
        f"generated scenes perturbed as in the GAN stage (shift up to {0 if config.no_shift else model_config.max_offset} "
        f"px, background contrast jitter {model_config.bg_contrast_jitter}); wall time {result.encoder_seconds / 60:.1f} min."
        if config.encoder_steps else f"- Encoder: {f'from {config.generator}' if config.generator else 'not trained'}.",
        f"- Mask network (the segmenter; reelkit's addition): U-Net widths {model_config.m_widths}, {config.mask_net_steps} "
        f"steps, batch {config.batch_size}, Adam lr {config.mask_net_lr}, 1 - soft IoU against the generator's masks on its "
        f"composites perturbed as in the GAN stage and blurred (sigma up to {config.mask_net_blur} px); wall time "
        f"{result.mask_net_seconds / 60:.1f} min."
        if config.mask_net_steps else "- Mask network: not trained (the segmenter is mask(G(E(x)))).",
        f"- Machine: {platform.machine()}, {result.threads} thread(s).",
        *[f"- {name.replace('_', ' ')}: {value:.4g}" if isinstance(value, float) else f"- {name.replace('_', ' ')}: {value}"
          for name, value in metrics.items()],
        *(["- generated miou / fmax: the encoder on 500 of the generator's own unperturbed scenes, against their "
           "masks (how well it inverts the generator); heldout: the segmenter on real held-out scenes; heldout encoder: "
           "mask(G(E(x))) on them."]
          if "generated_miou" in metrics else []),
        f"- Training curves: `{curve.name}`; generated layers (background, foreground, mask, composite): `{samples.name}`", "",
    ]
    atomic_write(out.with_suffix(".md"), "\n".join(lines))
    return [out, out.with_suffix(".md"), curve, samples]


def evaluate_heldout(model: LayeredModel, count: int = 200, seed: int = 0, size: int | None = None,
                     use_encoder: bool = False) -> dict[str, float]:
    """mean IoU, F-max and pixel accuracy of the segmenter (the mask network once trained, else mask(G(E(x))); the
    latter with ``use_encoder``) on ``count`` held-out scenes of ``size`` px (default: the model's size; other
    sizes are resized to it and the masks back)."""
    from reelkit.segment.layered.pipeline import LayeredSegmenter
    from reelkit.segment.metrics import segmentation_metrics

    scenes = make_scenes(count, size or model.config.image_size, "heldout", seed)
    scores = np.stack(LayeredSegmenter(model, use_encoder=use_encoder).predict(scenes.images))
    return {f"heldout_{k}": v for k, v in segmentation_metrics(scores, scenes.masks).items()}


@torch.no_grad()
def evaluate_generated(model: LayeredModel, count: int = 500, seed: int = 123, use_encoder: bool = False
                       ) -> dict[str, float]:
    """mean IoU and F-max of the segmenter (the mask network once trained, else mask(G(E(x))); the latter with
    ``use_encoder``) against G's own mask on ``count`` of G's unshifted composites x.

    Beside :func:`evaluate_heldout` this separates the two ways the segmenter can fail: an encoder that cannot
    invert the generator scores low here; a generator whose scenes do not look like real ones scores high here
    and low on real scenes (the encoder then meets images unlike any it was trained on)."""
    from reelkit.segment.metrics import segmentation_metrics

    model.eval()
    z = torch.randn(count, model.config.z_dim, generator=torch.Generator().manual_seed(seed))
    scores, truths = [], []
    for chunk in z.split(100):  # bounded memory also at the paper-scale config's 128 px
        target = model.generator(chunk)
        scores.append(model.segment(target.composite(), use_encoder)[:, 0].numpy())
        truths.append(target.mask[:, 0].numpy() >= 0.5)
    metrics = segmentation_metrics(np.concatenate(scores), np.concatenate(truths))
    return {"generated_miou": metrics["miou"], "generated_fmax": metrics["fmax"]}
