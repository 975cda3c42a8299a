"""Products: what a chain stocks, when it stocks more than one thing.

A :class:`Product` has a name, a unit volume (what it takes of a node's storage,
a truck and the supplier's release volume), its costs and its customer demand
at each store. A scenario's ``products`` is its catalogue; a scenario without
one stocks a single product whose demand is each store's ``demand`` (every
preset but the ``catalogue_*`` ones).

Costs. A product's ``holding_cost`` and ``stockout_cost`` multiply each node's
(so a node's costs are its rates: a warehouse that holds at 0.5 of a store's
rate has ``holding_cost`` half the store's): the cost of a unit of product
``p`` on hand at node ``i`` is ``node_i.holding_cost * p.holding_cost``. An
order costs the node's ``fixed_order_cost`` once per period in which the node
orders anything (the truck, a major setup), shared equally by the products it
ordered, plus each ordered product's own ``fixed_order_cost`` (the order line,
a minor setup): the joint replenishment structure. A unit discarded because a
node's storage is full costs the product's ``value``.

A catalogue of one product of volume 1, cost multipliers 1, value 1 and no
fixed cost of its own is exactly the single-product model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hmarl_env.demand import MAX_MAGNITUDE, DemandProcess, _check_finite

__all__ = ["MAX_PRODUCTS", "Product"]

#: the most products a scenario may stock (the field's benchmarks run 2,000)
MAX_PRODUCTS = 100_000
_PRODUCT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,63}")


@dataclass(frozen=True)
class Product:
    """One product of a catalogue (see the module docstring for the cost rules).

    Attributes:
        name: 1-64 letters, digits, ``_ . / -``, unique in the catalogue.
        demand: the customer demand process at each store, by store name
            (every store of the scenario must have one).
        volume: space one unit takes, in the unit the capacities are given
            in (> 0).
        value: what a unit discarded for want of storage costs.
        holding_cost: multiplier of each node's holding cost.
        stockout_cost: multiplier of each node's stockout cost.
        fixed_order_cost: cost of each period in which a node orders this
            product, on top of the node's own fixed cost per order.
        initial_inventory: units on hand at the start of an episode, by node
            name (nodes not named start empty; in a catalogue the nodes' own
            ``initial_inventory`` and ``initial_pipeline`` must be 0).
        initial_pipeline: units arriving in each of the periods ``1 .. L - 1``
            of an episode, by node name (as a node's ``initial_pipeline``).
    """

    name: str
    demand: Mapping[str, DemandProcess]
    volume: float = 1.0
    value: float = 1.0
    holding_cost: float = 1.0
    stockout_cost: float = 1.0
    fixed_order_cost: float = 0.0
    initial_inventory: Mapping[str, float] = field(default_factory=dict)
    initial_pipeline: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _PRODUCT_NAME.fullmatch(self.name):
            raise ValueError(
                "products: a product's name must be 1-64 letters, digits or "
                f"'_ . / -', starting with a letter or digit, got {self.name!r}"
            )
        where = f"products[{self.name}]"
        _check_finite(where, "volume", self.volume, strict=True)
        for name in ("value", "holding_cost", "stockout_cost", "fixed_order_cost"):
            _check_finite(where, name, getattr(self, name))
        if not isinstance(self.demand, Mapping) or not self.demand:
            raise ValueError(
                f"{where}.demand must give a demand process for each store, got "
                f"{self.demand!r}"
            )
        for store, process in self.demand.items():
            if not isinstance(process, DemandProcess):
                raise ValueError(
                    f"{where}.demand[{store}] must be a demand process, got {process!r}"
                )
        object.__setattr__(self, "demand", dict(self.demand))
        for key in ("initial_inventory", "initial_pipeline"):
            units = getattr(self, key)
            if not isinstance(units, Mapping):
                raise ValueError(
                    f"{where}.{key} must map node names to units, got {units!r}"
                )
            for node, value in units.items():
                _check_finite(f"{where}.{key}", str(node), value)
            object.__setattr__(self, key, dict(units))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        for key in ("volume", "value", "holding_cost", "stockout_cost"):
            out[key] = getattr(self, key)
        out["fixed_order_cost"] = self.fixed_order_cost
        out["demand"] = {s: d.to_dict() for s, d in self.demand.items()}
        out["initial_inventory"] = dict(self.initial_inventory)
        out["initial_pipeline"] = dict(self.initial_pipeline)
        return out


def check_capacity(where: str, name: str, value: Any) -> None:
    """A capacity: a number > 0 and at most ``MAX_MAGNITUDE``, ``inf`` for none."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value > 0)
        or (math.isfinite(value) and value > MAX_MAGNITUDE)
    ):
        raise ValueError(
            f"{where}.{name} must be a number > 0 and at most {MAX_MAGNITUDE:g} "
            f"(inf: no limit), got {value!r}"
        )
