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
from reelkit.registry import create_model

# Longer side of the frames a prediction explains: they are shown with their heat maps, and the model sees
# them at its own small input size, so 4K frames would only slow the heat maps down.
EXPLAINED_SIDE = 1280


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

    def _headline(self, headline: str | None) -> torch.Tensor:
        return torch.from_numpy(embed_sentences([headline or ""]))

    def __call__(self, video: str | Path, headline: str | None = None) -> PopularityReport:
        frames, times = sample_frames(video, self.config.frames, max_side=EXPLAINED_SIDE)
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
            heatmaps = cam(forward, size=frames.shape[1:3], joint=True)  # one scale: unattended frames stay cool
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


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PEAK_COLOUR, BAR_COLOUR = (200, 30, 60), (60, 110, 180)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(FONT, size)
    except OSError:  # DejaVu missing: PIL's own font still gives readable labels
        return ImageFont.load_default(size=size)


def gradcam_sheet(report: PopularityReport, tile_height: int = 240, columns: int = 4):
    """Every frame with its Grad-CAM heat map, time and attention weight; the most attended one in red."""
    from PIL import Image, ImageDraw

    height, width = report.frames.shape[1:3]
    tile_width = max(1, round(width * tile_height / height))
    columns = min(columns, len(report.times))
    rows = -(-len(report.times) // columns)
    caption, title, gap = 22, 30, 6
    sheet = Image.new("RGB", (columns * (tile_width + gap) + gap, title + rows * (tile_height + caption + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, 6), f"Grad-CAM: where each frame raises the popularity score ({report.score:.0%})",
              fill="black", font=_font(16))
    peak = int(np.argmax(report.attention))
    for index, (time, weight) in enumerate(zip(report.times, report.attention)):
        x = gap + (index % columns) * (tile_width + gap)
        y = title + (index // columns) * (tile_height + caption + gap)
        tile = Image.fromarray(overlay_heatmap(report.frames[index], report.heatmaps[index])).resize((tile_width, tile_height))
        sheet.paste(tile, (x, y + caption))
        colour = PEAK_COLOUR if index == peak else (0, 0, 0)
        draw.text((x, y + 3), f"{time:.1f}s  attention {weight:.2f}", fill=colour, font=_font(14))
        if index == peak:
            draw.rectangle([x - 2, y + caption - 2, x + tile_width + 1, y + caption + tile_height + 1], outline=PEAK_COLOUR, width=3)
    return sheet


def attention_chart(report: PopularityReport, width: int = 640, height: int = 240):
    """A bar per sampled frame: how much of the video's representation each moment makes up."""
    from PIL import Image, ImageDraw

    chart = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(chart)
    left, right, top, bottom = 50, 15, 30, 40
    draw.text((left, 6), "Soft attention over time: which moments the score rests on", fill="black", font=_font(14))
    draw.line([left, top, left, height - bottom, width - right, height - bottom], fill="black")
    top_value = max(max(report.attention), 1e-6)
    slot = (width - left - right) / len(report.attention)
    peak = int(np.argmax(report.attention))
    for index, (time, weight) in enumerate(zip(report.times, report.attention)):
        x0 = left + index * slot + 0.15 * slot
        y0 = height - bottom - (height - top - bottom) * weight / top_value
        draw.rectangle([x0, y0, x0 + 0.7 * slot, height - bottom - 1], fill=PEAK_COLOUR if index == peak else BAR_COLOUR)
        draw.text((x0, height - bottom + 6), f"{time:.1f}s", fill="black", font=_font(11))
    draw.text((4, top - 4), f"{top_value:.2f}", fill="black", font=_font(11))
    draw.text((4, height - bottom - 8), "0", fill="black", font=_font(11))
    return chart


def write_explanations(report: PopularityReport, out_dir: Path, stem: str) -> dict[str, Path]:
    """``<stem>_gradcam.jpg`` (each frame with its heat map, time and attention) and ``<stem>_attention.png``."""
    out_dir = Path(out_dir)
    paths = {"gradcam": out_dir / f"{stem}_gradcam.jpg", "attention": out_dir / f"{stem}_attention.png"}
    _save(gradcam_sheet(report), paths["gradcam"])
    _save(attention_chart(report), paths["attention"])
    return paths


def _save(image, path: Path) -> None:
    partial = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        image.save(partial, quality=90) if path.suffix == ".jpg" else image.save(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
