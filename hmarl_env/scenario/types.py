"""The types of a scenario: the typed, frozen, validated description of a
supply chain.

(One module past 500 lines on purpose: :class:`Scenario` validates its parts
against one another, and each field's check sits beside the field.)

A :class:`Scenario` is a tree of stocking :class:`Node` objects under one
external :class:`Supplier`. Leaves are stores (they face customer demand and are
named ``store_<n>``); internal nodes are warehouses (``warehouse_<n>``); the
one root orders from the supplier. Node names are the agents' names.

Every field is checked when the object is built; a bad value raises
``ValueError`` naming the field and the value.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from hmarl_env.demand import (
    MAX_HORIZON,
    MAX_MAGNITUDE,
    DemandProcess,
    MertonJumpDiffusion,
    Poisson,
    Trace,
    TraceBank,
    _check_finite,
)
from hmarl_env.registry import ROLES, role_of
from hmarl_env.scenario.products import MAX_PRODUCTS, Product, check_capacity

#: a scenario's name becomes part of run folders and file names: nothing that
#: could climb out of a folder or need quoting
_SCENARIO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]|^[_.-]+")

__all__ = [
    "Actions",
    "Node",
    "RewardWeights",
    "REWARD_MODES",
    "Rewards",
    "Scenario",
    "Supplier",
    "SupplierRewardWeights",
]

ShortageMode = Literal["lost_sales", "backorder"]
#: the longest lead time, in periods: the simulator keeps every node's
#: pipeline for each period of the longest one (8 bytes a node, period and
#: replica: 80 kB a node and replica at this bound)
MAX_LEAD_TIME = 10_000
#: the most order quantities a store may choose from (``store_max_order``)
MAX_ACTIONS = 10_000
#: what a node may be called: ``<prefix>_<n>`` of a node role of the registry
NODE_PREFIXES = tuple(r.prefix for r in ROLES.values() if r.is_node)
_NAME = re.compile(rf"^({'|'.join(NODE_PREFIXES)})_[0-9]+$")


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
        demand: the customer demand process; stores only, and only in a
            scenario without ``products`` (a catalogue gives each product's
            demand at each store).
        storage: the most volume a node holds on hand (the sum over products
            of units times each product's volume; one unit of volume each in a
            single-product chain); what arrives beyond it is discarded
            (:mod:`hmarl_env.core`, step 1). ``inf``: no limit.
        truck_volume: the most volume the parent ships to this node in a
            period (its lane's truck); shipments beyond it are cut and stay
            owed (step 3). ``inf``: no limit. The root's lane is the
            supplier's release volume (:attr:`Supplier.capacity`).
        shipping_loss: the mean fraction of each shipment to this node lost
            in transit, in ``[0, 1)``: each period's shipment loses a
            fraction drawn from the episode's generator (a beta distribution
            of this mean, :data:`hmarl_env.core.LOSS_CONCENTRATION`), the
            same fraction of every product on the lane; the lost units never
            arrive and cost the product's value (ledger ``transit_lost``,
            ``transit_loss_cost``). 0 (the default): nothing is lost.
        price_breaks: the unit purchase price of what the node orders, as
            ``(from quantity, unit price)`` pairs: the first from 0, the
            quantities increasing and the prices decreasing (quantity
            discounts). ``()`` (the default): orders cost only the fixed
            cost. Charged in the period of the order (ledger
            ``purchase_cost``, in ``total_cost``); with a catalogue each
            product's order is priced on its own.
        discount: how the breaks price an order of ``q`` units:
            ``"all_units"`` (every unit at the price of the break ``q``
            reaches) or ``"incremental"`` (each unit at the price of the
            break it falls in).
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
    storage: float = math.inf
    truck_volume: float = math.inf
    shipping_loss: float = 0.0
    price_breaks: tuple[tuple[float, float], ...] = ()
    discount: str = "all_units"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                "Node.name must look like "
                + " or ".join(f"'{p}_1'" for p in NODE_PREFIXES)
                + f", got {self.name!r}"
            )
        where = f"nodes[{self.name}]"
        if self.parent is not None and not isinstance(self.parent, str):
            raise ValueError(
                f"{where}.parent must be a node name or None, got {self.parent!r}"
            )
        _check_count(where, "lead_time", self.lead_time)
        if self.lead_time > MAX_LEAD_TIME:
            gib = 8 * self.lead_time / 2**30
            raise ValueError(
                f"{where}.lead_time must be at most {MAX_LEAD_TIME:,} periods, got "
                f"{self.lead_time:,}: the simulator keeps each node's pipeline "
                "for every period of the longest lead time, which would take "
                f"{gib:,.1f} GiB per node and replica"
            )
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
        check_capacity(where, "storage", self.storage)
        check_capacity(where, "truck_volume", self.truck_volume)
        loss = self.shipping_loss
        if (
            isinstance(loss, bool)
            or not isinstance(loss, (int, float))
            or not 0.0 <= loss < 1.0
        ):
            raise ValueError(
                f"{where}.shipping_loss must be a fraction in [0, 1), got {loss!r}"
            )
        object.__setattr__(
            self, "price_breaks", _check_breaks(where, self.price_breaks)
        )
        if self.discount not in DISCOUNTS:
            raise ValueError(
                f"{where}.discount must be one of {list(DISCOUNTS)}, got "
                f"{self.discount!r}"
            )
        if not self.is_store and self.demand is not None:
            raise ValueError(f"{where}.demand must be empty: only stores face demand")

    @property
    def is_store(self) -> bool:
        """Whether the node serves customer demand (a store, a leaf)."""
        return role_of(self.name).faces_demand


@dataclass(frozen=True)
class Supplier:
    """The external source that replenishes the root node.

    Its lead time is the root node's ``lead_time``.

    Attributes:
        capacity: most units released per period (``inf`` for unlimited); with
            a catalogue, the most volume released per period across products,
            shared in proportion to what each product's release would be.
        regular_capacity: units (with a catalogue: volume) per period released
            without overtime; units above it cost ``overtime_cost`` each, per
            unit of volume with a catalogue (``inf``: no overtime).
        overtime_cost: cost per unit released above ``regular_capacity``.
        backlog_cost: cost per unit ordered but not yet released, per period.
    """

    capacity: float = math.inf
    regular_capacity: float = math.inf
    overtime_cost: float = 0.0
    backlog_cost: float = 0.0

    def __post_init__(self) -> None:
        for name in ("capacity", "regular_capacity"):
            check_capacity("supplier", name, getattr(self, name))
        _check_finite("supplier", "overtime_cost", self.overtime_cost)
        _check_finite("supplier", "backlog_cost", self.backlog_cost)


#: how price breaks price an order (``Node.discount``)
DISCOUNTS = ("all_units", "incremental")


def _check_breaks(where: str, raw: Any) -> tuple[tuple[float, float], ...]:
    """``Node.price_breaks`` as a tuple of ``(quantity, price)`` pairs, or a
    ``ValueError`` naming what is wrong: not pairs of numbers, a first
    quantity other than 0, quantities that do not increase, prices that do
    not decrease or are negative."""
    name = f"{where}.price_breaks"
    if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__"):
        raise ValueError(
            f"{name} must be a list of [quantity, price] pairs, got {raw!r}"
        )
    pairs = []
    for k, pair in enumerate(raw):
        if (
            isinstance(pair, (str, bytes))
            or not hasattr(pair, "__len__")
            or len(pair) != 2
        ):
            raise ValueError(
                f"{name}[{k}] must be a [quantity, price] pair, got {pair!r}"
            )
        q, price = pair
        _check_finite(name, f"[{k}] quantity", q)
        _check_finite(name, f"[{k}] price", price)
        pairs.append((float(q), float(price)))
    if pairs and pairs[0][0] != 0.0:
        raise ValueError(f"{name}[0] must start from quantity 0, got {pairs[0][0]!r}")
    for k in range(1, len(pairs)):
        if pairs[k][0] <= pairs[k - 1][0]:
            raise ValueError(
                f"{name}: the quantities must increase, got {pairs[k - 1][0]:g} "
                f"then {pairs[k][0]:g}"
            )
        if pairs[k][1] >= pairs[k - 1][1]:
            raise ValueError(
                f"{name}: the prices must decrease (a discount schedule), got "
                f"{pairs[k - 1][1]:g} then {pairs[k][1]:g}"
            )
    return tuple(pairs)


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
    ``excess_cover_days`` periods of expected demand); the reference design's by
    default."""

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
            ledger row, the reference design's), ``"system"`` (every agent receives the
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
        warehouse_max_order: ``K``: warehouses order whole quantities
            instead, action ``a`` orders ``a`` units, ``0..K``
            (``Discrete(K + 1)``), as stores do with ``store_max_order``;
            ``None`` (the default): lots.
        order_offsets: ``k``: nodes that order whole quantities (with
            ``store_max_order`` or ``warehouse_max_order``) choose an
            adjustment instead: action ``a`` (``Discrete(2k + 1)``) orders
            ``d + a - k`` units, ``d`` the customer demand below the node in
            the period just served (rounded), within ``0..K``: the "d + x"
            actions of the beer-game learners (Oroojlooyjadid et al., 2022).
            A policy acting at random then orders what is sold, on average,
            where one ordering ``0..K`` at random floods the chain with
            orders it never needed. ``None`` (the default): ``a`` units.
        store_lot_cover: stores that order whole quantities choose how many
            periods of demand their order covers, and a planner sizes the
            lot (the hybrid of a learned timing and a lot-sizing rule's
            netting): action ``a`` orders, within ``0..K``, what brings the
            stock projected at the order's arrival (the inventory position
            less the mean demand of the ``lead_time - 1`` periods until
            then) up to ``store_lot_cover[a]`` periods of the store's mean
            demand, rounded up; a cover of 0 orders nothing unless a backlog
            is owed at arrival. ``None`` (the default): quantities.
        warehouse_lot_cover: the same for warehouses that order whole
            quantities (``warehouse_max_order``, the largest lot): action
            ``a`` orders what brings the warehouse's inventory position
            (on hand less what it owes its children, plus everything on its
            way) less the mean demand it serves over ``lead_time - 1``
            periods up to ``warehouse_lot_cover[a]`` periods of that demand.
            ``None`` (the default): quantities.
        warehouse_lot_periods: lots that scale with each warehouse: a
            warehouse orders this many periods of the mean demand it serves
            (``warehouse_order_lots`` is then unused), so a central warehouse
            of fifty stores and a regional one of five both order in lots
            that fit them. ``None`` (the default): the fixed lots.
        catalogue_cover: with products, every node's action per product:
            an order-up-to level of this many periods of the product's mean
            demand through the node (:mod:`hmarl_env.catalogue_roles`).
        catalogue_safety: with products, instead of ``catalogue_cover``:
            action ``k`` sets the level ``mu (L + 1) + z_k sigma sqrt(L +
            1)`` of the product's mean ``mu`` and std ``sigma`` through the
            node (the safety factors ``z_k``, increasing; the catalogue
            presets use the heuristics' grid, -1.5 to 4 by 0.25, so that every
            tuned heuristic is a policy of the env).
    """

    store_order_multipliers: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5)
    warehouse_order_lots: tuple[float, ...] = (0.0, 500.0, 1000.0, 1500.0)
    supplier_fulfil_fractions: tuple[float, ...] = (1.0, 0.8, 0.0)
    store_max_order: int | None = None
    warehouse_max_order: int | None = None
    order_offsets: int | None = None
    store_lot_cover: tuple[float, ...] | None = None
    warehouse_lot_cover: tuple[float, ...] | None = None
    warehouse_lot_periods: tuple[float, ...] | None = None
    catalogue_cover: tuple[float, ...] = (
        0.0,
        1.0,
        2.0,
        3.0,
        4.0,
        5.0,
        6.0,
        7.0,
        8.0,
        10.0,
    )
    catalogue_safety: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name, who in (
            ("store_max_order", "stores"),
            ("warehouse_max_order", "warehouses"),
        ):
            K = getattr(self, name)
            if K is not None and (
                isinstance(K, bool)
                or not isinstance(K, int)
                or not 1 <= K <= MAX_ACTIONS
            ):
                raise ValueError(
                    f"actions.{name} must be an integer in [1, {MAX_ACTIONS}] "
                    f"({who} order 0..K units, Discrete(K + 1)), got {K!r}"
                )
        k = self.order_offsets
        if k is not None:
            if (
                isinstance(k, bool)
                or not isinstance(k, int)
                or not 1 <= k <= (MAX_ACTIONS - 1) // 2
            ):
                raise ValueError(
                    "actions.order_offsets must be an integer in [1, "
                    f"{(MAX_ACTIONS - 1) // 2}] (orders d - k .. d + k, "
                    f"Discrete(2k + 1)), got {k!r}"
                )
            if self.store_max_order is None and self.warehouse_max_order is None:
                raise ValueError(
                    "actions.order_offsets adjusts orders of whole quantities: "
                    "set actions.store_max_order or actions.warehouse_max_order"
                )
        for who in ("store", "warehouse"):
            if getattr(self, f"{who}_lot_cover") is None:
                continue
            if getattr(self, f"{who}_max_order") is None:
                raise ValueError(
                    f"actions.{who}_lot_cover sizes lots of whole units: set "
                    f"actions.{who}_max_order (the largest lot)"
                )
            if self.order_offsets is not None:
                raise ValueError(
                    f"actions.{who}_lot_cover and actions.order_offsets both say "
                    f"what a {who}'s action means: give one"
                )
        if self.warehouse_max_order is not None and self.warehouse_lot_periods:
            raise ValueError(
                "actions.warehouse_max_order and actions.warehouse_lot_periods both "
                "say what a warehouse orders: give one"
            )
        for f in dataclasses.fields(self):
            if f.name in ("store_max_order", "warehouse_max_order", "order_offsets"):
                continue
            raw = getattr(self, f.name)
            if raw is None and f.name in (
                "warehouse_lot_periods",
                "catalogue_safety",
                "store_lot_cover",
                "warehouse_lot_cover",
            ):
                continue
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
            low = -MAX_MAGNITUDE if f.name == "catalogue_safety" else 0.0
            for i, v in enumerate(values):
                _check_finite("actions", f"{f.name}[{i}]", v, minimum=low)
        z = self.catalogue_safety
        if z is not None and any(b <= a for a, b in zip(z, z[1:], strict=False)):
            raise ValueError(f"actions.catalogue_safety must increase, got {list(z)!r}")
        for i, v in enumerate(self.supplier_fulfil_fractions):
            if v > 1:
                raise ValueError(
                    f"actions.supplier_fulfil_fractions[{i}] must be <= 1, got {v!r}"
                )

    @property
    def store_orders_quantities(self) -> bool:
        """Whether a store's action is an order quantity (``store_max_order``)."""
        return self.store_max_order is not None

    def max_order(self, values: str) -> int | None:
        """``K`` of the nodes whose actions index the field ``values``, or
        ``None`` where they do not order whole quantities."""
        return {
            "store_order_multipliers": self.store_max_order,
            "warehouse_order_lots": self.warehouse_max_order,
        }.get(values)

    def offsets(self, values: str) -> bool:
        """Whether the nodes whose actions index ``values`` order by
        adjustments around the demand below them (``order_offsets``)."""
        return self.order_offsets is not None and self.max_order(values) is not None

    def lot_cover(self, values: str) -> tuple[float, ...] | None:
        """The periods of cover that the nodes whose actions index ``values``
        choose from (``store_lot_cover``, ``warehouse_lot_cover``), or
        ``None`` where they do not order by cover."""
        return {
            "store_order_multipliers": self.store_lot_cover,
            "warehouse_order_lots": self.warehouse_lot_cover,
        }.get(values)

    def covers(self, values: str) -> bool:
        """Whether the nodes whose actions index ``values`` choose periods of
        cover that a planner sizes (``store_lot_cover``,
        ``warehouse_lot_cover``)."""
        return self.lot_cover(values) is not None

    def choices(self, values: str, serves: float | None = None) -> tuple[float, ...]:
        """What each action of the field ``values`` means (a registry role's
        :attr:`~hmarl_env.registry.Role.action_values`): its values, or for
        nodes ordering quantities ``0, 1, .., K`` units (with
        ``order_offsets``: the adjustments ``-k .. k`` to the demand below
        them; with ``store_lot_cover`` or ``warehouse_lot_cover``: the
        periods of cover), or
        for warehouses with ``warehouse_lot_periods`` those periods of
        ``serves``, the mean demand the warehouse serves."""
        K = self.max_order(values)
        if self.covers(values):
            return tuple(self.lot_cover(values))
        if K is not None and self.order_offsets is not None:
            k = self.order_offsets
            return tuple(float(a - k) for a in range(2 * k + 1))
        if K is not None:
            return tuple(float(q) for q in range(K + 1))
        if values == "warehouse_order_lots" and self.warehouse_lot_periods:
            if serves is None:
                raise ValueError(
                    "warehouse lots in periods of demand need the demand a "
                    "warehouse serves"
                )
            return tuple(float(p) * float(serves) for p in self.warehouse_lot_periods)
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
        products: the catalogue (:class:`~hmarl_env.scenario.products.Product`),
            each with its demand at every store; empty (the default) for a
            single product whose demand is each store's ``demand``.
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
    products: tuple[Product, ...] = ()

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
        self._check_products()
        for where, d in self._demands():  # a recorded series must cover the horizon
            if isinstance(d, (Trace, TraceBank)):
                d.check_horizon(self.horizon, where)
        for where, d in self._demands():  # a growing demand must stay representable
            if isinstance(d, MertonJumpDiffusion):
                peak = d.peak(self.horizon)
                if peak > MAX_MAGNITUDE:
                    raise ValueError(
                        f"{where}: Merton demand from {d.initial:g} "
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
            for where, d in self._demands():
                if not isinstance(d, Poisson):
                    raise ValueError(
                        f"rewards.expected_store_costs needs Poisson demand at "
                        f"every store (its expected costs are exact for "
                        f"whole-unit demand); {where} is {d!r}"
                    )
        if self.forecast_smoothing > 1:
            raise ValueError(
                f"scenario.forecast_smoothing must be in (0, 1], got "
                f"{self.forecast_smoothing!r}"
            )

    def _check_products(self) -> None:
        """Stores' demand comes from their node or from every product, never
        both; capacities hold at least one unit of the largest product."""
        stores = [n.name for n in self.nodes if n.is_store]
        products = tuple(self.products)
        object.__setattr__(self, "products", products)
        if not products:
            for n in self.nodes:
                if n.is_store and n.demand is None:
                    raise ValueError(f"nodes[{n.name}].demand is required for a store")
            return
        if len(products) > MAX_PRODUCTS:
            raise ValueError(
                f"scenario.products: at most {MAX_PRODUCTS:,} products, got "
                f"{len(products):,}"
            )
        for p in products:
            if not isinstance(p, Product):
                raise ValueError(f"scenario.products must hold Products, got {p!r}")
        names = [p.name for p in products]
        if len(set(names)) != len(names):
            seen: set[str] = set()
            dupes = sorted({x for x in names if x in seen or seen.add(x)})
            raise ValueError(f"scenario.products: duplicate names {dupes[:10]}")
        for n in self.nodes:
            if n.demand is not None:
                raise ValueError(
                    f"nodes[{n.name}].demand must be empty in a scenario with "
                    "products: each product gives its demand at each store"
                )
        for p in products:
            missing = [s for s in stores if s not in p.demand]
            extra = sorted(set(p.demand) - set(stores))
            if missing or extra:
                raise ValueError(
                    f"products[{p.name}].demand must name every store once; "
                    f"missing {missing}, not stores {extra}"
                )
        largest = max(products, key=lambda p: p.volume)
        limits = [
            (f"nodes[{n.name}]", k, getattr(n, k))
            for n in self.nodes
            for k in ("storage", "truck_volume")
        ]
        limits.append(("supplier", "capacity", self.supplier.capacity))
        for where, key, value in limits:
            if value < largest.volume:
                raise ValueError(
                    f"{where}.{key} is {value:g}, less than one unit of the "
                    f"largest product ({largest.name!r}, volume {largest.volume:g})"
                )
        nodes = set(self.node_names)
        for p in products:
            for key in ("initial_inventory", "initial_pipeline"):
                unknown = sorted(set(getattr(p, key)) - nodes)
                if unknown:
                    raise ValueError(
                        f"products[{p.name}].{key} names {unknown}, not nodes; "
                        f"nodes: {sorted(nodes)}"
                    )
        for n in self.nodes:
            if n.initial_inventory or n.initial_pipeline:
                raise ValueError(
                    f"nodes[{n.name}]: initial_inventory and initial_pipeline must "
                    "be 0 in a scenario with products (each product gives its own)"
                )
            held = sum(
                p.initial_inventory.get(n.name, 0.0) * p.volume for p in products
            )
            if held > n.storage:
                raise ValueError(
                    f"nodes[{n.name}]: the products' initial_inventory takes "
                    f"{held:g} of volume, more than its storage {n.storage:g}"
                )

    def _demands(self):
        """``(where, process)`` of every store's demand of every product."""
        if not self.products:
            return [
                (f"nodes[{n.name}].demand", n.demand)
                for n in self.nodes
                if n.demand is not None
            ]
        return [
            (f"products[{p.name}].demand[{s}]", d)
            for p in self.products
            for s, d in p.demand.items()
        ]

    # ----------------------------------------------------------------- catalogue
    @property
    def n_products(self) -> int:
        """Products stocked: 1 for a scenario without a catalogue."""
        return max(len(self.products), 1)

    @cached_property
    def product_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.products) or ("product",)

    @cached_property
    def product_table(self) -> np.ndarray:
        """``(5, P)``: each product's volume, value, holding and stockout
        multipliers and own fixed order cost (``1, 1, 1, 1, 0`` without a
        catalogue)."""
        if not self.products:
            return np.array([[1.0], [1.0], [1.0], [1.0], [0.0]])
        keys = ("volume", "value", "holding_cost", "stockout_cost", "fixed_order_cost")
        return np.array([[getattr(p, k) for p in self.products] for k in keys])

    @cached_property
    def initial_units(self) -> tuple[np.ndarray, np.ndarray]:
        """``(N, P)`` units on hand at the start, and ``(N, P)`` arriving in
        each of the periods ``1 .. L - 1``."""
        if not self.products:
            return (
                np.array([[n.initial_inventory] for n in self.nodes], dtype=float),
                np.array([[n.initial_pipeline] for n in self.nodes], dtype=float),
            )
        out = []
        for key in ("initial_inventory", "initial_pipeline"):
            out.append(
                np.array(
                    [
                        [getattr(p, key).get(n.name, 0.0) for p in self.products]
                        for n in self.nodes
                    ],
                    dtype=float,
                )
            )
        return out[0], out[1]

    def store_demand(self, store: str) -> tuple[DemandProcess, ...]:
        """A store's demand process for each product, in product order."""
        if not self.products:
            return (self.node(store).demand,)
        return tuple(p.demand[store] for p in self.products)

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
    def product_mean_demand(self) -> np.ndarray:
        """``(N, P)``: nominal expected demand per period of each product
        flowing through each node."""
        own = np.zeros((len(self.nodes), self.n_products))
        for i, n in enumerate(self.nodes):
            if n.is_store:
                own[i] = [d.mean for d in self.store_demand(n.name)]
        return self.subtree.T @ own

    def safety_levels(self, z: Any) -> np.ndarray:
        """Order-up-to levels ``(N, P)`` (or ``(..., N, P)`` for ``z`` with
        leading axes): ``S = mu (L + 1) + z sigma sqrt(L + 1)`` per node and
        product, floored at 0, from the nominal demand each node's product
        sees (:attr:`product_mean_demand`, :attr:`product_demand_std`)."""
        cover = (self.lead_times + 1.0)[:, None]
        mu, sigma = self.product_mean_demand, self.product_demand_std
        return np.maximum(mu * cover + np.asarray(z) * sigma * np.sqrt(cover), 0.0)

    @cached_property
    def product_demand_std(self) -> np.ndarray:
        """``(N, P)``: nominal std of each product's demand through each node
        (stores and products independent)."""
        own = np.zeros((len(self.nodes), self.n_products))
        for i, n in enumerate(self.nodes):
            if n.is_store:
                own[i] = [d.std for d in self.store_demand(n.name)]
        return np.sqrt(self.subtree.T @ own**2)

    @cached_property
    def mean_demand(self) -> np.ndarray:
        """Nominal expected demand per period flowing through each node
        (units of every product together)."""
        if not self.products:
            own = np.array(
                [n.demand.mean if n.demand is not None else 0.0 for n in self.nodes]
            )
            return self.subtree.T @ own
        return self.product_mean_demand.sum(axis=1)

    @cached_property
    def demand_std(self) -> np.ndarray:
        """Nominal std of demand per period through each node (stores and
        products independent)."""
        if not self.products:
            own = np.array(
                [n.demand.std if n.demand is not None else 0.0 for n in self.nodes]
            )
            return np.sqrt(self.subtree.T @ own**2)
        return np.sqrt((self.product_demand_std**2).sum(axis=1))

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
            if isinstance(obj, (DemandProcess, Product)):
                return obj.to_dict()
            if dataclasses.is_dataclass(obj):
                return {
                    f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                }
            if isinstance(obj, tuple):
                return [plain(x) for x in obj]
            return obj

        return plain(self)
