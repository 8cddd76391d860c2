"""Where the time of one face goes: the parts of `FaceAnalyzer` timed one by one (best of N, ms).

    .venv/bin/python benchmarks/faces_breakdown.py [--threads 1 2] [--repeats 30]

Images: skimage's astronaut (512 px) and the same astronaut in a grey 1280x720 frame (as in benchmarks/faces.py).
"resize, padded square first" is the detector's earlier resize path (pad to a square, then resize), kept here to
compare with `shrink_padded_square`, the path it takes now for images larger than its input.
"""

from __future__ import annotations


import numpy as np
import skimage.data
import torch

from reelkit.faces.data import to_gray
from reelkit.faces.detect import FaceDetector, _image_tensor, pad_to_square, tf_resize_bilinear
from reelkit.faces.pipeline import EmotionalDANPredictor, FaceAnalyzer
from timing import best_ms
from arguments import ArgumentParser


def padded_first(tiny, rgb: np.ndarray) -> torch.Tensor:  # noqa: ANN001 - a TinyFaceDetector
    """The detector's input as it was made before ``shrink_padded_square``: pad, resize, normalise."""
    x = tf_resize_bilinear(pad_to_square(_image_tensor(rgb), centre=False), tiny.input_size, tiny.input_size)
    return ((x - tiny.mean) / 255).contiguous(memory_format=torch.channels_last)


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    astronaut = skimage.data.astronaut()
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[104:616, 384:896] = astronaut
    detector, predictor = FaceDetector(), EmotionalDANPredictor.from_name()
    analyzer = FaceAnalyzer(detector, predictor)
    tiny = detector.tiny
    print("| image, threads | resize, padded square first | resize now | detector network | whole detector "
          "| EmotionalDAN (1 face), PyTorch | EmotionalDAN (1 face), onnxruntime | whole FaceAnalyzer |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        predictor = EmotionalDANPredictor(predictor.model, threads=threads)  # its onnxruntime session's threads
        analyzer = FaceAnalyzer(detector, predictor)
        for name, rgb in (("astronaut 512 px", astronaut), ("1280x720 frame", frame)):
            boxes = [d.box for d in detector(rgb)]
            crops, _ = predictor.crops(to_gray(rgb), boxes)
            network_input = tiny.preprocess(rgb)
            with torch.no_grad():
                parts = [
                    best_ms(lambda: padded_first(tiny, rgb), args.repeats),
                    best_ms(lambda: tiny.preprocess(rgb), args.repeats),
                    best_ms(lambda: tiny.net(network_input), args.repeats),
                    best_ms(lambda: detector(rgb), args.repeats),
                    best_ms(lambda: predictor.model(crops), args.repeats),
                    best_ms(lambda: predictor.network(crops), args.repeats),
                    best_ms(lambda: analyzer(rgb), args.repeats),
                ]
            print(f"| {name}, {threads} | " + " | ".join(f"{ms:.1f}" for ms in parts) + " |")


if __name__ == "__main__":
    main()
