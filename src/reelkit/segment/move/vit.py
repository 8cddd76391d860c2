"""A plain PyTorch Vision Transformer whose parameter names match the official DINO and MAE checkpoints.

DINO's ``vision_transformer.py`` and MAE's ``models_mae.py`` both use timm's layout (``patch_embed.proj``,
``cls_token``, ``pos_embed``, ``blocks.{i}.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2``, ``norm``);
MAE adds the decoder (``decoder_embed``, ``mask_token``, ``decoder_pos_embed``, ``decoder_blocks``,
``decoder_norm``, ``decoder_pred``). So a state dict from ``dino_deitsmall8_pretrain.pth``,
``dino_deitsmall16_pretrain.pth`` or MAE's ``mae_visualize_vit_base.pth`` loads into
``create_vit("vit_small_patch8")`` / ``create_vit("vit_small_patch16")`` / ``create_mae("mae_vit_base_patch16")``
with :func:`load_backbone_weights`. No timm, no torchvision.

    vit = create_vit("vit_small_patch8"); load_backbone_weights(vit, "dino_deitsmall8_pretrain.pth")
    tokens = vit.block_tokens(images, block=-2)   # (N, 1 + h*w, 384): MOVE's features (penultimate block)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reelkit.errors import SegmentError, WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


KAFISTO_SCHEDULED = "KaFiStO (its target share following the lr schedule's shape)"  # for the model cards


def check_optim(name: str) -> None:
    """``--optim`` of the ViT trainers: AdamW (the papers') or KaFiStO at its own defaults."""
    if name not in ("adamw", "kafisto"):
        raise SegmentError(f"unknown optimiser {name!r}; choose adamw or kafisto")


def check_device(device: str) -> None:
    """``--device`` of the ViT trainers (DINO, MAE, MOVE): cpu, or cuda[:N] where CUDA is available; anything
    else fails in one line before any folder is made."""
    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        raise SegmentError(f"--device {device}: use cpu or cuda")
    if kind == "cuda" and not torch.cuda.is_available():
        raise SegmentError(f"--device {device}: no CUDA device is available here")


@dataclass
class PretrainResult:
    """What a backbone's pre-training run (``reelkit train dino`` or ``mae``) did, for its model card and curve."""

    history: list[dict[str, float]] = field(default_factory=list)  # averaged per log_every steps
    steps: int = 0
    planned_steps: int = 0
    seconds: float = 0.0
    threads: int = 1
    stopped_by_time: bool = False


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 224  # the size the position embedding is stored for; other sizes interpolate it
    patch_size: int = 16
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    sincos_pos_embed: bool = False  # MAE: fixed 2-D sin-cos position embedding (not trained)
    decoder_dim: int = 512  # MAE decoder (used by create_mae only)
    decoder_depth: int = 8
    decoder_heads: int = 16

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


VIT_CONFIGS: dict[str, ViTConfig] = {
    # The official layouts (DINO ViT-S/8 and ViT-S/16, MAE ViT-B/16 and ViT-L/16 with MAE's 8 x 512 decoder).
    "vit_small_patch8": ViTConfig(patch_size=8, embed_dim=384, depth=12, num_heads=6),
    "vit_small_patch16": ViTConfig(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_base_patch16": ViTConfig(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "vit_large_patch16": ViTConfig(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    # reelkit's CPU size: 64 px scenes, 8 px patches (an 8 x 8 token grid), trained by `reelkit train dino/mae`.
    "vit_tiny_patch8_64": ViTConfig(image_size=64, patch_size=8, embed_dim=192, depth=6, num_heads=3,
                                    decoder_dim=128, decoder_depth=2, decoder_heads=4),
    # For tests: trains a step in well under a second.
    "vit_micro_patch8_32": ViTConfig(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                                     decoder_dim=32, decoder_depth=1, decoder_heads=2),
}


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d_head)) v
        return self.proj(x.transpose(1, 2).reshape(n, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, as DINO and MAE)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def sincos_pos_embed(dim: int, grid: int, cls_token: bool = True) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos embedding: half the channels encode the row, half the column; zeros for CLS."""
    def one_axis(d: int, positions: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        angles = np.einsum("m,d->md", positions.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    coords = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64))  # (w, h) as MAE
    embed = np.concatenate([one_axis(dim // 2, coords[0]), one_axis(dim // 2, coords[1])], axis=1)
    if cls_token:
        embed = np.concatenate([np.zeros((1, dim)), embed], axis=0)
    return torch.from_numpy(embed).float()[None]


def interpolate_pos_embed(pos_embed: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """Resize the patch part of a (1, 1 + g*g, D) position embedding to a grid_h x grid_w grid (bicubic, as DINO)."""
    cls_part, patch_part = pos_embed[:, :1], pos_embed[:, 1:]
    side = int(math.sqrt(patch_part.shape[1]))
    if (side, side) == (grid_h, grid_w):
        return pos_embed
    patch_part = patch_part.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    patch_part = F.interpolate(patch_part, size=(grid_h, grid_w), mode="bicubic", align_corners=False)
    return torch.cat([cls_part, patch_part.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)], dim=1)


class VisionTransformer(nn.Module):
    """ViT with a CLS token (Dosovitskiy et al. 2021) in DINO's / MAE's parameter layout."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = config
        self.patch_size = config.patch_size
        self.embed_dim = config.embed_dim
        self.patch_embed = PatchEmbed(config.patch_size, config.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.grid ** 2 + 1, config.embed_dim),
                                      requires_grad=not config.sincos_pos_embed)
        self.blocks = nn.ModuleList(Block(config.embed_dim, config.num_heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.embed_dim, eps=1e-6)
        self._init_encoder()

    def _init_encoder(self) -> None:
        if self.config.sincos_pos_embed:
            self.pos_embed.data.copy_(sincos_pos_embed(self.embed_dim, self.config.grid))
        else:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def grid_size(self, images: torch.Tensor) -> tuple[int, int]:
        return images.shape[-2] // self.patch_size, images.shape[-1] // self.patch_size

    def prepare_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens plus position embedding (interpolated for other sizes), with the CLS token first."""
        grid_h, grid_w = self.grid_size(images)
        pos = interpolate_pos_embed(self.pos_embed, grid_h, grid_w)
        x = self.patch_embed(images) + pos[:, 1:]
        cls = (self.cls_token + pos[:, :1]).expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1)

    def block_tokens(self, images: torch.Tensor, block: int = -1, norm: bool = False) -> torch.Tensor:
        """Tokens (N, 1 + h*w, D) after block ``block`` (negative counts from the end), optionally normed."""
        last = block % len(self.blocks)
        x = self.prepare_tokens(images)
        for blk in self.blocks[: last + 1]:
            x = blk(x)
        return self.norm(x) if norm else x

    def intermediate_tokens(self, images: torch.Tensor, blocks: tuple[int, ...]) -> list[torch.Tensor]:
        """Tokens after each of ``blocks`` (one pass)."""
        wanted = {b % len(self.blocks) for b in blocks}
        x, out = self.prepare_tokens(images), {}
        for i, blk in enumerate(self.blocks[: max(wanted) + 1]):
            x = blk(x)
            if i in wanted:
                out[i] = x
        return [out[b % len(self.blocks)] for b in blocks]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The normed CLS token (DINO's backbone output)."""
        return self.block_tokens(images, -1, norm=True)[:, 0]


class MaskedAutoencoder(VisionTransformer):
    """MAE (He et al. 2022): the ViT encoder sees a random 25% of patches, a light decoder predicts the rest.

    Parameter names are MAE's own (encoder at the top level, ``decoder_*`` beside it), so the official
    ``mae_visualize_vit_*.pth`` checkpoints load. MOVE uses it as the inpainter with a soft token mask.
    """

    def __init__(self, config: ViTConfig):
        super().__init__(replace(config, sincos_pos_embed=True))
        dim, decoder_dim = config.embed_dim, config.decoder_dim
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos_embed = nn.Parameter(sincos_pos_embed(decoder_dim, config.grid), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(Block(decoder_dim, config.decoder_heads, config.mlp_ratio)
                                            for _ in range(config.decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, config.patch_size ** 2 * 3)
        for module in (self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.decoder_pred):
            for sub in module.modules():
                if isinstance(sub, nn.Linear):
                    nn.init.xavier_uniform_(sub.weight)
                    nn.init.zeros_(sub.bias)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.xavier_uniform_(self.patch_embed.proj.weight.view(dim, -1))  # MAE initialises it like a Linear

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, h*w, p*p*3), MAE's patch order."""
        p = self.patch_size
        n, c, h, w = images.shape
        x = images.reshape(n, c, h // p, p, w // p, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)

    def unpatchify(self, patches: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        p = self.patch_size
        n, tokens, _ = patches.shape
        h, w = grid or (int(math.sqrt(tokens)),) * 2
        x = patches.reshape(n, h, w, p, p, 3)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(n, 3, h * p, w * p)

    def random_masking(self, x: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sample shuffling by argsort of uniform noise (MAE Sec. 3): kept tokens, mask (1 = removed), restore ids."""
        n, tokens, dim = x.shape
        keep = int(tokens * (1 - mask_ratio))
        noise = torch.rand(n, tokens, generator=generator, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        kept = torch.gather(x, 1, ids_shuffle[:, :keep, None].expand(-1, -1, dim))
        mask = torch.ones(n, tokens, device=x.device)
        mask[:, :keep] = 0
        return kept, torch.gather(mask, 1, ids_restore), ids_restore

    def forward_encoder(self, images: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        grid_h, grid_w = self.grid_size(images)
        pos = interpolate_pos_embed(self.pos_embed, grid_h, grid_w)
        x = self.patch_embed(images) + pos[:, 1:]
        x, mask, ids_restore = self.random_masking(x, mask_ratio, generator)
        x = torch.cat([(self.cls_token + pos[:, :1]).expand(x.shape[0], -1, -1), x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def encode_all(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder on every patch (MOVE inpaints by masking in the decoder, not the encoder)."""
        return self.block_tokens(images, -1, norm=True)

    def _decode(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        x = x + interpolate_pos_embed(self.decoder_pos_embed, *grid)
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        x = self.decoder_embed(latent)
        n, tokens = ids_restore.shape
        mask_tokens = self.mask_token.expand(n, tokens + 1 - x.shape[1], -1)
        x_ = torch.cat([x[:, 1:], mask_tokens], dim=1)
        x_ = torch.gather(x_, 1, ids_restore[..., None].expand(-1, -1, x.shape[2]))
        return self._decode(torch.cat([x[:, :1], x_], dim=1), grid)

    def decode_soft(self, latent: torch.Tensor, visible: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Decode full-image latents where ``visible`` (N, h*w) in [0, 1] blends each token with the mask token.

        MOVE's differentiable inpainting: visible = 0 replaces a token by MAE's mask token, so the decoder
        must fill it in, and gradients reach the mask that chose it.
        """
        x = self.decoder_embed(latent)
        visible = visible[..., None]
        x_ = visible * x[:, 1:] + (1 - visible) * self.mask_token
        return self._decode(torch.cat([x[:, :1], x_], dim=1), grid)

    def reconstruction_loss(self, images: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor,
                            norm_pix_loss: bool = True) -> torch.Tensor:
        """Mean squared error on the removed patches, against per-patch normalised pixels (MAE Sec. 3, norm_pix_loss)."""
        target = self.patchify(images)
        if norm_pix_loss:
            mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        per_patch = ((prediction - target) ** 2).mean(-1)
        return (per_patch * mask).sum() / mask.sum()

    def autoencode(self, images: torch.Tensor) -> torch.Tensor:
        """Encode and decode every patch (MOVE's ``real_ae``), in pixels."""
        grid = self.grid_size(images)
        return self.unpatchify(self._decode(self.decoder_embed(self.encode_all(images)), grid), grid)


def create_vit(name: str) -> VisionTransformer:
    return VisionTransformer(vit_config(name))


def create_mae(name: str) -> MaskedAutoencoder:
    return MaskedAutoencoder(vit_config(name.removeprefix("mae_")))


def vit_config(name: str) -> ViTConfig:
    if name not in VIT_CONFIGS:
        raise WeightsError(f"unknown ViT config {name!r}; known: {', '.join(VIT_CONFIGS)}")
    return VIT_CONFIGS[name]


_WRAPPERS = ("model", "teacher", "state_dict", "module")  # MAE: {"model": ...}; DINO full checkpoints: {"teacher": ...}
_PREFIXES = ("module.", "backbone.", "encoder.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors from .pth/.pt (unwrapping MAE's and DINO's containers) or .safetensors."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"backbone weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for a bad file
        raise WeightsError(f"backbone weights file {path} is unreadable: {str(error).splitlines()[0]}") from None
    while isinstance(state, dict):
        inner = next((state[k] for k in _WRAPPERS if isinstance(state.get(k), dict)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} holds no state dict of tensors")
    cleaned = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            key = key.removeprefix(prefix)
        cleaned[key] = value
    return cleaned


def load_backbone_weights(model: VisionTransformer, path: str | Path) -> VisionTransformer:
    """Load an official DINO / MAE checkpoint (or reelkit's own) into ``model``.

    Heads the model has no use for (DINO's projection ``head.*``, a classifier's ``fc_norm`` / ``head``, the MAE
    decoder when loading into a plain ViT) are dropped; a position embedding for another grid is interpolated.
    Any missing tensor or shape mismatch is a :class:`~reelkit.errors.WeightsError`.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own}
    for key in ("pos_embed", "decoder_pos_embed"):
        if key in state and state[key].shape != own[key].shape and state[key].shape[-1] == own[key].shape[-1]:
            grid = int(math.sqrt(own[key].shape[1] - 1))
            state[key] = interpolate_pos_embed(state[key], grid, grid)
    missing = [k for k in own if k not in state]
    wrong = [k for k in state if state[k].shape != own[k].shape]
    if missing or wrong:
        detail = (f"{len(missing)} missing (e.g. {missing[0]})" if missing else "") + \
                 ("; " if missing and wrong else "") + \
                 (f"{len(wrong)} of another shape (e.g. {wrong[0]}: {tuple(state[wrong[0]].shape)} vs "
                  f"{tuple(own[wrong[0]].shape)})" if wrong else "")
        raise WeightsError(f"{path} does not fit {model.__class__.__name__} {model.config}: {detail}")
    model.load_state_dict(state)
    return model
