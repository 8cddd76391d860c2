"""Supervised references for the segmentation benchmarks: networks trained on the true masks.

Not reelkit methods (reelkit's segmenters never see a mask): they put the unsupervised methods' IoU and the
targets of ``benchmarks/segment.py`` in proportion.

- ``--network unet``: a small U-Net; how far a plain supervised network gets on reelkit's scenes at a size.
- ``--network move-head``: MOVE's mask head (and its LayerNorm) on the frozen features of the config's shipped
  DINO ViT, exactly the part ``reelkit train move`` trains; how well any MOVE training could do with those
  features. ``--random-backbone`` uses an untrained ViT of the same shape instead, to show what the
  self-supervised features add.

Each learns the training scenes of ``reelkit.segment.data`` (seed 0, as the training commands do) with 1 - soft
IoU as the loss, and is scored on held-out scenes of seed 1 (validation; the segmentation benchmark's test
scenes are seed 0)::

    .venv/bin/python benchmarks/segment_bound.py --size 32 --steps 2000
    .venv/bin/python benchmarks/segment_bound.py --network move-head --size 64 --steps 1000
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from reelkit.cli import progress_bar
from reelkit.optim import backward_and_step
from reelkit.registry import create_model
from reelkit.segment.data import make_scenes
from reelkit.segment.layered.train import scenes_to_tensor, soft_iou_loss
from reelkit.segment.metrics import segmentation_metrics
from reelkit.segment.move.models import MOVE_CONFIGS, FeatureExtractor, MoveSegmenter, create_vit, normalise
from arguments import ArgumentParser


def double_conv(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU(),
                         nn.Conv2d(outputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU())


class SmallUNet(nn.Module):
    """Three resolutions (width w, 2w, 4w), skip connections, a sigmoid mask."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.down1, self.down2, self.down3 = double_conv(3, width), double_conv(width, 2 * width), double_conv(2 * width, 4 * width)
        self.up2, self.up1 = double_conv(6 * width, 2 * width), double_conv(3 * width, width)
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        full = self.down1(images)
        half = self.down2(F.max_pool2d(full, 2))
        quarter = self.down3(F.max_pool2d(half, 2))
        half = self.up2(torch.cat([F.interpolate(quarter, scale_factor=2), half], 1))
        full = self.up1(torch.cat([F.interpolate(half, scale_factor=2), full], 1))
        return torch.sigmoid(self.head(full))[:, 0]


class MoveHead(nn.Module):
    """[-1, 1] images -> masks through move_small's frozen ViT features and a fresh mask head (MOVE's
    FeatureExtractor keeps the ViT frozen and in eval mode)."""

    def __init__(self, random_backbone: bool) -> None:
        super().__init__()
        config = MOVE_CONFIGS["move_small"]
        vit = create_vit(config.extractor) if random_backbone else create_model(config.extractor_weights, pretrained=True)
        self.segmenter = MoveSegmenter(FeatureExtractor(vit, config.extractor_block), config)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.segmenter(normalise((images + 1) / 2))[:, 0]


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", choices=("unet", "move-head"), default="unet")
    parser.add_argument("--random-backbone", action="store_true", help="move-head on an untrained ViT")
    parser.add_argument("--size", type=int, default=32, help="scene size in px (the layered GAN's is 32, MOVE's 64)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--scenes", type=int, default=6000, help="training scenes")
    parser.add_argument("--heldout", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1, help="held-out scene seed")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/segment_bound.json"))
    args = parser.parse_args()
    if min(args.size, args.steps, args.scenes, args.heldout) < 1 or args.size % (8 if args.network == "move-head" else 4):
        parser.error("--steps, --scenes and --heldout must be at least 1, --size a positive multiple of 4 (8 for "
                     "move-head: the ViT's patch)")
    if args.random_backbone and args.network != "move-head":
        parser.error("--random-backbone goes with --network move-head")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    scenes = make_scenes(args.scenes, args.size, "train", 0)
    images, masks = scenes_to_tensor(scenes.images), torch.from_numpy(scenes.masks).float()
    network = SmallUNet() if args.network == "unet" else MoveHead(args.random_backbone)
    network.train()
    optimizer = torch.optim.Adam([p for p in network.parameters() if p.requires_grad], lr=1e-3)
    rng = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    with progress_bar() as progress:
        for _ in progress.track(range(args.steps), description=f"train {args.network} on true masks"):
            batch = torch.randint(len(images), (32,), generator=rng)
            backward_and_step(optimizer, soft_iou_loss(network(images[batch]), masks[batch]))
    seconds = time.perf_counter() - start
    network.eval()
    heldout = make_scenes(args.heldout, args.size, "heldout", args.seed)
    with torch.no_grad():
        scores = torch.cat([network(chunk) for chunk in scenes_to_tensor(heldout.images).split(100)]).numpy()
    metrics = segmentation_metrics(scores, heldout.masks)
    result = {"network": args.network + (" (untrained ViT)" if args.random_backbone else ""),
              **{f"heldout_{k}": v for k, v in metrics.items()}, "train_seconds": round(seconds, 1),
              "size": args.size, "steps": args.steps, "scenes": args.scenes, "seed": args.seed,
              "machine": f"{platform.machine()}, 1 torch thread",
              "command": "benchmarks/segment_bound.py " + " ".join(sys.argv[1:])}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"supervised {result['network']}, {args.size} px, {args.steps} steps: held-out mean IoU {metrics['miou']:.3f}, "
          f"F-max {metrics['fmax']:.3f} ({seconds / 60:.1f} min of training)")


if __name__ == "__main__":
    main()
