"""Grad-CAM (Selvaraju et al., ICCV 2017) through forward and tensor hooks on any convolutional layer."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class GradCAM:
    """Class-activation maps of a scalar output with respect to the activations of ``layer``.

    Eq. 1: alpha_k = mean_{ij} d y / d A^k_ij;  eq. 2: L = ReLU(sum_k alpha_k A^k).
    Use as a context manager so the hook is removed afterwards.
    """

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer
        self.activations: torch.Tensor | None = None
        self.gradients: torch.Tensor | None = None
        self._handle = layer.register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self.activations = output
        if output.requires_grad:
            output.register_hook(self._keep_gradient)

    def _keep_gradient(self, gradient: torch.Tensor) -> None:
        self.gradients = gradient

    def __call__(self, forward: Callable[[], torch.Tensor], size: tuple[int, int] | None = None,
                 joint: bool = False) -> torch.Tensor:
        """Run ``forward`` (returning a scalar), backpropagate it, return maps (N, h, w) scaled to [0, 1]:
        each by its own peak, or with ``joint`` all by the largest peak, so that frames that matter less
        to the output stay cooler."""
        with torch.enable_grad():
            output = forward()
            if output.numel() != 1:
                raise ValueError("Grad-CAM explains one scalar; reduce the output first")
            output.backward()
        if self.activations is None or self.gradients is None:
            raise RuntimeError("the Grad-CAM layer was not part of the forward pass")
        weights = self.gradients.mean(dim=(2, 3), keepdim=True)  # eq. 1
        maps = torch.relu((weights * self.activations).sum(1)).detach()  # eq. 2
        if size is not None:
            maps = F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
        peak = maps.flatten(1).max(1).values
        peak = peak.max().expand_as(peak) if joint else peak
        return maps / peak.clamp_min(1e-12).view(-1, 1, 1)

    def remove(self) -> None:
        self._handle.remove()

    def __enter__(self) -> "GradCAM":
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
