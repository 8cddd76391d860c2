"""EmotionalDAN (Tautkute, Trzcinski & Bielski, "Classifying and Visualizing Emotions with Emotional DAN",
2018): the Deep Alignment Network (Kowalski, Naruniec & Trzcinski, CVPR-W 2017) with an emotion head.

Every stage is the same VGG-like CNN on a 112x112 grey image: pairs of 3x3 convolutions (batch norm,
ReLU) and 2x2 max pools, dropout, a fully connected layer ``fc1`` and a linear output of 68 landmark
offsets. Stage 1 sees the face crop normalised so that the box-initialised mean shape lands on the
canonical mean shape ``S0`` and outputs ``S1 = S0 + dS1``. Stage t >= 2 (DAN sec. 3.2) sees
- the crop warped by the similarity ``T_t`` that best maps the current landmarks ``S_{t-1}`` onto ``S0``,
- the landmark heat map ``H_t(x, y) = 1 / (1 + min_i ||(x, y) - T_t(s_i)||)`` (DAN eq. 6),
- the feature image ``F_t``: a dense layer of ``fc1`` of the previous stage to 56x56, upscaled to 112x112,
and outputs ``S_t = T_t^-1(T_t(S_{t-1}) + dS_t)`` (DAN eq. 1). EmotionalDAN adds a softmax over the
emotions on the last stage's ``fc1`` and trains with ``0.5 * landmark error + 0.5 * cross-entropy``
(its ``Joint_Cost``), where the landmark error is the mean point-to-point distance over the distance
between the eye centres (DAN eq. 7).

Configs: ``emotionaldan_full`` is the papers' scale (two stages, widths 64-512, fc1 256);
``emotionaldan_small`` is sized to train in about an hour on two CPU cores (the shipped default);
``emotionaldan_tiny`` is for tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reelkit.registry import register_model

TRAIN_COMMAND = "reelkit train emotionaldan"
EMOTIONS = ("anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
N_LANDMARKS = 68
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)  # iBUG 300-W order: the subject's right eye comes first
# Mirror image of each iBUG 68 point (jaw, brows, nose, eyes, lips), for horizontal flips.
MIRROR_68 = np.array([16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
                      26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
                      27, 28, 29, 30, 35, 34, 33, 32, 31,
                      45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
                      54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
                      64, 63, 62, 61, 60, 67, 66, 65])
# The mean of face-api's 68 points over the detected training faces (seed-0 split) of
# ../shared/data/facial_expressions, in
# coordinates of the tiny face detector's box (0..1 from its left/top edge). Training re-estimates it
# and stores it in the weights; this copy gives untrained models a sensible start.
BOX_MEAN_SHAPE = np.array([
    [0.1137, 0.2857], [0.1226, 0.4003], [0.1427, 0.5082], [0.1646, 0.6019], [0.2004, 0.7056], [0.2578, 0.7840],
    [0.3251, 0.8391], [0.4106, 0.8946], [0.5356, 0.9250], [0.6565, 0.8890], [0.7337, 0.8366], [0.7958, 0.7835],
    [0.8486, 0.6978], [0.8857, 0.5946], [0.9036, 0.4978], [0.9177, 0.3946], [0.9209, 0.2818], [0.2092, 0.1886],
    [0.2561, 0.1548], [0.3178, 0.1430], [0.3744, 0.1466], [0.4249, 0.1649], [0.6225, 0.1643], [0.6708, 0.1465],
    [0.7247, 0.1380], [0.7888, 0.1474], [0.8338, 0.1796], [0.5246, 0.2854], [0.5258, 0.3611], [0.5264, 0.4321],
    [0.5259, 0.4971], [0.4621, 0.5393], [0.4918, 0.5506], [0.5277, 0.5571], [0.5648, 0.5462], [0.5943, 0.5388],
    [0.2883, 0.2715], [0.3247, 0.2575], [0.3750, 0.2559], [0.4181, 0.2809], [0.3810, 0.2991], [0.3279, 0.2947],
    [0.6259, 0.2790], [0.6707, 0.2512], [0.7230, 0.2515], [0.7563, 0.2726], [0.7204, 0.2938], [0.6682, 0.2900],
    [0.3861, 0.6794], [0.4359, 0.6514], [0.4968, 0.6322], [0.5294, 0.6385], [0.5603, 0.6292], [0.6251, 0.6529],
    [0.6776, 0.6781], [0.6250, 0.7220], [0.5807, 0.7471], [0.5309, 0.7555], [0.4857, 0.7495], [0.4381, 0.7280],
    [0.3947, 0.6804], [0.4838, 0.6674], [0.5300, 0.6679], [0.5733, 0.6700], [0.6648, 0.6762], [0.5756, 0.6993],
    [0.5319, 0.7040], [0.4883, 0.7015]], dtype=np.float32)


@dataclass(frozen=True)
class EmotionalDANConfig:
    stages: int = 2  # EmotionalDAN: two DAN stages
    image_size: int = 112  # DAN sec. 4.1: 112x112 grey crops
    frame_fraction: float = 0.25  # DAN's ImageServer: the mean shape spans 1 - 2 * 0.25 of the crop
    widths: tuple[int, ...] = (64, 128, 256, 512)  # DAN Table 1: two 3x3 convolutions per width, then a 2x2 pool
    fc_dim: int = 256  # DAN Table 1: fc1
    dropout: float = 0.5  # DAN Table 1: dropout before fc1
    emotions: tuple[str, ...] = EMOTIONS

    @property
    def feature_size(self) -> int:
        return self.image_size // 2  # DAN sec. 3.2: the feature image is 56x56, upscaled to 112x112

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS: dict[str, EmotionalDANConfig] = {
    "emotionaldan_full": EmotionalDANConfig(),
    "emotionaldan_small": EmotionalDANConfig(widths=(8, 16, 32, 64), fc_dim=96),
    "emotionaldan_tiny": EmotionalDANConfig(image_size=48, widths=(4, 8, 8, 8), fc_dim=16),
}


# --- geometry ----------------------------------------------------------------------------------------


def canonical_shape(box_shape: np.ndarray, image_size: int, frame_fraction: float) -> np.ndarray:
    """DAN's ImageServer: the mean shape scaled so its larger extent is ``size * (1 - 2 * frame_fraction)``
    and centred in the ``size`` x ``size`` crop."""
    extent = (box_shape.max(0) - box_shape.min(0)).max()
    shape = box_shape * (image_size * (1 - 2 * frame_fraction) / extent)
    return (shape - shape.mean(0) + image_size / 2).astype(np.float32)


def best_fit(source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The similarity (rotation, uniform scale, translation) that best maps ``source`` (B, n, 2) onto
    ``target`` (n, 2) or (B, n, 2) in the least-squares sense (DAN sec. 3.2, T_t): returns ``A`` (B, 2, 2)
    and ``t`` (B, 1, 2) such that ``source @ A + t`` ~ ``target`` (row vectors)."""
    target = target.expand_as(source)
    source_mean, target_mean = source.mean(1, keepdim=True), target.mean(1, keepdim=True)
    src, dst = source - source_mean, target - target_mean
    norm = (src ** 2).sum((1, 2)).clamp_min(1e-12)
    a = (src * dst).sum((1, 2)) / norm
    b = (src[..., 0] * dst[..., 1] - src[..., 1] * dst[..., 0]).sum(1) / norm
    matrix = torch.stack([torch.stack([a, b], -1), torch.stack([-b, a], -1)], 1)
    return matrix, target_mean - source_mean @ matrix


def inverse_2x2(matrix: torch.Tensor) -> torch.Tensor:
    """The inverse of (..., 2, 2) matrices in closed form (unlike ``torch.linalg.inv``, it exports to ONNX)."""
    a, b, c, d = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 1, 0], matrix[..., 1, 1]
    adjugate = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    return adjugate / (a * d - b * c)[..., None, None]


def apply_transform(points: torch.Tensor, matrix: torch.Tensor, shift: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """``points @ A + t``, or with ``inverse`` the inverse map ``(points - t) @ A^-1``."""
    if inverse:
        return (points - shift) @ inverse_2x2(matrix)
    return points @ matrix + shift


def warp_image(images: torch.Tensor, matrix: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """DAN's AffineTransformLayer: output pixel ``p`` takes the input at ``(p - t) @ A^-1`` (bilinear,
    coordinates clipped to the image)."""
    batch, _, height, width = images.shape
    ys, xs = torch.meshgrid(torch.arange(height, dtype=images.dtype), torch.arange(width, dtype=images.dtype), indexing="ij")
    pixels = torch.stack([xs, ys], -1).view(1, -1, 2)
    source = apply_transform(pixels, matrix, shift, inverse=True)
    grid = torch.stack([2 * source[..., 0] / (width - 1) - 1, 2 * source[..., 1] / (height - 1) - 1], -1)
    return F.grid_sample(images, grid.view(batch, height, width, 2), mode="bilinear", padding_mode="border",
                         align_corners=True)


def landmark_heatmap(landmarks: torch.Tensor, size: int, chunk: int = 8) -> torch.Tensor:
    """DAN eq. 6 on the whole image: ``H(x, y) = 1 / (1 + min_i ||(x, y) - s_i||)``; (B, n, 2) -> (B, 1, size, size)."""
    coords = torch.arange(size, dtype=landmarks.dtype)
    maps = []
    for part in landmarks.split(chunk):  # a few faces at a time: (chunk, n, size, size) distances
        dx = coords.view(1, 1, 1, size) - part[..., 0, None, None]
        dy = coords.view(1, 1, size, 1) - part[..., 1, None, None]
        maps.append(1 / (1 + torch.sqrt((dx * dx + dy * dy).amin(1))))  # the nearest point has the least square
    return torch.cat(maps).unsqueeze(1)


def interocular_error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DAN eq. 7 (and EmotionalDAN's NormRmse): mean point-to-point distance over the distance between the
    eye centres of the target; (B, 68, 2) each -> (B,)."""
    distance = torch.linalg.vector_norm(predicted - target, dim=-1).mean(-1)
    eyes = torch.linalg.vector_norm(target[:, LEFT_EYE].mean(1) - target[:, RIGHT_EYE].mean(1), dim=-1)
    return distance / eyes.clamp_min(1e-6)


def combined_loss(landmarks: torch.Tensor, target: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
                  landmark_weight: float = 0.5, emotion_weight: float = 0.5, class_weights: torch.Tensor | None = None,
                  landmark_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EmotionalDAN's ``Joint_Cost = 0.5 * landmark error + 0.5 * cross-entropy``: returns the total and
    its two terms. ``class_weights`` weigh the cross-entropy per class (normalised by the batch's weight,
    as PyTorch does); ``landmark_mask`` (B,) leaves faces without a trusted target out of the landmark term."""
    errors = interocular_error(landmarks, target)
    if landmark_mask is not None:
        mask = landmark_mask.to(errors.dtype)
        landmark_term = (errors * mask).sum() / mask.sum().clamp_min(1.0)
    else:
        landmark_term = errors.mean()
    emotion_term = F.cross_entropy(logits, labels, weight=class_weights)
    return landmark_weight * landmark_term + emotion_weight * emotion_term, landmark_term, emotion_term


# --- network -----------------------------------------------------------------------------------------


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    # DAN's Lasagne batch_norm(Conv2DLayer): convolution, batch norm, then the ReLU
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DANStage(nn.Module):
    """One DAN stage (DAN Table 1): ``in_channels`` x 112 x 112 -> (fc1 features, 68 x 2 landmark offsets)."""

    def __init__(self, config: EmotionalDANConfig, in_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for width in config.widths:
            layers += [_conv_block(cin, width), _conv_block(width, width), nn.MaxPool2d(2)]
            cin = width
        self.features = nn.Sequential(*layers)
        side = config.image_size // 2 ** len(config.widths)
        self.dropout = nn.Dropout(config.dropout)
        self.fc1 = nn.Sequential(nn.Linear(cin * side * side, config.fc_dim, bias=False), nn.BatchNorm1d(config.fc_dim),
                                 nn.ReLU(inplace=True))
        self.fc2 = nn.Linear(config.fc_dim, 2 * N_LANDMARKS)
        nn.init.zeros_(self.fc2.weight)  # start from the mean shape (or the previous stage's landmarks)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # channels-last: a training step about 30 % and one face's analysis about 20 % faster on a CPU
        features = self.features(x.contiguous(memory_format=torch.channels_last))
        hidden = self.fc1(self.dropout(features.flatten(1)))
        return hidden, self.fc2(hidden).view(-1, N_LANDMARKS, 2)


@dataclass
class EmotionalDANOutput:
    landmarks: list[torch.Tensor]  # per stage, (B, 68, 2) in pixels of the 112 px crop
    logits: torch.Tensor  # (B, emotions), the last stage's emotion head
    inputs: list[torch.Tensor] = field(default_factory=list)  # per stage >= 2: (B, 3, 112, 112) image, heat map, features


class EmotionalDAN(nn.Module):
    """(B, 1, S, S) grey crops in [0, 255] (normalised by the model's mean and std images) -> per-stage
    landmarks and emotion logits. ``box_shape`` (the mean shape in detector-box coordinates) and
    ``mean_shape`` (``S0`` in the crop), the mean and std images are buffers, saved with the weights."""

    def __init__(self, config: EmotionalDANConfig) -> None:
        super().__init__()
        self.config = config
        size = config.image_size
        self.register_buffer("box_shape", torch.from_numpy(BOX_MEAN_SHAPE.copy()))
        self.register_buffer("mean_shape", torch.from_numpy(canonical_shape(BOX_MEAN_SHAPE, size, config.frame_fraction)))
        self.register_buffer("mean_image", torch.full((1, size, size), 128.0))  # DAN: per-pixel mean and std
        self.register_buffer("std_image", torch.full((1, size, size), 64.0))  # of the training crops
        self.stages = nn.ModuleList(DANStage(config, 1 if i == 0 else 3) for i in range(config.stages))
        # Connection layers of stages >= 2: the dense layer making F_t and a batch norm of the joint input.
        side = config.feature_size
        self.feature_layers = nn.ModuleList(nn.Sequential(nn.Linear(config.fc_dim, side * side), nn.ReLU(inplace=True))
                                            for _ in range(config.stages - 1))
        self.input_norms = nn.ModuleList(nn.BatchNorm2d(3) for _ in range(config.stages - 1))
        self.emotion = nn.Linear(config.fc_dim, len(config.emotions))

    def set_statistics(self, box_shape: np.ndarray, mean_image: np.ndarray, std_image: np.ndarray) -> None:
        """Store the training set's mean shape (box coordinates) and per-pixel mean and std images."""
        self.box_shape.copy_(torch.as_tensor(box_shape, dtype=torch.float32))
        self.mean_shape.copy_(torch.from_numpy(canonical_shape(np.asarray(box_shape, np.float32), self.config.image_size,
                                                               self.config.frame_fraction)))
        self.mean_image.copy_(torch.as_tensor(mean_image, dtype=torch.float32).view_as(self.mean_image))
        self.std_image.copy_(torch.as_tensor(std_image, dtype=torch.float32).clamp_min(1.0).view_as(self.std_image))

    def forward(self, images: torch.Tensor, keep_inputs: bool = False, stages: int | None = None) -> EmotionalDANOutput:
        """``stages`` runs only the first few stages (training stage 1 needs no later one); the logits then come
        from the last stage run."""
        x = (images - self.mean_image) / self.std_image
        hidden, offsets = self.stages[0](x)
        landmarks = [self.mean_shape + offsets]  # DAN sec. 3.1: S1 = S0 + dS1
        inputs = []
        size = self.config.image_size
        later = list(zip(self.stages[1:], self.feature_layers, self.input_norms))
        for stage, features, norm in later[:None if stages is None else max(stages - 1, 0)]:
            # Stage-wise training as in DAN: the connection layers pass no gradient back to the landmarks.
            previous = landmarks[-1].detach()
            matrix, shift = best_fit(previous, self.mean_shape)  # T_t: S_{t-1} -> S0
            warped = warp_image(x, matrix, shift)
            heatmap = landmark_heatmap(apply_transform(previous, matrix, shift), size)
            side = self.config.feature_size
            feature = F.interpolate(features(hidden).view(-1, 1, side, side), scale_factor=2, mode="nearest")
            joint = torch.cat([warped, heatmap, feature], 1)
            if keep_inputs:
                inputs.append(joint.detach())
            hidden, offsets = stage(norm(joint))
            # DAN eq. 1: S_t = T_t^-1(T_t(S_{t-1}) + dS_t)
            landmarks.append(apply_transform(apply_transform(previous, matrix, shift) + offsets, matrix, shift, inverse=True))
        return EmotionalDANOutput(landmarks, self.emotion(hidden), inputs)

    def stage_parameters(self, stage: int) -> list[nn.Parameter]:
        """The parameters trained when stage ``stage`` (0-based) is added: its CNN, and for later stages the
        connection layers feeding it; the emotion head belongs to the last stage."""
        params = list(self.stages[stage].parameters())
        if stage > 0:
            params += list(self.feature_layers[stage - 1].parameters()) + list(self.input_norms[stage - 1].parameters())
        if stage == len(self.stages) - 1:
            params += list(self.emotion.parameters())
        return params


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _register(name: str) -> None:
    register_model(name, TRAIN_COMMAND if name == "emotionaldan_small" else f"{TRAIN_COMMAND} --model {name}")(
        lambda: EmotionalDAN(CONFIGS[name]))


for _name in CONFIGS:
    _register(_name)
