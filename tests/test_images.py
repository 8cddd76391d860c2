"""The shared still-image reader: every unusable file is one line in the caller's error type."""

import numpy as np
import pytest
from PIL import Image

from reelkit.errors import FaceError
from reelkit.images import read_image


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such image file"),
    ("directory", "is a folder"),
    ("empty", "empty file"),
    ("not_an_image", "not an image format"),
    ("truncated", "corrupt or truncated"),
    ("video", "a video, where a still image is wanted"),
])
def test_bad_images_raise_the_callers_error(tmp_path, demo_video, kind, message):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    assert read_image(good).shape == (64, 64, 3)
    paths = {"missing": tmp_path / "missing.png", "directory": tmp_path, "empty": tmp_path / "empty.png",
             "not_an_image": tmp_path / "notes.png", "truncated": tmp_path / "truncated.png", "video": demo_video}
    paths["empty"].write_bytes(b"")
    paths["not_an_image"].write_text("not an image")
    paths["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FaceError, match=message) as raised:
        read_image(paths[kind], FaceError)
    assert "\n" not in str(raised.value)


def _portrait() -> np.ndarray:
    upright = np.zeros((96, 64, 3), np.uint8)
    upright[:24, :24] = (255, 0, 0)  # a red square at the top left, as the photo is shown
    return upright


def _is_portrait(rgb: np.ndarray) -> bool:
    return (rgb.shape == (96, 64, 3) and rgb[:24, :24, 0].mean() > 200 and rgb[:24, :24, 1:].mean() < 60
            and rgb[40:, 40:].mean() < 30)


def test_a_phone_photo_is_read_upright(tmp_path):
    # A portrait photo as a phone stores it: landscape pixels, and EXIF orientation 6 (turn 90 degrees clockwise).
    stored = np.ascontiguousarray(np.rot90(_portrait(), 1))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    assert _is_portrait(read_image(path))


def test_heic_photos_are_read(tmp_path):
    path = tmp_path / "portrait.heic"  # what iPhones save photos as (libheif applies its own rotation box)
    Image.fromarray(_portrait()).save(path, quality=95)
    assert _is_portrait(read_image(path))


def test_large_photos_are_read_quietly_and_huge_ones_refused(tmp_path, monkeypatch, recwarn):
    # Pillow's bomb check scaled down: it warns above MAX_IMAGE_PIXELS (a 108-MP phone photo passes its 89 MP)
    # and refuses twice that.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    large, huge = tmp_path / "large.png", tmp_path / "huge.png"
    Image.new("RGB", (40, 40)).save(large)
    Image.new("RGB", (50, 50)).save(huge)
    assert read_image(large).shape == (40, 40, 3)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
    with pytest.raises(FaceError, match=r"too large to decode safely \(more than \d+ megapixels\)"):
        read_image(huge, FaceError)
