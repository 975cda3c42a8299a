"""Echelon base-stock policy (Clark & Scarf; optimal for serial chains with backorders).

Every node orders what brings its echelon inventory position (its own stock
and everything below it, in transit and on order, less customer backlog) back
up to its echelon base-stock level.
"""

from __future__ import annotations

import numpy as np

from baselines.order_up_to import order_up_to

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
    return order_up_to(echelon_position, levels)
