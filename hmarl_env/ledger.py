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
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

__all__ = [
    "NODE_FIELDS",
    "SUPPLIER_FIELDS",
    "Ledger",
    "NodeField",
    "SupplierField",
    "ledgers_to_frame",
]


class NodeField(IntEnum):
    """Each node field's row in :attr:`Ledger.nodes` (its axis 1)."""

    opening = 0
    received = 1
    demand = 2
    sold = 3
    lost = 4
    ordered = 5
    inbound = 6
    shipped = 7
    inbound_backlog = 8
    backlog = 9
    closing = 10
    in_transit = 11
    holding_cost = 12
    transit_cost = 13
    stockout_cost = 14
    order_cost = 15
    total_cost = 16


class SupplierField(IntEnum):
    """Each supplier field's column in :attr:`Ledger.supplier`."""

    supplier_overtime = 0
    supplier_overtime_cost = 1
    supplier_backlog_cost = 2


NODE_FIELDS = tuple(f.name for f in NodeField)
SUPPLIER_FIELDS = tuple(f.name for f in SupplierField)


class Ledger:
    """One period's reconciliation for a batch of replicas (see the module docstring).

    Every node field is an attribute of shape ``(B, N)``, every supplier field
    one of shape ``(B,)``. They are views of two blocks that the simulation
    writes once per period and never touches again: ``nodes``, shape
    ``(B, len(NODE_FIELDS), N)``, and ``supplier``, shape
    ``(B, len(SUPPLIER_FIELDS))``, fields in the order of those tuples (each
    replica's period in one place, which keeps large batches cache-friendly).

    Args:
        period: the period reconciled.
        node_names: the scenario's node names, in node order.
        nodes, supplier: the two blocks.
    """

    __slots__ = ("period", "node_names", "nodes", "supplier")

    if TYPE_CHECKING:  # the fields are properties added below, one per name

        def __getattr__(self, field: str) -> np.ndarray: ...

    def __init__(
        self,
        period: int,
        node_names: tuple[str, ...],
        nodes: np.ndarray,
        supplier: np.ndarray,
    ) -> None:
        self.period = period
        self.node_names = node_names
        self.nodes = nodes
        self.supplier = supplier

    @classmethod
    def from_fields(
        cls, period: int, node_names: tuple[str, ...], **fields: np.ndarray
    ) -> Ledger:
        """A ledger from every field of NODE_FIELDS and SUPPLIER_FIELDS, by name."""
        missing = [f for f in (*NODE_FIELDS, *SUPPLIER_FIELDS) if f not in fields]
        unknown = sorted(set(fields) - set(NODE_FIELDS) - set(SUPPLIER_FIELDS))
        if missing or unknown:
            raise ValueError(
                f"a ledger needs every field once; missing {missing}, unknown {unknown}"
            )
        nodes = np.stack(
            [np.asarray(fields[f], dtype=np.float64) for f in NODE_FIELDS], axis=1
        )
        supplier = np.stack(
            [np.asarray(fields[f], dtype=np.float64) for f in SUPPLIER_FIELDS], axis=1
        )
        return cls(period, tuple(node_names), nodes, supplier)

    def replace(self, **fields: np.ndarray) -> Ledger:
        """A copy with some fields replaced (the original is left as it is)."""
        current = {f: getattr(self, f) for f in (*NODE_FIELDS, *SUPPLIER_FIELDS)}
        unknown = sorted(set(fields) - set(current))
        if unknown:
            raise ValueError(f"unknown ledger fields {unknown}")
        current.update(fields)
        return Ledger.from_fields(self.period, self.node_names, **current)

    def __repr__(self) -> str:
        B, _, N = self.nodes.shape
        return f"Ledger(period={self.period}, nodes={N}, replicas={B})"

    def __reduce__(self):
        return (Ledger, (self.period, self.node_names, self.nodes, self.supplier))

    def row(self, node: str | int, replica: int = 0) -> dict[str, float]:
        """Every node field of one node and replica as plain floats."""
        i = self.node_names.index(node) if isinstance(node, str) else int(node)
        out = {"period": float(self.period)}
        out.update(zip(NODE_FIELDS, self.nodes[replica, :, i].tolist(), strict=True))
        return out

    def balance_error(self) -> float:
        """Largest ``|closing - (opening + received - shipped - sold)|``."""
        gap = self.closing - (self.opening + self.received - self.shipped - self.sold)
        return float(np.abs(gap).max())


def _node_field(k: int) -> property:
    return property(lambda self: self.nodes[:, k], doc=f"node field {NODE_FIELDS[k]}")


def _supplier_field(k: int) -> property:
    return property(
        lambda self: self.supplier[:, k], doc=f"supplier field {SUPPLIER_FIELDS[k]}"
    )


for _k, _name in enumerate(NODE_FIELDS):
    setattr(Ledger, _name, _node_field(_k))
for _k, _name in enumerate(SUPPLIER_FIELDS):
    setattr(Ledger, _name, _supplier_field(_k))
del _k, _name


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
