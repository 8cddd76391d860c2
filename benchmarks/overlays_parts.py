"""Per-call times of the overlay pipeline's two networks (best of N, ms).

    .venv/bin/python benchmarks/overlays_parts.py [--repeats 20]

Recogniser: the shipped `crnn_small` on one grey line (height 32) of several widths, in PyTorch (1 and 2 threads)
and in onnxruntime (the exported graph, 1 thread, as `TextRecognizer` runs it). Detector: the PP-OCR detector on
a 1280x720 frame of a benchmark clip through reelkit's `PPOCRDetector` (it shrinks and normalises the frame
itself) and through rapidocr's own detection call (`RapidOCR(...)(bgr, use_det=True, use_cls=False,
use_rec=False)`), with the same settings, and reelkit's 320-px probe.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from reelkit.text import PPOCRDetector, TextRecognizer
from reelkit.text.synth import ClipGenerator, write_clip
from reelkit.video import VideoReader
from timing import best_ms
from arguments import ArgumentParser


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    print("| recogniser, one line | " + " | ".join(f"{w} px" for w in (128, 256, 400)) + " |")
    print("|---|---|---|---|")
    onnx_reader = TextRecognizer()
    torch_reader = TextRecognizer(onnx_reader.model, runtime="torch")
    lines = {w: torch.zeros(1, 1, 32, w).uniform_(-1, 1) for w in (128, 256, 400)}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            cells = [best_ms(lambda x=x: torch_reader.model(x.contiguous(memory_format=torch.channels_last)),
                             args.repeats) for x in lines.values()]
        print(f"| PyTorch, {threads} thread{'s' if threads > 1 else ''} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    cells = [best_ms(lambda x=x: onnx_reader.log_probs(x), args.repeats) for x in lines.values()]
    print("| onnxruntime, 1 thread | " + " | ".join(f"{c:.1f}" for c in cells) + " |")

    from rapidocr import RapidOCR

    generator = ClipGenerator("heldout")
    with tempfile.TemporaryDirectory() as folder:  # a decoded frame of a held-out clip, as the pipeline sees it
        clip = Path(folder) / "clip.mp4"
        write_clip(generator.spec(np.random.default_rng(10_000), 1280, 720, 1.0, 30), clip)
        frame = next(f for f in VideoReader(clip) if f.time >= 0.5).rgb()
    detector = PPOCRDetector()
    engine = RapidOCR(params={"Global.log_level": "critical", "Global.use_cls": False, "Global.use_rec": False,
                              "Det.limit_side_len": 640, "Det.limit_type": "max", "Det.box_thresh": 0.5,
                              "Det.unclip_ratio": 1.6})
    bgr = np.ascontiguousarray(frame[..., ::-1])
    torch.set_num_threads(2)
    print("\n| detector, 1280x720 frame | ms |\n|---|---|")
    print(f"| rapidocr's detection call, 640 px | {best_ms(lambda: engine(bgr, use_det=True, use_cls=False, use_rec=False), args.repeats):.1f} |")
    print(f"| `PPOCRDetector`, 640 px | {best_ms(lambda: detector(frame), args.repeats):.1f} |")
    print(f"| probe, 320 px | {best_ms(lambda: detector.at_side(320)(frame), args.repeats):.1f} |")


if __name__ == "__main__":
    main()
