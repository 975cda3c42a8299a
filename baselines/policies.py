"""Rule-based policies with the interface learned policies share.

A policy is a callable from a batch of one agent's observations ``(B, dim)``
(float32, as the env gives them) to a batch of integer actions ``(B,)``. Each
is built for one agent of one scenario, since it reads the scales and lead time
that the observations were divided by (:mod:`hmarl_env.observations`), and
reads columns by the registry's names (``obs[:, StoreFeature.inventory]``).

* :class:`RuleBasedStore` - the reference design's rule-based store.
* :class:`BaseStockStore` - the best discrete approximation of a base-stock
  policy: the multiplier whose order brings the inventory position closest to
  a target computed from forecast, uncertainty and lead time.
* :class:`SSWarehouse` - the warehouse's (s, S) rule with the scenario's lots.
* :class:`EchelonWarehouse` - echelon base-stock for a warehouse that observes
  its echelon state (``warehouse_observation="echelon"``): Clark and Scarf's
  rule, the optimal one in a serial chain with backorders at the right levels.
* :class:`AlwaysFulfil` - the supplier releases everything it can.
* :class:`SmoothingSupplier` - the supplier spreads releases to stay near its
  regular capacity (production smoothing), releasing everything only when it
  owes much.
* :class:`ConstantStore` - a store that ignores its state and always orders
  (about) 1.0 x forecast: the bar a learned store must clear to show that it
  uses what it observes.
* :class:`OrderUpToStore`, :class:`ConstantOrderStore` - the same rules for
  stores that order whole quantities (``actions.store_max_order``).

The exact optimum of single-stage instances and the heuristics of inventory
theory (best base-stock, myopic, best constant order) are in
:mod:`baselines.optimal`.

:func:`make_policies` builds a whole mapping from agent to policy for the named
sets ``seed``, ``base_stock``, ``tuned``, ``constant`` and ``smoothing``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from baselines.tuned import load_tuned
from hmarl_env.observations import (
    demand_scales,
    inventory_scales,
    warehouse_observation_name,
)
from hmarl_env.registry import (
    EchelonFeature,
    StoreFeature,
    StoreOrderFeature,
    SupplierFeature,
    WarehouseFeature,
    agents_of,
)
from hmarl_env.scenario import Scenario
from hmarl_env.utils.names import resolve

__all__ = [
    "POLICY_SETS",
    "TUNED_SETS",
    "SmoothingSupplier",
    "AlwaysFulfil",
    "BaseStockStore",
    "ConstantOrderStore",
    "ConstantStore",
    "Covers",
    "EchelonWarehouse",
    "Offsets",
    "OrderUpToStore",
    "Policy",
    "SSStore",
    "SSWarehouse",
    "RuleBasedStore",
    "default_ss_levels",
    "echelon_level",
    "make_policies",
    "policy_set",
]

POLICY_SETS = ("rule_based", "base_stock", "tuned", "constant", "smoothing")
#: older names of policy sets, still accepted
POLICY_SET_ALIASES = {"seed": "rule_based"}
#: the sets that act with tuned parameters
TUNED_SETS = ("tuned", "smoothing")

# observation columns (the registry's)
_F, _W, _S = StoreFeature, WarehouseFeature, SupplierFeature


class Policy(Protocol):
    """Observations ``(B, dim)`` -> integer actions ``(B,)``."""

    role: str

    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


def _check_obs(obs: np.ndarray, width: int, who: str) -> np.ndarray:
    obs = np.asarray(obs)
    if obs.ndim != 2 or obs.shape[1] < width:
        raise ValueError(
            f"{who} needs observations of shape (batch, >= {width}), got {obs.shape}"
        )
    return obs


@dataclass(frozen=True)
class RuleBasedStore:
    """The rule-based store-based store, as we read it.

    The reference design names the rule only as "rule-based": it orders more the fewer
    days of demand its shelf covers and nothing once it holds the excess target.
    Our reading, on the observed days of cover (on hand / forecast, ignoring
    what is in transit, as the reference design's 7-D observation does): fewer than
    ``thresholds[0]`` days -> the largest order (1.5 x forecast), fewer than
    ``thresholds[1]`` -> 1.0 x, fewer than ``thresholds[2]`` -> 0.5 x,
    otherwise no order. The default thresholds (2, 3, 5) put the last at the
    reference design's five-day excess target.
    """

    n_actions: int = 4
    thresholds: tuple[float, float, float] = (2.0, 3.0, 5.0)
    role: str = "store"

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        cover = _check_obs(obs, _F.days_of_cover + 1, "RuleBasedStore")[
            :, _F.days_of_cover
        ]
        levels = np.searchsorted(np.asarray(self.thresholds), cover, side="right")
        # 0 thresholds passed -> biggest action; all passed -> action 0
        return np.clip(self.n_actions - 1 - levels, 0, self.n_actions - 1).astype(
            np.int64
        )


@dataclass(frozen=True)
class ConstantStore:
    """Always the action whose multiplier is closest to ``multiplier`` (1.0:
    order the forecast), whatever the store observes.

    Attributes:
        multipliers: the scenario's store order multipliers.
        multiplier: the multiple of the forecast to order.
    """

    multipliers: tuple[float, ...]
    multiplier: float = 1.0
    role: str = "store"

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        a = int(np.argmin(np.abs(np.asarray(self.multipliers) - self.multiplier)))
        return np.full(np.asarray(obs).shape[0], a, dtype=np.int64)


@dataclass(frozen=True)
class BaseStockStore:
    """Order-up-to within the discrete action space.

    Target inventory position ``forecast * cover + safety_factor * uncertainty *
    sqrt(lead_time + 1)``; the inventory position is on hand plus in transit
    plus on order. Picks the multiplier whose order ``multiplier * forecast``
    brings the position closest to the target. Needs the ``pipeline`` store
    observation (the reference design's 7-D layout has no pipeline).

    Attributes:
        lead_time: the store's lead time ``L`` (the observation scales use it).
        multipliers: the scenario's store order multipliers.
        cover: periods of forecast demand to hold (``L + 1`` covers the lead
            time and one review period).
        safety_factor: standard deviations of safety stock.
    """

    lead_time: int
    multipliers: tuple[float, ...]
    cover: float
    safety_factor: float = 1.65
    role: str = "store"

    def __post_init__(self) -> None:
        for name in ("cover", "safety_factor"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(
                    f"BaseStockStore.{name} must be finite, got {getattr(self, name)!r}"
                )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = _check_obs(
            obs, _F.inbound_pipeline + 1, "BaseStockStore (pipeline observation)"
        )
        obs = obs.astype(np.float64)
        periods = self.lead_time + 1.0
        # in units of the store's mean demand: inventory scale = mean * (L + 1)
        position = (obs[:, _F.inventory] + obs[:, _F.inbound_pipeline]) * periods
        forecast = obs[:, _F.forecast]
        target = forecast * self.cover + self.safety_factor * obs[
            :, _F.demand_uncertainty
        ] * (math.sqrt(periods))
        after = (
            position[:, None]
            + np.asarray(self.multipliers)[None, :] * forecast[:, None]
        )
        return np.argmin(np.abs(after - target[:, None]), axis=1).astype(np.int64)


@dataclass(frozen=True)
class Offsets:
    """Orders as adjustments ``-k .. k`` to the demand just served
    (``actions.order_offsets``): :meth:`action` is the action that orders
    ``q`` units, the demand read from the observation's ``column`` (the
    demand below the node over its ``demand_scale``)."""

    k: int
    column: int
    demand_scale: float

    def action(self, q: np.ndarray, obs: np.ndarray) -> np.ndarray:
        d = np.rint(
            np.asarray(obs)[:, self.column].astype(np.float64) * self.demand_scale
        )
        return np.clip(np.rint(q) - d + self.k, 0, 2 * self.k).astype(np.int64)


def orders_position(
    obs: np.ndarray, inventory_scale: float, demand_scale: float, end: int | None = None
) -> np.ndarray:
    """A store's inventory position in units from its ``orders`` observation:
    on hand less backlog, plus everything on order (the columns from
    ``on_order`` up to ``end``, in units of its demand scale)."""
    F = StoreOrderFeature
    obs = np.asarray(obs, dtype=np.float64)
    stock = (obs[:, F.inventory] - obs[:, F.backlog]) * inventory_scale
    return stock + obs[:, F.on_order : end].sum(axis=1) * demand_scale


@dataclass(frozen=True)
class Covers:
    """Orders as periods of cover that a planner sizes
    (``actions.store_lot_cover``, ``actions.warehouse_lot_cover``):
    :meth:`action` is the action whose lot, from inventory position ``y``,
    comes closest to ``q`` units (the env's rule: ``ceil(level - y)`` within
    ``0..max_order``, :meth:`levels`)."""

    values: tuple[float, ...]
    mean: float
    lead_time: int
    max_order: int

    def levels(self) -> np.ndarray:
        """What each action orders up to: ``c * mean + (lead_time - 1) *
        mean``, the cover after the demand until the order arrives."""
        return (np.asarray(self.values) + (self.lead_time - 1)) * self.mean

    def action(self, q: np.ndarray, y: np.ndarray) -> np.ndarray:
        levels = self.levels()[None, :]
        lots = np.ceil(levels - np.asarray(y)[:, None] - 1e-9)
        lots = np.clip(lots, 0, self.max_order)
        return np.argmin(np.abs(lots - np.asarray(q)[:, None]), axis=1).astype(np.int64)


@dataclass(frozen=True)
class OrderUpToStore:
    """Base-stock for a store ordering whole quantities: order ``level`` minus
    the inventory position (on hand less backlog plus everything ordered and
    not yet received), rounded, within ``0 .. max_order``.

    Attributes:
        level: the order-up-to level, units.
        max_order: the largest order (``actions.store_max_order``).
        layout: the store observation it reads: ``orders`` or ``pipeline``
            (whose position ignores a backlog, as :class:`BaseStockStore`).
        inventory_scale, demand_scale: the store's observation scales.
        offsets: where the store orders by offsets, how (``None``: units).
        covers: where it orders periods of cover, how.
    """

    level: float
    max_order: int
    layout: str
    inventory_scale: float
    demand_scale: float
    role: str = "store"
    offsets: Offsets | None = None
    covers: Covers | None = None

    def __post_init__(self) -> None:
        if self.layout not in ("orders", "pipeline"):
            raise ValueError(
                "OrderUpToStore reads the 'orders' or 'pipeline' store "
                f"observation (the position needs the pipeline), got {self.layout!r}"
            )
        if not math.isfinite(self.level):
            raise ValueError(f"OrderUpToStore.level must be finite, got {self.level!r}")

    def position(self, obs: np.ndarray) -> np.ndarray:
        """The inventory position in units."""
        if self.layout == "orders":
            F = StoreOrderFeature
            obs = _check_obs(obs, F.arriving, "OrderUpToStore ('orders')")
            # the arriving columns (with offsets, the demand column follows)
            end = obs.shape[1] - (self.offsets is not None)
            return orders_position(obs, self.inventory_scale, self.demand_scale, end)
        obs = _check_obs(obs, _F.inbound_pipeline + 1, "OrderUpToStore ('pipeline')")
        obs = obs.astype(np.float64)
        return (obs[:, _F.inventory] + obs[:, _F.inbound_pipeline]) * (
            self.inventory_scale
        )

    def to_action(self, order: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """The action that orders ``order`` units: the units themselves, or
        their offset, or the nearest cover (the store's ordering)."""
        if self.offsets is not None:
            return self.offsets.action(order, obs)
        if self.covers is not None:
            return self.covers.action(order, self.position(obs))
        return np.asarray(order).astype(np.int64)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        order = np.clip(np.rint(self.level - self.position(obs)), 0, self.max_order)
        return self.to_action(order, obs)


@dataclass(frozen=True)
class SSStore:
    """(s, S) for a store ordering whole quantities: when the inventory
    position (as :class:`OrderUpToStore` reads it) is at most ``s``, order up
    to ``S``, within ``0 .. max_order``; otherwise nothing. The optimum with a
    fixed order cost and backorders (:mod:`baselines.fixed_cost`)."""

    s: float
    S: float
    position_of: OrderUpToStore
    role: str = "store"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.s) and math.isfinite(self.S) and self.s < self.S):
            raise ValueError(
                f"SSStore needs finite s < S, got s={self.s!r}, S={self.S!r}"
            )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        y = self.position_of.position(obs)
        # positions come from float32 observations: a unit's thousandth apart
        order = np.where(y <= self.s + 1e-3, np.rint(self.S - y), 0.0)
        order = np.clip(order, 0, self.position_of.max_order)
        return self.position_of.to_action(order, obs)


@dataclass(frozen=True)
class ConstantOrderStore:
    """Always order ``quantity`` units (a store ordering whole quantities),
    whatever it observes."""

    quantity: int
    role: str = "store"
    ordering: OrderUpToStore | None = None  # how it orders, where not units

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        q = np.full(np.asarray(obs).shape[0], self.quantity, dtype=np.int64)
        return q if self.ordering is None else self.ordering.to_action(q, obs)


@dataclass(frozen=True)
class SSWarehouse:
    """(s, S): when the inventory position (on hand + in transit + on order)
    falls below ``s``, order the lot that brings it closest to ``S``; else the
    smallest lot (0 in the default scenario).

    Attributes:
        s: reorder point, units.
        S: order-up-to level, units (>= s).
        inventory_scale: the warehouse's observation scale (units per 1.0).
        lots: the scenario's warehouse lots.
        offsets: where the warehouse orders by offsets, how: it then orders
            ``S`` less the position when below ``s``, else nothing.
        covers: where the warehouse orders periods of cover
            (``actions.warehouse_lot_cover``), how: below ``s`` it picks the
            cover whose level (what the planner orders up to, from the
            position it nets) is nearest ``S``, else cover 0.
    """

    s: float
    S: float
    inventory_scale: float
    lots: tuple[float, ...]
    role: str = "warehouse"
    offsets: Offsets | None = None
    covers: Covers | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.s) and math.isfinite(self.S) and self.S >= self.s):
            raise ValueError(
                f"SSWarehouse needs finite s <= S, got s={self.s!r}, S={self.S!r}"
            )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = _check_obs(obs, _W.inbound_pipeline + 1, "SSWarehouse")
        obs = obs.astype(np.float64)
        position = (obs[:, _W.inventory] + obs[:, _W.inbound_pipeline]) * (
            self.inventory_scale
        )
        if self.offsets is not None:
            q = np.where(position < self.s, np.maximum(self.S - position, 0.0), 0.0)
            return self.offsets.action(q, obs)
        if self.covers is not None:
            up_to = int(np.argmin(np.abs(self.covers.levels() - self.S)))
            return np.where(position < self.s, up_to, 0).astype(np.int64)
        lots = np.asarray(self.lots)
        best = np.argmin(np.abs(position[:, None] + lots[None, :] - self.S), axis=1)
        return np.where(position < self.s, best, int(np.argmin(lots))).astype(np.int64)


@dataclass(frozen=True)
class EchelonWarehouse:
    """Echelon base-stock: order what brings the echelon inventory position
    (stock here and below, in transit between, on order here, less the
    stores' backorders) back up to ``level``; with lots, the lot closest to
    that quantity. It reads the ``echelon`` warehouse layout.

    Attributes:
        level: the echelon base-stock level, units.
        inventory_scale: the warehouse's observation scale (units per 1.0).
        lots: the warehouse's order choices (``0 .. K`` for whole quantities).
        offsets: where the warehouse orders by offsets, how.
    """

    level: float
    inventory_scale: float
    lots: tuple[float, ...]
    role: str = "warehouse"
    offsets: Offsets | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.level):
            raise ValueError(
                f"EchelonWarehouse.level must be finite, got {self.level!r}"
            )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        E = EchelonFeature
        obs = _check_obs(obs, E.on_order + 1, "EchelonWarehouse ('echelon')")
        position = obs[:, E.echelon_position].astype(np.float64) * self.inventory_scale
        want = np.maximum(self.level - position, 0.0)
        if self.offsets is not None:
            return self.offsets.action(want, obs)
        lots = np.asarray(self.lots)
        return np.argmin(np.abs(want[:, None] - lots[None, :]), axis=1).astype(np.int64)


def echelon_level(scenario: Scenario, i: int, z: float = 1.65) -> float:
    """The untuned echelon base-stock level of node ``i``: the mean demand
    below it over its echelon lead time (its own and every lead time below
    it, plus the period between reviews) plus ``z`` standard deviations of
    it (independent periods)."""
    T, k = 1, i
    while True:
        T += int(scenario.lead_times[k])
        below = np.flatnonzero(scenario.parent_index == k)
        if below.size == 0:
            break
        k = int(below[0])  # the lead times of the first branch below
    mean, std = float(scenario.mean_demand[i]), float(scenario.demand_std[i])
    return mean * T + z * std * math.sqrt(T)


@dataclass(frozen=True)
class AlwaysFulfil:
    """The supplier always takes the action with the largest fulfil fraction."""

    fractions: tuple[float, ...] = (1.0, 0.8, 0.0)
    role: str = "supplier"
    _action: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_action", int(np.argmax(self.fractions)))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.full(np.asarray(obs).shape[0], self._action, dtype=np.int64)


@dataclass(frozen=True)
class SmoothingSupplier:
    """Production smoothing: release about the regular capacity a period.

    The supplier acts before it sees this period's order, so it plans for
    ``expected_order`` units on top of what it already owes and takes the
    fraction whose release comes closest to ``regular_capacity``; when it owes
    more than ``urgent`` times the root's inventory scale already, it releases
    everything it can (the warehouse is waiting).

    Attributes:
        fractions: the scenario's fulfil fractions.
        regular_capacity: units a period released without overtime.
        inventory_scale: the root's observation scale (units per 1.0).
        expected_order: units assumed ordered this period.
        urgent: what it owes, in root inventory scales, above which it releases
            everything.
    """

    fractions: tuple[float, ...]
    regular_capacity: float
    inventory_scale: float
    expected_order: float
    urgent: float = 0.25
    role: str = "supplier"

    def __post_init__(self) -> None:
        for name in ("regular_capacity", "inventory_scale", "expected_order"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(
                    f"SmoothingSupplier.{name} must be finite and >= 0, got {v!r}"
                )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = _check_obs(obs, _S.backlog + 1, "SmoothingSupplier").astype(np.float64)
        owed = obs[:, _S.backlog] * self.inventory_scale
        f = np.asarray(self.fractions)
        release = (owed + self.expected_order)[:, None] * f[None, :]
        smooth = np.argmin(np.abs(release - self.regular_capacity), axis=1)
        urgent = owed > self.urgent * self.inventory_scale
        return np.where(urgent, int(np.argmax(f)), smooth).astype(np.int64)


def default_ss_levels(scenario: Scenario, warehouse: str) -> tuple[float, float]:
    """Untuned (s, S) of a warehouse: reorder at the expected demand over its
    lead time plus one period, order up to that plus two days' demand more
    than the middle lot covers."""
    i = scenario.node_names.index(warehouse)
    mean = float(scenario.mean_demand[i])
    s = mean * (scenario.nodes[i].lead_time + 1)
    lots = sorted(scenario.actions.choices("warehouse_order_lots", mean))
    return s, s + lots[len(lots) // 2] + 2 * mean


#: the smoothing supplier of ``make_policies(..., "smoothing")``: chosen on the
#: ``hierarchy`` scenario by a grid on training seeds 0-299 (expected order 0 to
#: 7.5 periods of demand, urgent 0.25 to 1.5 inventory scales or never)
SMOOTHING_EXPECTED_DAYS = 2.5
SMOOTHING_URGENT = 0.25


def policy_set(kind: str) -> str:
    """A policy set's name, its alias resolved; a clear error for an unknown
    one."""
    return resolve(kind, POLICY_SETS, POLICY_SET_ALIASES, "the policy set")


def make_policies(
    scenario: Scenario,
    kind: str = "rule_based",
    params: Mapping[str, Any] | None = None,
    store_observation: str = "pipeline",
    warehouse_observation: str = "local",
) -> dict[str, Policy]:
    """A policy for every agent of ``scenario``.

    Args:
        kind: ``seed`` (the reference design's store, default (s, S) warehouses, always
            fulfil), ``base_stock`` (the base-stock store instead, with cover
            ``L + 1`` and safety factor 1.65), ``tuned`` (parameters from
            ``results/baselines/<scenario>.json``, see ``baselines.tune``),
            ``constant`` (stores that always order 1.0 x forecast; warehouses
            and supplier as in ``seed``) or ``smoothing`` (``tuned``, with a
            :class:`SmoothingSupplier` expecting 2.5 periods of the root's
            demand and releasing all above a quarter of its inventory scale).
        params: explicit parameters, as :mod:`baselines.tune` writes them:
            ``{"store": {"cover_offset": .., "safety_factor": ..},
            "warehouse": {"s_days": .., "S_days": ..}}`` (levels in periods of
            each warehouse's expected demand, cover as periods beyond ``L + 1``).
        store_observation: the stores' observation layout. Stores ordering
            whole quantities (``actions.store_max_order``) act by
            :class:`OrderUpToStore` (every kind but ``constant``: the rule-based store
            has no quantity version, so ``seed`` is the untuned order-up-to
            level ``forecast * cover + safety_factor * std * sqrt(L + 1)`` of
            ``base_stock``) or :class:`ConstantOrderStore` (``constant``: the
            mean demand, rounded).
        warehouse_observation: the warehouses' layout. ``echelon``: every
            warehouse acts by :class:`EchelonWarehouse`, at the level
            ``echelon_days`` periods of its demand where the parameters give
            one (``params["warehouse"]`` or the node's own), else at
            :func:`echelon_level`.
    """
    warehouse_observation = warehouse_observation_name(warehouse_observation)
    kind = policy_set(kind)
    if kind in TUNED_SETS and params is None:
        params = load_tuned(scenario)["params"]
    context = _Context(
        scenario,
        kind,
        params or {},
        store_observation,
        warehouse_observation,
        inventory_scales(scenario),
        demand_scales(scenario),
    )
    index = {name: i for i, name in enumerate(scenario.node_names)}
    out: dict[str, Policy] = {}
    for role, agents in agents_of(scenario).items():
        build = HEURISTICS[role]
        for agent in agents:
            out[agent] = build(context, index.get(agent, scenario.root))
    return out


@dataclass(frozen=True)
class _Context:
    """What a role's heuristic builder reads: the scenario, the policy set and
    its parameters, the stores' layout, the observation scales."""

    scenario: Scenario
    kind: str
    params: Mapping[str, Any]
    store_observation: str
    warehouse_observation: str
    scales: np.ndarray
    demand: np.ndarray


def _own(c: _Context, role: str, i: int) -> dict[str, Any]:
    """The tuned parameters of node ``i``: its role's, with the node's own
    where it has them (``params["nodes"][name]``, from per-node tuning)."""
    own = c.params.get("nodes", {}).get(c.scenario.nodes[i].name, {})
    return {**c.params.get(role, {}), **own}


def _store(c: _Context, i: int) -> Policy:
    sc, acts, kind = c.scenario, c.scenario.actions, c.kind
    L = sc.nodes[i].lead_time
    p = _own(c, "store", i) if kind != "rule_based" else {}
    if acts.store_orders_quantities:
        mean = float(c.demand[i])
        offsets = covers = None
        if acts.offsets("store_order_multipliers"):
            offsets = Offsets(acts.order_offsets, -1, mean)  # the orders layout's
        if acts.covers("store_order_multipliers"):
            covers = Covers(acts.store_lot_cover, mean, L, acts.store_max_order)
        cover = L + 1 + float(p.get("cover_offset", 0.0))
        safety = float(p.get("safety_factor", 1.65))
        store = OrderUpToStore(
            level=mean * cover + safety * float(sc.demand_std[i]) * math.sqrt(L + 1),
            max_order=acts.store_max_order,
            layout=c.store_observation,
            inventory_scale=float(c.scales[i]),
            demand_scale=mean,
            offsets=offsets,
            covers=covers,
        )
        if kind == "constant":
            q = min(int(round(mean)), acts.store_max_order)
            plain = offsets is None and covers is None
            return ConstantOrderStore(q, ordering=None if plain else store)
        return store
    if kind == "rule_based":
        return RuleBasedStore(n_actions=len(acts.store_order_multipliers))
    if kind == "constant":
        return ConstantStore(acts.store_order_multipliers)
    return BaseStockStore(
        lead_time=L,
        multipliers=acts.store_order_multipliers,
        cover=L + 1 + float(p.get("cover_offset", 0.0)),
        safety_factor=float(p.get("safety_factor", 1.65)),
    )


def _warehouse(c: _Context, i: int) -> Policy:
    sc = c.scenario
    mean = float(sc.mean_demand[i])
    lots = sc.actions.choices("warehouse_order_lots", mean)
    echelon = c.warehouse_observation == "echelon"
    offsets = None
    if sc.actions.offsets("warehouse_order_lots"):
        # the demand below: the echelon layout's last column, the local one's
        # first (aggregate_store_demand)
        column = -1 if echelon else int(_W.aggregate_store_demand)
        offsets = Offsets(sc.actions.order_offsets, column, float(c.demand[i]))
    covers = None
    if sc.actions.covers("warehouse_order_lots"):
        if echelon:
            raise ValueError(
                "a heuristic warehouse orders by echelon base-stock on the echelon "
                "observation, which periods of cover sized from the warehouse's "
                "local position (actions.warehouse_lot_cover) cannot express: "
                "use the local warehouse observation"
            )
        K = sc.actions.warehouse_max_order
        covers = Covers(sc.actions.warehouse_lot_cover, mean, sc.nodes[i].lead_time, K)
    if echelon:
        days = _own(c, "warehouse", i).get("echelon_days")
        level = echelon_level(sc, i) if days is None else float(days) * mean
        return EchelonWarehouse(level, float(c.scales[i]), lots, offsets=offsets)
    if c.kind in TUNED_SETS:
        p = _own(c, "warehouse", i)
        s, S = p["s_days"] * mean, p["S_days"] * mean
    else:
        s, S = default_ss_levels(sc, sc.nodes[i].name)
    return SSWarehouse(
        s=s,
        S=S,
        inventory_scale=float(c.scales[i]),
        lots=lots,
        offsets=offsets,
        covers=covers,
    )


def _supplier(c: _Context, root: int) -> Policy:
    sc, fractions = c.scenario, c.scenario.actions.supplier_fulfil_fractions
    if c.kind == "smoothing":
        return SmoothingSupplier(
            fractions=fractions,
            regular_capacity=float(sc.supplier.regular_capacity),
            inventory_scale=float(c.scales[root]),
            expected_order=SMOOTHING_EXPECTED_DAYS * float(sc.mean_demand[root]),
            urgent=SMOOTHING_URGENT,
        )
    return AlwaysFulfil(fractions)


#: role name (:data:`hmarl_env.registry.ROLES`) -> the builder of its
#: heuristic policy for a node index (the supplier's: the root's)
HEURISTICS = {"store": _store, "warehouse": _warehouse, "supplier": _supplier}
