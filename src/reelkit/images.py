"""Reading still images for the commands that take pictures as well as videos (faces, segment): any format
Pillow reads, plus HEIC/HEIF (what iPhones save photos as) through pillow-heif, shown upright as a phone's EXIF
orientation says."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from reelkit.errors import ReelkitError

register_heif_opener()


def read_image(path: str | Path, error: type[ReelkitError] = ReelkitError) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); anything unusable raises ``error`` with a one-line reason."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise error(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise error(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 megapixels, which a 108-MP phone photo passes; it refuses twice that, below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                # Phones store a portrait photo as landscape sensor pixels plus an EXIF orientation that turns it.
                rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except UnidentifiedImageError:
        from reelkit.video import VIDEO_SUFFIXES

        if path.suffix.lower() in VIDEO_SUFFIXES:
            raise error(f"{path}: a video, where a still image is wanted; `reelkit thumbnails VIDEO -o OUT` writes "
                        "a video's best frames as JPEG") from None
        raise error(f"{path}: not an image format reelkit reads (PNG, JPEG, HEIC, WebP, BMP, ...)") from None
    except Image.DecompressionBombError:
        raise error(f"{path}: image too large to decode safely (more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
                    "megapixels)") from None
    except (OSError, ValueError) as failure:
        reason = str(failure).splitlines()[0] if str(failure) else "truncated?"
        raise error(f"{path}: cannot read the image ({reason}); is it corrupt or truncated?") from None
    if rgb.size == 0:
        raise error(f"{path}: the image is empty")
    return rgb
