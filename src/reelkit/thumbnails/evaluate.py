"""How often the chosen thumbnails avoid planted bad frames, on videos made by :mod:`.demo`."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from reelkit.thumbnails.demo import clean_share, make_planted_video
from reelkit.thumbnails.pipeline import ThumbnailRanker


def evaluate_clean_share(n_videos: int, seed: int, k: int = 5, width: int = 640, height: int = 360,
                         duration: float = 12.0, fps: int = 30, ranker: ThumbnailRanker | None = None,
                         tolerance: float = 0.0) -> dict:
    """Makes ``n_videos`` planted videos in a temporary folder and ranks each; returns the mean share of
    the top ``k`` that lie in no bad interval (target 1.0), the worst video's share, and the seconds
    ranking took per video (rendering not counted). ``tolerance`` widens the bad intervals (seconds)."""
    ranker = ranker or ThumbnailRanker()
    shares, seconds = [], []
    with tempfile.TemporaryDirectory(prefix="reelkit-thumbs-") as folder:
        for index in range(n_videos):
            path = Path(folder) / f"planted_{seed + index}.mp4"
            truth = make_planted_video(path, seed + index, width, height, duration, fps)
            start = time.perf_counter()
            thumbnails = ranker(path, k)
            seconds.append(time.perf_counter() - start)
            shares.append(clean_share(thumbnails, truth, tolerance))
    return {
        "videos": n_videos, "k": k, "size": f"{width}x{height}", "duration": duration, "fps": fps,
        "mean_clean_share": float(np.mean(shares)), "min_clean_share": float(np.min(shares)),
        "seconds_per_video": float(np.mean(seconds)), "clean_shares": [round(s, 3) for s in shares],
    }
