"""Synthetic text overlays: text-line images for the recogniser and whole overlay frames and clips.

The textual-overlays paper trains its CRNN on synthetic text because labelled overlay data is scarce;
this module renders the overlay styles of social video (white with a dark outline, dark on a light box,
coloured with a drop shadow, a semi-transparent band) over real photos and procedural backgrounds, then
degrades them as video compression would. Fonts, backgrounds and text sources are split into a
``train`` part and a ``heldout`` part that training never sees, so benchmarks measure generalisation.
"""

from __future__ import annotations

import functools
import glob
import io
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from reelkit.errors import SynthError

Split = Literal["train", "heldout"]

#: Every character the recogniser reads: printable ASCII with space.
CHARSET = string.digits + string.ascii_letters + string.punctuation + " "

FONT_DIRS = ("/usr/share/fonts", "/usr/share/texmf/fonts/opentype")
# Families never used in training, grouped by design so that metric clones (Arimo = Liberation Sans)
# do not leak a held-out design into training.
HELDOUT_FAMILIES = ("Open Sans", "Lato", "URW Gothic", "Fira Code", "Caladea")
# Copies of a held-out design under another name: in neither split, so the held-out set stays as it was.
HELDOUT_CLONES = ("TeX Gyre Adventor",)
# Symbol, math and hairline faces are not overlay fonts.
EXCLUDED_FAMILY_WORDS = ("Symbol", "Math", "D050000L", "Thin", "Hairline", "ExtraLight", "Extra Light")

FORTUNE_DIR = Path("/usr/share/games/fortunes")
HELDOUT_TEXT_FILES = ("food", "people", "pets", "sports", "songs-poems")

# Real photos shipped by scikit-image and scikit-learn, split into train and held-out.
TRAIN_PHOTOS = (
    "astronaut", "chelsea", "coffee", "china.jpg", "immunohistochemistry", "hubble_deep_field",
    "brick", "grass", "gravel", "camera", "moon", "coins", "cell",
)
HELDOUT_PHOTOS = ("rocket", "flower.jpg", "retina", "clock")
TRAIN_PROCEDURAL = ("gradient", "blobs", "stripes")
HELDOUT_PROCEDURAL = ("plasma", "checker")

OverlayKind = Literal["outline", "box", "shadow", "band", "plain"]
OVERLAY_KINDS: tuple[OverlayKind, ...] = ("outline", "box", "shadow", "band", "plain")

PALETTE = (
    (255, 255, 255), (255, 236, 60), (255, 214, 0), (255, 80, 80), (80, 220, 255), (120, 255, 120),
    (255, 140, 0), (255, 105, 180), (0, 0, 0), (30, 30, 30), (40, 90, 255), (160, 60, 255),
)


# ---------------------------------------------------------------------------------------------------
# Sources: fonts, text, backgrounds


def _family_of(path: str) -> str | None:
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(path, fontNumber=0, lazy=True)
        cmap = font.getBestCmap() or {}
        family = font["name"].getDebugName(1) or ""
    except Exception:  # unreadable font files are simply not candidates
        return None
    if not all(ord(c) in cmap for c in CHARSET if c != " "):
        return None
    if any(word in family for word in EXCLUDED_FAMILY_WORDS):
        return None
    return family


@functools.cache
def list_fonts(split: Split) -> tuple[str, ...]:
    """Font files that cover :data:`CHARSET`, for the given split (sorted, deterministic)."""
    fonts = []
    for root in FONT_DIRS:
        for path in sorted(glob.glob(f"{root}/**/*.[ot]tf", recursive=True)):
            family = _family_of(path)
            if family is None or family.startswith(HELDOUT_CLONES):
                continue
            heldout = family.startswith(HELDOUT_FAMILIES)
            if heldout == (split == "heldout"):
                fonts.append(path)
    if not fonts:
        raise SynthError(
            f"no {split} fonts found under {', '.join(FONT_DIRS)}: install the Debian font packages "
            "listed in the README's set-up command"
        )
    return tuple(fonts)


@functools.cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@functools.cache
def _corpus_lines(split: Split) -> tuple[str, ...]:
    files = sorted(p for p in FORTUNE_DIR.glob("*") if p.suffix == "" and not p.is_symlink())
    chosen = [p for p in files if (p.name in HELDOUT_TEXT_FILES) == (split == "heldout")]
    lines: list[str] = []
    for path in chosen:
        for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
            line = " ".join(line.replace("\t", " ").split())
            if len(line) >= 8 and all(c in CHARSET for c in line) and not line.startswith("%"):
                lines.append(line)
    if not lines:
        raise SynthError(f"no text corpus in {FORTUNE_DIR}: install Debian's 'fortunes' package")
    if split == "heldout":  # a few quotations recur across files: keep held-out text unseen
        seen = set(_corpus_lines("train"))
        lines = [line for line in lines if line not in seen]
    return tuple(lines)


class TextSampler:
    """Caption-like strings: phrases from a corpus, #hashtags, @handles, numbers, mixed case."""

    def __init__(self, split: Split = "train", handle_share: float = 0.06) -> None:
        self.lines = _corpus_lines(split)
        self.handle_share = handle_share  # share of phrases that are @handles

    def words(self, rng: np.random.Generator, count: int) -> list[str]:
        line = self.lines[rng.integers(len(self.lines))].split()
        start = rng.integers(max(1, len(line) - count + 1))
        return line[start : start + count]

    @staticmethod
    def hashtag(rng: np.random.Generator, words: list[str]) -> str:
        core = "".join(w.strip(string.punctuation).capitalize() for w in words[:3]) or "Viral"
        return "#" + (core if rng.random() < 0.5 else core.lower())

    @staticmethod
    def handle(rng: np.random.Generator, words: list[str]) -> str:
        core = "_".join("".join(c for c in w.lower() if c.isalnum()) for w in words[:2]).strip("_") or "creator"
        if rng.random() < 0.5:
            core += str(rng.integers(1, 999))
        return "@" + core.replace("__", "_")

    @staticmethod
    def number(rng: np.random.Generator) -> str:
        forms = (
            lambda: f"{rng.integers(1, 100)}%",
            lambda: f"${rng.integers(1, 999)}.{rng.integers(0, 99):02d}",
            lambda: f"{rng.integers(1, 12)}:{rng.integers(0, 59):02d}",
            lambda: f"{rng.integers(1, 10)}/{rng.integers(1, 10)}",
            lambda: f"{rng.integers(1900, 2030)}",
            lambda: f"x{rng.integers(2, 10)}",
            lambda: f"{rng.integers(1, 999)}K",
        )
        return forms[rng.integers(len(forms))]()

    @staticmethod
    def random_chars(rng: np.random.Generator, length: int) -> str:
        return "".join(rng.choice(list(CHARSET[:-1]), size=length)).strip() or "x"

    @staticmethod
    def recase(rng: np.random.Generator, text: str) -> str:
        roll = rng.random()
        if roll < 0.25:
            return text.upper()
        if roll < 0.35:
            return string.capwords(text)
        if roll < 0.42:
            return text.lower()
        return text

    def phrase(self, rng: np.random.Generator, max_words: int = 7) -> str:
        """One overlay phrase (a single line of caption, before wrapping)."""
        roll = rng.random()
        words = self.words(rng, int(rng.integers(1, max_words + 1)))
        if roll < 0.06:
            return self.random_chars(rng, int(rng.integers(3, 16)))
        if roll < 0.06 + self.handle_share:
            return self.handle(rng, words)
        if roll < 0.12 + self.handle_share:
            return self.hashtag(rng, words)
        text = " ".join(words)
        if rng.random() < 0.15:
            extra = self.hashtag(rng, self.words(rng, 2)) if rng.random() < 0.5 else self.number(rng)
            text = f"{text} {extra}" if rng.random() < 0.6 else f"{extra} {text}"
        return self.recase(rng, text)


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """A photo bundled with scikit-image (by function name) or scikit-learn (``*.jpg``), as RGB uint8."""
    if name.endswith(".jpg"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(name)
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def colour_jitter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    tint = rng.uniform(0.7, 1.3, size=3)
    gain, bias = rng.uniform(0.6, 1.3), rng.uniform(-40, 40)
    out = image.astype(np.float32) * tint * gain + bias
    return np.clip(out, 0, 255).astype(np.uint8)


def _upsampled_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    small = rng.uniform(0, 255, size=(cells, max(2, cells * width // max(height, 1)), 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC))


def _procedural(rng: np.random.Generator, kind: str, width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, size=3), rng.uniform(0, 255, size=3)
    if kind == "gradient":
        angle = rng.uniform(0, np.pi)
        t = (np.cos(angle) * xx + np.sin(angle) * yy)
        t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
        return (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.uint8)
    if kind == "blobs":
        return _upsampled_noise(rng, width, height, int(rng.integers(2, 6)))
    if kind == "stripes":
        period = rng.uniform(8, 80)
        t = (np.sin((xx * rng.uniform(-1, 1) + yy) / period) + 1) / 2
        return (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.uint8)
    if kind == "plasma":
        coarse = _upsampled_noise(rng, width, height, 3).astype(np.float32)
        fine = _upsampled_noise(rng, width, height, 16).astype(np.float32)
        return np.clip(0.7 * coarse + 0.3 * fine, 0, 255).astype(np.uint8)
    if kind == "checker":
        size = rng.uniform(10, 60)
        t = ((xx // size + yy // size) % 2)[..., None]
        return (c0 * (1 - t) + c1 * t).astype(np.uint8)
    raise SynthError(f"unknown procedural background {kind!r}")


class BackgroundSampler:
    """Backgrounds of a given size: random crops of real photos (colour-jittered) or procedural ones."""

    def __init__(self, split: Split = "train") -> None:
        self.photos = TRAIN_PHOTOS if split == "train" else HELDOUT_PHOTOS
        self.procedural = TRAIN_PROCEDURAL if split == "train" else HELDOUT_PROCEDURAL

    def source(self, rng: np.random.Generator) -> np.ndarray:
        """A whole jittered photo, for clips that pan across it."""
        return colour_jitter(rng, load_photo(self.photos[rng.integers(len(self.photos))]))

    def __call__(self, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
        if rng.random() < 0.35:
            kind = self.procedural[rng.integers(len(self.procedural))]
            return _procedural(rng, kind, width, height)
        photo = load_photo(self.photos[rng.integers(len(self.photos))])
        scale = rng.uniform(0.3, 1.0)
        ph, pw = photo.shape[:2]
        ch, cw = max(8, int(ph * scale)), max(8, int(pw * scale))
        y, x = rng.integers(0, ph - ch + 1), rng.integers(0, pw - cw + 1)
        crop = Image.fromarray(photo[y : y + ch, x : x + cw])
        return colour_jitter(rng, np.asarray(crop.resize((width, height), Image.BILINEAR)))


# ---------------------------------------------------------------------------------------------------
# Overlay styles and rendering


@dataclass(frozen=True)
class OverlayStyle:
    """How one overlay line is drawn; ``kind`` names the social-video style."""

    kind: OverlayKind
    fill: tuple[int, int, int] = (255, 255, 255)
    stroke: tuple[int, int, int] = (0, 0, 0)
    stroke_ratio: float = 0.0
    box: tuple[int, int, int] = (255, 255, 255)
    box_alpha: float = 1.0
    shadow_offset: float = 0.0


def random_style(rng: np.random.Generator, kind: OverlayKind | None = None) -> OverlayStyle:
    kind = kind or OVERLAY_KINDS[rng.choice(len(OVERLAY_KINDS), p=(0.35, 0.2, 0.2, 0.15, 0.1))]
    light = PALETTE[rng.integers(0, 8)]
    dark = PALETTE[rng.integers(8, len(PALETTE))]
    if kind == "outline":
        return OverlayStyle(kind, fill=light, stroke=(0, 0, 0), stroke_ratio=rng.uniform(0.04, 0.12))
    if kind == "box":
        if rng.random() < 0.7:
            return OverlayStyle(kind, fill=dark, box=light, box_alpha=rng.uniform(0.85, 1.0))
        return OverlayStyle(kind, fill=light, box=dark, box_alpha=rng.uniform(0.85, 1.0))
    if kind == "shadow":
        return OverlayStyle(kind, fill=light, stroke=(0, 0, 0), shadow_offset=rng.uniform(0.04, 0.1))
    if kind == "band":
        return OverlayStyle(kind, fill=light, box=(0, 0, 0), box_alpha=rng.uniform(0.45, 0.75))
    return OverlayStyle(kind, fill=light)


@dataclass
class RenderedLine:
    """One rendered line: its text and ink box in layer coordinates."""

    text: str
    box: tuple[int, int, int, int]


@dataclass
class OverlayLayer:
    """An RGBA layer holding one or more overlay lines, to composite over any background."""

    rgba: np.ndarray
    lines: list[RenderedLine] = field(default_factory=list)


def _text_box(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, stroke: int):
    return draw.textbbox(xy, text, font=font, stroke_width=stroke, anchor="ls")


def draw_overlay_lines(
    size: tuple[int, int],
    texts: list[str],
    font_path: str,
    font_size: int,
    style: OverlayStyle,
    anchor_xy: tuple[float, float],
    align: Literal["center", "left", "right"] = "center",
    line_spacing: float = 1.3,
) -> OverlayLayer:
    """Draw ``texts`` as stacked lines into a transparent layer of ``size`` (width, height).

    ``anchor_xy`` is the horizontal anchor (by ``align``) and the baseline of the first line.
    """
    font = _font(font_path, font_size)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    shadow = Image.new("RGBA", size, (0, 0, 0, 0))
    draw, shadow_draw = ImageDraw.Draw(layer), ImageDraw.Draw(shadow)
    stroke = max(1, round(style.stroke_ratio * font_size)) if style.stroke_ratio else 0
    pad = round(0.22 * font_size)
    lines = []
    for row, text in enumerate(texts):
        baseline = anchor_xy[1] + row * line_spacing * font_size
        x0, _, x1, _ = _text_box(draw, (0, baseline), text, font, stroke)
        width = x1 - x0
        left = {"center": anchor_xy[0] - width / 2, "left": anchor_xy[0], "right": anchor_xy[0] - width}[align]
        xy = (left - x0, baseline)
        ink = _text_box(draw, xy, text, font, stroke)
        # The glyph box of the line's own characters; ascender-less lines ("...") still get a full-height box.
        ascent, descent = font.getmetrics()
        box = (ink[0], min(ink[1], round(baseline - 0.72 * ascent)), ink[2], max(ink[3], round(baseline + 0.1 * descent)))
        if style.kind in ("box", "band"):
            alpha = round(255 * style.box_alpha)
            if style.kind == "band":
                rect = (0, box[1] - pad, size[0], box[3] + pad)
            else:
                rect = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
            shadow_draw.rounded_rectangle(rect, radius=pad if style.kind == "box" else 0, fill=(*style.box, alpha))
        if style.kind == "shadow":
            offset = max(1, round(style.shadow_offset * font_size))
            shadow_draw.text((xy[0] + offset, xy[1] + offset), text, font=font, fill=(*style.stroke, 200), anchor="ls")
        draw.text(xy, text, font=font, fill=(*style.fill, 255), anchor="ls", stroke_width=stroke,
                  stroke_fill=(*style.stroke, 255))
        lines.append(RenderedLine(text, tuple(int(v) for v in box)))
    if style.kind == "shadow":
        shadow = shadow.filter(ImageFilter.GaussianBlur(max(1.0, 0.04 * font_size)))
    return OverlayLayer(np.asarray(Image.alpha_composite(shadow, layer)), lines)


def composite(background: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Alpha-blend an RGBA layer over an RGB background of the same size."""
    alpha = layer[..., 3:4].astype(np.float32) / 255.0
    out = background.astype(np.float32) * (1 - alpha) + layer[..., :3].astype(np.float32) * alpha
    return out.astype(np.uint8)


def _luma(rgb) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def readable_style(rng: np.random.Generator, style: OverlayStyle, background_patch: np.ndarray) -> OverlayStyle:
    """Plain text must contrast with what lies behind it, as a creator would make sure it does."""
    if style.kind != "plain":
        return style
    behind = float(background_patch.mean()) if background_patch.size else 128.0
    if abs(_luma(style.fill) - behind) >= 90:
        return style
    fill = (0, 0, 0) if behind > 128 else (255, 255, 255)
    return OverlayStyle("outline" if rng.random() < 0.5 else "plain", fill=fill, stroke=(0, 0, 0) if behind <= 128
                        else (255, 255, 255), stroke_ratio=0.06 if rng.random() < 0.5 else 0.0)


def degrade(rng: np.random.Generator, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Blur, noise, rescaling and JPEG compression, as a video encoder and resizing would."""
    pil = Image.fromarray(image)
    if rng.random() < 0.5 * strength:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.0)))
    if rng.random() < 0.3 * strength:
        w, h = pil.size
        f = rng.uniform(0.55, 0.9)
        pil = pil.resize((max(1, int(w * f)), max(1, int(h * f))), Image.BILINEAR).resize((w, h), Image.BILINEAR)
    out = np.asarray(pil).astype(np.float32)
    if rng.random() < 0.4 * strength:
        out += rng.normal(0, rng.uniform(2, 8), size=out.shape)
    pil = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    if rng.random() < 0.7 * strength:
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=int(rng.integers(35, 95)), subsampling=2)
        pil = Image.open(buffer).convert("RGB")
    return np.asarray(pil)


# ---------------------------------------------------------------------------------------------------
# Recogniser training samples


@dataclass(frozen=True)
class LineSample:
    image: np.ndarray  # H x W x 3 uint8, already cropped around the line
    text: str


class LineImageGenerator:
    """Text-line crops as the pipeline sees them: an overlay line on a frame, cropped with jitter.

    The crop margins imitate a text detector's boxes (tight to generous), so the recogniser does not
    depend on one particular detector's padding.
    """

    def __init__(self, split: Split = "train", shear: float = 0.3, handle_share: float = 0.06) -> None:
        self.fonts = list_fonts(split)
        self.texts = TextSampler(split, handle_share)
        self.backgrounds = BackgroundSampler(split)
        # Share of training lines slanted like an italic or oblique face (held-out lines keep their fonts' own).
        self.shear = shear if split == "train" else 0.0

    def __call__(self, rng: np.random.Generator) -> LineSample:
        text = self.texts.phrase(rng)
        font_path = self.fonts[rng.integers(len(self.fonts))]
        font_size = int(rng.integers(18, 64))
        style = random_style(rng)
        font = _font(font_path, font_size)
        text_width = int(font.getlength(text)) + 2 * font_size
        width, height = max(64, text_width + font_size), int(font_size * 2.6)
        background = self.backgrounds(rng, width, height)
        style = readable_style(rng, style, background)
        layer = draw_overlay_lines((width, height), [text], font_path, font_size, style,
                                   (width / 2, height * 0.62))
        x0, y0, x1, y1 = layer.lines[0].box
        h = y1 - y0
        frame = composite(background, layer.rgba)
        slant = float(rng.uniform(-0.3, 0.3)) if rng.random() < self.shear else 0.0
        if slant:
            # x_source = x + slant * (y - line centre): letters lean about the line's middle, which stays put.
            frame = np.asarray(Image.fromarray(frame).transform(
                (width, height), Image.AFFINE, (1, slant, -slant * (y0 + y1) / 2, 0, 1, 0), Image.BILINEAR,
                fillcolor=tuple(int(v) for v in background[height // 2, width // 2])))
        frame = degrade(rng, frame)
        # Detector-like margins: DB-style boxes are unclipped by about 0.3-0.6 of the line height.
        mx0, mx1 = rng.uniform(-0.05, 0.6, size=2) * h + abs(slant) * h / 2
        my0, my1 = rng.uniform(-0.05, 0.45, size=2) * h
        crop = (max(0, int(x0 - mx0)), max(0, int(y0 - my0)), min(width, int(x1 + mx1)), min(height, int(y1 + my1)))
        return LineSample(frame[crop[1] : crop[3], crop[0] : crop[2]].copy(), text)


# ---------------------------------------------------------------------------------------------------
# Whole overlay clips (demo video, benchmarks, detector checks)


@dataclass
class CaptionEvent:
    """Overlay lines that appear at ``start`` and leave at ``end`` (seconds)."""

    lines: list[str]
    start: float
    end: float
    layer: OverlayLayer | None = None


@dataclass
class ClipSpec:
    width: int
    height: int
    fps: int
    duration: float
    events: list[CaptionEvent]
    shots: list[tuple[float, np.ndarray]]  # (start time, source image to pan across)


def wrap_words(text: str, font: ImageFont.FreeTypeFont, max_width: float, max_lines: int = 2) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(lines[-1] + " " + word) <= max_width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines if len(lines) <= max_lines else []


class ClipGenerator:
    """Short social-style clips with known overlay lines: captions that change every 1.5-3 s, shot
    cuts, panning backgrounds, and optionally a persistent @handle or title."""

    def __init__(self, split: Split = "heldout") -> None:
        self.fonts = list_fonts(split)
        self.texts = TextSampler(split)
        self.backgrounds = BackgroundSampler(split)

    def _caption_lines(self, rng: np.random.Generator, font, max_width: float) -> list[str]:
        for _ in range(50):
            words = self.texts.words(rng, int(rng.integers(2, 10)))
            text = self.texts.recase(rng, " ".join(words))
            lines = wrap_words(text, font, max_width)
            if lines and all(any(c.isalnum() for c in line) for line in lines):
                return lines
        raise SynthError("could not fit a caption into the frame")

    def spec(self, rng: np.random.Generator, width: int, height: int, duration: float, fps: int = 30,
             persistent: bool = True) -> ClipSpec:
        short = min(width, height)
        font_path = self.fonts[rng.integers(len(self.fonts))]
        font_size = int(short * rng.uniform(0.05, 0.075))
        font = _font(font_path, font_size)
        style = random_style(rng)
        if style.kind == "plain":
            style = random_style(rng, "outline")
        events, t = [], float(rng.uniform(0.0, 0.5))
        y_anchor = height * rng.uniform(0.62, 0.78)
        while t < duration - 1.0:
            length = float(rng.uniform(1.5, 3.0))
            end = min(duration, t + length)
            lines = self._caption_lines(rng, font, width * 0.86)
            layer = draw_overlay_lines((width, height), lines, font_path, font_size, style, (width / 2, y_anchor))
            events.append(CaptionEvent(lines, round(t, 3), round(end, 3), layer))
            t = end + (float(rng.uniform(0.2, 0.6)) if rng.random() < 0.25 else 0.0)
        if persistent and rng.random() < 0.7:
            handle_size = int(short * rng.uniform(0.035, 0.05))
            if rng.random() < 0.5:
                text = self.texts.handle(rng, self.texts.words(rng, 2))
            else:
                text = self.texts.recase(rng, " ".join(self.texts.words(rng, int(rng.integers(2, 4)))))
            corner_left = rng.random() < 0.5
            x = width * 0.05 if corner_left else width * 0.95
            y = height * rng.uniform(0.06, 0.12)
            hstyle = random_style(rng, "shadow" if rng.random() < 0.5 else "box")
            layer = draw_overlay_lines((width, height), [text], font_path, handle_size, hstyle, (x, y),
                                       align="left" if corner_left else "right")
            events.append(CaptionEvent([text], 0.0, round(duration, 3), layer))
        shots, t = [], 0.0
        while t < duration:
            shots.append((t, self.backgrounds.source(rng) if rng.random() < 0.75 else
                          _procedural(rng, self.backgrounds.procedural[rng.integers(len(self.backgrounds.procedural))],
                                      width // 2, height // 2)))
            t += float(rng.uniform(2.0, 5.0))
        return ClipSpec(width, height, fps, duration, events, shots)

    def ground_truth(self, spec: ClipSpec) -> list[dict]:
        """The lines a perfect extractor would return, in the JSON format of :mod:`reelkit.text.formats`."""
        return [
            {"text": line.text, "start": event.start, "end": event.end, "box": list(line.box), "confidence": 1.0}
            for event in spec.events
            for line in event.layer.lines
        ]


def render_frame(spec: ClipSpec, t: float, motion: float = 0.06) -> np.ndarray:
    """The frame of ``spec`` at time ``t``: a slowly panning and zooming background plus overlays."""
    shot_start, source = [s for s in spec.shots if s[0] <= t][-1]
    sh, sw = source.shape[:2]
    aspect = spec.width / spec.height
    ch = min(sh, sw / aspect) * (0.8 - motion * (t - shot_start) / 5.0)
    cw = ch * aspect
    progress = min(1.0, (t - shot_start) / 5.0)
    x = (sw - cw) * (0.2 + 0.6 * progress)
    y = (sh - ch) * 0.5
    background = Image.fromarray(source).resize(
        (spec.width, spec.height), Image.BILINEAR, box=(x, y, x + cw, y + ch)
    )
    frame = np.asarray(background)
    for event in spec.events:
        if event.start <= t < event.end:
            frame = composite(frame, event.layer.rgba)
    return frame


def write_clip(spec: ClipSpec, path: str | Path, crf: int = 23, on_frame: Callable[[], None] | None = None) -> None:
    """Encode ``spec`` as H.264 (yuv420p) with PyAV; ``on_frame`` is called after each frame."""
    from reelkit.video.encode import write_h264

    def frames() -> Iterator[np.ndarray]:
        for index in range(int(round(spec.duration * spec.fps))):
            yield render_frame(spec, index / spec.fps)
            if on_frame:
                on_frame()

    write_h264(path, frames(), spec.fps, crf)
