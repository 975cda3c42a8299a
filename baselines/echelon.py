"""Echelon base-stock policy (Clark & Scarf; optimal for serial chains with backorders).

Every node orders what brings its echelon inventory position (its own stock
and everything below it, in transit and on order, less customer backlog) back
up to its echelon base-stock level.
"""

from __future__ import annotations

import numpy as np

__all__ = ["echelon_base_stock_orders"]


def echelon_base_stock_orders(
    echelon_position: np.ndarray, levels: np.ndarray | list[float]
) -> np.ndarray:
    """Orders ``max(0, S_j - echelon_position_j)`` for a batch.

    Args:
        echelon_position: ``(B, N)`` echelon inventory positions, as
            :attr:`hmarl_env.core.Simulation.echelon_inventory_position` gives.
        levels: ``(N,)`` echelon base-stock levels in node order.

    Returns:
        ``(B, N)`` non-negative order quantities.
    """
    levels = np.asarray(levels, dtype=np.float64)
    if levels.shape != echelon_position.shape[-1:]:
        raise ValueError(
            f"levels must have one entry per node "
            f"({echelon_position.shape[-1]}), got shape {levels.shape}"
        )
    return np.maximum(levels - echelon_position, 0.0)
