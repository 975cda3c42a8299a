"""Seeds as every entry point takes them: whole numbers numpy can seed with."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FAMILY_TEST_SEED", "HELD_OUT_SEED", "HELD_OUT_SEEDS", "check_seed"]

#: the first held-out episode seed: evaluations, gates, comparisons and tuning
#: verdicts use seeds from here on, which no training or tuning ever draws
HELD_OUT_SEED = 1_000_000
#: the held-out episode seeds; a trace bank keeps part of every series for
#: them alone (:class:`hmarl_env.demand.TraceBank`). Seeds above (the
#: monitoring episodes' from 2,000,000) draw from the training part.
HELD_OUT_SEEDS = range(HELD_OUT_SEED, 2_000_000)
#: the first seed of a family's test instances (benchmarks/generalization.py,
#: benchmarks/chain_family.py): a stream apart from training's draws and from
#: the held-out (1,000,000) and monitoring (2,000,000) episodes
FAMILY_TEST_SEED = 3_000_000


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` as an ``int`` if it is a whole number >= 0 (numpy's generators
    take no other), else a ``ValueError`` that names ``what`` and the value."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{what} must be a whole number >= 0, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{what} must be >= 0, got {seed}")
    return int(seed)
