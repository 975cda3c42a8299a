"""How the quality benchmarks report a sample: its mean with a 95% CI, in
their JSON and in their tables."""

from __future__ import annotations

import numpy as np

from hmarl_env.utils.stats import mean_ci


def ci(x) -> dict[str, float]:
    """Mean and 95% CI half-width of a sample, as the benchmarks' JSON holds them."""
    m, h = mean_ci(np.asarray(x, dtype=np.float64))
    return {"mean": m, "ci95": h}


def fmt(entry: dict | None, digits: int = 3) -> str:
    """``mean ± ci95`` of a :func:`ci` entry, or ``-`` where there is none."""
    if entry is None:
        return "-"
    return f"{entry['mean']:.{digits}f} ± {entry['ci95']:.{digits}f}"
