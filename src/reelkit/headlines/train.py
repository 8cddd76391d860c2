"""Train the headline model on the trending-videos table and write its weights and model card."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from reelkit.errors import HeadlineError
from reelkit.headlines.data import DEFAULT_CSV, grouped_split, load_dataset
from reelkit.headlines.evaluate import bag_of_words_baseline, length_baseline, model_scores, rank_metrics
from reelkit.headlines.models import ENCODER, FEATURE_NAMES, HeadlineModel, HeadlineModelConfig, cached_embeddings


@dataclass(frozen=True)
class HeadlineTrainConfig:
    data: str = str(DEFAULT_CSV)
    seed: int = 0
    epochs: int = 300
    batch_size: int = 128
    lr: float = 3e-3
    # Ridge-style L2 penalties (the data are a few hundred noisy targets): one for the embedding head,
    # one for the n-gram weights, which see far sparser inputs.
    l2: float = 1e-3
    ngram_l2: float = 1e-3
    huber_delta: float = 1.0  # a few videos sit 5-12 nats from their channel; they must not dominate
    patience: int = 40  # epochs without a better validation rho before stopping
    max_videos: int | None = None  # train on only this many training videos (quick runs and tests)
    cache_dir: str | None = None  # embedding cache (default ~/.cache/reelkit/headlines)
    model: HeadlineModelConfig = field(default_factory=HeadlineModelConfig)


@dataclass
class HeadlineTrainResult:
    metrics: dict[str, object]
    best_epoch: int
    epochs_run: int
    train_seconds: float
    n_train: int
    n_validation: int
    n_test: int
    split_recipe: str
    curve: list[tuple[int, float, float]]  # epoch, training loss, validation rho


def _penalty(model: HeadlineModel, config: HeadlineTrainConfig) -> torch.Tensor:
    head = sum((p.pow(2).sum() for n, p in model.head.named_parameters() if n.endswith("weight")), torch.zeros(()))
    ngrams = model.ngrams.weight.pow(2).sum() if model.ngrams is not None else torch.zeros(())
    return config.l2 * head + config.ngram_l2 * ngrams


def train_headlines(config: HeadlineTrainConfig = HeadlineTrainConfig(), progress=None,  # noqa: ANN001 - rich Progress
                    log: Callable[[str], None] = print) -> tuple[HeadlineModel, HeadlineTrainResult]:
    """Fit on the training channels, stop on validation Spearman rho, report validation and test rho."""
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    dataset = load_dataset(config.data)
    split = grouped_split(dataset, config.seed)
    train_index = split.train
    if config.max_videos is not None:
        train_index = np.random.default_rng(config.seed).permutation(train_index)[:config.max_videos]
    if len(train_index) < 2:
        raise HeadlineError("need at least 2 training videos")
    train, validation, test = (dataset.subset(i) for i in (train_index, split.validation, split.test))
    log(f"{len(train)} training, {len(validation)} validation, {len(test)} test videos; encoding titles with {ENCODER}")
    cache = Path(config.cache_dir) if config.cache_dir else None
    embeddings = {name: cached_embeddings(part.titles, cache)
                  for name, part in (("train", train), ("validation", validation), ("test", test))}

    model = HeadlineModel(config.model)
    inputs = model.inputs(train.titles, embeddings["train"])
    model.set_normalisation(inputs[1].numpy())
    target = torch.as_tensor(train.target, dtype=torch.float32)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = torch.nn.HuberLoss(delta=config.huber_delta)
    generator = torch.Generator().manual_seed(config.seed)
    task = progress.add_task("training headline model", total=config.epochs) if progress is not None else None
    best_rho, best_epoch, best_state, curve = -math.inf, 0, None, []
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(train), generator=generator).split(config.batch_size):
            prediction = model(*(x[batch] for x in inputs))
            loss = loss_fn(prediction, target[batch])
            optimiser.zero_grad()
            (loss + _penalty(model, config) * len(batch) / len(train)).backward()
            optimiser.step()
            total += loss.item() * len(batch)
        rho = rank_metrics(model_scores(model, validation.titles, embeddings["validation"]), validation)["rho"]
        curve.append((epoch, total / len(train), rho))
        if rho > best_rho:
            best_rho, best_epoch = rho, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if task is not None:
            progress.update(task, advance=1, description=f"training headline model (validation rho {best_rho:.3f})")
        if epoch - best_epoch >= config.patience:
            break
    if best_state is None or not math.isfinite(best_rho):
        raise HeadlineError("training produced no usable model: validation rho is undefined (too few or constant targets)")
    model.load_state_dict(best_state)
    model.eval()
    log(f"best validation rho {best_rho:.4f} at epoch {best_epoch} of {epoch}")

    metrics: dict[str, object] = {}
    for name, part in (("validation", validation), ("test", test)):
        metrics[name] = {
            "model": rank_metrics(model_scores(model, part.titles, embeddings[name]), part),
            "length_only": rank_metrics(length_baseline(train, part), part),
            "bag_of_words_ridge": rank_metrics(bag_of_words_baseline(train, part), part),
        }
    metrics["train"] = {"model": rank_metrics(model_scores(model, train.titles, embeddings["train"]), train)}
    return model, HeadlineTrainResult(metrics, best_epoch, epoch, time.perf_counter() - start, len(train),
                                      len(validation), len(test), split.recipe, curve)


def _row(name: str, metrics: dict) -> str:
    v, t = metrics["validation"][name], metrics["test"][name]
    return (f"| {name} | {v['rho']:.3f} | {v['within_channel_rho']:.3f} | {t['rho']:.3f} | "
            f"{t['within_channel_rho']:.3f} |")


def write_headline_card(model: HeadlineModel, config: HeadlineTrainConfig, result: HeadlineTrainResult, out: Path,
                        command: str) -> None:
    """Write the weights to ``out`` and the model card beside it (same name, ``.md``)."""
    from reelkit.registry import save_weights
    from reelkit.text.formats import atomic_write

    config_dict = asdict(config)
    save_weights(model, out, {"train_config": config_dict, "metrics": result.metrics, "command": command,
                              "best_epoch": result.best_epoch, "split_recipe": result.split_recipe})
    m = result.metrics
    parameters = sum(p.numel() for p in model.parameters())
    atomic_write(out.with_suffix(".md"), f"""# headline_minilm: headline score relative to the channel's typical views

Predicts how many more (or fewer) views a video gets than its channel's other videos, from its title alone.
The score is a predicted log-ratio; `exp(score)` is the predicted multiplier on the channel's typical views.

- Command: `{command}`
- Data: `youtube_trending/USvideos.csv` (Kaggle "Trending YouTube Video Statistics", CC0; US, Sep-Oct 2017),
  one row per video per trending day. Per video: the largest view count over its trending days and its
  title then. Target: `log(1 + views)` minus the mean of the same over the channel's *other* videos;
  channels with fewer than 2 videos are dropped (no "typical" to compare with).
- Split: {result.split_recipe}. {result.n_train} training, {result.n_validation} validation and
  {result.n_test} test videos. Early stopping and all tuning used validation only; test was read once.
- Architecture: frozen `{ENCODER}` sentence embedding (384-d, not in this file), {len(FEATURE_NAMES)}
  standardised surface features ({", ".join(FEATURE_NAMES)}; means and standard deviations stored as buffers),
  a {"linear" if not config.model.hidden else f"{config.model.hidden}-unit GELU MLP"} head, plus a linear term
  over {config.model.ngram_buckets} CRC-32-hashed word unigrams and bigrams ({parameters:,} parameters).
- Training: Adam, lr {config.lr}, batch {config.batch_size}, Huber loss (delta {config.huber_delta}),
  L2 {config.l2} (head) and {config.ngram_l2} (n-grams), up to {config.epochs} epochs with patience
  {config.patience} on validation Spearman rho; best epoch {result.best_epoch} of {result.epochs_run}; seed {config.seed}
- Wall time: {result.train_seconds:.0f} s on {platform.machine()}, {torch.get_num_threads()} thread(s)
  (title embeddings cached under `~/.cache/reelkit/headlines`)

## Held-out Spearman rho with the target

`within-channel` ranks each score minus the mean score of the channel's other videos in the same split,
as the target does; it is what matters when choosing between headlines for one channel.
Baselines are fitted on the same training videos: linear regression on word and character counts, and
TF-IDF word unigrams+bigrams (min_df 2) with `RidgeCV`.

| method | validation rho | validation within-channel | test rho | test within-channel |
|---|---|---|---|---|
{_row("model", m)}
{_row("length_only", m)}
{_row("bag_of_words_ridge", m)}

Training-set rho of the model: {m["train"]["model"]["rho"]:.3f}.

## Limits

Title wording explains little of why one trending video beats its channel's others (topic, timing,
guests and thumbnails matter more), and about {result.n_test} test videos give rho a standard error near
{1 / math.sqrt(max(result.n_test - 3, 1)):.2f}. Treat score differences as weak hints, not forecasts. Trending
videos of 2017 in the US only: no views of videos that never trended.
""")
