"""Predict a video's popularity and explain it: soft-attention weights over time, Grad-CAM over frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reelkit.embeddings import embed_sentences
from reelkit.popularity.archive import sample_frames
from reelkit.popularity.gradcam import GradCAM
from reelkit.popularity.models import PopularityNet
from reelkit.registry import create_model, read_metadata, weights_path


@dataclass
class PopularityReport:
    score: float  # probability that the video is above the archive's median views per day
    times: list[float]  # seconds of the frames the model saw
    attention: list[float]  # soft-attention weight of each frame; sums to 1
    frames: np.ndarray  # (T, H, W, 3) uint8, the frames at display resolution
    heatmaps: np.ndarray  # (T, H, W) Grad-CAM in [0, 1]: where each frame pushes the score up

    def to_json(self) -> dict[str, object]:
        peak = int(np.argmax(self.attention))
        return {"score": round(self.score, 4), "most_attended_time": round(self.times[peak], 2),
                "frames": [{"time": round(t, 2), "attention": round(a, 4)} for t, a in zip(self.times, self.attention)]}


def _to_input(frames: np.ndarray, size: int) -> torch.Tensor:
    tensor = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255)
    return F.interpolate(tensor, size=(size, size), mode="area").unsqueeze(0)


class PopularityPredictor:
    """Callable: ``predictor(video, headline) -> PopularityReport``."""

    def __init__(self, model: PopularityNet) -> None:
        self.model = model.eval()
        self.config = model.config

    @classmethod
    def from_name(cls, model: str = "popularity_small", weights: str | Path | None = None) -> "PopularityPredictor":
        network = create_model(model, pretrained=weights is None, weights=weights)
        return cls(network)

    @staticmethod
    def metadata(model: str = "popularity_small", weights: str | Path | None = None) -> dict[str, object]:
        return read_metadata(weights or weights_path(model))

    def _headline(self, headline: str | None) -> torch.Tensor:
        return torch.from_numpy(embed_sentences([headline or ""]))

    def __call__(self, video: str | Path, headline: str | None = None) -> PopularityReport:
        frames, times = sample_frames(video, self.config.frames)
        return self.explain(frames, times, headline)

    def explain(self, frames: np.ndarray, times: np.ndarray, headline: str | None = None) -> PopularityReport:
        inputs = _to_input(frames, self.config.image_size)
        embedding = self._headline(headline)
        captured = {}

        def forward() -> torch.Tensor:
            output = self.model(inputs, embedding)
            captured["output"] = output
            return output.logit.sum()

        with GradCAM(self.model.cam_layer) as cam:
            heatmaps = cam(forward, size=frames.shape[1:3])
        output = captured["output"]
        return PopularityReport(float(torch.sigmoid(output.logit).item()), [float(t) for t in times],
                                output.attention[0].detach().tolist(), frames, heatmaps.numpy())

    def frame_score(self, headline: str | None = None):
        """A single-frame scorer (RGB -> probability) for thumbnail ranking: the frame as a one-frame video."""
        embedding = self._headline(headline)

        def score(rgb: np.ndarray) -> float:
            with torch.no_grad():
                logit = self.model(_to_input(rgb[None], self.config.image_size), embedding).logit
            return float(torch.sigmoid(logit).item())

        return score


def overlay_heatmap(rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    import cv2

    colour = cv2.applyColorMap(np.uint8(255 * heatmap), cv2.COLORMAP_JET)[..., ::-1]
    return np.uint8((1 - alpha) * rgb + alpha * colour)


def write_explanations(report: PopularityReport, out_dir: Path, stem: str) -> dict[str, Path]:
    """``<stem>_gradcam.jpg`` (each frame with its heat map, time and attention) and ``<stem>_attention.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    columns = min(4, len(report.times))
    rows = int(np.ceil(len(report.times) / columns))
    height, width = report.frames.shape[1:3]
    scale = 3.2 / max(height, width)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * width * scale, rows * (height * scale + 0.35)),
                                squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    peak = int(np.argmax(report.attention))
    for index, axis in enumerate(axes.flat[:len(report.times)]):
        axis.imshow(overlay_heatmap(report.frames[index], report.heatmaps[index]))
        axis.set_title(f"{report.times[index]:.1f}s  attention {report.attention[index]:.2f}", fontsize=9,
                       color="crimson" if index == peak else "black")
    figure.suptitle(f"Grad-CAM: where each frame raises the popularity score ({report.score:.0%})", fontsize=10)
    figure.tight_layout()
    paths = {"gradcam": out_dir / f"{stem}_gradcam.jpg", "attention": out_dir / f"{stem}_attention.png"}
    _save(figure, paths["gradcam"])
    figure, axis = plt.subplots(figsize=(6, 2.4))
    axis.bar(report.times, report.attention, width=0.8 * (report.times[1] - report.times[0]) if len(report.times) > 1 else 0.5,
             color=["crimson" if i == peak else "tab:blue" for i in range(len(report.times))])
    axis.set_xlabel("time (s)")
    axis.set_ylabel("attention")
    axis.set_title("Soft attention over time: which moments the score rests on", fontsize=10)
    figure.tight_layout()
    _save(figure, paths["attention"])
    return paths


def _save(figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    partial = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        figure.savefig(partial, dpi=100)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
        plt.close(figure)
