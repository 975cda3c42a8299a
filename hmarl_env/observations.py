"""What each agent observes, batched: features, bounds and the kernels.

Every quantity is divided by a scale derived from the scenario: a node's
*inventory scale* is the expected demand flowing through it over its lead time
plus one review period, ``mean_demand * (lead_time + 1)``; its *demand scale* is
its expected demand per period. Unbounded quantities are clipped at :data:`CLIP`
scales. Column indices are the registry's (:mod:`hmarl_env.registry`).

Store (``store_observation="pipeline"``, the default; the reference design's 7-D layout
with ``"seed"`` drops the last entry):

===  ====================  ===========================================  ===========
idx  feature               meaning                                      bounds
===  ====================  ===========================================  ===========
0    inventory             on hand / inventory scale                    [0, 10]
1    forecast              smoothed demand forecast / demand scale      [0, 10]
2    demand_uncertainty    smoothed demand std / demand scale           [0, 10]
3    days_of_cover         on hand / forecast, in periods               [0, 10(L+1)]
4    last_day_stockout     1 if demand went unserved this period        {0, 1}
5    warehouse_ratio       parent's on hand / parent's inventory scale  [0, 10]
6    recent_service_level  smoothed fraction of demand served           [0, 1]
7    inbound_pipeline      (in transit + on order) / inventory scale    [0, 10]
===  ====================  ===========================================  ===========

A store ordering from the supplier directly has ``warehouse_ratio`` 1.

Store, ``store_observation="orders"``: the state a policy ordering whole
quantities needs (for stores with ``actions.store_max_order``; every store
must then have the same lead time ``L``, since they share one module), ``3 +
L - 1`` entries:

===  ====================  ===========================================  ===========
idx  feature               meaning                                      bounds
===  ====================  ===========================================  ===========
0    inventory             on hand / inventory scale                    [0, 10]
1    backlog               customer backlog / inventory scale           [0, 10]
2    on_order              ordered, not yet shipped by the parent       [0, 10]
                           / demand scale
3+k  arriving              units arriving in ``k + 1`` periods /        [0, 10]
                           demand scale, ``k = 0 .. L - 2``
===  ====================  ===========================================  ===========

With an uncapacitated supplier ``on_order`` is 0 and the ``arriving`` columns
are the orders of the last ``L - 1`` periods, oldest first: on hand and the
pipeline are the whole state of the single-stage system.

With order offsets (``actions.order_offsets``: an action adjusts the demand
just served instead of naming a quantity) the ``orders`` and ``echelon``
layouts end with one more column, ``demand``: the customer demand below the
node in the period just served / its demand scale, [0, 10], the quantity the
offsets adjust.

Warehouse (``4 + k`` entries for ``k`` children; 6 in the default):
``aggregate_store_demand`` (this period's customer demand below it / its demand
scale), ``inventory``, ``inbound_pipeline``, each child's ``inventory`` (child's
on hand / child's inventory scale), ``avg_store_service_level`` (mean smoothed
service level of the stores below it). Bounds [0, 10], the last [0, 1].

Warehouse, ``warehouse_observation="echelon"``: the echelon state, what the
optimal policy of a serial chain with backorders acts on (Clark & Scarf), ``3
+ L - 1`` entries for a warehouse of lead time ``L``. It assumes the
warehouse sees the stock on hand and in transit of every node below it and
the stores' backorders (shared inventory data, as with EDI or vendor-managed
inventory):

===  ====================  ===========================================  ===========
idx  feature               meaning                                      bounds
===  ====================  ===========================================  ===========
0    echelon_inventory     on hand here and below, plus in transit      [-10, 10]
                           between them, minus the stores' backorders,
                           / inventory scale
1    echelon_position      echelon inventory + in transit here + on     [-10, 10]
                           order here, / inventory scale
2    on_order              ordered, not yet shipped by the parent       [0, 10]
                           / demand scale
3+k  arriving              units arriving here in ``k + 1`` periods /   [0, 10]
                           demand scale, ``k = 0 .. L - 2``
===  ====================  ===========================================  ===========

Supplier (3): ``warehouse_order`` (the root's previous order / its inventory
scale, [0, 10]), ``backlog`` (units owed to the root / its inventory scale,
[0, 10]), ``days_until_delivery`` (lead time + backlog / capacity, [0, 10 L]).

Forecasts are exponentially smoothed (``scenario.forecast_smoothing``) from each
period's demand, starting at the demand process's nominal mean and std; they
and the other *trackers* (:class:`Tracker`) are what the agents remember.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

import numpy as np
from gymnasium import spaces

from hmarl_env._jit import kernel
from hmarl_env.core import TINY, Simulation, StateField, served
from hmarl_env.registry import (
    SUPPLIER,
    EchelonFeature,
    StoreFeature,
    StoreOrderFeature,
    SupplierFeature,
    WarehouseFeature,
)
from hmarl_env.scenario import Scenario
from hmarl_env.utils.names import resolve

__all__ = [
    "CLIP",
    "TRACKER_FIELDS",
    "Observations",
    "Tracker",
    "default_store_observation",
    "demand_scales",
    "inventory_scales",
    "observe_demand",
    "WAREHOUSE_OBSERVATIONS",
    "observation_layouts",
    "warehouse_observation_name",
]

CLIP = 10.0


class Tracker(IntEnum):
    """Rows of the trackers block (its axis 1), each ``(B, N)``."""

    forecast = 0
    variance = 1
    service = 2
    last_order = 3


TRACKER_FIELDS = tuple(f.name for f in Tracker)
# observation inputs, N columns each, then the root's last order and a one
_INPUTS = (
    "on_hand",
    "in_transit",
    "inbound_backlog",
    "demand",
    "forecast",
    "demand_std",
    "cover",
    "stockout",
    "service",
    "customer_backlog",
)
_N_INPUTS = len(_INPUTS)
# short names for the kernels: state[b, _S.on_hand, i], trackers[b, _T.forecast, i]
_S, _T = StateField, Tracker


def inventory_scales(scenario: Scenario) -> np.ndarray:
    """Each node's inventory scale: expected demand through it over its lead time
    plus one review period, ``mean_demand * (lead_time + 1)``."""
    return np.maximum(scenario.mean_demand * (scenario.lead_times + 1.0), TINY)


def demand_scales(scenario: Scenario) -> np.ndarray:
    """Each node's demand scale: its expected demand per period."""
    return np.maximum(scenario.mean_demand, TINY)


# Kernels (numba, like the core's): loops over replicas and nodes.


@kernel
def observe_demand(trackers, state, alpha, keep, spread):  # pragma: no cover
    """Fold the demand just served (steps 1-2 of the current period) in."""
    B, _, N = trackers.shape
    for b in range(B):
        for i in range(N):
            err = state[b, _S.demand, i] - trackers[b, _T.forecast, i]
            trackers[b, _T.forecast, i] += alpha * err
            # (1 - a) * (var + a * err**2): the exponentially weighted variance
            trackers[b, _T.variance, i] = keep * trackers[
                b, _T.variance, i
            ] + spread * (err * err)
            fraction = served(
                state[b, _S.sold, i], state[b, _S.lost, i] + state[b, _S.backlog, i]
            )
            service = trackers[b, _T.service, i]
            trackers[b, _T.service, i] = service + alpha * (fraction - service)


@kernel
def _observe(
    trackers, state, pipeline, t, root, indptr, inputs, weights, low, high
):  # pragma: no cover - jit
    """Every agent's observation ``(B, D)`` float32: ``x @ W`` clipped to
    ``[low, high]`` with ``x`` the stacked ``_INPUTS``, then what arrives in
    ``1 .. M - 1`` periods, and ``W`` given column by column (CSR)."""
    B, _, N = trackers.shape
    M = pipeline.shape[1]
    D = high.shape[0]
    out = np.empty((B, D), dtype=np.float32)
    arriving = _N_INPUTS * N
    tail = arriving + (M - 1) * N
    x = np.empty(tail + 2)
    for b in range(B):
        for k in range(1, M):
            slot = (t + k) % M
            for i in range(N):
                x[arriving + (k - 1) * N + i] = pipeline[b, slot, i]
        for i in range(N):
            on_hand = state[b, _S.on_hand, i]
            forecast = trackers[b, _T.forecast, i]
            x[i] = on_hand
            x[N + i] = state[b, _S.in_transit, i]
            x[2 * N + i] = state[b, _S.inbound_backlog, i]
            x[3 * N + i] = state[b, _S.demand, i]
            x[4 * N + i] = forecast
            x[5 * N + i] = np.sqrt(trackers[b, _T.variance, i])
            x[6 * N + i] = on_hand / max(forecast, TINY)
            x[7 * N + i] = (
                1.0 if state[b, _S.lost, i] + state[b, _S.backlog, i] > 0.0 else 0.0
            )
            x[8 * N + i] = trackers[b, _T.service, i]
            x[9 * N + i] = state[b, _S.customer_backlog, i]
        x[tail] = trackers[b, _T.last_order, root]
        x[tail + 1] = 1.0
        for k in range(D):
            acc = 0.0
            for j in range(indptr[k], indptr[k + 1]):
                acc += x[inputs[j]] * weights[j]
            if acc < low[k]:  # only echelon features go below 0
                acc = low[k]
            out[b, k] = min(acc, high[k])
    return out


@kernel
def _global_state(trackers, state, inv, dem, elapsed):  # pragma: no cover - jit
    """The global state ``(B, 6N + 1)`` float32 (see :meth:`Observations.state`)."""
    B, _, N = state.shape
    out = np.empty((B, 6 * N + 1), dtype=np.float32)
    for b in range(B):
        for i in range(N):
            out[b, i] = min(state[b, _S.on_hand, i] / inv[i], CLIP)
            out[b, N + i] = min(state[b, _S.in_transit, i] / inv[i], CLIP)
            out[b, 2 * N + i] = min(state[b, _S.inbound_backlog, i] / inv[i], CLIP)
            out[b, 3 * N + i] = min(state[b, _S.backlog, i] / inv[i], CLIP)
            out[b, 4 * N + i] = min(trackers[b, _T.forecast, i] / dem[i], CLIP)
            out[b, 5 * N + i] = trackers[b, _T.service, i]
        out[b, 6 * N] = elapsed
    return out


def csr(W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense ``(rows, columns)`` matrix's non-zeros, column by column."""
    indptr, inputs, weights = [0], [], []
    for k in range(W.shape[1]):
        rows = np.flatnonzero(W[:, k])
        inputs.extend(rows.tolist())
        weights.extend(W[rows, k].tolist())
        indptr.append(len(inputs))
    return (
        np.array(indptr, dtype=np.int64),
        np.array(inputs, dtype=np.int64),
        np.array(weights, dtype=np.float64),
    )


# A feature is {input row: weight} and a bound: feature = min(sum(w * x), bound)
# (and a lower bound, 0 unless given third: max(.., low))
_Feature = tuple[dict[int, float], float] | tuple[dict[int, float], float, float]
#: the warehouses' observation layouts: ``local`` (the default: its own stock,
#: its children's, the demand below it) and ``echelon``
WAREHOUSE_OBSERVATIONS = ("local", "echelon")
#: the stores' observation layouts: ``pipeline`` (the default: the HMARL
#: reference design's 7 features and the inbound pipeline), ``reference`` (the
#: reference design's 7 exactly) and ``orders`` (for stores ordering quantities)
STORE_OBSERVATIONS = ("pipeline", "reference", "orders")
#: older names of layouts, still accepted (runs recorded them)
STORE_OBSERVATION_ALIASES = {"seed": "reference"}


def store_observation_name(layout: str) -> str:
    """A store layout's name, its alias resolved; a clear error for an unknown
    one."""
    return resolve(
        layout, STORE_OBSERVATIONS, STORE_OBSERVATION_ALIASES, "store_observation"
    )


def default_store_observation(scenario: Scenario) -> str:
    """The stores' layout where none is named: ``orders`` for stores that
    order by offsets (the only layout showing the demand they adjust), else
    ``pipeline``."""
    return (
        "orders" if scenario.actions.offsets("store_order_multipliers") else "pipeline"
    )


def warehouse_observation_name(layout: str) -> str:
    """A warehouse layout's name; a clear error for an unknown one."""
    return resolve(layout, WAREHOUSE_OBSERVATIONS, {}, "warehouse_observation")


def observation_layouts(config: Mapping[str, Any]) -> dict[str, str]:
    """The observation layouts a config names (an RLlib env config, a
    module's config), as the env's keywords, with their defaults."""
    return {
        "store_observation": config.get("store_observation", "pipeline"),
        "warehouse_observation": config.get("warehouse_observation", "local"),
    }


class _Inputs:
    """Where each of the stacked ``_INPUTS`` sits, for the features' terms."""

    def __init__(self, scenario: Scenario) -> None:
        n = len(scenario.nodes)
        self.at = {name: k * n for k, name in enumerate(_INPUTS)}
        self.arriving = _N_INPUTS * n  # then one block of n per period ahead
        tail = self.arriving + (int(scenario.lead_times.max()) - 1) * n
        self.last_order, self.one = tail, tail + 1
        self.n = n
        self.inv = inventory_scales(scenario)
        self.dem = demand_scales(scenario)

    def __call__(self, name: str, i: int, weight: float = 1.0) -> dict[int, float]:
        return {self.at[name] + i: weight}

    def inventory(self, i: int) -> dict[int, float]:
        return self("on_hand", i, 1.0 / self.inv[i])

    def pipeline(self, i: int) -> dict[int, float]:
        return {
            **self("in_transit", i, 1.0 / self.inv[i]),
            **self("inbound_backlog", i, 1.0 / self.inv[i]),
        }


def _store_orders(sc: Scenario, x: _Inputs, i: int) -> list[_Feature]:
    """The ``orders`` layout (see the module docstring)."""
    F = StoreOrderFeature
    features = {
        F.inventory: (x.inventory(i), CLIP),
        F.backlog: (x("customer_backlog", i, 1.0 / x.inv[i]), CLIP),
        F.on_order: (x("inbound_backlog", i, 1.0 / x.dem[i]), CLIP),
    }
    features = [features[f] for f in sorted(features)]
    for k in range(1, int(sc.lead_times[i])):
        features.append(({x.arriving + (k - 1) * x.n + i: 1.0 / x.dem[i]}, CLIP))
    if sc.actions.offsets("store_order_multipliers"):
        features.append(_demand_below(sc, x, i))
    return features


def _demand_below(sc: Scenario, x: _Inputs, j: int) -> _Feature:
    """The customer demand below node ``j`` in the period just served / its
    demand scale: what order offsets adjust (``actions.order_offsets``), the
    last column of the ``orders`` and ``echelon`` layouts where they apply."""
    stores = [int(k) for k in np.flatnonzero(sc.subtree[:, j]) if sc.nodes[k].is_store]
    return ({x.at["demand"] + k: 1.0 / x.dem[j] for k in stores}, CLIP)


def check_orders_layout(scenario: Scenario) -> None:
    """A clear error where the ``orders`` store observation does not fit the
    network: its stores must order quantities (it has no forecast for a
    multiplier to scale) and share one lead time (one module, one size)."""
    if not scenario.actions.store_orders_quantities:
        raise ValueError(
            f"store_observation='orders' needs stores that order quantities "
            f"(actions.store_max_order); scenario {scenario.name!r} orders "
            "multiples of a forecast the layout does not show: use 'pipeline'"
        )
    leads = {
        scenario.nodes[i].name: int(scenario.lead_times[i])
        for i in scenario.store_index
    }
    if len(set(leads.values())) > 1:
        raise ValueError(
            f"store_observation='orders' shows one column per period of a store's "
            f"lead time, and the stores share one module, so they need one lead "
            f"time; scenario {scenario.name!r} has {leads}"
        )


def _store(sc: Scenario, x: _Inputs, i: int, layout: str) -> list[_Feature]:
    if layout == "orders":
        return _store_orders(sc, x, i)
    p, L = sc.parent_index[i], float(sc.lead_times[i])
    F = StoreFeature
    features = {
        F.inventory: (x.inventory(i), CLIP),
        F.forecast: (x("forecast", i, 1.0 / x.dem[i]), CLIP),
        F.demand_uncertainty: (x("demand_std", i, 1.0 / x.dem[i]), CLIP),
        F.days_of_cover: (x("cover", i), CLIP * (L + 1)),
        F.last_day_stockout: (x("stockout", i), 1.0),
        F.warehouse_ratio: (x.inventory(p) if p >= 0 else {x.one: 1.0}, CLIP),
        F.recent_service_level: (x("service", i), 1.0),
        F.inbound_pipeline: (x.pipeline(i), CLIP),
    }
    if layout == "reference":
        del features[F.inbound_pipeline]
    return [features[f] for f in sorted(features)]


def _warehouse(sc: Scenario, x: _Inputs, j: int) -> list[_Feature]:
    below = np.flatnonzero(sc.subtree[:, j])
    stores = [k for k in below if sc.nodes[k].is_store]
    F = WarehouseFeature
    features = {
        F.aggregate_store_demand: (
            {x.at["demand"] + k: 1.0 / x.dem[j] for k in below},
            CLIP,
        ),
        F.inventory: (x.inventory(j), CLIP),
        F.inbound_pipeline: (x.pipeline(j), CLIP),
    }
    children = [(x.inventory(c), CLIP) for c in np.flatnonzero(sc.parent_index == j)]
    service = ({x.at["service"] + k: 1.0 / len(stores) for k in stores}, 1.0)
    return [features[f] for f in sorted(features)] + children + [service]


def _warehouse_echelon(sc: Scenario, x: _Inputs, j: int) -> list[_Feature]:
    """The ``echelon`` layout (see the module docstring)."""
    below = np.flatnonzero(sc.subtree[:, j])
    inv, dem = x.inv[j], x.dem[j]
    stock: dict[int, float] = {}
    for k in below:
        stock.update(x("on_hand", int(k), 1.0 / inv))
        if k != j:
            stock.update(x("in_transit", int(k), 1.0 / inv))
        if sc.nodes[k].is_store:
            stock.update(x("customer_backlog", int(k), -1.0 / inv))
    position = {**stock, **x.pipeline(j)}
    F = EchelonFeature
    features: list[_Feature] = [None] * 3  # type: ignore[list-item]
    features[F.echelon_inventory] = (stock, CLIP, -CLIP)
    features[F.echelon_position] = (position, CLIP, -CLIP)
    features[F.on_order] = (x("inbound_backlog", j, 1.0 / dem), CLIP)
    for k in range(1, int(sc.lead_times[j])):
        features.append(({x.arriving + (k - 1) * x.n + j: 1.0 / dem}, CLIP))
    if sc.actions.offsets("warehouse_order_lots"):
        features.append(_demand_below(sc, x, j))
    return features


def _supplier(sc: Scenario, x: _Inputs) -> list[_Feature]:
    r = sc.root
    L = float(sc.lead_times[r])
    owed = x.at["inbound_backlog"] + r
    F = SupplierFeature
    features = {
        F.warehouse_order: ({x.last_order: 1.0 / x.inv[r]}, CLIP),
        F.backlog: ({owed: 1.0 / x.inv[r]}, CLIP),
        F.days_until_delivery: (
            {x.one: L, owed: 1.0 / sc.supplier.capacity},
            CLIP * L,
        ),
    }
    return [features[f] for f in sorted(features)]


class Observations:
    """Every agent's observation as one sparse map of the stacked state.

    Each feature is a scaled sum of a few state quantities, so one matrix maps
    the stacked inputs to all agents' observations (given to the kernel column
    by column), clipped at each feature's bound.

    Args:
        scenario: the supply chain.
        agents: agent -> node index (``-1``: the supplier), in agent order.
        store_observation: ``"pipeline"`` (8 features), ``"reference"`` (the
            HMARL reference design's 7, without the inbound pipeline; alias
            ``"seed"``) or ``"orders"`` (on hand, backlog and each order in the
            pipeline, for stores ordering quantities).
    """

    def __init__(
        self,
        scenario: Scenario,
        agents: dict[str, int],
        store_observation: str,
        warehouse_observation: str = "local",
    ) -> None:
        store_observation = store_observation_name(store_observation)
        warehouse_observation = warehouse_observation_name(warehouse_observation)
        if store_observation == "orders":
            check_orders_layout(scenario)
        elif scenario.actions.offsets("store_order_multipliers"):
            raise ValueError(
                f"store_observation={store_observation!r} does not show the "
                "demand just served, which the stores' order offsets "
                "(actions.order_offsets) adjust: use 'orders'"
            )
        sc = self.scenario = scenario
        x = _Inputs(sc)
        self.inventory_scale, self.demand_scale = x.inv, x.dem
        self.root = sc.root
        columns: list[_Feature] = []
        self.slices: dict[str, slice] = {}
        for agent, i in agents.items():
            if agent == SUPPLIER:
                features = _supplier(sc, x)
            elif sc.nodes[i].is_store:
                features = _store(sc, x, i, store_observation)
            elif warehouse_observation == "echelon":
                features = _warehouse_echelon(sc, x, i)
            else:
                features = _warehouse(sc, x, i)
            self.slices[agent] = slice(len(columns), len(columns) + len(features))
            columns += features
        W = np.zeros((x.one + 1, len(columns)))
        for k, (terms, *_) in enumerate(columns):
            for row, weight in terms.items():
                W[row, k] = weight
        self._map = csr(W)
        self._high = np.array([f[1] for f in columns], dtype=np.float64)
        self._low = np.array([f[2] if len(f) > 2 else 0.0 for f in columns])
        high32 = self._high.astype(np.float32)
        low32 = self._low.astype(np.float32)
        self.spaces = {
            a: spaces.Box(low32[sl], high32[sl], dtype=np.float32)
            for a, sl in self.slices.items()
        }

    def __call__(
        self, trackers: np.ndarray, state: np.ndarray, pipeline: np.ndarray, t: int
    ) -> np.ndarray:
        """All agents' observations side by side, ``(B, D)`` float32, in
        period ``t`` (``pipeline``: :attr:`Simulation.pipeline_array`)."""
        return _observe(
            trackers, state, pipeline, t, self.root, *self._map, self._low, self._high
        )

    @property
    def state_space(self) -> spaces.Box:
        n = len(self.scenario.nodes)
        high = np.full(6 * n + 1, CLIP, dtype=np.float32)
        high[5 * n :] = 1.0
        return spaces.Box(0.0, high, dtype=np.float32)

    def state(self, trackers: np.ndarray, state: np.ndarray, sim: Simulation):
        """Global state ``(B, 6N + 1)`` for centralised critics: every node's on
        hand, in transit, on order, backlog (over its inventory scale) and demand
        forecast (over its demand scale), clipped at 10; its smoothed service
        level; the fraction of the horizon elapsed."""
        elapsed = min(sim.period / self.scenario.horizon, 1.0)
        return _global_state(
            trackers, state, self.inventory_scale, self.demand_scale, elapsed
        )
