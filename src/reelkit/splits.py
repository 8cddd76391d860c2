"""Train / validation / test splits of a data set, as row indices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Row indices of the three parts, and the recipe that drew them (model cards quote it)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    recipe: str
