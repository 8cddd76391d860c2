"""Lexicon prior for the CRNN's open-vocabulary lexicon decoding (reelkit.text.lexicon): accuracy against the bonus.

Reads synthetic lines with held-out fonts, backgrounds and text (a seed that neither training nor its
held-out evaluation used) with the shipped ``crnn_small``, greedy decoding, then corrects each reading
with every bonus in ``--bonuses``. Prints exact-line accuracy, CER and the lines the lexicon broke and fixed.
Run from the repo root:

    .venv/bin/python benchmarks/lexicon.py --lines 2000
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Levenshtein

from reelkit.text.lexicon import Lexicon, LexiconCorrector
from reelkit.text.models import CRNN
from reelkit.text.recognize import TextRecognizer, batch_lines, greedy_decode
from reelkit.text.train import generate_lines
from arguments import ArgumentParser

CALIBRATION_SEED = 31_337


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--bonuses", default="0,1,2,3,4,5,6,8")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min-count", type=int, default=None, help="Lexicon: words seen at least this often "
                        "(default: Lexicon.english's own).")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/lexicon.json"))
    args = parser.parse_args()

    lines = generate_lines("heldout", args.lines, CALIBRATION_SEED, args.workers)
    recognizer = TextRecognizer()
    charset = recognizer.model.config.charset
    readings = []
    for start in range(0, len(lines), 64):
        chunk = lines[start : start + 64]
        images, widths = batch_lines([img.astype(np.float32) / 127.5 - 1.0 for img, _ in chunk])
        log_probs = recognizer.log_probs(images)
        for column, (_, text) in enumerate(chunk):
            lp = log_probs[: CRNN.output_length(int(widths[column])), column]
            readings.append((greedy_decode(lp, charset), lp, text))

    lexicon = Lexicon.english() if args.min_count is None else Lexicon.english(args.min_count)
    chars = sum(len(text) for _, _, text in readings)
    results = []
    for bonus in [float(b) for b in args.bonuses.split(",")]:
        corrector = LexiconCorrector(lexicon, bonus=bonus)
        started = time.perf_counter()
        corrected = [corrector(reading, lp, charset).text for reading, lp, _ in readings]
        seconds = time.perf_counter() - started
        exact = sum(c == text for c, (_, _, text) in zip(corrected, readings))
        errors = sum(Levenshtein.distance(c, text) for c, (_, _, text) in zip(corrected, readings))
        fixed = sum(c == text != r.text for c, (r, _, text) in zip(corrected, readings))
        broken = sum(r.text == text != c for c, (r, _, text) in zip(corrected, readings))
        results.append({"bonus": bonus, "line_accuracy": exact / len(readings), "cer": errors / chars,
                        "fixed": fixed, "broken": broken, "ms_per_line": 1000 * seconds / len(readings)})
        print(json.dumps(results[-1]))
    if args.json:
        machine = f"{platform.machine()}, {__import__('os').cpu_count()} cores"
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"lines": len(readings), "seed": CALIBRATION_SEED, "machine": machine,
                                         "lexicon_words": len(lexicon.counts),
                                         "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
