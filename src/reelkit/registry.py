"""Models by name: ``create_model("crnn_small", pretrained=True)`` builds the model from its named
config and loads the weights file shipped inside the package (``reelkit/weights/<name>.safetensors``).

Weights are never fetched from a URL. A missing weights file is a :class:`~reelkit.errors.WeightsError`
that names the command that trains it.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from reelkit.errors import WeightsError

WEIGHTS_DIR = Path(__file__).parent / "weights"
# Modules that register models when imported; create_model imports them on first use.
_PROVIDERS = ("reelkit.text.models", "reelkit.gan.models", "reelkit.headlines.models", "reelkit.popularity.models",
              "reelkit.faces.models", "reelkit.segment.layered.models",
              "reelkit.segment.move.models")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[[], torch.nn.Module]
    train_command: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, train_command: str) -> Callable[[Callable[[], torch.nn.Module]], Callable[[], torch.nn.Module]]:
    """Decorator registering a zero-argument builder under ``name``."""

    def decorate(builder: Callable[[], torch.nn.Module]) -> Callable[[], torch.nn.Module]:
        _REGISTRY[name] = ModelEntry(name, builder, train_command)
        return builder

    return decorate


def _load_providers() -> None:
    for module in _PROVIDERS:
        importlib.import_module(module)


def list_models() -> list[str]:
    _load_providers()
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    _load_providers()
    if name not in _REGISTRY:
        raise WeightsError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


def create_model(name: str, pretrained: bool = False, weights: str | Path | None = None) -> torch.nn.Module:
    """Build model ``name``; with ``pretrained`` load its shipped weights, or those at ``weights``."""
    entry = model_entry(name)
    model = entry.builder()
    if pretrained or weights is not None:
        path = Path(weights) if weights is not None else weights_path(name)
        if not path.is_file():
            raise WeightsError(f"no weights for {name!r} at {path}: train them with `{entry.train_command}`")
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise WeightsError(f"weights file {path} is unreadable ({error}); retrain with `{entry.train_command}`") from None
        model_state = model.state_dict()
        mismatched = [k for k in model_state if k not in state or state[k].shape != model_state[k].shape]
        if mismatched:
            raise WeightsError(
                f"weights file {path} does not match model {name!r} ({len(mismatched)} tensors differ); "
                f"retrain with `{entry.train_command}`"
            )
        model.load_state_dict({k: v.to(model_state[k].dtype) for k, v in state.items()})
        model.eval()
    return model


def save_weights(model: torch.nn.Module, path: str | Path, metadata: dict[str, object]) -> None:
    """Save a state dict as safetensors with JSON-encoded metadata (config, metrics, command)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in metadata.items()})
    tmp.replace(path)


def read_metadata(path: str | Path) -> dict[str, object]:
    """The JSON metadata that :func:`save_weights` stored in a weights file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {k: json.loads(v) for k, v in (handle.metadata() or {}).items()}
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"weights file {path} is unreadable ({error})") from None
