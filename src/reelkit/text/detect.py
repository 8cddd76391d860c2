"""Text-line detection: the PP-OCR detector (DBNet) that ships inside the ``rapidocr`` wheel, run
through onnxruntime."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class TextBox:
    """An axis-aligned text-line box in pixels of the frame it was found in."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[max(0, self.y0) : self.y1, max(0, self.x0) : self.x1]

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0) * max(0, self.y1 - self.y0)

    def intersection(self, other: "TextBox") -> int:
        """Pixels shared with ``other``."""
        return (max(0, min(self.x1, other.x1) - max(self.x0, other.x0))
                * max(0, min(self.y1, other.y1) - max(self.y0, other.y0)))

    def grown(self, margin: int) -> "TextBox":
        return TextBox(self.x0 - margin, self.y0 - margin, self.x1 + margin, self.y1 + margin)

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]

    def union(self, other: "TextBox") -> "TextBox":
        return TextBox(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))


def box_iou(a: TextBox, b: TextBox) -> float:
    ix = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
    return inter / union if union > 0 else 0.0


def merge_line_pieces(boxes: list[TextBox], max_gap: float = 1.0, min_vertical_overlap: float = 0.6) -> list[TextBox]:
    """Joins boxes that continue one another on the same line (DBNet splits a line at a wide space,
    e.g. between "--" and a name): same row, and a horizontal gap under ``max_gap`` line heights."""
    pieces = sorted(boxes, key=lambda b: b.x0)
    lines: list[TextBox] = []
    for box in pieces:
        for index, line in enumerate(lines):
            overlap = min(line.y1, box.y1) - max(line.y0, box.y0)
            gap = box.x0 - line.x1
            if (overlap >= min_vertical_overlap * min(line.height, box.height)
                    and gap <= max_gap * max(line.height, box.height) and box.x1 > line.x1):
                lines[index] = line.union(box)
                break
        else:
            lines.append(box)
    return lines


class PPOCRDetector:
    """PP-OCR's DBNet text detector (model file inside ``rapidocr``), returning line boxes.

    ``max_side`` bounds the longer side of the network input: overlay text is large, so 640 px finds
    it at a fraction of the cost of the default 736-px short side. The network and DB post-processing are
    rapidocr's; the frame is shrunk and normalised here, before any float conversion, which saves the
    full-frame copies rapidocr's generic path makes (about a tenth of a call on a 720p frame:
    ``benchmarks/overlays_parts.py``), and the session's idle threads sleep (``reelkit.runtime``).
    """

    def __init__(self, max_side: int = 640, box_threshold: float = 0.5, unclip_ratio: float = 1.6,
                 min_height: int = 8, merge_gap: float = 1.0) -> None:
        import onnxruntime as ort
        from rapidocr import RapidOCR

        from reelkit.runtime import session_options

        engine = RapidOCR(params={
            "Global.log_level": "critical", "Global.use_cls": False, "Global.use_rec": False,
            "Det.box_thresh": box_threshold, "Det.unclip_ratio": unclip_ratio,
        })
        self._network = engine._load_det_model()
        model_file = self._network.session.session._model_path
        self._network.session.session = ort.InferenceSession(model_file, session_options(threads=None),
                                                             providers=["CPUExecutionProvider"])
        self.max_side = max_side
        self.min_height = min_height
        self.merge_gap = merge_gap

    def at_side(self, max_side: int) -> "PPOCRDetector":
        """The same detector (sharing its network) with another input size."""
        other = copy.copy(self)
        other.max_side = max_side
        return other

    def network_input(self, rgb: np.ndarray) -> np.ndarray:
        """The frame as the network takes it: longer side at most ``max_side``, both sides multiples of 32
        (rapidocr's rounding), BGR channel order, scaled to [-1, 1], NCHW float32."""
        height, width = rgb.shape[:2]
        ratio = min(1.0, self.max_side / max(height, width))
        size = (max(32, round(int(width * ratio) / 32) * 32), max(32, round(int(height * ratio) / 32) * 32))
        small = cv2.resize(rgb, size)[..., ::-1]  # per-channel resize: the same pixels as resizing the BGR frame
        planes = small.transpose(2, 0, 1).astype(np.float32)
        planes *= 1 / 127.5
        planes -= 1.0
        return planes[None]

    def detect_rows(self, rgb: np.ndarray, top: int, bottom: int) -> list[TextBox]:
        """Lines centred in the band of rows [top, bottom). The network sees the band widened to whole
        32-pixel rows of its input, exactly that slice of the input it would get for the whole frame: the
        detection costs the band's share of one over the whole frame and finds the same boxes inside it."""
        height, width = rgb.shape[:2]
        frame_input = self.network_input(rgb)
        scale = frame_input.shape[2] / height
        first = int(top * scale) // 32 * 32
        last = min(frame_input.shape[2], -(-int(np.ceil(bottom * scale)) // 32) * 32)
        offset = round(first / scale)
        boxes = self._boxes(frame_input[:, :, first:last], round(last / scale) - offset, width, offset)
        return [b for b in boxes if top <= (b.y0 + b.y1) / 2 < bottom]

    def __call__(self, rgb: np.ndarray) -> list[TextBox]:
        height, width = rgb.shape[:2]
        return self._boxes(self.network_input(rgb), height, width)

    def _boxes(self, network_input: np.ndarray, height: int, width: int, offset: int = 0) -> list[TextBox]:
        """Boxes in a frame region of ``height`` x ``width`` pixels starting ``offset`` rows down."""
        scores = self._network.session(np.ascontiguousarray(network_input))
        quads, _ = self._network.postprocess_op(scores, (height, width))
        boxes = []
        for quad in np.asarray(quads).reshape(-1, 4, 2):
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            boxes.append(TextBox(max(0, int(x0)), max(0, int(y0)) + offset, min(width, int(x1)),
                                 min(height, int(y1)) + offset))
        if self.merge_gap > 0:  # before the size filter: a dash alone is a flat box that belongs to its line
            boxes = merge_line_pieces(boxes, self.merge_gap)
        return [b for b in boxes if b.height >= self.min_height and b.x1 - b.x0 >= self.min_height // 2]
