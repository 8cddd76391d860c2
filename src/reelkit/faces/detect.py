"""Face detection and 68-point landmarks: the small nets of face-api (``@vladmandic/face-api``, MIT),
rebuilt in PyTorch and loaded from the package's own TensorFlow.js weight files.

- :class:`TinyFaceDetector`: face-api's ``TinyFaceDetector``, a Tiny-YOLOv2 with depthwise-separable
  convolutions (one 3x3 convolution, five separable ones, a 1x1 box layer; 5 anchors on a 13x13 grid
  at the default 416 px input), box decoding and non-maximum suppression as face-api does them.
- :class:`FaceLandmarks68`: face-api's ``FaceLandmark68Net`` (four dense blocks of separable convolutions
  on a 112 px crop, average pooling, one fully connected layer to 136 numbers), or with ``tiny=True``
  ``FaceLandmark68TinyNet`` (three blocks).

The weights are never committed: :func:`face_api_dir` finds the ``model/`` folder of the npm package
(``REELKIT_FACE_API``, else ``<venv>/share/face-api`` that ``setup.sh`` fills from
``npm pack @vladmandic/face-api@1.7.15``) and :func:`read_tfjs_weights` parses its manifests (names,
shapes, dtypes, uint8/uint16/float16 quantisation, sharded ``.bin`` files). TensorFlow's conventions are
kept where they change numbers: "same" padding puts the odd pixel at the bottom/right, bilinear
resizing samples at ``dst * in / out`` (no half-pixel centres), images are padded to a square with zeros
before resizing.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reelkit.errors import WeightsError

FACE_API_VERSION = "1.7.15"
FACE_API_ENV = "REELKIT_FACE_API"
SETUP_STEP = (f"run `bash setup.sh` (it unpacks the `model/` folder of `npm pack @vladmandic/face-api@{FACE_API_VERSION}` "
              f"into .venv/share/face-api/) or set {FACE_API_ENV} to such a folder")
DETECTOR_MODEL = "tiny_face_detector_model"
LANDMARK_MODEL = "face_landmark_68_model"
LANDMARK_TINY_MODEL = "face_landmark_68_tiny_model"

# face-api src/tinyFaceDetector/const.ts: anchors (in grid cells), mean RGB, NMS IoU threshold.
DETECTOR_ANCHORS = ((1.603231, 2.094468), (6.041143, 7.080126), (2.882459, 3.518061), (4.266906, 5.178857),
                    (9.041765, 10.66308))
DETECTOR_MEAN_RGB = (117.001, 114.697, 97.404)
DETECTOR_IOU = 0.4
# face-api src/faceFeatureExtractor/FaceFeatureExtractor.ts: the landmark nets' input size and mean RGB.
LANDMARK_INPUT = 112
LANDMARK_MEAN_RGB = (122.782, 117.001, 104.298)
# Photos cropped tight to the face (profile pictures, face data sets) defeat the detector, which learnt
# faces in context: they are framed in a grey border (width as a share of the longest side) and searched
# again at a few input sizes; the first try that finds a face wins.
FRAMING_TRIES = ((0.5, 160), (0.25, 160), (1.0, 224), (0.5, 416), (0.25, 224), (1.0, 416))
BORDER_GREY = 128
CHEAP_FRAMINGS = 2  # the tries at the 160-px input, a sixth of the 416-px search's work
TIGHT_FACE_SHARE = 0.5  # a face at least this wide (share of the image's short side) means a tight crop
TILE_ASPECT = 1.5  # a frame this elongated (16:9 and 9:16 video) is also searched in square tiles
# A face found in a tile is searched again in a square twice its size at 160 px (chosen on validation photos:
# 12 of 144 faceless frames had a false face without it, 1 with it; benchmarks/creator.py --parts faces).
TILE_CONFIRM = (2.0, 160)

_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}


def face_api_dir() -> Path:
    """The folder holding face-api's ``*-weights_manifest.json`` files (or a package root with ``model/``)."""
    candidates = [Path(os.environ[FACE_API_ENV])] if os.environ.get(FACE_API_ENV) else \
        [Path(sys.prefix) / "share" / "face-api"]
    for base in candidates:
        for folder in (base, base / "model"):
            if (folder / f"{DETECTOR_MODEL}-weights_manifest.json").is_file():
                return folder
    where = f"{FACE_API_ENV}={candidates[0]}" if os.environ.get(FACE_API_ENV) else str(candidates[0])
    raise WeightsError(f"face-api weights not found at {where}: {SETUP_STEP}")


def read_tfjs_weights(manifest: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a TensorFlow.js weights manifest, dequantised to float32 (int32/bool kept).

    The manifest is a list of groups, each with ``paths`` (shards, concatenated in order) and ``weights``
    (``name``, ``shape``, ``dtype`` and an optional ``quantization``: ``{"dtype": "uint8"|"uint16",
    "scale", "min"}`` meaning ``value = q * scale + min``, or ``{"dtype": "float16"}``).
    """
    manifest = Path(manifest)
    try:
        groups = json.loads(manifest.read_text())
    except FileNotFoundError:
        raise WeightsError(f"face-api manifest {manifest} not found: {SETUP_STEP}") from None
    except (OSError, ValueError) as error:
        raise WeightsError(f"face-api manifest {manifest} is unreadable ({error}): {SETUP_STEP}") from None
    tensors: dict[str, np.ndarray] = {}
    for group in groups:
        try:
            buffer = b"".join((manifest.parent / p).read_bytes() for p in group["paths"])
        except OSError as error:
            raise WeightsError(f"face-api weights shard missing for {manifest.name} ({error.strerror or error}): "
                               f"{SETUP_STEP}") from None
        offset = 0
        for spec in group["weights"]:
            shape, dtype = [int(s) for s in spec["shape"]], spec["dtype"]
            quantization = spec.get("quantization")
            stored = quantization["dtype"] if quantization else dtype
            if stored not in _BYTES or dtype not in _BYTES:
                raise WeightsError(f"{manifest.name}: tensor {spec['name']} has unsupported dtype {stored!r}")
            count = math.prod(shape)
            size = count * _BYTES[stored]
            if offset + size > len(buffer):
                raise WeightsError(f"{manifest.name}: weights file is truncated at tensor {spec['name']}: {SETUP_STEP}")
            raw = np.frombuffer(buffer, dtype={"bool": np.uint8}.get(stored, stored), count=count, offset=offset)
            offset += size
            if quantization and stored in ("uint8", "uint16"):
                values = raw.astype(np.float32) * np.float32(quantization["scale"]) + np.float32(quantization["min"])
            elif dtype == "float32":
                values = raw.astype(np.float32)
            else:
                values = raw.astype(np.int32 if dtype == "int32" else bool)
            tensors[spec["name"]] = values.reshape(shape)
        if offset != len(buffer):
            raise WeightsError(f"{manifest.name}: {len(buffer) - offset} bytes left over after the last tensor")
    return tensors


# --- TensorFlow conventions ------------------------------------------------------------------------


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad (N, C, H, W) as TensorFlow's "same" does: total ``max((ceil(n/s)-1)*s + k - n, 0)``, the odd
    pixel at the bottom/right."""
    pads = []
    for n in (x.shape[3], x.shape[2]):
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


def tf_resize_bilinear(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``tf.image.resizeBilinear(x, size, alignCorners=false, halfPixelCenters=false)`` on (N, C, H, W):
    source coordinate ``dst * in / out``, neighbours clamped at the last row/column (as grid_sample with
    ``align_corners=True`` and border padding samples exactly there)."""
    n_in_y, n_in_x = x.shape[2], x.shape[3]
    source_y = torch.arange(height, dtype=torch.float32) * (n_in_y / height)
    source_x = torch.arange(width, dtype=torch.float32) * (n_in_x / width)
    grid_y = 2 * source_y / max(n_in_y - 1, 1) - 1
    grid_x = 2 * source_x / max(n_in_x - 1, 1) - 1
    grid = torch.stack(torch.meshgrid(grid_x, grid_y, indexing="xy"), -1).expand(x.shape[0], height, width, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def shrink_padded_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """``tf_resize_bilinear(pad_to_square(x, centre=False), size, size)`` for a square larger than ``size``,
    without building the padded square (a 720p frame's resize: 11-17 -> 5-6 ms, benchmarks/faces_breakdown.py):
    shrinking never samples past the long side's last pixel, and grid_sample's zero padding stands in for the
    zeros after the short side."""
    height, width = x.shape[2:]
    source = torch.arange(size, dtype=torch.float32) * (max(height, width) / size)
    grid = torch.stack(torch.meshgrid(2 * source / max(width - 1, 1) - 1, 2 * source / max(height - 1, 1) - 1,
                                      indexing="xy"), -1).expand(x.shape[0], size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def max_pool_same(x: torch.Tensor, stride: int) -> torch.Tensor:
    """``tf.maxPool(x, [2, 2], [stride, stride], "same")``: the window runs past the bottom/right edge,
    where TensorFlow pads with -inf (for stride 2 that is PyTorch's ``ceil_mode``)."""
    if stride == 2:
        return F.max_pool2d(x, 2, 2, ceil_mode=True)
    return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=-math.inf), 2, 1)


def pad_to_square(x: torch.Tensor, centre: bool) -> torch.Tensor:
    """face-api ``padToSquare`` on (N, C, H, W): zeros after the short side (``round(diff / 2)`` of them
    when ``centre``, the rest before), or all after it."""
    height, width = x.shape[2:]
    diff = abs(height - width)
    if diff == 0:
        return x
    after = int(math.floor(diff * 0.5 + 0.5)) if centre else diff  # JavaScript's Math.round
    before = diff - after
    pads = [before, after, 0, 0] if height > width else [0, 0, before, after]
    return F.pad(x, pads)


def _image_tensor(rgb: np.ndarray) -> torch.Tensor:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {rgb.shape}")
    # float() keeps the (H, W, C) memory order: channels-last, which grid_sample reads fastest
    return torch.from_numpy(np.require(rgb, requirements=["C", "W"])).permute(2, 0, 1).unsqueeze(0).float()


# --- layers ------------------------------------------------------------------------------------------


class SeparableConv(nn.Module):
    """tf.separableConv2d (3x3 depthwise, 1x1 pointwise) + bias. ``pad_first`` is face-api's Tiny-YOLO
    form (pad 1 on every side, then "valid"); otherwise TensorFlow "same" padding at ``stride``."""

    def __init__(self, cin: int, cout: int, stride: int = 1, pad_first: bool = False) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, stride, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)
        self.stride, self.pad_first = stride, pad_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 1, 1)) if self.pad_first else tf_same_pad(x, 3, self.stride)
        return self.pointwise(self.depthwise(x))

    def load_tfjs(self, weights: dict[str, np.ndarray], prefix: str) -> None:
        # depthwise [3, 3, C, 1] -> (C, 1, 3, 3); pointwise [1, 1, C, O] -> (O, C, 1, 1)
        self.depthwise.weight.data = torch.from_numpy(weights[f"{prefix}/depthwise_filter"]).permute(2, 3, 0, 1).contiguous()
        self.pointwise.weight.data = torch.from_numpy(weights[f"{prefix}/pointwise_filter"]).permute(3, 2, 0, 1).contiguous()
        self.pointwise.bias.data = torch.from_numpy(weights[f"{prefix}/bias"]).clone()


def _load_conv(conv: nn.Conv2d, weights: dict[str, np.ndarray], prefix: str) -> None:
    conv.weight.data = torch.from_numpy(weights[f"{prefix}/filters"]).permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
    conv.bias.data = torch.from_numpy(weights[f"{prefix}/bias"]).clone()


def _check_names(weights: dict[str, np.ndarray], module: nn.Module, model: str) -> None:
    expected = sum(p.numel() for p in module.parameters())
    found = sum(v.size for v in weights.values())
    if expected != found:
        raise WeightsError(f"face-api {model}: manifest holds {found} numbers, the PyTorch port expects {expected}; "
                           f"use face-api {FACE_API_VERSION}")


class TinyFaceDetectorNet(nn.Module):
    """face-api ``TinyYolov2Base.runMobilenet`` with ``isFirstLayerConv2d``: RGB in [0, 255] minus the mean,
    over 255 -> (N, 25, S/32, S/32): per anchor (x, y, w, h, objectness) logits."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512), anchors: int = len(DETECTOR_ANCHORS)) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(3, widths[0], 3)  # "valid" padding, then leaky ReLU (TinyYolov2Base.ts)
        self.separable = nn.ModuleList(SeparableConv(a, b, pad_first=True) for a, b in zip(widths, widths[1:]))
        self.conv8 = nn.Conv2d(widths[-1], anchors * 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv0(x), 0.1, inplace=True)  # face-api leaky(): relu(x - 0.1x) + 0.1x
        for layer in self.separable:
            x = max_pool_same(x, 2)
            x = F.leaky_relu(layer(x), 0.1, inplace=True)
        x = max_pool_same(x, 1)  # the last pool keeps the 13x13 grid
        return self.conv8(x)

    def load_tfjs(self, weights: dict[str, np.ndarray]) -> None:
        _check_names(weights, self, DETECTOR_MODEL)
        _load_conv(self.conv0, weights, "conv0")
        for index, layer in enumerate(self.separable, 1):
            layer.load_tfjs(weights, f"conv{index}")
        _load_conv(self.conv8, weights, "conv8")


class DenseBlock(nn.Module):
    """face-api ``denseBlock3``/``denseBlock4``: a stride-2 convolution (a plain 3x3 one in the first block,
    separable after), then separable convolutions each fed the ReLU of the sum of all outputs so far."""

    def __init__(self, cin: int, cout: int, convs: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv0 = nn.Conv2d(cin, cout, 3, 2) if first else SeparableConv(cin, cout, 2)
        self.convs = nn.ModuleList(SeparableConv(cout, cout) for _ in range(convs - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.conv0(tf_same_pad(x, 3, 2)) if self.first else self.conv0(x))
        total = out
        for conv in self.convs:
            out = conv(torch.relu(total) if conv is not self.convs[0] else total)
            total = total + out
        return torch.relu(total)

    def load_tfjs(self, weights: dict[str, np.ndarray], prefix: str) -> None:
        if self.first:
            _load_conv(self.conv0, weights, f"{prefix}/conv0")
        else:
            self.conv0.load_tfjs(weights, f"{prefix}/conv0")
        for index, conv in enumerate(self.convs, 1):
            conv.load_tfjs(weights, f"{prefix}/conv{index}")


class FaceLandmark68Net(nn.Module):
    """face-api ``FaceLandmark68Net`` (``tiny=False``: 4 blocks of 4 convolutions, 7x7 average pool) or
    ``FaceLandmark68TinyNet`` (3 blocks of 3, 14x14 pool): (N, 3, 112, 112) normalised -> (N, 136), the
    landmarks as x, y pairs relative to the padded square input."""

    def __init__(self, tiny: bool = False) -> None:
        super().__init__()
        widths = (32, 64, 128) if tiny else (32, 64, 128, 256)
        convs = 3 if tiny else 4
        self.tiny = tiny
        self.blocks = nn.ModuleList(DenseBlock(3 if i == 0 else widths[i - 1], w, convs, i == 0) for i, w in enumerate(widths))
        self.fc = nn.Linear(widths[-1], 136)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        x = F.avg_pool2d(x, 14 if self.tiny else 7, 2)  # "valid": one cell left
        return self.fc(x.flatten(1))

    def load_tfjs(self, weights: dict[str, np.ndarray]) -> None:
        _check_names(weights, self, LANDMARK_TINY_MODEL if self.tiny else LANDMARK_MODEL)
        for index, block in enumerate(self.blocks):
            block.load_tfjs(weights, f"dense{index}")
        self.fc.weight.data = torch.from_numpy(weights["fc/weights"]).t().contiguous()
        self.fc.bias.data = torch.from_numpy(weights["fc/bias"]).clone()


def _load_net(net: nn.Module, model: str, folder: Path | None) -> nn.Module:
    folder = Path(folder) if folder is not None else face_api_dir()
    net.load_tfjs(read_tfjs_weights(folder / f"{model}-weights_manifest.json"))
    return net.eval().to(memory_format=torch.channels_last)  # 3-8x faster convolutions and pools on CPU


# --- detector and landmarks as callables ------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the image
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box ``a`` (4,) with each row of ``b`` (n, 4), boxes as x0, y0, x1, y1."""
    width = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """face-api ``nonMaxSuppression``: greedy by score; a box overlapping a kept one by more than the
    threshold is dropped."""
    order = list(np.argsort(scores, kind="stable"))
    keep: list[int] = []
    while order:
        current = order.pop()
        keep.append(int(current))
        if order:
            overlaps = _iou(boxes[current], boxes[np.array(order)])
            order = [i for i, o in zip(order, overlaps) if o <= iou_threshold]
    return keep


class TinyFaceDetector:
    """Callable ``rgb (H, W, 3) uint8 -> list[Detection]``, best first.

    ``input_size`` (a multiple of 32; face-api's default 416) trades speed for small faces;
    ``score_threshold`` is face-api's default 0.5.
    """

    def __init__(self, input_size: int = 416, score_threshold: float = 0.5, folder: Path | None = None,
                 net: TinyFaceDetectorNet | None = None) -> None:
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        self.net = net if net is not None else _load_net(TinyFaceDetectorNet(), DETECTOR_MODEL, folder)
        self.input_size, self.score_threshold = input_size, score_threshold
        self.mean = torch.tensor(DETECTOR_MEAN_RGB).view(1, 3, 1, 1)

    def at_size(self, input_size: int) -> "TinyFaceDetector":
        """The same detector (sharing its network) at another input size."""
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        other = copy.copy(self)
        other.input_size = input_size
        return other

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """NetInput.toBatchTensor(inputSize, false): zeros after the short side, then resizeBilinear."""
        if max(rgb.shape[:2]) > self.input_size:
            x = shrink_padded_square(_image_tensor(rgb), self.input_size)
        else:
            x = pad_to_square(_image_tensor(rgb), centre=False)
            if x.shape[2] != self.input_size:
                x = tf_resize_bilinear(x, self.input_size, self.input_size)
        return ((x - self.mean) / 255).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def raw(self, rgb: np.ndarray) -> torch.Tensor:
        return self.net(self.preprocess(rgb))

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        output = self.raw(rgb)[0]
        cells, anchors = output.shape[-1], len(DETECTOR_ANCHORS)
        grid = output.view(anchors, 5, cells, cells).permute(2, 3, 0, 1).numpy().astype(np.float64)  # row, col, anchor, 5
        scale = self.input_size / max(height, width)
        # TinyYolov2Base.extractBoxes: boxes relative to the image part of the padded square
        correction_x = self.input_size / round(width * scale)
        correction_y = self.input_size / round(height * scale)
        scores = _sigmoid(grid[..., 4])
        rows, cols, which = np.nonzero(scores > self.score_threshold)
        if len(rows) == 0:
            return []
        t = grid[rows, cols, which]
        anchor = np.asarray(DETECTOR_ANCHORS)[which]
        centre_x = (cols + _sigmoid(t[:, 0])) / cells * correction_x
        centre_y = (rows + _sigmoid(t[:, 1])) / cells * correction_y
        box_w = np.exp(t[:, 2]) * anchor[:, 0] / cells * correction_x
        box_h = np.exp(t[:, 3]) * anchor[:, 1] / cells * correction_y
        relative = np.stack([centre_x - box_w / 2, centre_y - box_h / 2, centre_x + box_w / 2, centre_y + box_h / 2], 1)
        picked = scores[rows, cols, which]
        keep = non_max_suppression(relative, picked, DETECTOR_IOU)
        boxes = relative[keep] * np.array([width, height, width, height])
        return [Detection(tuple(float(v) for v in box), float(s)) for box, s in zip(boxes, picked[keep])]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


class FaceLandmarks68:
    """Callable ``(rgb, box) -> (68, 2)`` landmark pixels (iBUG 300-W order) for the face in ``box``.

    As face-api's ``detectLandmarks`` on ``extractFaceTensors``: the box, clipped to the image and
    floored, is cut out, padded to a centred square, resized to 112 px; the output is scaled back.
    """

    def __init__(self, tiny: bool = False, folder: Path | None = None, net: FaceLandmark68Net | None = None) -> None:
        self.net = net if net is not None else _load_net(FaceLandmark68Net(tiny), LANDMARK_TINY_MODEL if tiny else LANDMARK_MODEL, folder)
        self.mean = torch.tensor(LANDMARK_MEAN_RGB).view(1, 3, 1, 1)

    @staticmethod
    def crop_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
        """Box.clipAtImageBorders(...).floor() as x, y, w, h."""
        x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
        w, h = min(box[2] - x0, width - x0), min(box[3] - y0, height - y0)
        return math.floor(x0), math.floor(y0), math.floor(w), math.floor(h)

    def batch(self, crops: list[np.ndarray]) -> torch.Tensor:
        tensors = []
        for crop in crops:
            x = pad_to_square(_image_tensor(crop), centre=True)
            tensors.append(tf_resize_bilinear(x, LANDMARK_INPUT, LANDMARK_INPUT) if x.shape[2] != LANDMARK_INPUT else x)
        return ((torch.cat(tensors) - self.mean) / 255).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def predict_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """(n, 68, 2) landmarks in pixels of each crop (FaceLandmark68NetBase.postProcess)."""
        if not crops:
            return np.zeros((0, 68, 2), np.float32)
        out = self.net(self.batch(crops)).view(-1, 68, 2).numpy().astype(np.float64)
        result = []
        for crop, points in zip(crops, out):
            height, width = crop.shape[:2]
            scale = LANDMARK_INPUT / max(height, width)
            w, h = width * scale, height * scale
            pad = np.array([abs(w - h) / 2 if w < h else 0.0, abs(w - h) / 2 if h < w else 0.0])
            result.append((points * LANDMARK_INPUT - pad) / np.array([w, h]) * np.array([width, height]))
        return np.asarray(result, np.float32)

    def __call__(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        return self.many(rgb, [box])[0]

    def many(self, rgb: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
        height, width = rgb.shape[:2]
        crops, shifts = [], []
        for box in boxes:
            x, y, w, h = self.crop_box(box, width, height)
            if w <= 0 or h <= 0:
                raise ValueError(f"face box {box} lies outside the {width}x{height} image")
            crops.append(rgb[y:y + h, x:x + w])
            # extendWithFaceLandmarks shifts by the detection's own box; past the image's top/left edge that
            # misplaces the points (the crop starts at 0), so there the crop's origin is used.
            shifts.append((max(box[0], 0.0), max(box[1], 0.0)))
        points = self.predict_crops(crops)
        return points + np.asarray(shifts, np.float32)[:, None, :]


def search_tiles(detector: TinyFaceDetector, rgb: np.ndarray, min_aspect: float = TILE_ASPECT,
                 confirm: tuple[float, int] | None = TILE_CONFIRM) -> list[Detection]:
    """Every face in the square tiles of an elongated image, best first, in image pixels; empty for an image less
    elongated than ``min_aspect``.

    The detector shrinks an image to fit its square input, so most of a 9:16 frame's input is padding; a tile of
    the short side fills it, and a face in it is seen 1.8 times larger. The tiles overlap to cover the long side;
    a face found in two is kept once (face-api's non-maximum suppression). Textures seen larger fool the detector
    too (a dahlia's petals, a retina's vessels), so with ``confirm`` = (context, input size) a face counts only if
    the detector finds it again in a square ``context`` times its size around it, searched at that input size.
    """
    height, width = rgb.shape[:2]
    short, longest = min(height, width), max(height, width)
    if longest < min_aspect * short:
        return []
    found: list[Detection] = []
    for start in np.linspace(0, longest - short, math.ceil(longest / short)).round().astype(int):
        tile = rgb[start:start + short] if height > width else rgb[:, start:start + short]
        dx, dy = (0, start) if height > width else (start, 0)
        found += [Detection((d.box[0] + dx, d.box[1] + dy, d.box[2] + dx, d.box[3] + dy), d.score)
                  for d in detector(np.ascontiguousarray(tile))]
    if len(found) > 1:
        found = [found[i] for i in non_max_suppression(np.array([d.box for d in found]),
                                                       np.array([d.score for d in found]), DETECTOR_IOU)]
    return [d for d in found if confirm is None or _found_again(detector, rgb, d.box, *confirm)]


def _found_again(detector: TinyFaceDetector, rgb: np.ndarray, box: tuple[float, float, float, float],
                 context: float, input_size: int) -> bool:
    """Whether the detector finds a face centred in a square ``context`` times the box's size around it (grey
    beyond the image's edges), searched at ``input_size``."""
    import cv2

    side = max(1, int(round(context * max(box[2] - box[0], box[3] - box[1]))))
    left, top = int(round((box[0] + box[2] - side) / 2)), int(round((box[1] + box[3] - side) / 2))
    padded = cv2.copyMakeBorder(np.ascontiguousarray(rgb), side, side, side, side, cv2.BORDER_CONSTANT,
                                value=(BORDER_GREY,) * 3)
    crop = np.ascontiguousarray(padded[top + side:top + 2 * side, left + side:left + 2 * side])
    again = detector.at_size(input_size)(crop)
    return any(abs(d.box[0] + d.box[2] - side) < side / 2 and abs(d.box[1] + d.box[3] - side) < side / 2
               for d in again)


def search_framed(detector: TinyFaceDetector, rgb: np.ndarray, tries=FRAMING_TRIES) -> list[Detection]:
    """Every face of the first framing in ``tries`` (:data:`FRAMING_TRIES`) where the detector finds one, best
    first, in photo pixels (boxes may reach past the photo's edges); empty if no framing finds a face."""
    import cv2

    longest = max(rgb.shape[:2])
    for share, size in tries:
        pad = int(round(share * longest))
        framed = cv2.copyMakeBorder(np.ascontiguousarray(rgb), pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                    value=(BORDER_GREY,) * 3)
        found = detector.at_size(size)(framed)
        if found:
            return [Detection(tuple(v - pad for v in d.box), d.score)
                    for d in sorted(found, key=lambda d: d.score, reverse=True)]
    return []


class FrameFaceFinder:
    """Faces in video frames (the thumbnail ranker's finder): callable ``rgb -> list[Detection]``, best first.

    face-api's tiny face detector; when it finds nothing, the square tiles of an elongated frame
    (:func:`search_tiles`), for faces too small for the whole-frame search; then one more search with the frame
    in a grey border ``framing`` = (share of the long side, detector input size), which finds the close-ups the
    plain search misses. On frames, that one try found as many faces as :class:`FaceDetector`'s six, at about a
    third of the time (``benchmarks/creator.py --parts faces``).
    """

    def __init__(self, tiny: TinyFaceDetector | None = None, framing: tuple[float, int] = (0.5, 416)) -> None:
        self.tiny = tiny if tiny is not None else TinyFaceDetector()
        self.framing = framing

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        return self.tiny(rgb) or search_tiles(self.tiny, rgb) or search_framed(self.tiny, rgb, (self.framing,))


class FaceDetector:
    """The default face finder: callable ``rgb -> list[Detection]``, best first.

    face-api's tiny face detector at ``input_size`` (face-api's default 416 finds faces down to about 1/11
    of the image's longest side; 320 is about a third faster but misses those); when it finds nothing and
    ``reframe`` is set, it is searched again: an elongated image in square tiles (:func:`search_tiles`), for faces
    too small for the whole-image search, then framed in a grey border, for photos cropped tight to a face.
    An image no larger than ``input_size`` is searched framed first, at the cheap 160-px framings: when that
    finds a face filling at least :data:`TIGHT_FACE_SHARE` of the image, the image is a tight crop, which the
    plain search would miss anyway, and the plain search is skipped.
    """

    def __init__(self, input_size: int = 416, score_threshold: float = 0.5, reframe: bool = True,
                 folder: Path | None = None, tiny: TinyFaceDetector | None = None) -> None:
        self.tiny = tiny if tiny is not None else TinyFaceDetector(input_size, score_threshold, folder)
        self.reframe = reframe

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        framed: list[Detection] = []
        small = max(rgb.shape[:2]) <= self.tiny.input_size
        if self.reframe and small:
            framed = search_framed(self.tiny, rgb, FRAMING_TRIES[:CHEAP_FRAMINGS])
            if framed and framed[0].width >= TIGHT_FACE_SHARE * min(rgb.shape[:2]):
                return framed
        found = self.tiny(rgb)
        if found or not self.reframe:
            return found
        return (framed or search_tiles(self.tiny, rgb)
                or search_framed(self.tiny, rgb, FRAMING_TRIES[CHEAP_FRAMINGS if small else 0:]))
