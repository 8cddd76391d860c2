"""Segmenting and boxing objects with a trained MOVE head: masks, the largest object's box (single-object
detection, CorLoc) and one box per connected region (class-agnostic multi-object detection, Sec. 4)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from reelkit.errors import SegmentError, WeightsError
from reelkit.segment.images import predict_resized
from reelkit.segment.move.models import MOVE_CONFIGS, FeatureExtractor, MoveSegmenter, normalise

DEFAULT_MODEL = "move_small"


def mask_boxes(mask: np.ndarray, min_area: float = 0.01) -> list[list[int]]:
    """[x0, y0, x1, y1] (x1, y1 exclusive) of each connected foreground region covering at least ``min_area`` of the
    image, largest first (8-connectivity)."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    areas = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1))
    slices = ndimage.find_objects(labels)
    boxes = []
    for index in np.argsort(-areas, kind="stable"):
        if areas[index] < min_area * mask.size and boxes:
            break
        rows, cols = slices[index]
        boxes.append([int(cols.start), int(rows.start), int(cols.stop), int(rows.stop)])
    return boxes


def box_iou(a: list[int], b: list[int]) -> float:
    inter_w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _check_backbone(name: str, meta: dict, config, backbone_weights: str | None) -> None:
    """A head is only valid on the features it was trained on: compare the backbone file's digest."""
    from reelkit.registry import weights_path
    from reelkit.segment.move.train import file_digest

    expected = meta.get("extractor_sha256")
    path = backbone_weights or (weights_path(config.extractor_weights) if config.extractor_weights else None)
    if expected and path and Path(path).is_file() and file_digest(path) != expected:
        raise SegmentError(f"the {name} head was trained on other DINO features than {path}; "
                           "retrain it with `reelkit train move`")


@dataclass
class MoveSegmentation:
    """``segmenter(image)`` -> soft foreground mask (H, W) in [0, 1] at the image's own size; ``boxes``."""

    segmenter: MoveSegmenter
    threshold: float = 0.5
    batch_size: int = 64

    @classmethod
    def from_name(cls, name: str = DEFAULT_MODEL, weights: str | Path | None = None,
                  backbone_weights: str | Path | None = None, threshold: float = 0.5) -> "MoveSegmentation":
        """Head from the registry (or ``weights``), DINO backbone from the registry (or ``backbone_weights``,
        e.g. the official ``dino_deitsmall8_pretrain.pth`` for the paper's ``move`` config)."""
        from reelkit.registry import create_model, read_metadata, weights_path
        from reelkit.segment.move.vit import create_vit, load_backbone_weights

        if name not in MOVE_CONFIGS:
            raise SegmentError(f"unknown MOVE model {name!r}; choose one of {', '.join(MOVE_CONFIGS)}")
        config = MOVE_CONFIGS[name]
        try:
            parts = create_model(name, pretrained=weights is None, weights=weights)
            if backbone_weights:
                vit = load_backbone_weights(create_vit(config.extractor), backbone_weights)
            elif config.extractor_weights:
                vit = create_model(config.extractor_weights, pretrained=True)
            else:
                raise SegmentError(f"model {name!r} needs --backbone-weights (a DINO checkpoint file)")
            _check_backbone(name, read_metadata(weights or weights_path(name)), config, backbone_weights)
        except WeightsError as error:
            raise SegmentError(str(error)) from None
        segmenter = MoveSegmenter(FeatureExtractor(vit, config.extractor_block), config)
        segmenter.head, segmenter.extractor.norm = parts["head"], parts["norm"]
        return cls(segmenter.eval(), threshold)

    @property
    def size(self) -> int:
        return self.segmenter.config.image_size

    @torch.no_grad()
    def predict(self, images: list[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Soft masks for RGB uint8 images of any size (resized to the model's size, masks resized back)."""
        self.segmenter.eval()

        def run(batch: np.ndarray) -> np.ndarray:
            return self.segmenter(normalise(torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255))[:, 0].numpy()
        return predict_resized(images, self.size, self.batch_size, run, Image.BICUBIC)

    def boxes(self, mask: np.ndarray, min_area: float = 0.01) -> list[list[int]]:
        """Boxes of the thresholded mask's regions, largest first (the first is the single-object box)."""
        return mask_boxes(mask >= self.threshold, min_area)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.predict([image])[0]


def box_writer(out_dir: Path, segmentation: MoveSegmentation) -> Callable[[str, np.ndarray, np.ndarray], list[Path]]:
    """For :func:`~reelkit.segment.layered.pipeline.segment_files`: ``<stem>.json`` per image with {"box": the
    largest object's [x0, y0, x1, y1] or null, "boxes": every region's, "area": foreground fraction, "size":
    [width, height]}."""
    import json

    from reelkit.text.formats import atomic_write

    def write(stem: str, image: np.ndarray, mask: np.ndarray) -> list[Path]:
        boxes = segmentation.boxes(mask)
        record = {"box": boxes[0] if boxes else None, "boxes": boxes,
                  "area": round(float((mask >= segmentation.threshold).mean()), 4),
                  "size": [int(image.shape[1]), int(image.shape[0])]}
        target = out_dir / f"{stem}.json"
        atomic_write(target, json.dumps(record) + "\n")
        return [target]
    return write
