"""Scenarios: the typed, frozen, validated description of a supply chain.

A :class:`Scenario` is a tree of stocking :class:`Node` objects under one
external :class:`Supplier`. Leaves are stores (they face customer demand and are
named ``store_<n>``); internal nodes are warehouses (``warehouse_<n>``); the
one root orders from the supplier. Node names are the agents' names.

Every field is checked when the object is built; a bad value raises
``ValueError`` naming the field and the value.

Presets (:data:`PRESETS`, :func:`get_scenario`):

* ``default`` - two stores under one warehouse, the seeds' worked example.
* ``serial`` - the textbook serial chain of Snyder & Shen, Example 6.1
  (backorders, N(5, 1) demand, echelon base-stock optimum 47.67 per period).
* ``four_stores`` - the default with four stores of different demand.
* ``backorder`` - the default with backlogged instead of lost sales.
* ``seasonal`` - the default with a weekly demand pattern.
* ``hierarchy`` - the default rewarded by the system's cost, with costly
  overtime and a supplier that may smooth its releases.
* ``lost_sales_L<L>_p<p>`` (and ``backorder_L<L>_p<p>``, optionally
  ``_mean<m>``) - one store ordering whole units from an uncapacitated
  supplier, Zipkin's (2008) single-stage instances (:func:`single_stage`).

Scenarios load from TOML or YAML files (:func:`load_scenario`); a file may
start from a preset with ``extends = "default"`` and change some fields.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hmarl_env.demand import (
    MAX_HORIZON,
    MAX_MAGNITUDE,
    DemandProcess,
    MertonJumpDiffusion,
    NegativeBinomial,
    Normal,
    Poisson,
    Seasonal,
    _check_finite,
    demand_from_dict,
)

#: a scenario's name becomes part of run folders and file names: nothing that
#: could climb out of a folder or need quoting
_SCENARIO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]|^[_.-]+")

__all__ = [
    "Actions",
    "Node",
    "PRESETS",
    "RewardWeights",
    "REWARD_MODES",
    "Rewards",
    "Scenario",
    "Supplier",
    "SupplierRewardWeights",
    "get_scenario",
    "load_scenario",
    "scenario_from_dict",
    "single_stage",
]

ShortageMode = Literal["lost_sales", "backorder"]
#: the most order quantities a store may choose from (``store_max_order``)
MAX_ACTIONS = 10_000
_NAME = re.compile(r"^(store|warehouse)_[0-9]+$")


@dataclass(frozen=True)
class Node:
    """A stocking location.

    Attributes:
        name: ``store_<n>`` for a leaf, ``warehouse_<n>`` for an internal node;
            it is also the agent's name in the env.
        parent: name of the node that ships to this one, or ``None`` for the root,
            which orders from the supplier.
        lead_time: periods from shipment by the parent (for the root: release by
            the supplier) to arrival here; >= 1.
        holding_cost: cost per unit on hand at the end of a period.
        stockout_cost: stores: per unit of demand lost (lost sales) or per unit
            backlogged per period (backorder); warehouses: per unit owed to
            children per period (0 in the textbook model).
        fixed_order_cost: cost per period in which the node orders (> 0 units).
        initial_inventory: units on hand at the start of an episode.
        initial_pipeline: units arriving in each of the periods ``1 .. lead_time
            - 1`` of an episode (as if the node had ordered that much every
            period before it started), so that an episode can start near the
            steady state; 0 by default (nothing in transit).
        demand: the customer demand process; stores only.
    """

    name: str
    parent: str | None
    lead_time: int
    holding_cost: float
    stockout_cost: float = 0.0
    fixed_order_cost: float = 0.0
    initial_inventory: float = 0.0
    initial_pipeline: float = 0.0
    demand: DemandProcess | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                "Node.name must look like 'store_1' or 'warehouse_1', got "
                f"{self.name!r}"
            )
        where = f"nodes[{self.name}]"
        if self.parent is not None and not isinstance(self.parent, str):
            raise ValueError(
                f"{where}.parent must be a node name or None, got {self.parent!r}"
            )
        _check_count(where, "lead_time", self.lead_time)
        for name in (
            "holding_cost",
            "stockout_cost",
            "fixed_order_cost",
            "initial_inventory",
            "initial_pipeline",
        ):
            _check_finite(where, name, getattr(self, name))
        if self.demand is not None and not isinstance(self.demand, DemandProcess):
            raise ValueError(
                f"{where}.demand must be a demand process, got {self.demand!r}"
            )
        if self.is_store and self.demand is None:
            raise ValueError(f"{where}.demand is required for a store")
        if not self.is_store and self.demand is not None:
            raise ValueError(f"{where}.demand must be empty: only stores face demand")

    @property
    def is_store(self) -> bool:
        return self.name.startswith("store_")


@dataclass(frozen=True)
class Supplier:
    """The external source that replenishes the root node.

    Its lead time is the root node's ``lead_time``.

    Attributes:
        capacity: most units released per period (``inf`` for unlimited).
        regular_capacity: units per period released without overtime; units above
            it cost ``overtime_cost`` each (``inf``: no overtime).
        overtime_cost: cost per unit released above ``regular_capacity``.
        backlog_cost: cost per unit ordered but not yet released, per period.
    """

    capacity: float = math.inf
    regular_capacity: float = math.inf
    overtime_cost: float = 0.0
    backlog_cost: float = 0.0

    def __post_init__(self) -> None:
        for name in ("capacity", "regular_capacity"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (value > 0)
                or (math.isfinite(value) and value > MAX_MAGNITUDE)
            ):
                raise ValueError(
                    f"supplier.{name} must be a number > 0 and at most "
                    f"{MAX_MAGNITUDE:g} (inf allowed), got {value!r}"
                )
        _check_finite("supplier", "overtime_cost", self.overtime_cost)
        _check_finite("supplier", "backlog_cost", self.backlog_cost)


def _check_count(where: str, name: str, value: Any) -> None:
    """A whole number >= 1 (not a bool), or a ``ValueError`` naming the field."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}.{name} must be an integer >= 1, got {value!r}")


class _Weights:
    """Reward weights: finite numbers (the formula is
    :func:`hmarl_env.rewards.role_reward`, the terms the registry's)."""

    _where = "rewards"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_finite(self._where, f.name, getattr(self, f.name))


@dataclass(frozen=True)
class RewardWeights(_Weights):
    """Weights of a store's or warehouse's reward terms: service level, holding
    cost, stockout penalty and excess inventory (its stock above
    ``excess_cover_days`` periods of expected demand); the seeds' by default."""

    service_level: float = 10.0
    holding_cost: float = 0.1
    stockout_penalty: float = 5.0
    excess_inventory: float = 0.05
    excess_cover_days: float = 5.0


@dataclass(frozen=True)
class SupplierRewardWeights(_Weights):
    """Weights of the supplier's reward terms: service level (the fraction of
    what it owed the root that it released), backlog cost, overtime cost."""

    _where = "rewards.supplier"

    service_level: float = 10.0
    backlog: float = 0.1
    overtime: float = 0.1


#: how an agent's reward relates to its own ledger row and to the system's
REWARD_MODES = ("local", "system", "mixed")


@dataclass(frozen=True)
class Rewards:
    """Reward weights per role, and the reward mode.

    Attributes:
        mode: ``"local"`` (each agent's reward is its role's formula over its own
            ledger row, the seeds'), ``"system"`` (every agent receives the
            period's system reward: minus the whole chain's ledger cost) or
            ``"mixed"`` (``(1 - system_weight) * local + system_weight *
            system``). :mod:`hmarl_env.rewards` has the formulas.
        system_weight: the system reward's share in ``"mixed"`` mode, in
            ``[0, 1]`` (``local`` is 0, ``system`` 1).
        expected_store_costs: in the system reward, each store's holding and
            shortage costs are their expectation over the period's demand,
            given its stock when demand arrives, instead of what the demand
            drawn made them (the ledger, ``infos``' costs and every evaluation
            keep the realised costs). Every policy's expected return is the
            same, the noise of the demand draw is gone from the rewards: with
            a high shortage penalty it dominates them. Needs Poisson demand
            at every store and a system share above 0 (``system`` or
            ``mixed`` mode).
    """

    store: RewardWeights = field(default_factory=RewardWeights)
    warehouse: RewardWeights = field(
        default_factory=lambda: RewardWeights(excess_cover_days=10.0)
    )
    supplier: SupplierRewardWeights = field(default_factory=SupplierRewardWeights)
    mode: str = "local"
    system_weight: float = 0.5
    expected_store_costs: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.expected_store_costs, bool):
            raise ValueError(
                "rewards.expected_store_costs must be true or false, got "
                f"{self.expected_store_costs!r}"
            )
        if self.mode not in REWARD_MODES:
            raise ValueError(
                f"rewards.mode must be one of {list(REWARD_MODES)}, got {self.mode!r}"
            )
        w = self.system_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1:
            raise ValueError(
                f"rewards.system_weight must be a number in [0, 1], got {w!r}"
            )

    @property
    def system_share(self) -> float:
        """The system reward's share of every agent's reward: 0, 1, or the
        weight of the mixed mode."""
        return {"local": 0.0, "system": 1.0}.get(self.mode, float(self.system_weight))


@dataclass(frozen=True)
class Actions:
    """What each discrete action means.

    Attributes:
        store_order_multipliers: a store orders ``multiplier * forecast``.
        warehouse_order_lots: a warehouse orders this many units.
        supplier_fulfil_fractions: the supplier releases this fraction of what is
            outstanding (up to capacity).
        store_max_order: ``K``: stores order whole quantities instead, action
            ``a`` orders ``a`` units, ``0..K`` (``Discrete(K + 1)``; the
            multipliers are then unused). ``None`` (the default): multipliers.
    """

    store_order_multipliers: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5)
    warehouse_order_lots: tuple[float, ...] = (0.0, 500.0, 1000.0, 1500.0)
    supplier_fulfil_fractions: tuple[float, ...] = (1.0, 0.8, 0.0)
    store_max_order: int | None = None

    def __post_init__(self) -> None:
        K = self.store_max_order
        if K is not None and (
            isinstance(K, bool) or not isinstance(K, int) or not 1 <= K <= MAX_ACTIONS
        ):
            raise ValueError(
                f"actions.store_max_order must be an integer in [1, {MAX_ACTIONS}] "
                f"(stores order 0..K units, Discrete(K + 1)), got {K!r}"
            )
        for f in dataclasses.fields(self):
            if f.name == "store_max_order":
                continue
            raw = getattr(self, f.name)
            if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__"):
                raise ValueError(
                    f"actions.{f.name} must be a list of numbers, got {raw!r}"
                )
            values = tuple(raw)
            object.__setattr__(self, f.name, values)
            if len(values) < 2:
                raise ValueError(
                    f"actions.{f.name} needs at least two choices, got {values!r}"
                )
            for i, v in enumerate(values):
                _check_finite("actions", f"{f.name}[{i}]", v)
        for i, v in enumerate(self.supplier_fulfil_fractions):
            if v > 1:
                raise ValueError(
                    f"actions.supplier_fulfil_fractions[{i}] must be <= 1, got {v!r}"
                )

    @property
    def store_orders_quantities(self) -> bool:
        """Whether a store's action is an order quantity (``store_max_order``)."""
        return self.store_max_order is not None

    def choices(self, values: str) -> tuple[float, ...]:
        """What each action of the field ``values`` means (a registry role's
        :attr:`~hmarl_env.registry.Role.action_values`): its values, or for
        stores ordering quantities ``0, 1, .., K`` units."""
        if values == "store_order_multipliers" and self.store_orders_quantities:
            return tuple(float(q) for q in range(self.store_max_order + 1))
        return getattr(self, values)


@dataclass(frozen=True)
class Scenario:
    """A supply chain: nodes, supplier, horizon, rules, rewards and actions.

    Attributes:
        name: a label used in run names and reports.
        nodes: the stocking nodes, in the order used by every array.
        supplier: the external source above the root.
        horizon: periods per episode (episodes end by truncation).
        shortage: ``lost_sales`` (unmet store demand is lost) or ``backorder``
            (it waits for stock). Warehouses always backlog.
        in_transit_holding: charge units in transit to a node at the shipper's
            holding cost (the supplier's pipeline is free).
        rewards: reward weights per role.
        actions: meaning of the discrete actions.
        forecast_smoothing: weight of the newest demand in the stores'
            exponentially smoothed forecast, in (0, 1].
    """

    name: str
    nodes: tuple[Node, ...]
    supplier: Supplier = field(default_factory=Supplier)
    horizon: int = 100
    shortage: ShortageMode = "lost_sales"
    in_transit_holding: bool = False
    rewards: Rewards = field(default_factory=Rewards)
    actions: Actions = field(default_factory=Actions)
    forecast_smoothing: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _SCENARIO_NAME.fullmatch(self.name):
            raise ValueError(
                "scenario.name must be 1-64 letters, digits, '_', '-' or '.', "
                f"starting with a letter or digit (it names run folders and "
                f"files), got {self.name!r}"
            )
        nodes = tuple(self.nodes)
        object.__setattr__(self, "nodes", nodes)
        if not nodes:
            raise ValueError("scenario.nodes must not be empty")
        for n in nodes:
            if not isinstance(n, Node):
                raise ValueError(f"scenario.nodes must hold Node objects, got {n!r}")
        names = [n.name for n in nodes]
        dupes = sorted({x for x in names if names.count(x) > 1})
        if dupes:
            raise ValueError(f"scenario.nodes: duplicate names {dupes}")
        roots = [n.name for n in nodes if n.parent is None]
        if len(roots) != 1:
            raise ValueError(
                f"scenario.nodes must have exactly one root (parent = none), "
                f"got {roots}"
            )
        by_name = {n.name: n for n in nodes}
        for n in nodes:
            if n.parent is not None and n.parent not in by_name:
                raise ValueError(
                    f"nodes[{n.name}].parent {n.parent!r} is not a node; nodes: {names}"
                )
            if n.parent == n.name:
                raise ValueError(f"nodes[{n.name}].parent is the node itself")
        for n in nodes:  # every chain of parents must reach the root
            seen, cur = set(), n
            while cur.parent is not None:
                if cur.name in seen:
                    raise ValueError(
                        f"scenario.nodes: the parents of {n.name!r} form a cycle"
                    )
                seen.add(cur.name)
                cur = by_name[cur.parent]
        has_child = {n.parent for n in nodes}
        for n in nodes:
            if n.is_store and n.name in has_child:
                raise ValueError(
                    f"nodes[{n.name}] is a store but has children; only "
                    "warehouse_<n> nodes may supply others"
                )
            if not n.is_store and n.name not in has_child:
                raise ValueError(
                    f"nodes[{n.name}] is a warehouse with no children; "
                    "leaves must be stores (store_<n>)"
                )
        if not isinstance(self.supplier, Supplier):
            raise ValueError(
                f"scenario.supplier must be a Supplier, got {self.supplier!r}"
            )
        _check_count("scenario", "horizon", self.horizon)
        if self.horizon > MAX_HORIZON:
            raise ValueError(
                f"scenario.horizon must be at most {MAX_HORIZON:,} periods (an "
                f"episode's demand is drawn at reset), got {self.horizon!r}"
            )
        if self.shortage not in ("lost_sales", "backorder"):
            raise ValueError(
                f"scenario.shortage must be 'lost_sales' or 'backorder', got "
                f"{self.shortage!r}"
            )
        if not isinstance(self.in_transit_holding, bool):
            raise ValueError(
                f"scenario.in_transit_holding must be true or false, got "
                f"{self.in_transit_holding!r}"
            )
        if not isinstance(self.rewards, Rewards):
            raise ValueError(f"scenario.rewards must be Rewards, got {self.rewards!r}")
        if not isinstance(self.actions, Actions):
            raise ValueError(f"scenario.actions must be Actions, got {self.actions!r}")
        _check_finite(
            "scenario", "forecast_smoothing", self.forecast_smoothing, strict=True
        )
        for node in self.nodes:  # a growing demand must stay representable
            if isinstance(node.demand, MertonJumpDiffusion):
                peak = node.demand.peak(self.horizon)
                if peak > MAX_MAGNITUDE:
                    d = node.demand
                    raise ValueError(
                        f"nodes[{node.name}].demand: Merton demand from {d.initial:g} "
                        f"with drift {d.drift:g} and volatility {d.volatility:g} per "
                        f"period can reach {peak:.3g} units a period within the "
                        f"{self.horizon}-period horizon (at most {MAX_MAGNITUDE:g}); "
                        "drift and volatility are per period, as fractions (0.001, "
                        "not 0.1 for 10% a year)"
                    )
        if self.rewards.expected_store_costs:
            if self.rewards.system_share == 0:
                raise ValueError(
                    "rewards.expected_store_costs changes the system reward, "
                    "which agents receive only in 'system' or 'mixed' mode; "
                    f"scenario {self.name!r} is in mode {self.rewards.mode!r}"
                )
            for node in self.nodes:
                if node.is_store and not isinstance(node.demand, Poisson):
                    raise ValueError(
                        f"rewards.expected_store_costs needs Poisson demand at "
                        f"every store (its expected costs are exact for "
                        f"whole-unit demand); nodes[{node.name}] has "
                        f"{node.demand!r}"
                    )
        if self.forecast_smoothing > 1:
            raise ValueError(
                f"scenario.forecast_smoothing must be in (0, 1], got "
                f"{self.forecast_smoothing!r}"
            )

    # ----------------------------------------------------------------- topology
    @cached_property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    @cached_property
    def parent_index(self) -> np.ndarray:
        """Index of each node's parent; ``-1`` for the root."""
        pos = {name: i for i, name in enumerate(self.node_names)}
        return np.array([-1 if n.parent is None else pos[n.parent] for n in self.nodes])

    @cached_property
    def root(self) -> int:
        return int(np.flatnonzero(self.parent_index < 0)[0])

    @cached_property
    def store_index(self) -> np.ndarray:
        return np.array(
            [i for i, n in enumerate(self.nodes) if n.is_store], dtype=np.intp
        )

    @cached_property
    def warehouse_index(self) -> np.ndarray:
        return np.array(
            [i for i, n in enumerate(self.nodes) if not n.is_store], dtype=np.intp
        )

    @cached_property
    def lead_times(self) -> np.ndarray:
        return np.array([n.lead_time for n in self.nodes])

    @cached_property
    def subtree(self) -> np.ndarray:
        """``subtree[k, j]`` is 1 where node ``k`` is ``j`` or below it."""
        n = len(self.nodes)
        out = np.zeros((n, n))
        for k in range(n):
            j = k
            while j >= 0:
                out[k, j] = 1.0
                j = int(self.parent_index[j])
        return out

    @property
    def supplier_lead_time(self) -> int:
        return self.nodes[self.root].lead_time

    @cached_property
    def mean_demand(self) -> np.ndarray:
        """Nominal expected demand per period flowing through each node."""
        own = np.array(
            [n.demand.mean if n.demand is not None else 0.0 for n in self.nodes]
        )
        return self.subtree.T @ own

    @cached_property
    def demand_std(self) -> np.ndarray:
        """Nominal std of demand per period through each node (stores independent)."""
        own = np.array(
            [n.demand.std if n.demand is not None else 0.0 for n in self.nodes]
        )
        return np.sqrt(self.subtree.T @ own**2)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ValueError(
            f"scenario {self.name!r} has no node {name!r}; nodes: "
            f"{list(self.node_names)}"
        )

    # ------------------------------------------------------------ serialisation
    def with_reward_mode(
        self, mode: str | None = None, system_weight: float | None = None
    ) -> Scenario:
        """A copy in another reward mode (``None``: as it is); the weight is
        the system reward's share in ``"mixed"`` mode."""
        changes: dict[str, Any] = {}
        if mode is not None:
            changes["mode"] = mode
        if system_weight is not None:
            changes["system_weight"] = system_weight
        if not changes:
            return self
        return self.replace(rewards=dataclasses.replace(self.rewards, **changes))

    def replace(self, **changes: Any) -> Scenario:
        """A copy with top-level fields changed (validated again)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(
                f"unknown scenario fields {unknown}; fields: "
                f"{[f.name for f in dataclasses.fields(self)]}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A plain TOML/JSON-friendly dict that :func:`scenario_from_dict` reads."""

        def plain(obj: Any) -> Any:
            if isinstance(obj, DemandProcess):
                return obj.to_dict()
            if dataclasses.is_dataclass(obj):
                return {
                    f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                }
            if isinstance(obj, tuple):
                return [plain(x) for x in obj]
            return obj

        return plain(self)


# ------------------------------------------------------------------ loading
def _build(cls: type, data: Any, where: str, convert: Mapping[str, Any] | None = None):
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a table, got {data!r}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {known}")
    kwargs = dict(data)
    for key, fn in (convert or {}).items():
        if key in kwargs:
            kwargs[key] = fn(kwargs[key])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def scenario_from_dict(
    data: Mapping[str, Any], *, base_dir: Path | None = None
) -> Scenario:
    """Build a :class:`Scenario` from plain data (as read from TOML, YAML or JSON).

    ``extends = "<preset>"`` starts from a preset; tables then override its
    fields key by key, and ``nodes``, when given, replaces the preset's nodes.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a scenario must be a table, got {type(data).__name__}")
    data = dict(data)
    extends = data.pop("extends", None)
    if extends is not None:
        if not isinstance(extends, str):
            raise ValueError(
                f"scenario.extends must be the name of one preset, got {extends!r}"
            )
        base = _preset(extends)
        if base is None:
            raise ValueError(
                f"scenario.extends {extends!r} is not a preset; presets: "
                f"{sorted(PRESETS)} and single-stage instances such as "
                "'lost_sales_L4_p39'"
            )
        data = _merge(base.to_dict(), data)
    if "nodes" not in data:
        raise ValueError("scenario.nodes is required (or extends = '<preset>')")
    raw_nodes = data["nodes"]
    if not isinstance(raw_nodes, list):
        raise ValueError(f"scenario.nodes must be a list of tables, got {raw_nodes!r}")

    def node(i: int, spec: Any) -> Node:
        label = spec.get("name", i) if isinstance(spec, Mapping) else i
        where = f"nodes[{label}]"
        if isinstance(spec, Mapping) and "parent" not in spec:
            spec = {**spec, "parent": None}  # TOML has no null: no parent is the root
        return _build(
            Node,
            spec,
            where,
            {
                "demand": lambda d: (
                    None
                    if d is None
                    else demand_from_dict(d, where=f"{where}.demand", base_dir=base_dir)
                ),
            },
        )

    rewards = data.get("rewards", {})
    data["nodes"] = tuple(node(i, s) for i, s in enumerate(raw_nodes))
    data["supplier"] = _build(Supplier, data.get("supplier", {}), "supplier")
    data["rewards"] = _build(
        Rewards,
        rewards,
        "rewards",
        {
            "store": lambda d: _build(RewardWeights, d, "rewards.store"),
            "warehouse": lambda d: _build(RewardWeights, d, "rewards.warehouse"),
            "supplier": lambda d: _build(SupplierRewardWeights, d, "rewards.supplier"),
        },
    )
    data["actions"] = _build(Actions, data.get("actions", {}), "actions")
    return _build(Scenario, data, "scenario")


def _unique_pairs(pairs: list[tuple[Any, Any]]) -> dict:
    """A mapping from key-value pairs that refuses a key given twice (YAML and
    JSON parsers otherwise keep the last one silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice")
        out[key] = value
    return out


def _yaml_unique(text: str) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict:
        loader.flatten_mapping(node)
        return _unique_pairs(
            [
                (
                    loader.construct_object(k, deep=deep),
                    loader.construct_object(v, deep=deep),
                )
                for k, v in node.value
            ]
        )

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"scenario file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    text = path.read_text()
    if suffix == ".toml":
        import tomllib as parser

        parse = parser.loads
    elif suffix in (".yaml", ".yml"):
        parse = _yaml_unique
    elif suffix == ".json":
        import json

        def parse(text: str) -> Any:
            return json.loads(text, object_pairs_hook=_unique_pairs)
    else:
        raise ValueError(
            f"scenario file {str(path)!r}: use .toml, .yaml, .yml or .json"
        )
    try:
        data = parse(text)
    except Exception as exc:  # each parser has its own error class
        raise ValueError(
            f"scenario file {str(path)!r} could not be parsed: {exc}"
        ) from None
    if data is not None and not isinstance(data, Mapping):
        raise ValueError(f"scenario file {str(path)!r} must hold a table of fields")
    data = dict(data or {})
    data.setdefault("name", _UNSAFE.sub("_", path.stem)[:64] or "scenario")
    return scenario_from_dict(data, base_dir=path.parent)


# ------------------------------------------------------------------ presets
def default() -> Scenario:
    """Two stores under one warehouse: the seeds' worked example.

    Stores sell about 100 units a day (normal, std 20 and 30), hold
    stock at 0.073 per unit-day (a store holding 620 units pays 45.2 a day, as
    in the seeds) and lose unmet demand at 1.0 per unit. The warehouse is 2 days
    from the stores, holds at 0.03 and pays 0.5 per unit-day it owes a store.
    The supplier is 4 days from the warehouse and releases at most 600 units a
    day (three days of total demand), 300 of them without overtime, so the
    warehouse's lots of 500 / 1000 / 1500 units take one to three days to
    release and the supplier's choice to delay or release matters.
    """
    store = dict(
        lead_time=2,
        holding_cost=0.073,
        stockout_cost=1.0,
        initial_inventory=300.0,
        parent="warehouse_1",
    )
    return Scenario(
        name="default",
        nodes=(
            Node("store_1", demand=Normal(100.0, 20.0), **store),
            Node("store_2", demand=Normal(100.0, 30.0), **store),
            Node(
                "warehouse_1",
                parent=None,
                lead_time=4,
                holding_cost=0.03,
                stockout_cost=0.5,
                initial_inventory=1200.0,
            ),
        ),
        supplier=Supplier(
            capacity=600.0,
            regular_capacity=300.0,
            overtime_cost=0.05,
            backlog_cost=0.02,
        ),
        horizon=100,
    )


def serial() -> Scenario:
    """The textbook serial chain: Snyder & Shen, Fundamentals of Supply Chain
    Theory, Example 6.1.

    Three stages (store <- warehouse_1 <- warehouse_2), backorders, demand
    N(5, 1), lead times 1, 1, 2 from the store up, local holding costs 7, 4, 2,
    stockout cost 37.12 per unit backlogged per period, in-transit stock held at
    the shipper's rate. Echelon base-stock levels 6.51, 12.01, 22.70 are optimal
    with expected cost 47.67 per period. Initial stock is the optimal local
    levels.
    """
    return Scenario(
        name="serial",
        nodes=(
            Node(
                "store_1",
                parent="warehouse_1",
                lead_time=1,
                holding_cost=7.0,
                stockout_cost=37.12,
                initial_inventory=6.51,
                demand=Normal(5.0, 1.0),
            ),
            Node(
                "warehouse_1",
                parent="warehouse_2",
                lead_time=1,
                holding_cost=4.0,
                initial_inventory=12.01 - 6.51,
            ),
            Node(
                "warehouse_2",
                parent=None,
                lead_time=2,
                holding_cost=2.0,
                initial_inventory=22.70 - 12.01,
            ),
        ),
        horizon=1000,
        shortage="backorder",
        in_transit_holding=True,
        actions=Actions(warehouse_order_lots=(0.0, 5.0, 10.0, 15.0)),
    )


def four_stores() -> Scenario:
    """The default network with four stores of different size and variability."""
    base = default()
    store = dict(
        lead_time=2,
        holding_cost=0.073,
        stockout_cost=1.0,
        initial_inventory=300.0,
        parent="warehouse_1",
    )
    return base.replace(
        name="four_stores",
        nodes=(
            Node("store_1", demand=NegativeBinomial(100.0, 20.0), **store),
            Node("store_2", demand=NegativeBinomial(100.0, 30.0), **store),
            Node("store_3", demand=Poisson(60.0), **store),
            Node("store_4", demand=NegativeBinomial(140.0, 45.0), **store),
            dataclasses.replace(base.nodes[2], initial_inventory=2400.0),
        ),
        supplier=Supplier(
            capacity=1200.0,
            regular_capacity=600.0,
            overtime_cost=0.05,
            backlog_cost=0.02,
        ),
        actions=Actions(warehouse_order_lots=(0.0, 1000.0, 2000.0, 3000.0)),
    )


def backorder() -> Scenario:
    """The default with store shortages backlogged rather than lost."""
    return default().replace(name="backorder", shortage="backorder")


def seasonal() -> Scenario:
    """The default with a weekly pattern (weekend peak) on both stores' demand."""
    base = default()
    pattern = (0.8, 0.9, 0.9, 1.0, 1.1, 1.3, 1.0)
    nodes = tuple(
        dataclasses.replace(n, demand=Seasonal(n.demand, pattern)) if n.is_store else n
        for n in base.nodes
    )
    return base.replace(name="seasonal", nodes=nodes)


def hierarchy() -> Scenario:
    """The default network trained on the system's cost, with a supplier whose
    choice matters: the curriculum's scenario for system-aware learning.

    Every agent receives the system reward (minus the chain's ledger cost of
    the period, ``rewards.mode = "system"``). Overtime costs 0.2 per unit
    released above the regular 300 a day (four times the default's), and the
    supplier may release all, three quarters, half, a quarter or none of what
    it owes: releasing a lot at once costs overtime, spreading it out delays
    the warehouse and risks the stores' sales (production smoothing). On
    held-out seeds a smoothing supplier lowers the all-heuristic chain's cost
    (``baselines.policies.SmoothingSupplier``; README, "Curriculum").
    """
    base = default()
    return base.replace(
        name="hierarchy",
        supplier=dataclasses.replace(base.supplier, overtime_cost=0.2),
        actions=dataclasses.replace(
            base.actions, supplier_fulfil_fractions=(1.0, 0.75, 0.5, 0.25, 0.0)
        ),
        rewards=dataclasses.replace(base.rewards, mode="system"),
    )


#: ``lost_sales_L<L>_p<p>`` (``backorder_..``), optionally ``_mean<m>``: a
#: single-stage instance by name (:func:`single_stage`)
_SINGLE_STAGE = re.compile(
    r"(lost_sales|backorder)_L([0-9]+)_p([0-9]+(?:\.[0-9]+)?)"
    r"(?:_mean([0-9]+(?:\.[0-9]+)?))?"
)


def single_stage(
    lead_time: int,
    penalty: float,
    mean: float = 5.0,
    shortage: ShortageMode = "lost_sales",
    horizon: int = 100,
) -> Scenario:
    """One store ordering whole units from an uncapacitated supplier: the
    single-stage system of inventory theory, in Zipkin's (2008) conventions.

    Zipkin, "Old and new methods for lost-sales inventory systems", Operations
    Research 56(5): Poisson demand (``mean`` per period), holding cost 1 per
    unit on hand at the end of a period, ``penalty`` per unit of demand lost
    (``shortage="lost_sales"``) or per unit backlogged at the end of a period
    (``"backorder"``), no ordering cost. In each of his periods the order
    placed ``L`` periods ago arrives, a new order is placed, demand occurs and
    costs are charged on what is left.

    Mapping to hmarl's timeline (arrivals, demand, then orders and costs, see
    :mod:`hmarl_env.core`): hmarl's store decides at the end of period ``t``,
    after its demand, which is Zipkin's decision at the start of ``t + 1``
    (nothing happens in between). His order arrives ``L`` periods after it is
    placed, before that period's demand; hmarl's arrives ``lead_time`` periods
    after ``t``, i.e. ``lead_time - 1`` periods after his start of ``t + 1``:
    so the store's ``lead_time`` is ``L + 1``, and ``L`` demands fall between
    an order and its arrival in both. hmarl's ledger cost of period ``t + 1``
    (holding on its closing stock, penalty on its lost or backlogged units) is
    his cost of that period; the supplier costs nothing. Long-run average
    ledger cost per period is therefore his average cost.

    Actions are order quantities ``0 .. K`` (``actions.store_max_order``),
    with lost sales ``K = ceil(2 * mean) + 1`` (11 for mean 5): a store
    ordering at random orders about the mean demand, so stock does not pile
    up while a learner explores, and the optimal policy never needs more (the
    exact solver, :mod:`baselines.optimal`, checks that this bound does not
    bind; a base-stock policy would order more after a period of demand above
    ``K``). With backorders the optimum is base-stock, which reorders each
    period's demand: ``K`` is then one above the demand's ``1 - 1e-6``
    quantile (20 for mean 5).
    An episode (``horizon`` periods, 100 by default; evaluate with a longer
    one for steady-state averages) starts near the steady state: ``mean``
    units arrive in each of the first ``L`` periods and the store holds what
    brings its inventory position to the backorder base-stock level (the ``p /
    (p + 1)`` quantile of ``L + 1`` periods' demand). Every agent is rewarded
    by the system's cost (``rewards.mode = "system"``), here the store's own,
    charged in expectation over each period's demand
    (``rewards.expected_store_costs``: the same expected return as the ledger
    cost, without the demand draw's noise, which a penalty of 39 per lost unit
    makes the larger part of a period's cost; the ledger and every evaluation
    keep the realised costs). Replace ``rewards`` for the realised cost.

    Loadable by name: ``lost_sales_L4_p39`` (``L = 4``, ``p = 39``, mean 5),
    ``backorder_L2_p9_mean10``.
    """
    from scipy import stats

    _check_count("single_stage", "lead_time", lead_time)
    _check_finite("single_stage", "penalty", penalty, strict=True)
    _check_finite("single_stage", "mean", mean, strict=True)
    if shortage not in ("lost_sales", "backorder"):
        raise ValueError(
            f"single_stage.shortage must be 'lost_sales' or 'backorder', got "
            f"{shortage!r}"
        )
    if shortage == "lost_sales":
        K = math.ceil(2 * mean) + 1
    else:  # the optimum is base-stock, whose order is the last demand
        K = int(stats.poisson.isf(1e-6, mean)) + 1
    level = float(stats.poisson.ppf(penalty / (penalty + 1.0), mean * (lead_time + 1)))
    pipeline = mean * lead_time
    name = f"{shortage}_L{lead_time}_p{penalty:g}" + (
        "" if mean == 5.0 else f"_mean{mean:g}"
    )
    return Scenario(
        name=name,
        nodes=(
            Node(
                "store_1",
                parent=None,
                lead_time=lead_time + 1,
                holding_cost=1.0,
                stockout_cost=float(penalty),
                initial_inventory=max(level - pipeline, mean),
                initial_pipeline=float(mean),
                demand=Poisson(float(mean)),
            ),
        ),
        horizon=horizon,
        shortage=shortage,
        actions=Actions(store_max_order=K),
        rewards=Rewards(mode="system", expected_store_costs=True),
    )


PRESETS = {
    "default": default,
    "serial": serial,
    "four_stores": four_stores,
    "backorder": backorder,
    "seasonal": seasonal,
    "hierarchy": hierarchy,
}


def _preset(name: str) -> Scenario | None:
    """The preset or single-stage instance called ``name``, or None."""
    if name in PRESETS:
        return PRESETS[name]()
    m = _SINGLE_STAGE.fullmatch(name)
    if m is None:
        return None
    shortage, L, p, mean = m.groups()
    return single_stage(int(L), float(p), float(mean or 5.0), shortage)


def get_scenario(
    scenario: str | Path | Scenario = "default", **overrides: Any
) -> Scenario:
    """A preset by name, a scenario file by path, or a :class:`Scenario` as is;
    ``overrides`` replace top-level fields (for example ``horizon=30``).
    """
    if isinstance(scenario, Scenario):
        result = scenario
    elif isinstance(scenario, str) and (preset := _preset(scenario)) is not None:
        result = preset
    elif isinstance(scenario, (str, Path)) and Path(scenario).suffix.lower() in (
        ".toml",
        ".yaml",
        ".yml",
        ".json",
    ):
        result = load_scenario(scenario)
    else:
        raise ValueError(
            f"unknown scenario {str(scenario)!r}: use one of the presets "
            f"{sorted(PRESETS)}, a single-stage instance such as "
            "'lost_sales_L4_p39' or 'backorder_L2_p9_mean10', or a path to a "
            ".toml/.yaml/.json file"
        )
    return result.replace(**overrides) if overrides else result
