"""Research optimisers with the ``torch.optim`` API, and optimisers by name for reelkit's trainers."""

from reelkit.optim.factory import (OPTIMIZERS, backward_and_step, make_optimizer, schedule_lr, step_optimizer,
                                   uses_momentum)
from reelkit.optim.kafisto import KaFiStO

__all__ = ["KaFiStO", "OPTIMIZERS", "backward_and_step", "make_optimizer", "schedule_lr", "step_optimizer",
           "uses_momentum"]
