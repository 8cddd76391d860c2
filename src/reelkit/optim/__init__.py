"""Research optimisers with the ``torch.optim`` API, and optimisers by name for reelkit's trainers."""

from reelkit.optim.factory import OPTIMIZERS, make_optimizer, uses_momentum
from reelkit.optim.kafisto import KaFiStO

__all__ = ["KaFiStO", "OPTIMIZERS", "make_optimizer", "uses_momentum"]
