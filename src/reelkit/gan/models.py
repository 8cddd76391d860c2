"""GAN generators and discriminators built from named configs (``create_gan("sngan_28")``).

* ``sngan_*``: the ResNet generator and discriminator of SN-GAN (Miyato et al., 2018, App. B, the
  CIFAR-10 ResNet): up-sampling residual blocks with batch norm in G; spectral norm, down-sampling
  residual blocks, ReLU and global sum pooling in D, read out by one linear layer.
* ``sagan_128`` and ``biggan_*``: SA-GAN / BigGAN-style ResNets at the KDD paper's sizes (CIFAR-10 at
  32 px with BigGAN, ImageNet at 128 px with SA-GAN): spectral norm in G and D, one self-attention block
  (Zhang et al., 2019, Sec. 3) at the configured resolution. Unconditional here (no class embedding),
  since reelkit trains on unlabelled images; meant for users with GPUs.
* ``mlp_2d``: small MLPs for the 2-D mixture benchmarks; ``mlp_2d_pacgan``: the networks of PacGAN's 2-D ring
  and grid experiments (Lin et al., 2018, official code): G 4 x 400 ReLU with batch norm from a 2-d latent,
  D 3 x 200 maxout units of 5 pieces, weights drawn from N(0, 0.02^2).

Every discriminator returns ``(logits, features)``: the features are the pooled activations that the
final linear layer reads, which is where the KDD loss builds its density estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from reelkit.registry import register_model


@dataclass(frozen=True)
class GANConfig:
    image_size: int
    channels: int
    z_dim: int
    g_widths: tuple[int, ...]  # G: width at the base resolution, then after each up-sampling block
    d_widths: tuple[int, ...]  # D: width after each block; the first len(d_widths) - d_flat blocks halve
    d_flat: int  # D blocks at the final resolution that do not down-sample
    base_size: int  # G's starting resolution
    attention_at: int | None = None  # resolution of the self-attention block, if any
    g_spectral_norm: bool = False
    d_spectral_norm: bool = True  # the ResNet discriminators always use it
    kind: str = "resnet"  # "resnet" or "mlp"
    hidden: tuple[int, ...] = field(default_factory=tuple)  # MLP widths (G's, and D's unless d_hidden is given)
    d_hidden: tuple[int, ...] = field(default_factory=tuple)
    g_batch_norm: bool = False  # MLP G: batch norm before each hidden ReLU
    d_maxout: int = 1  # MLP D: maxout pieces per hidden unit (1: ReLU)
    init_std: float | None = None  # MLP weights from N(0, init_std^2), biases 0 (None: PyTorch's default)


CONFIGS: dict[str, GANConfig] = {
    # SN-GAN CIFAR ResNet (G 256 channels, D 128) and its 28x28 grey-scale counterpart.
    "sngan_32": GANConfig(32, 3, 128, (256, 256, 256, 256), (128, 128, 128, 128), 2, 4),
    "sngan_28": GANConfig(28, 1, 128, (256, 256, 256), (128, 128, 128, 128), 2, 7),
    # CPU-sized configs: the benchmark's and the tests'.
    "sngan_28_small": GANConfig(28, 1, 64, (64, 32, 16), (16, 32, 64), 1, 7),  # DCGAN-like taper, CPU budget
    "sngan_28_tiny": GANConfig(28, 1, 16, (16, 16, 16), (16, 16, 16, 16), 2, 7),
    # BigGAN CIFAR-10 (ch = 256 in G and D, attention off in the paper's CIFAR model; on here at 16 px,
    # as in its ImageNet models) and the 128 px SA-GAN / BigGAN layouts (ch = 64 / 96 with BigGAN's width
    # multipliers, attention at 32 px for SA-GAN and 64 px for BigGAN).
    "biggan_32": GANConfig(32, 3, 128, (256, 256, 256, 256), (256, 256, 256, 256), 2, 4, attention_at=16,
                           g_spectral_norm=True),
    "sagan_128": GANConfig(128, 3, 128, (1024, 1024, 512, 256, 128, 64), (64, 128, 256, 512, 1024, 1024), 1, 4,
                           attention_at=32, g_spectral_norm=True),
    "biggan_128": GANConfig(128, 3, 120, (1536, 1536, 768, 384, 192, 96), (96, 192, 384, 768, 1536, 1536), 1, 4,
                            attention_at=64, g_spectral_norm=True),
    # Plain MLPs, as in the 2-D mode-collapse literature (unrolled GAN, VEEGAN, PacGAN): no spectral norm.
    "mlp_2d": GANConfig(2, 2, 16, (), (), 0, 0, kind="mlp", hidden=(128, 128, 128), d_spectral_norm=False),
    "mlp_2d_pacgan": GANConfig(2, 2, 2, (), (), 0, 0, kind="mlp", hidden=(400,) * 4, d_hidden=(200,) * 3,
                               d_spectral_norm=False, g_batch_norm=True, d_maxout=5, init_std=0.02),
}


def _maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


class SelfAttention(nn.Module):
    """SA-GAN's self-attention block: o = gamma * v(softmax(f(x)^T g(x))) + x, gamma starting at 0."""

    def __init__(self, channels: int, use_sn: bool) -> None:
        super().__init__()
        self.query = _maybe_sn(nn.Conv2d(channels, channels // 8, 1, bias=False), use_sn)
        self.key = _maybe_sn(nn.Conv2d(channels, channels // 8, 1, bias=False), use_sn)
        self.value = _maybe_sn(nn.Conv2d(channels, channels // 2, 1, bias=False), use_sn)
        self.out = _maybe_sn(nn.Conv2d(channels // 2, channels, 1, bias=False), use_sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        query = self.query(x).flatten(2)
        key = nn.functional.max_pool2d(self.key(x), 2).flatten(2)  # SA-GAN pools keys and values by 2
        value = nn.functional.max_pool2d(self.value(x), 2).flatten(2)
        attention = torch.softmax(query.transpose(1, 2) @ key, dim=-1)
        attended = (value @ attention.transpose(1, 2)).view(batch, channels // 2, height, width)
        return x + self.gamma * self.out(attended)


class GeneratorBlock(nn.Module):
    """BN-ReLU-upsample-conv-BN-ReLU-conv with an upsample-conv1x1 shortcut (SN-GAN, Fig. 8a)."""

    def __init__(self, in_channels: int, out_channels: int, use_sn: bool) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.BatchNorm2d(in_channels), nn.BatchNorm2d(out_channels)
        self.conv1 = _maybe_sn(nn.Conv2d(in_channels, out_channels, 3, padding=1), use_sn)
        self.conv2 = _maybe_sn(nn.Conv2d(out_channels, out_channels, 3, padding=1), use_sn)
        self.shortcut = _maybe_sn(nn.Conv2d(in_channels, out_channels, 1), use_sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(torch.relu(self.norm1(x)), scale_factor=2.0)
        h = self.conv2(torch.relu(self.norm2(self.conv1(up))))
        return h + self.shortcut(nn.functional.interpolate(x, scale_factor=2.0))


class DiscriminatorBlock(nn.Module):
    """ReLU-conv-ReLU-conv(-avgpool) with a conv1x1(-avgpool) shortcut (SN-GAN, Fig. 8b); the first block
    of D skips the leading ReLU and pools before its shortcut conv ("optimized" block)."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, first: bool) -> None:
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = spectral_norm(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.shortcut = (spectral_norm(nn.Conv2d(in_channels, out_channels, 1))
                         if in_channels != out_channels or downsample else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else torch.relu(x)
        h = self.conv2(torch.relu(self.conv1(h)))
        if self.downsample:
            h = nn.functional.avg_pool2d(h, 2)
        skip = x
        if self.shortcut is not None:
            if self.first and self.downsample:
                skip = self.shortcut(nn.functional.avg_pool2d(x, 2))
            else:
                skip = self.shortcut(x)
                if self.downsample:
                    skip = nn.functional.avg_pool2d(skip, 2)
        return h + skip


class ResNetGenerator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        use_sn, widths = config.g_spectral_norm, config.g_widths
        self.linear = _maybe_sn(nn.Linear(config.z_dim, widths[0] * config.base_size**2), use_sn)
        blocks: list[nn.Module] = []
        size = config.base_size
        for in_width, out_width in zip(widths[:-1], widths[1:]):
            blocks.append(GeneratorBlock(in_width, out_width, use_sn))
            size *= 2
            if config.attention_at == size:
                blocks.append(SelfAttention(out_width, use_sn))
        if size != config.image_size:
            raise ValueError(f"generator reaches {size} px, not the configured {config.image_size}")
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(),
                                  _maybe_sn(nn.Conv2d(widths[-1], config.channels, 3, padding=1), use_sn), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        base = self.config.base_size
        h = self.linear(z).view(z.shape[0], -1, base, base)
        return self.head(self.blocks(h))


class ResNetDiscriminator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        size, in_width = config.image_size, config.channels
        downsampling = len(config.d_widths) - config.d_flat
        for index, width in enumerate(config.d_widths):
            downsample = index < downsampling
            blocks.append(DiscriminatorBlock(in_width, width, downsample, first=index == 0))
            size = size // 2 if downsample else size
            if config.attention_at == size and downsample:
                blocks.append(SelfAttention(width, True))
            in_width = width
        self.blocks = nn.Sequential(*blocks)
        self.linear = spectral_norm(nn.Linear(in_width, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling (SN-GAN)
        return self.linear(features).squeeze(1), features


def _init_mlp(module: nn.Module, std: float | None) -> None:
    if std is None:
        return
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Maxout(nn.Module):
    """``width`` units, each the maximum of ``pieces`` linear functions (Goodfellow et al., 2013)."""

    def __init__(self, in_width: int, width: int, pieces: int, use_sn: bool = False) -> None:
        super().__init__()
        self.linear = _maybe_sn(nn.Linear(in_width, width * pieces), use_sn)
        self.width, self.pieces = width, pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.width, self.pieces).amax(dim=2)


class MLPGenerator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.z_dim
        for hidden in config.hidden:
            if config.g_batch_norm:  # the batch norm's shift replaces the bias
                layers += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden, momentum=0.05), nn.ReLU()]
            else:
                layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, config.channels))
        self.net = nn.Sequential(*layers)
        _init_mlp(self, config.init_std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = config.channels
        for hidden in config.d_hidden or config.hidden:
            if config.d_maxout > 1:
                layers.append(Maxout(width, hidden, config.d_maxout, config.d_spectral_norm))
            else:
                layers += [_maybe_sn(nn.Linear(width, hidden), config.d_spectral_norm), nn.ReLU()]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.linear = _maybe_sn(nn.Linear(width, 1), config.d_spectral_norm)
        _init_mlp(self, config.init_std)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return self.linear(features).squeeze(1), features


def create_gan(name: str) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for the named config."""
    if name not in CONFIGS:
        raise ValueError(f"unknown GAN config {name!r}; choose one of {', '.join(CONFIGS)}")
    config = CONFIGS[name]
    if config.kind == "mlp":
        return MLPGenerator(config), MLPDiscriminator(config)
    return ResNetGenerator(config), ResNetDiscriminator(config)


class FashionClassifier(nn.Module):
    """The Fashion-MNIST CNN whose penultimate 128-d features define reelkit's FID and KID for
    28x28 grey-scale images (Inception-v3 features, the usual choice, cannot be had offline)."""

    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()
        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.trunk = nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64),
                                   nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, self.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.feature_dim, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (N, 1, 28, 28) -> (N, 128)."""
        return self.trunk((images - 0.5) / 0.5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


@register_model("fashion_cnn", train_command="reelkit train fashion-classifier")
def fashion_cnn() -> FashionClassifier:
    return FashionClassifier()
