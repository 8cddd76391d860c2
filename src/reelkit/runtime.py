"""Inference in onnxruntime: a trained PyTorch module exported to ONNX in memory, the same network and
weights, run by onnxruntime's CPU kernels (faster than PyTorch's eager kernels for reelkit's small
networks; measured in docs/benchmarks.md)."""

from __future__ import annotations

import io
import warnings
from typing import Sequence

import torch
from torch import nn


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
    ``threads`` intra-op threads (None: every core)."""
    import onnxruntime as ort

    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the tracer warns about shapes it records as constants
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (example,), buffer, input_names=["input"], output_names=list(output_names),
                          dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)
    return ort.InferenceSession(buffer.getvalue(), session_options(threads), providers=["CPUExecutionProvider"])
