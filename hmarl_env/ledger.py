"""The reconciliation ledger: what happened at every node in one period.

A :class:`Ledger` holds one period for a batch of replicas: each node field is
an array of shape ``(B, N)`` (replica, node in scenario order), each supplier
field shape ``(B,)``. Quantities are in units, costs in the scenario's money.

With a catalogue of ``P`` products every node field is kept per node and
product: shape ``(B, N * P)``, node-major (column ``i * P + p`` is product
``p`` at node ``i``); :meth:`Ledger.by_product` gives ``(B, N, P)`` and
:meth:`Ledger.node_total` the sum over products ``(B, N)``. Without a catalogue
``P = 1`` and the two layouts are one.

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
total_cost         the sum of the four costs, ``discard_cost``,
                   ``transit_loss_cost`` and ``purchase_cost``
=================  ===============================================================

Capacity fields (:attr:`Ledger.capacity`, the node fields' shape; all 0 where
the scenario has no capacity, loss or price that binds):

=================  ===============================================================
discarded          units that arrived but found the node's storage full (step 1)
discard_cost       discarded * the product's value
capacity_cut       units of this node's inbound shipment held back by a volume
                   limit: its truck, or at the root the supplier's release
                   volume; they stay owed (``inbound_backlog``)
transit_lost       units of this node's inbound shipment lost on the way
                   (``Node.shipping_loss``): shipped, never to arrive
transit_loss_cost  transit_lost * the product's value (in ``total_cost``)
purchase_cost      what this node's order cost at its unit prices
                   (``Node.price_breaks``; in ``total_cost``)
=================  ===============================================================

Supplier fields: ``supplier_overtime`` (units released above regular capacity),
``supplier_overtime_cost`` and ``supplier_backlog_cost``; what the supplier
received, released and owes are the root's ``ordered``, ``inbound`` and
``inbound_backlog``.

Invariants: ``closing = opening + received - discarded - shipped - sold`` at
every node and product, and over the whole chain, per product, everything the
supplier released plus the initial stock equals what was sold plus what was
discarded or lost in transit plus what is on hand plus what is in transit.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

__all__ = [
    "CAPACITY_FIELDS",
    "CapacityField",
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


class CapacityField(IntEnum):
    """Each capacity field's row in :attr:`Ledger.capacity` (its axis 1)."""

    discarded = 0
    discard_cost = 1
    capacity_cut = 2
    transit_lost = 3
    transit_loss_cost = 4
    purchase_cost = 5


NODE_FIELDS = tuple(f.name for f in NodeField)
CAPACITY_FIELDS = tuple(f.name for f in CapacityField)
SUPPLIER_FIELDS = tuple(f.name for f in SupplierField)


class Ledger:
    """One period's reconciliation for a batch of replicas (see the module docstring).

    Every node field is an attribute of shape ``(B, N)``, every supplier field
    one of shape ``(B,)``. They are views of two blocks that the simulation
    writes once per period and never touches again: ``nodes``, shape
    ``(B, len(NODE_FIELDS), N)``, and ``supplier``, shape
    ``(B, len(SUPPLIER_FIELDS))``, fields in the order of those tuples (each
    replica's period in one place, which keeps large batches cache-friendly).

    Capacity fields (:data:`CAPACITY_FIELDS`) are attributes too, views of a
    third block ``capacity``, shape ``(B, len(CAPACITY_FIELDS), N * P)``.

    Args:
        period: the period reconciled.
        node_names: the scenario's node names, in node order.
        nodes, supplier: the two blocks.
        capacity: the capacity block (zeros when not given).
        products: the product names (one, ``"product"``, when not given).
    """

    __slots__ = ("period", "node_names", "nodes", "supplier", "capacity", "products")

    if TYPE_CHECKING:  # the fields are properties added below, one per name

        def __getattr__(self, field: str) -> np.ndarray: ...

    def __init__(
        self,
        period: int,
        node_names: tuple[str, ...],
        nodes: np.ndarray,
        supplier: np.ndarray,
        capacity: np.ndarray | None = None,
        products: tuple[str, ...] = ("product",),
    ) -> None:
        self.period = period
        self.node_names = node_names
        self.nodes = nodes
        self.supplier = supplier
        if capacity is None:
            capacity = np.zeros((nodes.shape[0], len(CAPACITY_FIELDS), nodes.shape[2]))
        self.capacity = capacity
        self.products = products

    @classmethod
    def from_fields(
        cls,
        period: int,
        node_names: tuple[str, ...],
        products: tuple[str, ...] = ("product",),
        **fields: np.ndarray,
    ) -> Ledger:
        """A ledger from every field of NODE_FIELDS and SUPPLIER_FIELDS, by name
        (capacity fields, when not given, are zero)."""
        missing = [f for f in (*NODE_FIELDS, *SUPPLIER_FIELDS) if f not in fields]
        unknown = sorted(
            set(fields) - set(NODE_FIELDS) - set(SUPPLIER_FIELDS) - set(CAPACITY_FIELDS)
        )
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
        capacity = np.stack(
            [
                np.broadcast_to(
                    np.asarray(fields.get(f, 0.0), dtype=np.float64), nodes[:, 0].shape
                )
                for f in CAPACITY_FIELDS
            ],
            axis=1,
        )
        return cls(period, tuple(node_names), nodes, supplier, capacity, products)

    def replace(self, **fields: np.ndarray) -> Ledger:
        """A copy with some fields replaced (the original is left as it is)."""
        every = (*NODE_FIELDS, *SUPPLIER_FIELDS, *CAPACITY_FIELDS)
        current = {f: getattr(self, f) for f in every}
        unknown = sorted(set(fields) - set(current))
        if unknown:
            raise ValueError(f"unknown ledger fields {unknown}")
        current.update(fields)
        return Ledger.from_fields(
            self.period, self.node_names, self.products, **current
        )

    def __repr__(self) -> str:
        B, _, K = self.nodes.shape
        P = len(self.products)
        return (
            f"Ledger(period={self.period}, nodes={K // P}, products={P}, replicas={B})"
        )

    def __reduce__(self):
        return (
            Ledger,
            (
                self.period,
                self.node_names,
                self.nodes,
                self.supplier,
                self.capacity,
                self.products,
            ),
        )

    def by_product(self, field: str) -> np.ndarray:
        """A node or capacity field as ``(B, N, P)`` (a view)."""
        x = getattr(self, field)
        return x.reshape(x.shape[0], len(self.node_names), len(self.products))

    def node_total(self, field: str) -> np.ndarray:
        """A node or capacity field summed over products, ``(B, N)``."""
        return self.by_product(field).sum(axis=2)

    def row(
        self, node: str | int, replica: int = 0, product: str | int = 0
    ) -> dict[str, float]:
        """Every node and capacity field of one node, product and replica as
        plain floats."""
        i = self.node_names.index(node) if isinstance(node, str) else int(node)
        p = self.products.index(product) if isinstance(product, str) else int(product)
        k = i * len(self.products) + p
        out = {"period": float(self.period)}
        out.update(zip(NODE_FIELDS, self.nodes[replica, :, k].tolist(), strict=True))
        out.update(
            zip(CAPACITY_FIELDS, self.capacity[replica, :, k].tolist(), strict=True)
        )
        return out

    def balance_error(self) -> float:
        """Largest ``|closing - (opening + received - discarded - shipped -
        sold)|`` over nodes, products and replicas."""
        gap = self.closing - (
            self.opening + self.received - self.discarded - self.shipped - self.sold
        )
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
for _k, _name in enumerate(CAPACITY_FIELDS):
    setattr(
        Ledger,
        _name,
        property(
            lambda self, k=_k: self.capacity[:, k],
            doc=f"capacity field {CAPACITY_FIELDS[_k]}",
        ),
    )
del _k, _name


def ledgers_to_frame(ledgers: Iterable[Ledger]):
    """A long pandas DataFrame: one row per period, replica and node (and per
    product, with a ``product`` column and the capacity fields, for a
    catalogue)."""
    import pandas as pd

    frames = []
    columns = ["period", "replica", "node", *NODE_FIELDS]
    for led in ledgers:
        B, K = led.closing.shape
        P = len(led.products)
        cols = {
            "period": np.full(B * K, led.period),
            "replica": np.repeat(np.arange(B), K),
            "node": np.tile(np.repeat(np.array(led.node_names, dtype=object), P), B),
        }
        names = NODE_FIELDS
        if P > 1:
            cols["product"] = np.tile(np.array(led.products, dtype=object), B * K // P)
            names = (*NODE_FIELDS, *CAPACITY_FIELDS)
        for name in names:
            cols[name] = getattr(led, name).reshape(-1)
        frames.append(pd.DataFrame(cols))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)
