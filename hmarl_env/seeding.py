"""Seeds as every entry point takes them: whole numbers numpy can seed with."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_seed"]


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` as an ``int`` if it is a whole number >= 0 (numpy's generators
    take no other), else a ``ValueError`` that names ``what`` and the value."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{what} must be a whole number >= 0, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{what} must be >= 0, got {seed}")
    return int(seed)
