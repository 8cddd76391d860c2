"""``reelkit train popularity``: fit the attention network on a creator's archive."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from reelkit.embeddings import embed_sentences
from reelkit.errors import PopularityError
from reelkit.optim import backward_and_step, make_optimizer
from reelkit.popularity.archive import ArchiveVideo, load_archive_frames, popular_labels, read_archive
from reelkit.popularity.demo import RECIPE
from reelkit.popularity.models import CONFIGS, PopularityConfig, PopularityNet
from reelkit.registry import create_model, save_weights
from reelkit.text.formats import atomic_write

MIN_VIDEOS = 8


@dataclass
class PopularityTrainConfig:
    archive: str
    model: str = "popularity_small"
    epochs: int = 20
    batch_size: int = 8
    lr: float | None = 1e-3
    weight_decay: float = 1e-4
    optim: str = "adamw"
    validation: float = 0.2
    seed: int = 0
    train_frames: int = 4  # frames of each clip seen per training step (all of them at evaluation)


@dataclass
class PopularityTrainResult:
    threshold: float  # log views per day above which a video counts as popular
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    validation_auc: float = float("nan")
    seconds: float = 0.0
    videos: int = 0


def clips_to_tensor(clips: np.ndarray) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 -> (N, T, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(clips).permute(0, 1, 4, 2, 3).float().div_(255)


def _augment(frames: torch.Tensor, generator: torch.Generator, keep: int) -> torch.Tensor:
    """A random ``keep`` of the clip's frames (in order), flipped and brightened at random. Fewer frames per
    step make training on this CPU affordable; attention pools any number of frames."""
    if keep < frames.shape[1]:
        chosen = torch.randperm(frames.shape[1], generator=generator)[:keep].sort().values
        frames = frames[:, chosen]
    flip = torch.rand(frames.shape[0], generator=generator) < 0.5
    frames = torch.where(flip.view(-1, 1, 1, 1, 1), frames.flip(-1), frames)
    gain = 1 + 0.2 * (torch.rand(frames.shape[0], 1, 1, 1, 1, generator=generator) - 0.5)
    return (frames * gain).clamp_(0, 1)


def predict_logits(model: PopularityNet, frames: torch.Tensor, headlines: torch.Tensor, batch_size: int = 32) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(frames[i:i + batch_size], headlines[i:i + batch_size]).logit
                          for i in range(0, len(frames), batch_size)]).numpy()


def _stratified_split(labels: np.ndarray, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Validation indices with both classes in the archive's proportions (AUC needs both), and the rest."""
    validation, training = [], []
    for value in (0.0, 1.0):
        members = torch.from_numpy(np.flatnonzero(labels == value))
        members = members[torch.randperm(len(members), generator=generator)]
        count = max(1, int(round(fraction * len(members))))
        validation.append(members[:count])
        training.append(members[count:])
    return torch.cat(validation), torch.cat(training)


def prepare(videos: list[ArchiveVideo], config: PopularityConfig, progress: Callable[[], None] | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    clips = load_archive_frames(videos, config.frames, config.image_size, progress)
    headlines = torch.from_numpy(embed_sentences([v.headline for v in videos]))
    return clips_to_tensor(clips), headlines


def train_popularity(config: PopularityTrainConfig, progress=None, log: Callable[[str], None] = print
                     ) -> tuple[PopularityNet, PopularityTrainResult]:
    if config.model not in CONFIGS:
        raise PopularityError(f"unknown popularity config {config.model!r}; choose one of {', '.join(CONFIGS)}")
    videos = read_archive(config.archive)
    if len(videos) < MIN_VIDEOS:
        raise PopularityError(f"{config.archive}: {len(videos)} videos are too few to train on (at least {MIN_VIDEOS})")
    labels, threshold = popular_labels(videos)
    if labels.sum() in (0, len(labels)):
        raise PopularityError(f"{config.archive}: every video has the same views per day; nothing to learn")
    started = time.perf_counter()
    task = progress.add_task("reading archive videos", total=len(videos)) if progress else None
    frames, headlines = prepare(videos, CONFIGS[config.model], (lambda: progress.advance(task)) if progress else None)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    val_idx, train_idx = _stratified_split(labels, config.validation, generator)
    y = torch.from_numpy(labels)
    model = create_model(config.model)
    optimizer = make_optimizer(config.optim, model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, int(np.ceil(len(train_idx) / config.batch_size)))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                    total_steps=config.epochs * steps_per_epoch,
                                                    pct_start=0.15, cycle_momentum=False) if config.optim != "kafisto" else None
    result = PopularityTrainResult(threshold=threshold, videos=len(videos))
    best_state, best_auc = None, -1.0
    task = progress.add_task("training popularity", total=config.epochs) if progress else None
    for epoch in range(1, config.epochs + 1):
        model.train()
        losses = []
        shuffled = train_idx[torch.randperm(len(train_idx), generator=generator)]
        for step in range(steps_per_epoch):
            batch = shuffled[step * config.batch_size:(step + 1) * config.batch_size]
            output = model(_augment(frames[batch], generator, config.train_frames), headlines[batch])
            loss = F.binary_cross_entropy_with_logits(output.logit, y[batch])
            backward_and_step(optimizer, loss)
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
        val_scores = predict_logits(model, frames[val_idx], headlines[val_idx])
        val_auc = float(roc_auc_score(labels[val_idx.numpy()], val_scores))  # the split holds both classes
        val_loss = F.binary_cross_entropy_with_logits(torch.from_numpy(val_scores), y[val_idx]).item()
        result.history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss,
                               "val_auc": val_auc})
        if val_auc > best_auc:  # keep the epoch that ranks held-out videos best
            best_auc, result.best_epoch = val_auc, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        log(f"epoch {epoch}: train loss {np.mean(losses):.3f}, validation loss {val_loss:.3f}, AUC {val_auc:.3f}")
        if progress:
            progress.advance(task)
    model.load_state_dict(best_state)
    model.eval()
    result.validation_auc, result.seconds = best_auc, time.perf_counter() - started
    return model, result


def write_popularity_outputs(model: PopularityNet, config: PopularityTrainConfig, result: PopularityTrainResult,
                             out: Path, command: str, extra_metrics: dict[str, float] | None = None) -> list[Path]:
    """Weights (with the threshold and config inside), a model card and the training curve image."""
    metrics = {"validation_auc": result.validation_auc, **(extra_metrics or {})}
    save_weights(model, out, {"model": config.model, "threshold": result.threshold, "train_config": asdict(config),
                              "metrics": metrics, "command": command})
    curve = out.with_name(out.stem + "_curve.png")
    plot_history(result, curve)
    card = out.with_suffix(".md")
    recipe_path = Path(config.archive).parent / RECIPE
    recipe = json.loads(recipe_path.read_text()) if recipe_path.is_file() else None
    made_by = [f"- Archive made by `{recipe['command']}` (log views per day = {recipe['log_views_per_day']})."] \
        if recipe else []
    lines = [
        f"# {out.stem}", "",
        "Popularity network (frame CNN + soft attention over time + MiniLM headline embedding) from "
        "\"Pay Attention to Virality\" (Bielski & Trzcinski, 2018).", "",
        f"- Command: `{command}`",
        f"- Data: {result.videos} videos of `{config.archive}`; popular = log views per day above "
        f"{result.threshold:.3f} (the archive median); {config.validation:.0%} held out for validation, seed {config.seed}.",
        *made_by,
        f"- Training: {config.epochs} epochs, batch {config.batch_size}, {config.optim} lr {config.lr}, "
        f"weight decay {config.weight_decay}; best epoch {result.best_epoch}; wall time {result.seconds / 60:.1f} min.",
        *[f"- {name.replace('_', ' ')}: {value:.4g}" for name, value in metrics.items()],
        f"- Training curve: `{curve.name}`", "",
    ]
    atomic_write(card, "\n".join(lines))
    return [out, card, curve]


def plot_history(result: PopularityTrainResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in result.history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    left.plot(epochs, [h["train_loss"] for h in result.history], label="train")
    left.plot(epochs, [h["val_loss"] for h in result.history], label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("BCE loss")
    left.legend()
    right.plot(epochs, [h["val_auc"] for h in result.history], color="tab:green")
    right.set_xlabel("epoch")
    right.set_ylabel("validation AUC")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
