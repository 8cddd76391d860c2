"""The trending-videos table, the channel-relative target and the grouped train/validation/test split.

One row of ``USvideos.csv`` is one video on one trending day. A video's views are its largest count
over those days (the counts only grow), and its title is the one it had then. The target is how much
better or worse a video did than its channel usually does, so that a score learns wording, not fame:

    target = log(views) - mean(log(views) of the channel's other videos)

Only channels with at least two videos have an "other videos" mean, so only those are kept.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from reelkit.errors import HeadlineError
from reelkit.splits import Split

# ../shared/data beside the project's checkout (src/reelkit/headlines/data.py -> the checkout's parent).
DATA_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data"
DEFAULT_CSV = DATA_DIR / "youtube_trending" / "USvideos.csv"
REQUIRED_COLUMNS = ("video_id", "title", "channel_title", "views")
SPLIT_RECIPE = ("channels split by sklearn GroupShuffleSplit (random_state={seed}): {train:.0%} of channels train, "
                "then the rest halved into validation and test; no channel is in two splits")


@dataclass(frozen=True)
class TrendingVideo:
    video_id: str
    title: str
    channel: str
    views: int  # the largest count over its trending days


@dataclass(frozen=True)
class HeadlineDataset:
    """Videos of channels with at least ``min_videos`` videos and their channel-relative targets."""

    titles: list[str]
    channels: np.ndarray  # (n,) channel names, the groups of the split
    log_views: np.ndarray  # (n,) log(1 + views)
    target: np.ndarray  # (n,) log views minus the mean log views of the channel's other videos

    def __len__(self) -> int:
        return len(self.titles)

    def subset(self, index: np.ndarray) -> HeadlineDataset:
        return HeadlineDataset([self.titles[i] for i in index], self.channels[index], self.log_views[index],
                               self.target[index])


def load_trending(path: str | Path = DEFAULT_CSV) -> list[TrendingVideo]:
    """One :class:`TrendingVideo` per video id of the trending table at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise HeadlineError(f"trending-videos table {path} not found (expected the youtube_trending data folder)")
    videos: dict[str, TrendingVideo] = {}
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise HeadlineError(f"{path} is not a trending-videos table: no column {', '.join(missing)}")
            for row in reader:
                title, channel, views = (row["title"] or "").strip(), (row["channel_title"] or "").strip(), row["views"]
                if not title or not channel or not (views or "").isdigit():
                    raise HeadlineError(f"{path} line {reader.line_num}: needs a title, a channel and whole-number views")
                seen = videos.get(row["video_id"])
                if seen is None or int(views) > seen.views:
                    videos[row["video_id"]] = TrendingVideo(row["video_id"], title, channel, int(views))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise HeadlineError(f"cannot read {path}: {error}") from None
    if not videos:
        raise HeadlineError(f"{path} has no videos")
    return list(videos.values())


def channel_relative_targets(videos: list[TrendingVideo], min_videos: int = 2) -> HeadlineDataset:
    """Keep channels with at least ``min_videos`` videos; target each video against its channel's others."""
    if min_videos < 2:
        raise ValueError("a video needs at least one other video of its channel to compare with")
    channels = np.array([v.channel for v in videos])
    names, group, counts = np.unique(channels, return_inverse=True, return_counts=True)
    keep = counts[group] >= min_videos
    if not keep.any():
        raise HeadlineError(f"no channel has {min_videos} or more videos to compare headlines within")
    log_views = np.log1p(np.array([v.views for v in videos], dtype=np.float64))
    # Leave-one-out channel mean: the channel's typical views must not include the video being judged.
    sums = np.bincount(group, weights=log_views)
    others = (sums[group] - log_views) / np.maximum(counts[group] - 1, 1)
    index = np.flatnonzero(keep)
    return HeadlineDataset([videos[i].title for i in index], channels[index], log_views[index],
                           (log_views - others)[index])


def grouped_split(dataset: HeadlineDataset, seed: int = 0, train_fraction: float = 0.7) -> Split:
    """Deterministic train/validation/test indices; every channel's videos land in one split only."""
    rows = np.arange(len(dataset))
    first = GroupShuffleSplit(n_splits=1, train_size=train_fraction, random_state=seed)
    second = GroupShuffleSplit(n_splits=1, train_size=0.5, random_state=seed)
    try:
        train, rest = next(first.split(rows, groups=dataset.channels))
        validation, test = next(second.split(rest, groups=dataset.channels[rest]))
    except ValueError:  # scikit-learn's words for a part left without a channel
        channels = len(np.unique(dataset.channels))
        raise HeadlineError(f"only {channels} channel(s) with 2 or more videos: too few to split into training, "
                            "validation and test channels") from None
    return Split(np.sort(train), np.sort(rest[validation]), np.sort(rest[test]),
                 SPLIT_RECIPE.format(seed=seed, train=train_fraction))


def load_dataset(path: str | Path = DEFAULT_CSV, min_videos: int = 2) -> HeadlineDataset:
    return channel_relative_targets(load_trending(path), min_videos)
