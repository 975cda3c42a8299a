"""Confidence intervals for episode-level KPIs."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["mean_ci"]


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
