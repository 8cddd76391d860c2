"""Caption lines with a lone narrow word ("I", "i", "1", "!") read from single frames, against lines without one.

DBNet, at the input size the overlay pipeline detects at, tends to leave out a one-glyph word at either end
of a line: "so then I" reads "so then". This measures how often, for reelkit's detector at several input
sizes (and its CRNN) and for RapidOCR's whole pipeline, on 720x1280 frames of a real photo with one centred
caption (outlined white text, or white text on a black box) in six common sans-serif faces at three sizes.
A reading counts when it equals the line, case-insensitively (a lost space counts: "day1" is not "day 1"). Run from the repo root:

    .venv/bin/python benchmarks/overlays_lone.py --json docs/benchmarks/overlays_lone.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein
from skimage import data

from reelkit.text import PPOCRDetector, TextRecognizer
from arguments import ArgumentParser

FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/croscore/Arimo-Bold.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoTTF/Roboto-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "/usr/share/fonts/truetype/lato/Lato-Black.ttf",
    "/usr/share/fonts/truetype/open-sans/OpenSans-ExtraBold.ttf",
)
LONE = ("this is how i", "so then I", "I did it", "and I", "best one 1", "top 1", "day 1", "I tried it",
        "I know", "part 2")
CONTROL = ("make the best pasta", "nobody asked", "watch this", "my cat again", "the end", "so good", "wait for it",
           "best ever")
SIZES = (40, 56, 72)
CAPTION_Y = 900


def frames() -> Iterator[tuple[str, bool, np.ndarray]]:
    photos = [data.coffee(), data.astronaut(), data.chelsea(), data.rocket()]
    for font_index, path in enumerate(FONTS):
        for size in SIZES:
            for style in ("outline", "box"):
                for line_index, line in enumerate(LONE + CONTROL):
                    font = ImageFont.truetype(path, size)
                    while font.getlength(line) > 0.85 * 720:  # the whole caption inside the frame
                        font = ImageFont.truetype(path, font.size - 2)
                    frame = Image.fromarray(photos[(font_index + line_index + size) % len(photos)]).resize((720, 1280))
                    draw = ImageDraw.Draw(frame)
                    x = (720 - draw.textlength(line, font=font)) / 2
                    if style == "box":
                        left, top, right, bottom = draw.textbbox((x, CAPTION_Y), line, font=font)
                        pad = size // 4
                        draw.rounded_rectangle((left - pad, top - pad, right + pad, bottom + pad), radius=pad, fill=0)
                        draw.text((x, CAPTION_Y), line, font=font, fill=(255, 255, 255))
                    else:
                        draw.text((x, CAPTION_Y), line, font=font, fill=(255, 255, 255),
                                  stroke_width=max(2, size // 14), stroke_fill=(0, 0, 0))
                    yield line, line in LONE, np.asarray(frame)


def near_caption(top: float, bottom: float) -> bool:
    """Whether a box spanning these rows can be the caption (the photo's own text elsewhere is not scored)."""
    return bottom > CAPTION_Y - 50 and top < CAPTION_Y + 150


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sides", default="640,960", help="reelkit detector input sizes (longer side) to compare")
    parser.add_argument("--no-rapidocr", action="store_true")
    parser.add_argument("--lexicon", action=argparse.BooleanOptionalAction, default=True,
                        help="reelkit: lexicon decoding of words missing from the English word list.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    recognizer = TextRecognizer(corrector="english" if args.lexicon else None)
    readers = {}
    for side in (int(s) for s in args.sides.split(",")):
        detector = PPOCRDetector(max_side=side)
        readers[f"reelkit, detector at {side} px"] = lambda rgb, d=detector: " ".join(
            r.text for r in recognizer([b.crop(rgb) for b in d(rgb) if near_caption(b.y0, b.y1)]))
    if not args.no_rapidocr:
        from rapidocr import RapidOCR

        engine = RapidOCR(params={"Global.log_level": "critical"})

        def read_rapidocr(rgb: np.ndarray) -> str:
            result = engine(np.ascontiguousarray(rgb[..., ::-1]))
            if result.boxes is None:
                return ""
            return " ".join(text for quad, text in zip(result.boxes, result.txts)
                            if near_caption(np.min(quad[:, 1]), np.max(quad[:, 1])))

        readers["rapidocr (its own detector and recogniser)"] = read_rapidocr

    results = {name: {"lone": [], "control": []} for name in readers}
    seconds = {name: 0.0 for name in readers}
    for line, lone, rgb in frames():
        for name, read in readers.items():
            start = time.perf_counter()
            text = read(rgb)
            seconds[name] += time.perf_counter() - start
            results[name]["lone" if lone else "control"].append({"line": line, "read": text})

    summary = {}
    print("| system | lone-glyph lines read exactly | CER | other lines read exactly | CER | ms per frame |")
    print("|---|---|---|---|---|---|")
    for name, groups in results.items():
        row = {}
        for group, readings in groups.items():
            exact = sum(r["read"].lower() == r["line"].lower() for r in readings)
            cer = float(np.mean([Levenshtein.normalized_distance(r["read"].lower(), r["line"].lower())
                                 for r in readings]))
            row[group] = {"exact": exact, "total": len(readings), "cer": cer}
        row["ms_per_frame"] = 1000 * seconds[name] / sum(len(r) for r in groups.values())
        summary[name] = row
        print(f"| {name} | {row['lone']['exact']}/{row['lone']['total']} | {row['lone']['cer']:.3f} | "
              f"{row['control']['exact']}/{row['control']['total']} | {row['control']['cer']:.3f} | "
              f"{row['ms_per_frame']:.0f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": f"{platform.machine()}, {platform.python_version()}",
            "summary": summary,
            "misreadings": {name: [r for g in groups.values() for r in g if r["read"].lower() != r["line"].lower()]
                            for name, groups in results.items()},
        }, indent=1))


if __name__ == "__main__":
    main()
