"""MOVE's models: the registry entries of its DINO and MAE backbones and of its trained parts, the segmenter
head, the shift-and-inpaint composer, the mask terms and the projected discriminator."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reelkit.registry import register_model
from reelkit.segment.layered.models import random_offsets, shift_images
from reelkit.segment.move.vit import (IMAGENET_MEAN, IMAGENET_STD, MaskedAutoencoder, VisionTransformer, create_mae,
                                      create_vit)

BACKBONE = "vit_tiny_patch8_64"
DINO_NAME = "dino_vittiny8"
MAE_NAME = "mae_vittiny8"


@register_model(DINO_NAME, "reelkit train dino")
def dino_vittiny8() -> VisionTransformer:
    return create_vit(BACKBONE)


@register_model(MAE_NAME, "reelkit train mae")
def mae_vittiny8() -> MaskedAutoencoder:
    return create_mae(BACKBONE)


# MOVE (Bielski & Favaro, NeurIPS 2022). Section numbers refer to the paper; "official" to its code's defaults.

MOVE_TRAIN_COMMAND = "reelkit train move"


@dataclass(frozen=True)
class MoveConfig:
    """Architecture of MOVE: backbones, segmenter head, shift and discriminator."""

    image_size: int = 224
    extractor: str = "vit_small_patch8"  # DINO ViT-S/8 (official default feature extractor)
    extractor_block: int = -2  # features of the penultimate block, with a new trained LayerNorm (official)
    inpainter: str = "mae_vit_large_patch16"  # MAE ViT-L/16 (official: mae_visualize_vit_large_ganloss)
    head_min_channels: int = 128  # segmenter head "conv_minc128": widths max(128, D * 0.5^(i+1)) (official)
    head_width_mult: float = 0.5
    shift_range: float = 0.125  # shift up to 1/8 of the image side in x and y (Sec. 3, official)
    copy_real_in_inpainted: bool = False  # official default: autoencode the real image instead
    # Discriminator: Projected GAN (4 heads) in the paper; see ProjectedDiscriminator for reelkit's feature network.
    disc_blocks: tuple[int, ...] = (2, 5, 8, 11)
    disc_channels: int = 64
    disc_pixel_widths: tuple[int, ...] = (64, 128, 256, 256)
    disc_augment: bool = True  # DiffAugment "color" on every discriminator input (official --diffaug_policy color)
    extractor_weights: str = ""  # registry name of the backbone weights ("" = give --backbone-weights)
    inpainter_weights: str = ""


MOVE_CONFIGS: dict[str, MoveConfig] = {
    "move": MoveConfig(),  # the paper's: DINO ViT-S/8 + MAE ViT-L/16 at 224 px (official checkpoints via files)
    # CPU: reelkit's own DINO and MAE ViT-Tiny/8 at 64 px, a 32-channel head and no discriminator augmentation (in
    # a run of ~1,000 steps the colour jitter only slowed the discriminator down). The inpainter is MAE without the
    # GAN fine-tune, so the background copies the real image outside the inpainted tokens (official
    # --copy_real_in_inpainted, which its README prescribes for the no-GAN MAE).
    "move_small": MoveConfig(image_size=64, extractor=BACKBONE, inpainter=BACKBONE, copy_real_in_inpainted=True,
                             head_min_channels=32, disc_augment=False,
                             disc_blocks=(1, 3, 5), disc_channels=64, disc_pixel_widths=(32, 64, 128),
                             extractor_weights=DINO_NAME, inpainter_weights=MAE_NAME),
    "move_micro": MoveConfig(image_size=32, extractor="vit_micro_patch8_32", inpainter="vit_micro_patch8_32",
                             copy_real_in_inpainted=True, disc_blocks=(0, 1), disc_channels=8,
                             disc_pixel_widths=(8, 16)),
}


def normalise(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB -> ImageNet-normalised (the input space of DINO and MAE)."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def denormalise(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return images * std + mean


class FeatureExtractor(nn.Module):
    """Frozen ViT patch features (N, D, h, w) from one block, then a trained LayerNorm (official: block -2)."""

    def __init__(self, vit: VisionTransformer, block: int = -2):
        super().__init__()
        vit.requires_grad_(False)
        self.vit = vit.eval()
        self.block = block % len(vit.blocks)
        self.patch_size = vit.patch_size
        self.embed_dim = vit.embed_dim
        last = self.block == len(vit.blocks) - 1
        self.norm = vit.norm if last else nn.LayerNorm(vit.embed_dim, eps=1e-6)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        super().train(mode)
        self.vit.eval()  # the backbone stays frozen
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            tokens = self.vit.block_tokens(images, self.block)
        tokens = self.norm(tokens)[:, 1:]
        h, w = self.vit.grid_size(images)
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)


def _up_block(in_channels: int, out_channels: int, upsample: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
    layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.LeakyReLU()]
    return nn.Sequential(*layers)


class SegmenterHead(nn.Module):
    """Patch features -> mask logits at pixel resolution: log2(patch) x (2x nearest upsampling, 3x3 conv, BN,
    LeakyReLU), one more conv block, then a 1x1 conv (official ``SegmenterConvHead``, "conv_minc128")."""

    def __init__(self, embed_dim: int, patch_size: int, min_channels: int = 128, width_mult: float = 0.5):
        super().__init__()
        upsamplings = int(math.log2(patch_size))
        widths = [embed_dim] + [max(min_channels, int(embed_dim * width_mult ** (i + 1))) for i in range(upsamplings + 1)]
        blocks = [_up_block(widths[i], widths[i + 1], upsample=i < upsamplings) for i in range(upsamplings + 1)]
        self.model = nn.Sequential(*blocks, nn.Conv2d(widths[-1], 1, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)


class MoveSegmenter(nn.Module):
    """Image (ImageNet-normalised) -> soft foreground mask in [0, 1], (N, 1, H, W)."""

    def __init__(self, extractor: FeatureExtractor, config: MoveConfig):
        super().__init__()
        self.config = config
        self.extractor = extractor
        self.head = SegmenterHead(extractor.embed_dim, extractor.patch_size, config.head_min_channels, config.head_width_mult)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.extractor(images)))


def compute_masks(mask: torch.Tensor, mask_shifted: torch.Tensor) -> dict[str, torch.Tensor]:
    """Regions of the composite (Sec. 3): the shifted foreground, the original background left visible, and the
    hole the object left behind that must be inpainted."""
    return {"foreground": mask_shifted, "background": (1 - mask_shifted) * (1 - mask),
            "inpaint": mask * (1 - mask_shifted)}


class MoveComposer(nn.Module):
    """Predict a mask, inpaint the background behind it with the frozen MAE, paste the foreground back at a random
    shift (Sec. 3). Returns every image the losses and the discriminator need."""

    def __init__(self, segmenter: MoveSegmenter, inpainter: MaskedAutoencoder, config: MoveConfig):
        super().__init__()
        inpainter.requires_grad_(False)
        self.inpainter = inpainter.eval()
        self.segmenter = segmenter
        self.config = config

    def train(self, mode: bool = True) -> "MoveComposer":
        super().train(mode)
        self.inpainter.eval()
        return self

    def visible_tokens(self, hidden: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) region to inpaint -> (N, h*w) token visibility: a token is hidden as soon as any of its
        pixels is (max pooling over MAE's patch, official ``mask2tile``)."""
        p = self.inpainter.patch_size
        return 1 - F.max_pool2d(hidden, kernel_size=p, stride=p).flatten(1)

    def forward(self, images: torch.Tensor, offsets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if offsets is None:
            side = min(images.shape[-2:])
            offsets = random_offsets(images.shape[0], round(self.config.shift_range * side)).to(images.device)
        mask = self.segmenter(images)
        shifted = shift_images(torch.cat([images, mask], 1), offsets)
        images_shifted, mask_shifted = shifted[:, :3], shifted[:, 3:]
        regions = compute_masks(mask, mask_shifted)
        visible = self.visible_tokens(regions["inpaint"] + regions["foreground"])
        grid = self.inpainter.grid_size(images)
        with torch.no_grad():
            latent = self.inpainter.encode_all(images)
        background = self.inpainter.unpatchify(self.inpainter.decode_soft(latent, visible, grid), grid)
        if self.config.copy_real_in_inpainted:
            p = self.inpainter.patch_size
            hidden_pixels = 1 - F.interpolate(visible.view(-1, 1, *grid), scale_factor=p, mode="nearest")
            background = background * hidden_pixels + images * (1 - hidden_pixels)
            real, real_shifted = images, images_shifted
        else:
            with torch.no_grad():  # official default: real images pass through the MAE too (blur parity)
                real, real_shifted = self.inpainter.autoencode(images), self.inpainter.autoencode(images_shifted)
        return {
            "mask": mask, "mask_shifted": mask_shifted, "background": background, "visible": visible,
            "composed": real_shifted * mask_shifted + background * (1 - mask_shifted),
            "composed_noshift": real * mask + background * (1 - mask),
            # A shifted copy pasted over the untouched image: a duplicated object must look fake (official fake input).
            "real_shift_copy_paste": real_shifted * mask_shifted + real * (1 - mask_shifted),
            "real": real,
        }


def binarisation_loss(mask: torch.Tensor) -> torch.Tensor:
    """min(m, 1 - m), summed over channels, averaged (official ``bin_mask_loss``)."""
    return torch.minimum(mask, 1 - mask).sum(1).mean()


def min_area_loss(mask: torch.Tensor, min_area: float) -> torch.Tensor:
    """relu(area_min - mean(m)): keeps the mask from vanishing (official ``min_mask_loss``, area 0.05)."""
    return F.relu(min_area - mask.mean((-1, -2))).sum(1).mean()


def max_area_loss(mask: torch.Tensor, max_area: float) -> torch.Tensor:
    return F.relu(mask.mean((-1, -2)) - max_area).sum(1).mean()


def diff_augment_colour(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """DiffAugment's "color" policy (Zhao et al. 2020) on [-1, 1] images: brightness, saturation, contrast
    (the discriminator's augmentation in MOVE, official ``--diffaug_policy color``)."""
    n = images.shape[0]
    rand = lambda: torch.rand(n, 1, 1, 1, generator=generator).to(images.device)  # noqa: E731
    images = images + (rand() - 0.5)
    mean = images.mean(1, keepdim=True)
    images = (images - mean) * (rand() * 2) + mean
    mean = images.mean((1, 2, 3), keepdim=True)
    return (images - mean) * (rand() + 0.5) + mean


def _down_block(in_channels: int, out_channels: int) -> nn.Sequential:
    # Projected GAN's DownBlock (4x4 stride-2 conv, LeakyReLU 0.2) without its batch norm: real and fake batches
    # pass through the discriminator separately, and batch norm would erase the very batch statistics (blur,
    # ghosting) that tell them apart.
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 4, 2, 1), nn.LeakyReLU(0.2))


class ProjectedDiscriminator(nn.Module):
    """Projected-GAN discriminator (Sauer et al. 2021), as MOVE uses it: a frozen pretrained feature network, fixed
    random 1x1 projections of its features (CCM), and one small trained head per feature scale, hinge loss.

    Projected GAN's feature network is an ImageNet EfficientNet-Lite, which cannot be had offline; reelkit's uses
    the frozen DINO ViT (tokens of ``disc_blocks`` as 8-px feature maps) plus a trained pixel-space head for the
    fine scales (stride 2 to 8) that EfficientNet's early stages would cover. Logits of all heads are returned.
    """

    def __init__(self, vit: VisionTransformer, config: MoveConfig):
        super().__init__()
        vit.requires_grad_(False)
        self.vit = vit.eval()
        self.blocks = config.disc_blocks
        self.augment = config.disc_augment
        self.projections = nn.ModuleList(nn.Conv2d(vit.embed_dim, config.disc_channels, 1) for _ in config.disc_blocks)
        self.projections.requires_grad_(False)  # CCM: random and fixed
        grid = config.image_size // vit.patch_size
        self.heads = nn.ModuleList(self._head(config.disc_channels, grid) for _ in config.disc_blocks)
        widths = (3, *config.disc_pixel_widths)
        self.pixel_head = nn.Sequential(*(_down_block(widths[i], widths[i + 1]) for i in range(len(widths) - 1)),
                                        nn.Conv2d(widths[-1], 1, 3, padding=1))

    @staticmethod
    def _head(channels: int, grid: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        while grid > 4:  # down to 4 x 4, then per-position logits (Projected GAN's SingleDisc)
            layers.append(_down_block(channels, channels * 2))
            channels, grid = channels * 2, grid // 2
        return nn.Sequential(*layers, nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                             nn.Conv2d(channels, 1, 3, padding=1))

    def train(self, mode: bool = True) -> "ProjectedDiscriminator":
        super().train(mode)
        self.vit.eval()
        return self

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images`` ImageNet-normalised -> one logit map per head."""
        pixels = denormalise(images) * 2 - 1
        if self.augment and self.training:
            pixels = diff_augment_colour(pixels)
        logits = [self.pixel_head(pixels).flatten(1)]
        h, w = self.vit.grid_size(images)
        for tokens, projection, head in zip(self.vit.intermediate_tokens(normalise((pixels + 1) / 2), self.blocks),
                                            self.projections, self.heads):
            features = tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, h, w)
            logits.append(head(projection(features)).flatten(1))
        return logits


def hinge_d_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """mean relu(1 - D(real)) + mean relu(1 + D(fake)), averaged over heads (official ``HingeLoss``)."""
    real = sum(F.relu(1 - logit).mean() for logit in real_logits) / len(real_logits)
    fake = sum(F.relu(1 + logit).mean() for logit in fake_logits) / len(fake_logits)
    return real + fake


def hinge_g_loss(fake_logits: list[torch.Tensor], aim_at_zero: bool = False) -> torch.Tensor:
    """-mean D(fake), averaged over heads; ``aim_at_zero`` (for KaFiStO, which drives its loss towards zero) gives
    mean relu(1 - D(fake)): never negative, the same gradient wherever D(fake) < 1."""
    if aim_at_zero:
        return sum(F.relu(1 - logit).mean() for logit in fake_logits) / len(fake_logits)
    return sum(-logit.mean() for logit in fake_logits) / len(fake_logits)


def build_backbones(config: MoveConfig, extractor_weights: str | None = None, inpainter_weights: str | None = None
                    ) -> tuple[VisionTransformer, MaskedAutoencoder]:
    """The frozen DINO ViT and MAE of a config: from files (official or reelkit checkpoints) when given, else from
    the registry names in the config; a config without either gets randomly initialised backbones (tests)."""
    from reelkit.registry import create_model
    from reelkit.segment.move.vit import load_backbone_weights

    vit = create_vit(config.extractor)
    if extractor_weights:
        load_backbone_weights(vit, extractor_weights)
    elif config.extractor_weights:
        vit = create_model(config.extractor_weights, pretrained=True)
    mae = create_mae(config.inpainter)
    if inpainter_weights:
        load_backbone_weights(mae, inpainter_weights)
    elif config.inpainter_weights:
        mae = create_model(config.inpainter_weights, pretrained=True)
    return vit.eval(), mae.eval()


def trainable_parts(segmenter: MoveSegmenter) -> nn.ModuleDict:
    """What training changes and a MOVE weights file holds: the head and the extractor's new LayerNorm (the
    backbones stay frozen and are resolved by name or file)."""
    return nn.ModuleDict({"head": segmenter.head, "norm": segmenter.extractor.norm})


def _parts_builder(name: str):
    def build() -> nn.ModuleDict:
        config = MOVE_CONFIGS[name]
        return trainable_parts(MoveSegmenter(FeatureExtractor(create_vit(config.extractor), config.extractor_block), config))
    return build


for _name in MOVE_CONFIGS:
    register_model(_name, MOVE_TRAIN_COMMAND)(_parts_builder(_name))
