"""The layered generator, its discriminator and encoder, by named config.

Paper: "Emergence of Object Segmentation in Perturbed Generative Models" (Bielski & Favaro, NeurIPS 2019),
cross-checked against the official code (github.com/adambielski/perturbed-seg). Where a fact comes from
there, the comment says which: "Sec. 3" for the paper, "code: <file>" for the official implementation.

* One latent code z drives two generators (Sec. 3; code: model.py ``BgFgMask``): one paints the background
  B, the other the foreground F and the mask logits; m = sigmoid(logits).
* Before compositing, F and m are shifted together by an integer offset drawn uniformly from
  [-shift * size, shift * size] per axis, independent of z; the background never moves (Sec. 3, Fig. 1;
  code: perturber.py ``RandomShift``, shift 0.125 in the README's command). Pixels uncovered by the shift are
  zero (no foreground there).
* Composite x = m * F + (1 - m) * B (Sec. 3; code: renderer.py ``LayeredRenderer``).
* Mask terms on the shifted mask (code: loss.py ``MaskLoss``, applied to the perturbed mask in train.py):
  size  L_size = mean_batch relu(eta - mean_pixels(m)) with eta the minimum coverage (code default 0.05, used
  by the CPU configs since reelkit's objects cover 3-30% of a scene; 0.25 in the README's LSUN command, used
  by ``layered``), weight 2; binarisation L_bin = mean min(m, 1 - m), weight 2.
* The paper's generators are StyleGANs (8-layer mapping MLP, 512-d code, progressive growing to 128 px)
  against StyleGAN's discriminator with WGAN-GP. reelkit's are DCGAN-style (mapping MLP, then nearest
  up-sampling + conv + pixel norm stages) so that a 64 px model trains on a CPU; the discriminator is a
  spectral-norm conv net ending like StyleGAN's (minibatch std, then a conv over the whole last map, so it sees
  positions) that returns ``(logits, features)`` like reelkit.gan's, so hinge, KDD and
  non-saturating losses all apply. ``layered`` keeps the paper's sizes (128 px, 512-d code, 8 mapping layers).
* The encoder maps an image to z; with the generator frozen, mask(G(E(x))) segments x (Sec. 3, the
  autoencoder whose decoder is the pre-trained generator).
* The mask network is reelkit's addition: a U-Net trained on the frozen generator's perturbed composites and
  their masks, a segmenter distilled from the generator as Voynov et al. (ICML 2021) and Melas-Kyriazi et al.
  (ICLR 2022) do with other GANs' masks. Unlike mask(G(E(x))) it is not limited to masks the generator can draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from reelkit.registry import register_model

TRAIN_COMMAND = "reelkit train layered"


@dataclass(frozen=True)
class LayeredConfig:
    image_size: int
    z_dim: int
    g_widths: tuple[int, ...]  # each generator: width at 4x4, then after each 2x up-sampling stage
    d_widths: tuple[int, ...]  # discriminator: width after each 2x down-sampling stage
    e_widths: tuple[int, ...]  # encoder: width after each 2x down-sampling stage
    n_mlp: int = 8  # mapping MLP layers per generator (StyleGAN's 8; code: train.py --n_mlp)
    shift: float = 0.125  # maximum shift, a fraction of the image size (code: README --location_jitter 0.125)
    min_mask: float = 0.1  # eta, minimum mask coverage (code: train.py default 0.05, README's LSUN command 0.25;
    # reelkit's objects cover 3-30% of a scene, 12% on average: with 0.05 the masks of short CPU runs vanished)
    mask_weight: float = 2.0  # weight of the size term (code: train.py --mask_alpha 2.0)
    bin_weight: float = 2.0  # weight of the binarisation term (code: train.py --binarization_alpha 2.0)
    bg_contrast_jitter: float = 0.3  # background contrast perturbation (code: README --bg_contrast_jitter 0.3)
    mask_bias_init: float = -1.0  # initial mask logit bias (reelkit's choice: masks start at sigmoid(-1) = 0.27, not 0.5)
    m_widths: tuple[int, ...] = (32, 64, 128)  # mask network (U-Net): width at each resolution, full size first

    def __post_init__(self) -> None:
        if 4 * 2 ** (len(self.g_widths) - 1) != self.image_size:
            raise ValueError(f"g_widths make {4 * 2 ** (len(self.g_widths) - 1)} px, not {self.image_size}")
        if self.image_size // 2 ** len(self.d_widths) < 1 or self.image_size // 2 ** len(self.e_widths) < 1:
            raise ValueError("too many down-sampling stages for the image size")
        if self.image_size % 2 ** (len(self.m_widths) - 1):
            raise ValueError("too many mask-network resolutions for the image size")
        if not 0 <= self.shift < 0.5:
            raise ValueError("shift must be in [0, 0.5)")

    @property
    def max_offset(self) -> int:
        return int(round(self.shift * self.image_size))


CONFIGS: dict[str, LayeredConfig] = {
    # The tests' config: 16 px, a few channels.
    "layered_tiny": LayeredConfig(16, 8, (16, 8, 8), (8, 16), (8, 16), n_mlp=1, m_widths=(8, 16)),
    # CPU-sized: 32 px (masks are resized to the image), DCGAN-like taper: ~0.3 s a step on one core, so a
    # few thousand steps fit in an hour; at 64 px (``layered_small64``) a step costs ~4x more.
    "layered_small": LayeredConfig(32, 64, (128, 64, 32, 16), (32, 64, 128), (32, 64, 128), n_mlp=2),
    "layered_small64": LayeredConfig(64, 64, (128, 64, 32, 16, 8), (32, 64, 128, 256), (32, 64, 128, 256), n_mlp=2,
                                     m_widths=(32, 64, 128, 256)),
    # The paper's scale: 128 px, 512-d code, 8 mapping layers, 512-wide generators (StyleGAN's widths).
    "layered": LayeredConfig(128, 512, (512, 512, 512, 256, 128, 64), (64, 128, 256, 512, 512),
                             (64, 128, 256, 512, 512), n_mlp=8, min_mask=0.25,  # eta of the README's LSUN command
                             m_widths=(64, 128, 256, 512)),
}


@dataclass
class Layers:
    """A layered scene: background and foreground in [-1, 1] (N, 3, H, W), mask in [0, 1] (N, 1, H, W)."""

    background: torch.Tensor
    foreground: torch.Tensor
    mask: torch.Tensor

    def composite(self) -> torch.Tensor:
        """m * F + (1 - m) * B (Sec. 3; code: renderer.py)."""
        return self.mask * self.foreground + (1 - self.mask) * self.background


def shift_images(images: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Move each image by its integer (dx, dy) offset: out[y, x] = in[y - dy, x - dx]; uncovered pixels are 0
    (code: perturber_utils.py ``shift``). Differentiable with respect to ``images``."""
    if offsets.numel() == 0 or not bool(offsets.any()):
        return images
    pad = int(offsets.abs().max())
    height, width = images.shape[-2:]
    padded = nn.functional.pad(images, (pad, pad, pad, pad))
    return torch.stack([padded[i, :, pad - int(dy): pad - int(dy) + height, pad - int(dx): pad - int(dx) + width]
                        for i, (dx, dy) in enumerate(offsets.tolist())])


def random_offsets(count: int, max_offset: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(count, 2) integer (dx, dy), uniform in [-max_offset, max_offset], drawn independently of z (Sec. 3;
    code: train.py ``location_noise_fn``: round(uniform(-jitter * size, jitter * size)))."""
    if max_offset == 0:
        return torch.zeros(count, 2, dtype=torch.long)
    noise = (2 * torch.rand(count, 2, generator=generator) - 1) * max_offset
    return noise.round().long()


def perturb(layers: Layers, offsets: torch.Tensor, contrast: torch.Tensor | None = None) -> Layers:
    """Shift foreground and mask together by ``offsets``; the background stays (code: perturber.py
    ``RandomShift``). ``contrast`` (N,) scales the background's contrast about its mean, clamped to its own
    range (code: perturber_utils.py ``contrast_jitter``)."""
    background = layers.background
    if contrast is not None:
        mean = background.mean((2, 3), keepdim=True)
        low = background.amin((2, 3), keepdim=True)
        high = background.amax((2, 3), keepdim=True)
        background = torch.maximum(low, torch.minimum(high, (background - mean) * contrast.view(-1, 1, 1, 1) + mean))
    return Layers(background, shift_images(layers.foreground, offsets), shift_images(layers.mask, offsets))


def mask_size_loss(mask: torch.Tensor, min_coverage: float) -> torch.Tensor:
    """relu(eta - mean(m)) per mask, averaged over the batch (code: loss.py ``min_permask_loss``)."""
    return torch.relu(min_coverage - mask.mean((2, 3))).mean()


def binarisation_loss(mask: torch.Tensor) -> torch.Tensor:
    """mean min(m, 1 - m): pushes every mask value to 0 or 1 (code: loss.py ``binarization_loss``)."""
    return torch.minimum(mask, 1 - mask).mean()


class PixelNorm(nn.Module):
    """ProGAN/StyleGAN's normalisation of z and of each pixel's feature vector (over channels)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


def _mapping(z_dim: int, layers: int) -> nn.Module:
    modules: list[nn.Module] = [PixelNorm()]
    for _ in range(layers):
        modules += [nn.Linear(z_dim, z_dim), nn.LeakyReLU(0.2)]
    return nn.Sequential(*modules)


class Decoder(nn.Module):
    """w -> an image with ``out_channels`` channels: linear to 4x4, then (nearest 2x, conv3x3, LeakyReLU,
    pixel norm) stages. Pixel-wise feature normalisation instead of batch norm, as in ProGAN/StyleGAN's
    generators, so that a sample never depends on the rest of its batch (and training and inference agree)."""

    def __init__(self, config: LayeredConfig, out_channels: int) -> None:
        super().__init__()
        widths = config.g_widths
        self.mapping = _mapping(config.z_dim, config.n_mlp)
        self.linear = nn.Linear(config.z_dim, widths[0] * 16)
        self.base = nn.Sequential(nn.LeakyReLU(0.2), PixelNorm())
        stages: list[nn.Module] = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            stages += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1),
                       nn.LeakyReLU(0.2), PixelNorm()]
        self.stages = nn.Sequential(*stages)
        self.head = nn.Conv2d(widths[-1], out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(self.mapping(z)).view(z.shape[0], -1, 4, 4)
        return self.head(self.stages(self.base(h)))


class LayeredGenerator(nn.Module):
    """z -> Layers(background, foreground, mask), two generators sharing the code (code: model.py ``BgFgMask``)."""

    def __init__(self, config: LayeredConfig) -> None:
        super().__init__()
        self.config = config
        self.background = Decoder(config, 3)
        self.objects = Decoder(config, 4)  # foreground RGB + mask logit
        with torch.no_grad():  # start with smallish masks: at 0.5 short CPU runs drifted to all-foreground
            self.objects.head.bias[3].fill_(config.mask_bias_init)

    def forward(self, z: torch.Tensor) -> Layers:
        out = self.objects(z)
        return Layers(torch.tanh(self.background(z)), torch.tanh(out[:, :3]), torch.sigmoid(out[:, 3:]))


class MinibatchStd(nn.Module):
    """StyleGAN's discriminator layer against mode collapse: appends the standard deviation of the features
    over groups of ``group`` samples, averaged to one channel."""

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        group = min(self.group, batch)
        while batch % group:
            group -= 1
        std = x.view(group, -1, channels, height, width).var(0, unbiased=False).add(1e-8).sqrt()
        std = std.mean((1, 2, 3)).view(-1, 1, 1, 1).repeat(group, 1, height, width)
        return torch.cat([x, std], 1)


class Discriminator(nn.Module):
    """Spectral-norm conv net: (4x4 stride-2 conv, LeakyReLU) stages, StyleGAN's minibatch standard deviation, a
    3x3 conv, then a conv whose kernel covers the whole last map (4x4 in every config) and a linear read-out
    (code: stylegan.py ``Discriminator``, last block ``ConvBlock(513, 512, 3, 1, 4, 0)``). That last conv keeps
    where things are, which global pooling throws away: with pooling, the 2026-11-27 CPU run put every object
    in one corner.
    Returns ``(logits, features)`` as reelkit.gan's do."""

    def __init__(self, config: LayeredConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in config.d_widths:
            layers += [spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            cin = cout
        side = config.image_size // 2 ** len(config.d_widths)
        layers += [MinibatchStd(), spectral_norm(nn.Conv2d(cin + 1, cin, 3, padding=1)), nn.LeakyReLU(0.2),
                   spectral_norm(nn.Conv2d(cin, cin, side)), nn.LeakyReLU(0.2)]
        self.trunk = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(cin, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x).flatten(1)
        return self.linear(features).squeeze(1), features


class Encoder(nn.Module):
    """Image in [-1, 1] -> z: (4x4 stride-2 conv, LeakyReLU) stages, then a linear layer."""

    def __init__(self, config: LayeredConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in config.e_widths:
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = cout
        self.trunk = nn.Sequential(*layers)
        side = config.image_size // 2 ** len(config.e_widths)
        self.linear = nn.Linear(cin * side * side, config.z_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.trunk(x).flatten(1))


def _double_conv(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU(),
                         nn.Conv2d(outputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU())


class MaskNet(nn.Module):
    """U-Net: image in [-1, 1] -> mask in [0, 1] (N, 1, S, S); ``m_widths`` resolutions with skip connections."""

    def __init__(self, config: LayeredConfig) -> None:
        super().__init__()
        widths = config.m_widths
        self.down = nn.ModuleList(_double_conv(cin, cout) for cin, cout in zip((3, *widths[:-1]), widths))
        self.up = nn.ModuleList(_double_conv(deep + skip, skip) for deep, skip in zip(widths[:0:-1], widths[-2::-1]))
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        skips = []
        x = images
        for index, block in enumerate(self.down):
            x = block(x if index == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, skips[-2::-1]):
            x = block(torch.cat([nn.functional.interpolate(x, scale_factor=2), skip], 1))
        return torch.sigmoid(self.head(x))


class LayeredModel(nn.Module):
    """What ships: the (frozen) generator, the encoder trained against it (mask(G(E(x))) segments x) and the mask
    network distilled from the generator. ``segment`` uses the mask network once it is trained."""

    def __init__(self, config: LayeredConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = LayeredGenerator(config)
        self.encoder = Encoder(config)
        self.mask_net = MaskNet(config)
        self.register_buffer("mask_net_steps", torch.zeros((), dtype=torch.long))  # 0: untrained

    def forward(self, images: torch.Tensor) -> Layers:
        """Images in [-1, 1] (N, 3, S, S) -> their layers through the encoder and the generator."""
        return self.generator(self.encoder(images))

    @property
    def has_mask_net(self) -> bool:
        return int(self.mask_net_steps) > 0

    def segment(self, images: torch.Tensor, use_encoder: bool = False) -> torch.Tensor:
        """Soft masks (N, 1, S, S) of images in [-1, 1]: the mask network's once trained (unless ``use_encoder``),
        else mask(G(E(x)))."""
        if self.has_mask_net and not use_encoder:
            return self.mask_net(images)
        return self(images).mask


def create_layered(name: str) -> tuple[LayeredModel, Discriminator]:
    if name not in CONFIGS:
        raise ValueError(f"unknown layered config {name!r}; choose one of {', '.join(CONFIGS)}")
    return LayeredModel(CONFIGS[name]), Discriminator(CONFIGS[name])


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _register(name: str) -> None:
    register_model(name, f"{TRAIN_COMMAND} --model {name}")(lambda: LayeredModel(CONFIGS[name]))


for _name in CONFIGS:
    _register(_name)

assert math.log2(CONFIGS["layered"].image_size) == 7
