"""A network generator: a chain of many stores under regional warehouses in
a few lines, in Python or in a scenario file.

In a file, a ``[network]`` table replaces ``[[nodes]]``::

    name = "fifty_stores"
    [network]
    stores = 50
    regions = 5                 # 0: every store under the central warehouse
    seed = 0                    # draws the store means given as a range
    [network.demand]            # every store's demand process
    kind = "poisson"
    mean = { low = 40.0, high = 160.0 }   # or one number, or a list of 50
    [network.store]             # fields of every store (defaults below)
    lead_time = 2
    [network.region]            # of every regional warehouse
    [network.central]           # of the central warehouse (the root)

Nodes: ``warehouse_1`` is the central warehouse, the root;
``warehouse_2`` .. ``warehouse_<regions + 1>`` the regional ones under it;
``store_1`` .. ``store_<stores>`` the stores, in contiguous blocks under the
regions (store ``k`` under region ``k * regions // stores``). Unless given,
a node starts with ``lead_time + 1`` periods of the demand it serves on hand,
the supplier can release 1.5 times the network's mean demand a period (the
first one at the regular rate), and each warehouse orders in lots of 0, 2.5,
5 and 7.5 periods of the mean demand it serves (``warehouse_lot_periods``).
Everything is then validated as any scenario is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["NETWORK_DEFAULTS", "network_fields"]

#: fields of each kind of node unless the network table gives them
NETWORK_DEFAULTS = {
    "store": {"lead_time": 2, "holding_cost": 0.073, "stockout_cost": 1.0},
    "region": {"lead_time": 2, "holding_cost": 0.05, "stockout_cost": 0.5},
    "central": {"lead_time": 4, "holding_cost": 0.03, "stockout_cost": 0.5},
}
_KEYS = {"stores", "regions", "seed", "demand", "store", "region", "central"}


def _count(spec: Mapping[str, Any], key: str, low: int) -> int:
    value = spec.get(key, low if key == "regions" else None)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"network.{key} must be an integer >= {low}, got {value!r}")
    return value


def _means(demand: Mapping[str, Any], stores: int, seed: int) -> list[float]:
    """Each store's mean demand: one number, a list, or a range drawn with
    ``seed`` (uniformly)."""
    mean = demand.get("mean")
    if isinstance(mean, Mapping):
        stray = sorted(set(mean) - {"low", "high"})
        if stray or not {"low", "high"} <= set(mean):
            raise ValueError(
                "network.demand.mean as a range is a table {low = .., high = ..}, "
                f"got {dict(mean)!r}"
            )
        low, high = float(mean["low"]), float(mean["high"])
        if not 0 < low <= high:
            raise ValueError(
                f"network.demand.mean must have 0 < low <= high, got {low}, {high}"
            )
        rng = np.random.default_rng(seed)
        return [round(float(x), 3) for x in rng.uniform(low, high, size=stores)]
    if isinstance(mean, list):
        if len(mean) != stores:
            raise ValueError(
                f"network.demand.mean lists {len(mean)} means for {stores} stores"
            )
        return [float(x) for x in mean]
    if isinstance(mean, (int, float)) and not isinstance(mean, bool):
        return [float(mean)] * stores
    raise ValueError(
        "network.demand.mean must be a number, a list of one per store or a "
        f"range {{low = .., high = ..}}, got {mean!r}"
    )


def network_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario fields a ``[network]`` table makes: ``nodes`` (as plain
    tables, validated by the scenario loader like any others) and defaults
    for ``supplier`` and ``actions`` that fit the network's demand."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"network must be a table, got {spec!r}")
    stray = sorted(set(spec) - _KEYS)
    if stray:
        raise ValueError(f"network: unknown keys {stray}; known: {sorted(_KEYS)}")
    stores = _count(spec, "stores", 1)
    regions = _count(spec, "regions", 0)
    if regions > stores:
        raise ValueError(
            f"network.regions ({regions}) must not exceed network.stores ({stores})"
        )
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"network.seed must be an integer >= 0, got {seed!r}")
    demand = dict(spec.get("demand", {"kind": "poisson", "mean": 100.0}))
    means = _means(demand, stores, seed)
    kinds = {}
    for kind in ("store", "region", "central"):
        given = spec.get(kind, {})
        if not isinstance(given, Mapping):
            raise ValueError(f"network.{kind} must be a table, got {given!r}")
        for key in ("name", "parent", "demand"):
            if key in given:
                raise ValueError(f"network.{kind}.{key} is set by the network")
        kinds[kind] = {**NETWORK_DEFAULTS[kind], **given}

    def node(name: str, kind: str, parent: str | None, serves: float) -> dict:
        fields = dict(kinds[kind])
        lead = fields["lead_time"]
        if "initial_inventory" not in fields and isinstance(lead, int):
            fields["initial_inventory"] = round((lead + 1) * serves, 3)
        return {"name": name, "parent": parent, **fields}

    nodes = []
    region_of = [k * regions // stores for k in range(stores)] if regions else []
    for k, mean in enumerate(means):
        parent = f"warehouse_{region_of[k] + 2}" if regions else "warehouse_1"
        nodes.append(
            {
                **node(f"store_{k + 1}", "store", parent, mean),
                "demand": {**demand, "mean": mean},
            }
        )
    for r in range(regions):
        serves = sum(m for m, g in zip(means, region_of, strict=True) if g == r)
        nodes.append(node(f"warehouse_{r + 2}", "region", "warehouse_1", serves))
    total = sum(means)
    nodes.append(node("warehouse_1", "central", None, total))
    return {
        "nodes": nodes,
        "supplier": {"capacity": 1.5 * total, "regular_capacity": total},
        "actions": {"warehouse_lot_periods": [0.0, 2.5, 5.0, 7.5]},
    }
