"""The reconciliation ledger: what happened at every node in one period.

A :class:`Ledger` holds one period for a batch of replicas: each node field is
an array of shape ``(B, N)`` (replica, node in scenario order), each supplier
field shape ``(B,)``. Quantities are in units, costs in the scenario's money.

Node fields:

=================  ===============================================================
opening            on hand at the start of the period, before arrivals
received           shipments that arrived this period
demand             stores: customer demand; warehouses: units ordered by children
sold               stores: units handed to customers (backlog served included)
lost               stores: demand lost this period (lost-sales mode)
ordered            units this node ordered from its parent (root: from the supplier)
inbound            units its parent (root: the supplier) shipped to it this period
shipped            units this node shipped to its children
inbound_backlog    units it ordered that its parent still owes it, end of period
backlog            stores: customer demand waiting; warehouses: units owed to children
closing            on hand at the end of the period
in_transit         units shipped to this node that have not arrived, end of period
holding_cost       closing * holding cost
transit_cost       in_transit * the parent's holding cost (if in-transit holding is on)
stockout_cost      (lost + backlog) * stockout cost
order_cost         fixed cost if the node ordered
total_cost         the sum of the four costs
=================  ===============================================================

Supplier fields: ``supplier_overtime`` (units released above regular capacity),
``supplier_overtime_cost`` and ``supplier_backlog_cost``; what the supplier
received, released and owes are the root's ``ordered``, ``inbound`` and
``inbound_backlog``.

Invariants: ``closing = opening + received - shipped - sold`` at every node, and
over the whole chain, everything the supplier released plus the initial stock
equals what was sold plus what is on hand plus what is in transit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

__all__ = ["NODE_FIELDS", "SUPPLIER_FIELDS", "Ledger", "ledgers_to_frame"]

NODE_FIELDS = (
    "opening",
    "received",
    "demand",
    "sold",
    "lost",
    "ordered",
    "inbound",
    "shipped",
    "inbound_backlog",
    "backlog",
    "closing",
    "in_transit",
    "holding_cost",
    "transit_cost",
    "stockout_cost",
    "order_cost",
    "total_cost",
)
SUPPLIER_FIELDS = (
    "supplier_overtime",
    "supplier_overtime_cost",
    "supplier_backlog_cost",
)


class Ledger(NamedTuple):
    """One period's reconciliation for a batch of replicas (see the module docstring).

    Its arrays are shared with the simulation's state: treat them as read-only.
    """

    period: int
    node_names: tuple[str, ...]
    opening: np.ndarray
    received: np.ndarray
    demand: np.ndarray
    sold: np.ndarray
    lost: np.ndarray
    ordered: np.ndarray
    inbound: np.ndarray
    shipped: np.ndarray
    inbound_backlog: np.ndarray
    backlog: np.ndarray
    closing: np.ndarray
    in_transit: np.ndarray
    holding_cost: np.ndarray
    transit_cost: np.ndarray
    stockout_cost: np.ndarray
    order_cost: np.ndarray
    total_cost: np.ndarray
    supplier_overtime: np.ndarray
    supplier_overtime_cost: np.ndarray
    supplier_backlog_cost: np.ndarray

    def row(self, node: str | int, replica: int = 0) -> dict[str, float]:
        """Every node field of one node and replica as plain floats."""
        i = self.node_names.index(node) if isinstance(node, str) else int(node)
        out = {"period": float(self.period)}
        for name in NODE_FIELDS:
            out[name] = float(getattr(self, name)[replica, i])
        return out

    def balance_error(self) -> float:
        """Largest ``|closing - (opening + received - shipped - sold)|``."""
        gap = self.closing - (self.opening + self.received - self.shipped - self.sold)
        return float(np.abs(gap).max())


def ledgers_to_frame(ledgers: Iterable[Ledger]):
    """A long pandas DataFrame: one row per period, replica and node."""
    import pandas as pd

    frames = []
    for led in ledgers:
        B, N = led.closing.shape
        cols = {
            "period": np.full(B * N, led.period),
            "replica": np.repeat(np.arange(B), N),
            "node": np.tile(np.array(led.node_names, dtype=object), B),
        }
        for name in NODE_FIELDS:
            cols[name] = getattr(led, name).reshape(-1)
        frames.append(pd.DataFrame(cols))
    if not frames:
        return pd.DataFrame(columns=["period", "replica", "node", *NODE_FIELDS])
    return pd.concat(frames, ignore_index=True)
