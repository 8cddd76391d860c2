"""Faces in an image: a detector finds the boxes, EmotionalDAN places 68 landmarks and reads the emotion.

:class:`FaceAnalyzer` is composed of two swappable parts: any callable ``rgb -> list[Detection]`` is a
detector (default: face-api's tiny face detector, :class:`~reelkit.faces.detect.FaceDetector`) and any
callable ``(rgb, boxes) -> list[{"landmarks", "emotion"}]`` a predictor (default:
:class:`EmotionalDANPredictor` with the shipped ``emotionaldan_small``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
from torch import nn

from reelkit.faces.data import initial_shape, make_crop, to_gray, transform_points
from reelkit.faces.models import EmotionalDAN
from reelkit.registry import create_model
from reelkit.runtime import check_runtime, onnx_session

Box = Sequence[float]  # x0, y0, x1, y1 in pixels
Predictor = Callable[[np.ndarray, Sequence[Box]], list[dict[str, Any]]]


class _LastStage(nn.Module):
    """EmotionalDAN's inference outputs as a plain tuple, for the ONNX export."""

    def __init__(self, model: EmotionalDAN) -> None:
        super().__init__()
        self.model = model

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.model(crops)
        return output.landmarks[-1], output.logits


class EmotionalDANPredictor:
    """Callable ``(rgb, boxes) -> [{"landmarks": (68, 2) array in image pixels, "emotion": {name: p}}]``.

    Each face is aligned as in training: the model's mean shape is placed in the box, the grey image is
    warped so that it lands on the canonical mean shape, and the landmarks come back through the inverse.
    ``runtime="onnxruntime"`` (the default) runs the network exported to ONNX on ``threads`` threads (None:
    every core); ``"torch"`` runs the module itself.
    """

    def __init__(self, model: EmotionalDAN, threads: int | None = None,
                 runtime: Literal["onnxruntime", "torch"] = "onnxruntime") -> None:
        check_runtime(runtime)
        self.model = model.eval()
        self.emotions = tuple(model.config.emotions)
        self.box_shape = model.box_shape.numpy().astype(np.float64)
        self.canonical = model.mean_shape.numpy().astype(np.float64)
        self.size = model.config.image_size
        self.threads = threads
        self._session = None
        if runtime == "onnxruntime":  # about 2x faster than PyTorch on one face (benchmarks/faces_breakdown.py)
            example = torch.zeros(1, 1, self.size, self.size)
            self._session = onnx_session(_LastStage(self.model), example, ["landmarks", "logits"], threads=threads)

    @classmethod
    def from_name(cls, model: str = "emotionaldan_small", weights: str | Path | None = None,
                  threads: int | None = None) -> "EmotionalDANPredictor":
        return cls(create_model(model, pretrained=weights is None, weights=weights), threads=threads)

    def crops(self, gray: np.ndarray, boxes: Sequence[Box]) -> tuple[torch.Tensor, list[np.ndarray]]:
        crops, matrices = [], []
        for box in boxes:
            crop, matrix = make_crop(gray, initial_shape(np.asarray(box, np.float64), self.box_shape), self.canonical, self.size)
            crops.append(crop)
            matrices.append(matrix)
        return torch.from_numpy(np.stack(crops)[:, None].astype(np.float32)), matrices

    @torch.no_grad()
    def network(self, crops: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The last stage's landmarks (N, 68, 2) in crop pixels and the emotion logits (N, classes)."""
        if self._session is not None:  # exported for one face: the heat-map rendering is traced per batch size
            outputs = [self._session.run(None, {"input": crop[None].numpy()}) for crop in crops]
            return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            output = self.model(crops)
        finally:
            torch.set_num_threads(previous)
        return output.landmarks[-1].numpy(), output.logits.numpy()

    def __call__(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[dict[str, Any]]:
        if len(boxes) == 0:
            return []
        crops, matrices = self.crops(to_gray(rgb), boxes)
        landmarks, logits = self.network(crops)
        probabilities = torch.softmax(torch.from_numpy(logits), 1).numpy()
        results = []
        for points, matrix, probs in zip(landmarks, matrices, probabilities):
            inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
            results.append({"landmarks": transform_points(points.astype(np.float64), inverse),
                            "emotion": {e: float(p) for e, p in zip(self.emotions, probs)}})
        return results


class FaceAnalyzer:
    """Callable ``rgb (H, W, 3) uint8 -> list of faces``, largest first, each
    ``{"box": [x0, y0, x1, y1], "score", "landmarks": [[x, y] x 68], "emotion": {emotion: p}}``.

    >>> analyzer = FaceAnalyzer()  # face-api tiny face detector + shipped emotionaldan_small
    >>> faces = analyzer(rgb)  # doctest: +SKIP
    """

    def __init__(self, detector: Callable[[np.ndarray], list] | None = None, predictor: Predictor | None = None,
                 max_faces: int | None = None) -> None:
        if detector is None:
            from reelkit.faces.detect import FaceDetector

            detector = FaceDetector()
        self.detector = detector
        self.predictor = predictor if predictor is not None else EmotionalDANPredictor.from_name()
        self.max_faces = max_faces

    def __call__(self, rgb: np.ndarray) -> list[dict[str, Any]]:
        rgb = np.ascontiguousarray(rgb)
        detections = sorted(self.detector(rgb), key=lambda d: d.width * d.height, reverse=True)[:self.max_faces]
        predictions = self.predictor(rgb, [d.box for d in detections])
        faces = []
        for detection, prediction in zip(detections, predictions):
            faces.append({"box": [round(float(v), 1) for v in detection.box], "score": round(float(detection.score), 4),
                          "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in prediction["landmarks"]],
                          "emotion": {k: round(float(v), 4) for k, v in prediction["emotion"].items()}})
        return faces


class EmotionAdapter:
    """The emotion model of :class:`reelkit.thumbnails.scorers.FaceScorer`: ``(rgb, face box) -> {emotion: p}``,
    for a box from face-api's detector, which the scorer uses by default."""

    def __init__(self, predictor: Predictor | None = None) -> None:
        self.predictor = predictor if predictor is not None else EmotionalDANPredictor.from_name()

    def __call__(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> dict[str, float]:
        return self.predictor(np.ascontiguousarray(rgb), [box])[0]["emotion"]


# --- drawing -----------------------------------------------------------------------------------------

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
BOX_COLOUR, POINT_COLOUR = (255, 200, 0), (0, 230, 255)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size=size)


def top_emotion(face: dict[str, Any]) -> tuple[str, float]:
    emotion = face["emotion"]
    name = max(emotion, key=emotion.get)
    return name, emotion[name]


def annotate(rgb: np.ndarray, faces: list[dict[str, Any]]):
    """The image with each face's box, landmarks and top emotion drawn on it (a PIL image)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(image)
    scale = max(image.size) / 640  # lines and labels grow with the image
    font = _font(max(8, round(14 * scale)))
    for face in faces:
        x0, y0, x1, y1 = face["box"]
        draw.rectangle([x0, y0, x1, y1], outline=BOX_COLOUR, width=max(1, round(2 * scale)))
        radius = max(1.0, 0.012 * (x1 - x0))
        for x, y in face["landmarks"]:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=POINT_COLOUR)
        name, p = top_emotion(face)
        label = f"{name} {p:.0%}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        height = bottom - top + 6
        # above the box, else below it, else inside its top edge
        ty = y0 - height if y0 - height >= 0 else y1 if y1 + height <= image.size[1] else max(y0, 0)
        tx = min(max(x0, 0), max(image.size[0] - (right - left + 6), 0))
        draw.rectangle([tx, ty, tx + right - left + 6, ty + height], fill=BOX_COLOUR)
        draw.text((tx + 3, ty + 3 - top), label, fill=(0, 0, 0), font=font)
    return image
