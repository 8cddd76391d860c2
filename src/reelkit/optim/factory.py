"""Optimisers by name, shared by every ``reelkit train`` command (``--optim``)."""

from __future__ import annotations

from typing import Iterable

import torch

from reelkit.optim.kafisto import KaFiStO

OPTIMIZERS = ("adam", "adamw", "sgd", "adadelta", "kafisto")


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float | None = None,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``lr=None`` takes each optimiser's own default (KaFiStO's 1.0 needs no tuning)."""
    def chosen(default: float) -> float:
        return default if lr is None else lr

    if name == "adam":
        return torch.optim.Adam(params, lr=chosen(1e-3), weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=chosen(1e-3), weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=chosen(0.1), momentum=0.9, weight_decay=weight_decay)
    if name == "adadelta":  # the CRNN paper's optimiser (Sec. 3.2, rho = 0.9)
        return torch.optim.Adadelta(params, lr=chosen(1.0), rho=0.9, weight_decay=weight_decay)
    if name == "kafisto":
        return KaFiStO(params, lr=chosen(1.0), weight_decay=weight_decay)
    raise ValueError(f"unknown optimiser {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def uses_momentum(optimizer: torch.optim.Optimizer) -> bool:
    """Whether a one-cycle schedule can cycle this optimiser's momentum."""
    defaults = optimizer.defaults
    return "betas" in defaults or bool(defaults.get("momentum"))


def step_optimizer(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """``optimizer.step()`` after the caller's ``backward``; KaFiStO is also given the loss, its measurement
    (a 1-D tensor of per-sample losses, or their mean)."""
    if isinstance(optimizer, KaFiStO):
        optimizer.step(loss=loss.detach())
    else:
        optimizer.step()


def backward_and_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """Zero the gradients, back-propagate the mean of ``loss`` and step."""
    optimizer.zero_grad(set_to_none=True)
    loss.mean().backward()
    step_optimizer(optimizer, loss)


def schedule_lr(optimizer_name: str, lr: float, peak_lr: float) -> float:
    """A learning rate from a schedule built for gradient-step optimisers, for ``optimizer_name``: KaFiStO's
    ``lr`` is the share of the loss it aims to remove each step (1 at its default), so it follows the
    schedule's shape from 1 instead of its values."""
    return lr / peak_lr if optimizer_name == "kafisto" and peak_lr > 0 else lr
