"""The onnxruntime bridge: exports are cached by what they depend on, and a bad cache costs only the export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from reelkit import runtime
from reelkit.runtime import export_key, onnx_session


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "reelkit" / "onnx"


def _network(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def _run(session, images: torch.Tensor) -> np.ndarray:
    return session.run(None, {"input": images.numpy()})[0]


def _no_export(*args, **kwargs):
    raise AssertionError("exported again instead of reading the cache")


def test_an_export_is_cached_and_read_back_without_tracing(cache_home: Path, monkeypatch: pytest.MonkeyPatch):
    network, example = _network(), torch.zeros(1, 1, 8, 8)
    images = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        expected = network(images).numpy()
    axes = {"input": {0: "batch"}, "output": {0: "batch"}}
    np.testing.assert_allclose(_run(onnx_session(network, example, ["output"], axes), images), expected, atol=1e-5)
    assert [p.name for p in cache_home.iterdir()] == [f"{export_key(network, example, ['output'], axes)}.onnx"]
    monkeypatch.setattr(runtime, "export_onnx", _no_export)
    np.testing.assert_allclose(_run(onnx_session(network, example, ["output"], axes), images), expected, atol=1e-5)


def test_changed_weights_or_settings_are_exported_again(cache_home: Path):
    example, images = torch.zeros(1, 1, 8, 8), torch.rand(2, 1, 8, 8)
    axes = {"input": {0: "batch"}, "output": {0: "batch"}}
    first, second = _network(0), _network(1)
    onnx_session(first, example, ["output"], axes)
    with torch.no_grad():
        expected = second(images).numpy()
    # Same code and shapes, other weights: a key from the architecture alone would hand back the first network.
    np.testing.assert_allclose(_run(onnx_session(second, example, ["output"], axes), images), expected, atol=1e-5)
    keys = {export_key(first, example, ["output"], axes), export_key(second, example, ["output"], axes),
            export_key(first, torch.zeros(1, 1, 16, 16), ["output"], axes), export_key(first, example, ["output"], None)}
    assert len(keys) == 4
    assert len(list(cache_home.iterdir())) == 2


def test_a_damaged_cache_file_is_replaced(cache_home: Path):
    network, example, images = _network(), torch.zeros(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    path = cache_home / f"{export_key(network, example, ['output'], None)}.onnx"
    cache_home.mkdir(parents=True)
    path.write_bytes(b"not an onnx model")
    with torch.no_grad():
        expected = network(images).numpy()
    np.testing.assert_allclose(_run(onnx_session(network, example, ["output"]), images), expected, atol=1e-5)
    assert path.read_bytes().startswith(b"\x08")  # a protobuf ModelProto again (field 1, ir_version)


def test_an_unwritable_cache_only_costs_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("the cache folder cannot be made under a file")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    network, example, images = _network(), torch.zeros(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        expected = network(images).numpy()
    np.testing.assert_allclose(_run(onnx_session(network, example, ["output"]), images), expected, atol=1e-5)
    assert blocker.is_file()
