"""Check the popularity model against the demo archive's planted causes: AUC and the pointing game."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from reelkit.popularity.archive import popular_labels, read_archive, sample_frames
from reelkit.popularity.demo import HOOK_EFFECT, STAR_EFFECT
from reelkit.popularity.pipeline import PopularityPredictor
from reelkit.popularity.train import predict_logits, prepare

# Zhang et al.'s pointing game counts a hit within 15 px of the object in full-size images; the demo
# frames are 128 px, so the tolerance scales down with them.
POINTING_TOLERANCE = 4


def pointing_hit(heatmap: np.ndarray, box: list[int], tolerance: int = POINTING_TOLERANCE) -> bool:
    """Whether the heat map's maximum falls inside ``box`` (x0, y0, x1, y1) grown by ``tolerance`` pixels."""
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    x0, y0, x1, y1 = box
    return x0 - tolerance <= x < x1 + tolerance and y0 - tolerance <= y < y1 + tolerance


def evaluate_popularity(predictor: PopularityPredictor, archive_csv: str | Path, progress=None) -> dict[str, float]:
    """AUC of "popular" on the archive, and pointing-game accuracy on every sampled frame showing the star."""
    archive_csv = Path(archive_csv)
    videos = read_archive(archive_csv)
    truth = json.loads((archive_csv.parent / "truth.json").read_text())
    labels, _ = popular_labels(videos)
    frames, headlines = prepare(videos, predictor.config)
    scores = predict_logits(predictor.model, frames, headlines)
    causes = [truth[str(v.path.relative_to(archive_csv.parent))] for v in videos]
    # The best any model can do: rank by the planted causes themselves (the rest is noise).
    oracle = [STAR_EFFECT * c["star"] + HOOK_EFFECT * c["hook"] for c in causes]
    hits, trials, star_attention, other_attention = 0, 0, [], []
    for video in videos:
        facts = truth[str(video.path.relative_to(archive_csv.parent))]
        if not facts["star"]:
            continue
        clip, times = sample_frames(video.path, predictor.config.frames)
        report = predictor.explain(clip, times, video.headline)
        for index, time in enumerate(report.times):
            box = facts["star_boxes"].get(str(int(round(time * facts["fps"]))))
            (star_attention if box else other_attention).append(report.attention[index])
            if box:
                trials += 1
                hits += pointing_hit(report.heatmaps[index], box)
        if progress:
            progress()
    return {"videos": len(videos), "auc": float(roc_auc_score(labels, scores)),
            "oracle_auc": float(roc_auc_score(labels, oracle)),
            "pointing_game": hits / max(trials, 1), "pointing_frames": trials,
            "attention_on_star_frames": float(np.mean(star_attention)) if star_attention else float("nan"),
            "attention_on_other_frames": float(np.mean(other_attention)) if other_attention else float("nan")}
