"""Text-line recognition with the CRNN: preprocessing, CTC decoding (greedy and beam) and the
:class:`TextRecognizer` predictor."""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, Sequence

import numpy as np
import torch
from PIL import Image

from reelkit.registry import create_model
from reelkit.runtime import check_runtime, onnx_session
from reelkit.text.models import CRNN

MAX_WIDTH = 800


def line_to_array(image: np.ndarray, height: int = 32, max_width: int = MAX_WIDTH) -> np.ndarray:
    """An RGB line crop as a grey float array of the CRNN's height, aspect ratio kept."""
    pil = Image.fromarray(image).convert("L")
    width = int(round(pil.width * height / max(pil.height, 1)))
    width = min(max(width, 16), max_width)
    return np.asarray(pil.resize((width, height), Image.BILINEAR), dtype=np.float32) / 127.5 - 1.0


def batch_lines(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad grey lines to a common width by repeating their last column; returns (N,1,H,W), widths."""
    widths = [a.shape[1] for a in arrays]
    target = max(widths)
    batch = np.stack([np.pad(a, ((0, 0), (0, target - a.shape[1])), mode="edge") for a in arrays])
    return torch.from_numpy(batch).unsqueeze(1), torch.tensor(widths)


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float


def greedy_decode(log_probs: np.ndarray, charset: str) -> Reading:
    """Best path: take the argmax per frame, collapse repeats, drop blanks (Sec. 2.3, lexicon-free)."""
    best = log_probs.argmax(-1)
    chars, scores, previous = [], [], 0
    for frame, index in enumerate(best):
        if index != 0 and index != previous:
            chars.append(charset[index - 1])
            scores.append(log_probs[frame, index])
        previous = index
    confidence = float(np.exp(np.mean(scores))) if scores else 0.0
    return Reading("".join(chars), confidence)


def beam_decode(log_probs: np.ndarray, charset: str, beam_width: int = 8) -> Reading:
    """CTC prefix beam search: sums the probabilities of all alignments of each prefix."""
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (log p_blank, log p_char)
    for frame in log_probs:
        candidates = np.argsort(frame)[-beam_width:]
        next_beams: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_blank, p_char) in beams.items():
            total = np.logaddexp(p_blank, p_char)
            for index in candidates:
                p = float(frame[index])
                if index == 0:
                    entry = next_beams[prefix]
                    entry[0] = np.logaddexp(entry[0], total + p)
                    continue
                extended = prefix + (int(index),)
                entry = next_beams[extended]
                if prefix and prefix[-1] == index:
                    entry[1] = np.logaddexp(entry[1], p_blank + p)  # a repeat needs a blank in between
                    same = next_beams[prefix]
                    same[1] = np.logaddexp(same[1], p_char + p)
                else:
                    entry[1] = np.logaddexp(entry[1], total + p)
        ranked = sorted(next_beams.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:beam_width]
        beams = {prefix: (scores[0], scores[1]) for prefix, scores in ranked}
    prefix, (p_blank, p_char) = max(beams.items(), key=lambda kv: np.logaddexp(*kv[1]))
    text = "".join(charset[i - 1] for i in prefix)
    # Per-character geometric mean, comparable with the greedy confidence.
    confidence = float(np.exp(np.logaddexp(p_blank, p_char) / max(len(prefix), 1))) if prefix else 0.0
    return Reading(text, confidence)


class Corrector(Protocol):
    """Revises a reading given the line's (time, classes) CTC log-probabilities."""

    def __call__(self, reading: Reading, log_probs: np.ndarray, charset: str) -> Reading: ...


@contextlib.contextmanager
def _one_thread():
    """A few short lines are too little work to share between threads: the hand-off costs more than it
    saves (overlay benchmark: about 15% more video per second; docs/benchmarks.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class TextRecognizer:
    """Reads cropped text lines (RGB uint8 arrays) with a CRNN from the registry.

    ``runtime="onnxruntime"`` (the default) runs the CRNN exported to ONNX; ``"torch"`` runs the module as is.
    ``corrector`` (by default English lexicon decoding, :mod:`reelkit.text.lexicon`; ``None`` for none)
    re-reads words that are not in its lexicon.
    """

    def __init__(
        self,
        model: str | CRNN = "crnn_small",
        weights: str | Path | None = None,
        decoder: Literal["greedy", "beam"] = "greedy",
        batch_size: int = 32,
        runtime: Literal["onnxruntime", "torch"] = "onnxruntime",
        corrector: Corrector | None | Literal["english"] = "english",
    ) -> None:
        check_runtime(runtime)
        self.model = create_model(model, pretrained=True, weights=weights) if isinstance(model, str) else model
        # channels-last convolutions are markedly faster on CPU for these short, wide line images
        self.model.eval().to(memory_format=torch.channels_last)
        self.decoder = decoder
        self.batch_size = batch_size
        if corrector == "english":
            from reelkit.text.lexicon import Lexicon, LexiconCorrector  # imports this module

            corrector = LexiconCorrector(Lexicon.english())
        self.corrector = corrector
        self._session = None
        if runtime == "onnxruntime":  # about 1.5x faster than PyTorch on single lines (benchmarks/overlays_parts.py)
            example = torch.zeros(1, self.model.config.in_channels, self.model.config.height, 64)
            self._session = onnx_session(self.model, example, ["log_probs"],
                                         {"input": {0: "batch", 3: "width"}, "log_probs": {0: "time", 1: "batch"}})

    def log_probs(self, images: torch.Tensor) -> np.ndarray:
        """The CRNN's (time, batch, classes) log-probabilities for a batch of grey lines (N, 1, H, W)."""
        if self._session is not None:
            return self._session.run(None, {"input": images.numpy()})[0]
        with torch.inference_mode(), _one_thread():
            return self.model(images.contiguous(memory_format=torch.channels_last)).numpy()

    def __call__(self, crops: Sequence[np.ndarray]) -> list[Reading]:
        config = self.model.config
        arrays = [line_to_array(c, config.height) for c in crops]
        order = np.argsort([a.shape[1] for a in arrays])  # similar widths share a batch: less padding
        readings: list[Reading | None] = [None] * len(arrays)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            images, widths = batch_lines([arrays[i] for i in chunk])
            log_probs = self.log_probs(images)
            for column, index in enumerate(chunk):
                frames = CRNN.output_length(int(widths[column]))
                lp = log_probs[:frames, column]
                decode = greedy_decode if self.decoder == "greedy" else beam_decode
                reading = decode(lp, config.charset)
                readings[index] = self.corrector(reading, lp, config.charset) if self.corrector else reading
        return readings  # type: ignore[return-value]
