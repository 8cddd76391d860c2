"""The popularity network of "Pay Attention to Virality" (Bielski & Trzcinski, CVPR-W 2018).

Each sampled frame goes through a CNN; a soft attention layer weighs the frames in time and pools them
into one video vector; the headline's sentence embedding joins it; a small head predicts the logit of
"popular". The CNN's last convolution is where Grad-CAM reads its maps (``model.cam_layer``).

The paper uses ImageNet ResNet features and GloVe title words; no ImageNet weights can be had offline
here, so the frame CNN is trained from scratch (``popularity_small``), and the title is embedded with
all-MiniLM-L6-v2. ``popularity_resnet`` is the full-width configuration (a ResNet-style encoder at 224 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reelkit.embeddings import SENTENCE_DIM
from reelkit.registry import register_model

TRAIN_COMMAND = ("reelkit synth archive runs/demo_archive && reelkit train popularity "
                 "--archive runs/demo_archive/archive.csv --out src/reelkit/weights/popularity_small.safetensors")


@dataclass(frozen=True)
class PopularityConfig:
    frames: int = 8  # frames sampled uniformly over the video
    image_size: int = 96
    widths: tuple[int, ...] = (24, 48, 64, 96)  # one stride-2 stage each, except the last
    blocks: tuple[int, ...] = (0, 0, 0, 1)  # residual blocks after each stage's convolution
    attention_dim: int = 64
    headline_dim: int = 64
    hidden: int = 64
    dropout: float = 0.3
    use_headline: bool = True


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels, 1), nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class FrameEncoder(nn.Module):
    """Frames (N, 3, H, W) in [0, 1] -> feature maps; the last stage keeps stride 8 so Grad-CAM stays sharp."""

    def __init__(self, config: PopularityConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for index, (width, blocks) in enumerate(zip(config.widths, config.blocks)):
            layers.append(_conv(cin, width, 1 if index == len(config.widths) - 1 else 2))
            layers.extend(_Residual(width) for _ in range(blocks))
            cin = width
        self.stages = nn.Sequential(*layers[:-1])
        self.last = layers[-1]  # Grad-CAM target: the last convolutional block
        self.out_channels = cin
        self.register_buffer("mean", torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.last(self.stages((frames - self.mean) / self.std))


class SoftAttention(nn.Module):
    """Soft attention over time (the paper's frame attention, in the form of Yang et al. 2016, eq. 5-7):
    u_t = tanh(W h_t + b),  alpha_t = softmax_t(u_t . u_w),  v = sum_t alpha_t h_t."""

    def __init__(self, dim: int, attention_dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(dim, attention_dim)
        self.context = nn.Parameter(torch.randn(attention_dim) * 0.1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        scores = torch.tanh(self.project(features)) @ self.context  # (B, T)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return (weights.unsqueeze(-1) * features).sum(1), weights


@dataclass
class PopularityOutput:
    logit: torch.Tensor  # (B,)
    attention: torch.Tensor  # (B, T), rows sum to 1
    frame_maps: torch.Tensor  # (B*T, C, h, w): the activations Grad-CAM weighs


class PopularityNet(nn.Module):
    def __init__(self, config: PopularityConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FrameEncoder(config)
        dim = self.encoder.out_channels
        self.attention = SoftAttention(dim, config.attention_dim)
        self.headline = nn.Sequential(nn.Linear(SENTENCE_DIM, config.headline_dim), nn.ReLU(inplace=True)) \
            if config.use_headline else None
        joint = dim + (config.headline_dim if config.use_headline else 0)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(joint, config.hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(config.dropout), nn.Linear(config.hidden, 1))

    @property
    def cam_layer(self) -> nn.Module:
        return self.encoder.last

    def forward(self, frames: torch.Tensor, headline: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> PopularityOutput:
        """frames (B, T, 3, H, W) in [0, 1]; headline (B, 384) sentence embeddings; mask (B, T) valid frames."""
        batch, steps = frames.shape[:2]
        maps = self.encoder(frames.flatten(0, 1))
        features = maps.mean((2, 3)).view(batch, steps, -1)
        video, weights = self.attention(features, mask)
        parts = [video]
        if self.headline is not None:
            if headline is None:
                raise ValueError("this popularity model needs the headline's embedding")
            parts.append(self.headline(headline))
        return PopularityOutput(self.head(torch.cat(parts, 1)).squeeze(1), weights, maps)


CONFIGS: dict[str, PopularityConfig] = {
    "popularity_small": PopularityConfig(),
    "popularity_tiny": PopularityConfig(frames=4, image_size=48, widths=(8, 16, 16), blocks=(0, 0, 1),
                                        attention_dim=8, headline_dim=8, hidden=8),
    # The paper's scale: 224 px frames, a four-stage ResNet-style encoder, more frames.
    "popularity_resnet": PopularityConfig(frames=18, image_size=224, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2),
                                          attention_dim=256, headline_dim=128, hidden=256, dropout=0.5),
}


def _register(name: str) -> None:
    register_model(name, TRAIN_COMMAND)(lambda: PopularityNet(CONFIGS[name]))


for _name in CONFIGS:
    _register(_name)
