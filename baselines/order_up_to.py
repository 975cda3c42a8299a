"""Order-up-to (base-stock) policies on the simulation core's continuous orders.

These act on :class:`hmarl_env.core.Simulation` state directly (order
quantities, not the env's discrete actions): the reference points of
inventory theory.
"""

from __future__ import annotations

import math

import numpy as np

from hmarl_env.scenario import Scenario

__all__ = ["local_base_stock_levels", "order_up_to"]


def local_base_stock_levels(
    scenario: Scenario, safety_factor: float = 1.65
) -> np.ndarray:
    """A textbook local base-stock level per node.

    Each node covers the demand that flows through it over its lead time plus
    one review period, with ``safety_factor`` standard deviations of safety
    stock: ``S = mu * (L + 1) + z * sigma * sqrt(L + 1)``.
    """
    if not math.isfinite(safety_factor):
        raise ValueError(f"safety_factor must be finite, got {safety_factor!r}")
    cover = scenario.lead_times + 1.0
    return scenario.mean_demand * cover + safety_factor * scenario.demand_std * np.sqrt(
        cover
    )


def order_up_to(inventory_position: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Orders ``max(0, S - inventory position)`` for a ``(B, N)`` batch."""
    levels = np.asarray(levels, dtype=np.float64)
    if levels.shape != inventory_position.shape[-1:]:
        raise ValueError(
            f"levels must have one entry per node ({inventory_position.shape[-1]}), "
            f"got shape {levels.shape}"
        )
    return np.maximum(levels - inventory_position, 0.0)
