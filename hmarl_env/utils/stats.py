"""Confidence intervals for episode-level KPIs."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["RunningMean", "mean_ci"]


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval.

    NaN entries are ignored; fewer than two finite values give a NaN half-width.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    if x.size < 2:
        return float(x.mean()), math.nan
    sem = x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(stats.t.ppf(0.5 + level / 2, x.size - 1) * sem)


class RunningMean:
    """The mean reward that reward centring subtracts (Naik et al., "Reward
    Centering", 2024): an exponential average of the batches' (or episodes')
    mean rewards with step ``rate``, started at the first one's mean. RLlib's
    learner, the other libraries' recipes and
    :class:`hmarl_env.wrappers.ScaledRewards` keep one per policy."""

    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"centring rate must be in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.value: float | None = None

    def update(self, batch_mean: float) -> float:
        """Take in a batch's mean reward; the mean to subtract from that batch."""
        old = self.value
        self.value = batch_mean if old is None else old + self.rate * (batch_mean - old)
        return self.value
