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
