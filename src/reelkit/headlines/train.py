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
from reelkit.headlines.data import DEFAULT_CSV, HeadlineDataset, grouped_split, load_dataset
from reelkit.headlines.evaluate import RIDGE_ALPHAS, bag_of_words_baseline, length_baseline, model_scores, rank_metrics
from reelkit.headlines.models import ENCODER, HeadlineModel, HeadlineModelConfig, cached_embeddings


@dataclass(frozen=True)
class HeadlineTrainConfig:
    data: str = str(DEFAULT_CSV)
    seed: int = 0
    # Ridge strengths searched by cross-validation over the training channels: the bag-of-words
    # baseline's grid.
    alphas: tuple[float, ...] = tuple(float(a) for a in RIDGE_ALPHAS)
    folds: int = 5  # channel-grouped folds for the ridge strength and the calibration
    max_videos: int | None = None  # train on only this many training videos (quick runs and tests)
    cache_dir: str | None = None  # embedding cache (default ~/.cache/reelkit/headlines)
    model: HeadlineModelConfig = field(default_factory=HeadlineModelConfig)


@dataclass
class HeadlineTrainResult:
    metrics: dict[str, object]
    alpha: float
    calibration_slope: float
    train_seconds: float
    n_train: int
    n_validation: int
    n_test: int
    split_recipe: str


def fit_headline_model(train: HeadlineDataset, config: HeadlineTrainConfig,
                       embeddings: np.ndarray) -> tuple[HeadlineModel, float, float]:
    """Fit the n-gram IDFs and the linear scorer on ``train``: ridge regression whose strength is chosen
    by cross-validation grouped by channel, then its scale calibrated on the out-of-fold predictions.

    Folds must hold whole channels: the targets of one channel's videos sum to zero, so a video's
    channel-mates in the training part carry the opposite of its own target, and plain leave-one-out
    rewards the model that learns nothing (it always picks the strongest ridge). The chosen ridge still
    shrinks the scores; the least-squares line of the target on the out-of-fold predictions brings them
    back to log-ratios a creator can read as multipliers. Returns the model, the ridge strength and the
    calibration slope (left at 1 if the out-of-fold predictions do not rise with the target).
    """
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.model_selection import GroupKFold, cross_val_predict

    folds = min(config.folds, len(np.unique(train.channels)))
    if folds < 2:
        raise HeadlineError("need videos of at least 2 channels to train the headline model")
    model = HeadlineModel(config.model)
    inputs = model.inputs(train.titles, embeddings)
    model.set_idf(inputs[1].numpy())
    with torch.no_grad():
        design = csr_matrix(model.design(*inputs).double().numpy())
    splits = list(GroupKFold(n_splits=folds, shuffle=True, random_state=config.seed).split(design, groups=train.channels))
    ridge = RidgeCV(alphas=np.asarray(config.alphas), cv=splits).fit(design, train.target)
    out_of_fold = cross_val_predict(Ridge(alpha=ridge.alpha_), design, train.target, cv=splits)
    slope, offset = np.polyfit(out_of_fold, train.target, 1) if np.ptp(out_of_fold) > 0 else (0.0, 0.0)
    if slope <= 0:
        slope, offset = 1.0, 0.0
    with torch.no_grad():
        model.linear.weight.copy_(torch.as_tensor(slope * ridge.coef_).reshape(1, -1))
        model.linear.bias.fill_(float(offset + slope * ridge.intercept_))
    return model.eval(), float(ridge.alpha_), float(slope)


def train_headlines(config: HeadlineTrainConfig = HeadlineTrainConfig(),
                    log: Callable[[str], None] = print) -> tuple[HeadlineModel, HeadlineTrainResult]:
    """Fit on the training channels; report Spearman rho on the validation and test channels."""
    start = time.perf_counter()
    dataset = load_dataset(config.data)
    split = grouped_split(dataset, config.seed)
    train_index = split.train
    if config.max_videos is not None:
        train_index = np.random.default_rng(config.seed).permutation(train_index)[:config.max_videos]
    train, validation, test = (dataset.subset(i) for i in (train_index, split.validation, split.test))
    log(f"{len(train)} training, {len(validation)} validation, {len(test)} test videos; encoding titles with {ENCODER}")
    cache = Path(config.cache_dir) if config.cache_dir else None
    embeddings = {name: cached_embeddings(part.titles, cache)
                  for name, part in (("train", train), ("validation", validation), ("test", test))}
    model, alpha, slope = fit_headline_model(train, config, embeddings["train"])
    log(f"ridge strength {alpha:g}, calibration slope {slope:.3g} (cross-validated over the training channels)")

    metrics: dict[str, object] = {}
    for name, part in (("validation", validation), ("test", test)):
        metrics[name] = {
            "model": rank_metrics(model_scores(model, part.titles, embeddings[name]), part),
            "length_only": rank_metrics(length_baseline(train, part), part),
            "bag_of_words_ridge": rank_metrics(bag_of_words_baseline(train, part), part),
        }
    metrics["train"] = {"model": rank_metrics(model_scores(model, train.titles, embeddings["train"]), train)}
    return model, HeadlineTrainResult(metrics, alpha, slope, time.perf_counter() - start, len(train), len(validation),
                                      len(test), split.recipe)


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
                              "alpha": result.alpha, "calibration_slope": result.calibration_slope,
                              "split_recipe": result.split_recipe})
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
  {result.n_test} test videos.
- Architecture: a bag-of-words linear model like the baseline's, with the sentence embedding beside it:
  one linear scorer over the frozen `{ENCODER}` embedding (384-d, unit length; the encoder is not in this file)
  and the TF-IDF vector of CRC-32-hashed word unigrams and bigrams ({config.model.ngram_buckets} buckets,
  unit length; the IDFs, fitted on the training titles, are a buffer): {parameters:,} weights.
- Training: ridge regression (scikit-learn `RidgeCV`), its strength chosen from {len(config.alphas)} values
  between {min(config.alphas):g} and {max(config.alphas):g} by {config.folds}-fold cross-validation (R^2) over the
  training channels, each fold whole channels: {result.alpha:g}. The ridge shrinks the scores towards zero
  without changing their order, so they are rescaled by the least-squares line of the target on the
  out-of-fold predictions (slope {result.calibration_slope:.3g}): a score reads as a log-ratio again. Validation and test were read only for the
  table below. Seed {config.seed} (the split).
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
{1 / math.sqrt(max(result.n_test - 3, 1)):.2f}; `cross_validate_headlines` (`benchmarks/creator.py`) scores every
channel out of fold for a steadier number. Treat score differences as weak hints, not forecasts. Trending
videos of 2017 in the US only: no views of videos that never trended.
""")
