"""CRNN (Shi, Bai, Yao: "An End-to-End Trainable Neural Network for Image-based Sequence Recognition",
TPAMI 2017), the recogniser of the textual-overlays paper: convolutional features, a deep
bidirectional LSTM over the columns, and CTC transcription."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from reelkit.registry import register_model
from reelkit.text.synth import CHARSET

TRAIN_COMMAND = "reelkit train crnn"


@dataclass(frozen=True)
class CRNNConfig:
    """Defaults are the paper's Table 1 (input 32 px high, grey; 7 convolutions; 2 BiLSTMs of 256)."""

    name: str = "crnn"
    height: int = 32
    in_channels: int = 1
    channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512, 512)
    lstm_hidden: int = 256
    lstm_layers: int = 2
    charset: str = CHARSET

    @property
    def num_classes(self) -> int:
        return len(self.charset) + 1  # index 0 is the CTC blank

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS = {
    "crnn": CRNNConfig(),
    "crnn_small": CRNNConfig(name="crnn_small", channels=(32, 64, 128, 128, 256, 256, 256), lstm_hidden=128),
    "crnn_tiny": CRNNConfig(name="crnn_tiny", channels=(8, 16, 32, 32, 32, 32, 32), lstm_hidden=32, lstm_layers=1),
}


def _conv(cin: int, cout: int, kernel: int = 3, padding: int = 1, batchnorm: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, 1, padding, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


class CRNN(nn.Module):
    """Image (N, C, 32, W) -> per-column class log-probabilities (T, N, K) with T = W / 4 + 1."""

    def __init__(self, config: CRNNConfig) -> None:
        super().__init__()
        if config.height != 32:
            raise ValueError("the CRNN layer plan maps a 32-pixel-high input to a single row")
        self.config = config
        c = config.channels
        # Table 1: conv-pool-conv-pool-conv-conv-pool(1x2)-conv+BN-conv+BN-pool(1x2)-conv(2x2).
        # The 1x2 pools halve the height only, keeping narrow characters apart (Sec. 2.1).
        self.features = nn.Sequential(
            *_conv(config.in_channels, c[0]), nn.MaxPool2d(2, 2),
            *_conv(c[0], c[1]), nn.MaxPool2d(2, 2),
            *_conv(c[1], c[2], batchnorm=True), *_conv(c[2], c[3]), nn.MaxPool2d((2, 2), (2, 1), (0, 1)),
            *_conv(c[3], c[4], batchnorm=True), *_conv(c[4], c[5], batchnorm=True),
            nn.MaxPool2d((2, 2), (2, 1), (0, 1)),
            *_conv(c[5], c[6], kernel=2, padding=0, batchnorm=True),
        )
        # Sec. 2.2: a deep bidirectional LSTM over the feature sequence, then a per-frame classifier.
        self.rnn = nn.LSTM(c[6], config.lstm_hidden, num_layers=config.lstm_layers, bidirectional=True)
        self.classifier = nn.Linear(2 * config.lstm_hidden, config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)  # N, C, 1, T
        sequence = features.squeeze(2).permute(2, 0, 1)  # T, N, C: map-to-sequence (Sec. 2.1)
        hidden, _ = self.rnn(sequence)
        return self.classifier(hidden).log_softmax(-1)

    @staticmethod
    def output_length(width: int) -> int:
        return width // 4 + 1


def _builder(name: str):
    @register_model(name, TRAIN_COMMAND + ("" if name == "crnn_small" else f" --model {name}"))
    def build() -> CRNN:
        return CRNN(CONFIGS[name])

    return build


for _name in CONFIGS:
    _builder(_name)
