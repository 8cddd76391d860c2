"""Inference in onnxruntime: a trained PyTorch module exported to ONNX, the same network and weights, run by
onnxruntime's CPU kernels (faster than PyTorch's eager kernels for reelkit's small networks; measured in
docs/benchmarks.md). Exports are kept in reelkit's cache: tracing costs about a second a network at every start."""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from reelkit.cache import cache_dir, save_atomically

OPSET = 17


RUNTIMES = ("onnxruntime", "torch")


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")


def session_options(threads: int | None = 1):
    """onnxruntime options for reelkit's sessions: ``threads`` intra-op threads (None: every core) that sleep
    when idle. By default idle workers spin, on the cores that the video decoder and the next network need
    (the overlay benchmark runs about 25 % faster without it; docs/benchmarks.md)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def onnx_session(module: nn.Module, example: torch.Tensor, output_names: Sequence[str],
                 dynamic_axes: dict[str, dict[int, str]] | None = None, threads: int | None = 1):
    """``module`` (in eval mode) traced on ``example`` (input name "input") and loaded in onnxruntime with
    ``threads`` intra-op threads (None: every core). The export is read from reelkit's cache when one of the same
    code, weights and export settings is there (:func:`export_key`), and stored there otherwise."""
    module.eval()
    return cached_session(export_key(module, example, output_names, dynamic_axes),
                          lambda: export_onnx(module, (example,), ["input"], output_names, dynamic_axes), threads)


def cached_session(key: str, export: Callable[[], bytes], threads: int | None = 1):
    """An onnxruntime session of the network cached under ``key``; ``export()`` makes it (and it is cached) when
    the cache has none, or a damaged one."""
    import onnxruntime as ort

    path = cache_dir("onnx") / f"{key}.onnx"
    try:
        return ort.InferenceSession(path.read_bytes(), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception:  # not cached yet, or a damaged file (onnxruntime raises its own error types)
        exported = export()
        session = ort.InferenceSession(exported, session_options(threads), providers=["CPUExecutionProvider"])
        save_atomically(path, lambda handle: handle.write(exported))
        return session


def export_onnx(module: nn.Module, examples: tuple[torch.Tensor, ...], input_names: Sequence[str],
                output_names: Sequence[str], dynamic_axes: dict[str, dict[int, str]] | None = None) -> bytes:
    """``module`` traced on ``examples`` as an ONNX model (bytes)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the tracer warns about shapes it records as constants
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), examples, buffer, input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=OPSET,
                          dynamo=False)
    return buffer.getvalue()


def export_key(module: nn.Module, example: torch.Tensor, output_names: Sequence[str],
               dynamic_axes: dict[str, dict[int, str]] | None) -> str:
    """A hash of everything an export depends on: torch's version, the export settings, the example's shape,
    the module tree, the source files of the classes in it (their ``forward`` and its helpers), and every
    parameter and buffer."""
    digest = hashlib.sha256(json.dumps([torch.__version__, OPSET, list(example.shape), str(example.dtype),
                                        list(output_names), dynamic_axes, repr(module)], default=str).encode())
    sources = sorted({source for source in map(_source_file, {type(m) for m in module.modules()}) if source})
    for source in sources:
        digest.update(Path(source).read_bytes())
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


def _source_file(cls: type) -> str | None:
    """The file defining ``cls``, for classes outside torch (torch's own are covered by its version)."""
    if cls.__module__.split(".")[0] == "torch":
        return None
    try:
        return inspect.getsourcefile(sys.modules[cls.__module__])
    except (KeyError, TypeError):
        return None
