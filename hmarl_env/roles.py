"""Agents' view of the simulation: observations, actions and rewards, batched.

:class:`Roles` turns the core's state and ledger into what each agent sees,
decodes each agent's discrete action into order quantities, and scores each
period from the ledger. Everything works on a batch of ``B`` replicas, so the
PettingZoo env (``B = 1``) and the batched evaluator share one implementation.

Agents: every node of the scenario (``store_<n>``, ``warehouse_<n>``) and
``supplier_1``. Scales come from the scenario: a node's *inventory scale* is
the expected demand flowing through it over its lead time plus one review
period, ``mean_demand * (lead_time + 1)``; its *demand scale* is its expected
demand per period. Unbounded quantities are clipped at :data:`CLIP` scales.

Store observation (``store_observation="pipeline"``, the default; the seeds'
7-D layout with ``"seed"`` drops the last entry):

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

Warehouse observation (``4 + k`` entries for ``k`` children; 6 in the default):
``aggregate_store_demand`` (this period's customer demand below it / its demand
scale), ``inventory``, ``inbound_pipeline``, each child's ``inventory`` (child's
on hand / child's inventory scale), ``avg_store_service_level`` (mean smoothed
service level of the stores below it). Bounds [0, 10], the last [0, 1].

Supplier observation (3): ``warehouse_order`` (the root's previous order / its
inventory scale, [0, 10]), ``backlog`` (units owed to the root / its inventory
scale, [0, 10]), ``days_until_delivery`` (lead time + backlog / capacity,
[0, 10 L]).

Actions: a store orders ``store_order_multipliers[a] * forecast``; a warehouse
orders ``warehouse_order_lots[a]`` units; the supplier releases
``supplier_fulfil_fractions[a]`` of what it owes (up to capacity).

Rewards, from the period's ledger row only (weights in ``scenario.rewards``):

* store and warehouse: ``service_level * SL - holding_cost * HC -
  stockout_penalty * SP - excess_inventory * EI`` with SL the fraction of what
  was asked of the node this period (customer demand plus backlog, or
  children's orders plus what it owed them) that it served, HC its holding plus
  transit cost, SP its stockout cost and EI its closing stock above
  ``excess_cover_days`` periods of expected demand;
* supplier: ``service_level * FR - backlog * BC - overtime * OC`` with FR the
  fraction of what it owed that it released, BC its backlog cost and OC its
  overtime cost.

Forecasts are exponentially smoothed (``scenario.forecast_smoothing``) from each
period's demand, starting at the demand process's nominal mean and std.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from gymnasium import spaces

from hmarl_env._jit import kernel
from hmarl_env.core import Simulation, StateField
from hmarl_env.ledger import Ledger, NodeField, SupplierField
from hmarl_env.scenario import Scenario

__all__ = [
    "CLIP",
    "NODE_INFO_KEYS",
    "SUPPLIER",
    "SUPPLIER_INFO_KEYS",
    "Roles",
    "TRACKER_FIELDS",
    "Tracker",
    "inventory_scales",
    "reward_scales",
]

CLIP = 10.0
SUPPLIER = "supplier_1"
SUPPLIER_INFO_KEYS = (
    "period",
    "service_level",
    "holding_cost",
    "stockout_penalty",
    "excess_inventory",
    "overtime_cost",
    "inventory",
    "lost_sales",
    "demand",
    "shipped",
    "backlog",
)


_TINY = 1e-12  # x / max(y, _TINY) is finite where y is 0 (x >= 0)
# Per-node columns of the period table, N each, in this order
_TABLE_FIELDS = (
    "service_level",
    "holding_cost",
    "stockout_penalty",
    "excess_inventory",
    "closing",
    "lost",
    "demand",
    "sold",
    "shipped",
    "ordered",
    "received",
    "backlog",
    "in_transit",
    "total_cost",
)
_INFO_NAMES = {"closing": "inventory", "lost": "lost_sales"}  # the seeds' names
#: keys of a store's or warehouse's infos: the period, then the table's columns
NODE_INFO_KEYS = ("period", *(_INFO_NAMES.get(f, f) for f in _TABLE_FIELDS))
# then the supplier's columns
_SUPPLIER_TABLE = (
    "service_level",
    "stockout_penalty",
    "overtime_cost",
    "shipped",
    "backlog",
)
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
)


class Tracker(IntEnum):
    """Rows of :attr:`Roles.trackers` (its axis 1), each ``(B, N)``."""

    forecast = 0
    variance = 1
    service = 2
    last_order = 3


TRACKER_FIELDS = tuple(f.name for f in Tracker)
# short names for the kernels: state[b, _S.on_hand, i], led[b, _L.sold, i]
_S, _L, _SF, _T = StateField, NodeField, SupplierField, Tracker
# the ledger rows that the period table copies, in _TABLE_FIELDS order from "closing"
_COPIED = np.array([NodeField[f] for f in _TABLE_FIELDS[4:]], dtype=np.int64)
_N_INPUTS = len(_INPUTS)
_BAD_ACTION = -1  # decode: every action was in range when it returns this


# Kernels (numba, like the core's): loops over replicas and nodes.


@kernel(inline=True)
def _served(served, unserved):  # pragma: no cover - jit
    """served / (served + unserved), and 1 where nothing was asked."""
    return 1.0 - unserved / max(served + unserved, _TINY)


@kernel
def _observe_demand(trackers, state, alpha, keep, spread):  # pragma: no cover
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
            served = _served(
                state[b, _S.sold, i], state[b, _S.lost, i] + state[b, _S.backlog, i]
            )
            service = trackers[b, _T.service, i]
            trackers[b, _T.service, i] = service + alpha * (served - service)


@kernel
def _observe(trackers, state, root, indptr, inputs, weights, high):  # pragma: no cover
    """Every agent's observation ``(B, D)`` float32: ``min(x @ W, high)`` with
    ``x`` the stacked ``_INPUTS`` and ``W`` given column by column (CSR)."""
    B, _, N = trackers.shape
    D = high.shape[0]
    out = np.empty((B, D), dtype=np.float32)
    x = np.empty(_N_INPUTS * N + 2)
    for b in range(B):
        for i in range(N):
            on_hand = state[b, _S.on_hand, i]
            forecast = trackers[b, _T.forecast, i]
            x[i] = on_hand
            x[N + i] = state[b, _S.in_transit, i]
            x[2 * N + i] = state[b, _S.inbound_backlog, i]
            x[3 * N + i] = state[b, _S.demand, i]
            x[4 * N + i] = forecast
            x[5 * N + i] = np.sqrt(trackers[b, _T.variance, i])
            x[6 * N + i] = on_hand / max(forecast, _TINY)
            x[7 * N + i] = (
                1.0 if state[b, _S.lost, i] + state[b, _S.backlog, i] > 0.0 else 0.0
            )
            x[8 * N + i] = trackers[b, _T.service, i]
        x[_N_INPUTS * N] = trackers[b, _T.last_order, root]
        x[_N_INPUTS * N + 1] = 1.0
        for k in range(D):
            acc = 0.0
            for j in range(indptr[k], indptr[k + 1]):
                acc += x[inputs[j]] * weights[j]
            out[b, k] = min(acc, high[k])
    return out


@kernel
def _global_state(trackers, state, inv, dem, elapsed):  # pragma: no cover - jit
    """The global state ``(B, 6N + 1)`` float32 (see :meth:`Roles.state`)."""
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


@kernel
def _table(led, sup, excess, root):  # pragma: no cover - jit
    """The period table ``(B, 14N + 5)`` (see :meth:`Roles.period_table`)."""
    B, _, N = led.shape
    n_copied = _COPIED.shape[0]
    out = np.empty((B, (4 + n_copied) * N + 5))
    for b in range(B):
        for i in range(N):
            out[b, i] = _served(
                led[b, _L.sold, i] + led[b, _L.shipped, i],
                led[b, _L.lost, i] + led[b, _L.backlog, i],
            )
            out[b, N + i] = led[b, _L.holding_cost, i] + led[b, _L.transit_cost, i]
            out[b, 2 * N + i] = led[b, _L.stockout_cost, i]
            out[b, 3 * N + i] = max(led[b, _L.closing, i] - excess[i], 0.0)
            for c in range(n_copied):
                out[b, (4 + c) * N + i] = led[b, _COPIED[c], i]
        released = led[b, _L.inbound, root]
        owed = led[b, _L.inbound_backlog, root]
        end = (4 + n_copied) * N
        out[b, end] = _served(released, owed)
        out[b, end + 1] = sup[b, _SF.supplier_backlog_cost]
        out[b, end + 2] = sup[b, _SF.supplier_overtime_cost]
        out[b, end + 3] = released
        out[b, end + 4] = owed
    return out


@kernel
def _rewards(table, indptr, inputs, weights):  # pragma: no cover - jit
    """``table @ Wr`` with ``Wr`` given column by column (CSR)."""
    B = table.shape[0]
    R = indptr.shape[0] - 1
    out = np.empty((B, R))
    for b in range(B):
        for k in range(R):
            acc = 0.0
            for j in range(indptr[k], indptr[k + 1]):
                acc += table[b, inputs[j]] * weights[j]
            out[b, k] = acc
    return out


@kernel
def _decode(
    trackers, values, n_values, is_store, node_actions, supplier_action, fractions
):  # pragma: no cover - jit
    """Orders ``(B, N)`` and fulfil fractions ``(B,)``; the first bad action's
    node (N for the supplier) and replica, or ``_BAD_ACTION`` twice."""
    B, N = node_actions.shape
    orders = np.empty((B, N))
    fulfil = np.empty(B)
    for b in range(B):
        for i in range(N):
            a = node_actions[b, i]
            if a < 0 or a >= n_values[i]:
                return orders, fulfil, i, b
            v = values[i, a]
            orders[b, i] = v * trackers[b, _T.forecast, i] if is_store[i] else v
        a = supplier_action[b]
        if a < 0 or a >= fractions.shape[0]:
            return orders, fulfil, N, b
        fulfil[b] = fractions[a]
    return orders, fulfil, _BAD_ACTION, _BAD_ACTION


def _csr(W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def inventory_scales(scenario: Scenario) -> np.ndarray:
    """Each node's inventory scale: expected demand through it over its lead time
    plus one review period, ``mean_demand * (lead_time + 1)``."""
    return np.maximum(scenario.mean_demand * (scenario.lead_times + 1.0), _TINY)


def reward_scales(scenario: Scenario) -> dict[str, float]:
    """Each agent's *reward scale*: the size of one period's reward, from the
    scenario's weights and costs, for learners that want rewards of order one.

    A store or warehouse: ``SL + HC * holding_cost * inventory_scale`` (full
    service while holding one inventory scale of stock); the supplier:
    ``FR + BC * backlog_cost * s + OC * overtime_cost * d`` with ``s`` and ``d``
    the root's inventory scale and expected demand per period. An agent whose
    weights make this 0 gets 1 (its rewards are left as they are).
    """
    w = scenario.rewards
    inv = inventory_scales(scenario)
    out: dict[str, float] = {}
    for i, node in enumerate(scenario.nodes):
        rw = w.store if node.is_store else w.warehouse
        out[node.name] = abs(rw.service_level) + abs(
            rw.holding_cost * node.holding_cost * float(inv[i])
        )
    root = scenario.root
    sw = w.supplier
    out[SUPPLIER] = (
        abs(sw.service_level)
        + abs(sw.backlog * scenario.supplier.backlog_cost * float(inv[root]))
        + abs(
            sw.overtime
            * scenario.supplier.overtime_cost
            * float(scenario.mean_demand[root])
        )
    )
    return {a: (s if s > 0 else 1.0) for a, s in out.items()}


class Roles:
    """Observations, action decoding and rewards for a batch of replicas.

    Trackers (forecast, its variance, smoothed service level, last order) are
    kept for every node in :attr:`trackers`, ``(B, 4, N)``; only the stores'
    forecasts and service levels and the root's last order are read. Every
    observation feature is a scaled sum of a few state quantities, so one sparse
    matrix maps the stacked state to all agents' observations; every reward is a
    weighted sum of the period table's columns, so another maps the table to
    all rewards. The work is done by numba kernels (see :mod:`hmarl_env.core`).

    Args:
        scenario: the supply chain.
        batch_size: replicas ``B``.
        store_observation: ``"pipeline"`` (8 features) or ``"seed"`` (the seeds'
            7, without the inbound pipeline).
    """

    def __init__(
        self,
        scenario: Scenario,
        batch_size: int = 1,
        store_observation: str = "pipeline",
    ) -> None:
        if store_observation not in ("pipeline", "seed"):
            raise ValueError(
                "store_observation must be 'pipeline' or 'seed', got "
                f"{store_observation!r}"
            )
        self.scenario = sc = scenario
        self.batch_size = B = batch_size
        self.store_observation = store_observation
        n = self.n_nodes = len(sc.nodes)
        names = sc.node_names
        stores, warehouses = sc.store_index, sc.warehouse_index
        self.agents: tuple[str, ...] = tuple(
            [names[i] for i in stores] + [names[i] for i in warehouses] + [SUPPLIER]
        )
        #: agent -> node index, in agent order (the supplier is no node)
        self.node_of = {names[i]: int(i) for i in (*stores, *warehouses)}
        self._root = r = sc.root
        mean = sc.mean_demand
        L = sc.lead_times

        self.inventory_scale = inv_scale = inventory_scales(sc)
        self.demand_scale = d_scale = np.maximum(mean, _TINY)
        is_store = np.zeros(n, dtype=bool)
        is_store[stores] = True
        w = sc.rewards
        weights = [w.store if x else w.warehouse for x in is_store]
        self._excess = np.array(
            [x.excess_cover_days * m for x, m in zip(weights, mean, strict=True)]
        )
        a = sc.forecast_smoothing
        self._alpha, self._keep, self._spread = (
            np.float64(x) for x in (a, 1 - a, a * (1 - a))
        )
        self._mean0 = np.asarray(mean, dtype=np.float64)
        self._var0 = np.asarray(sc.demand_std**2, dtype=np.float64)
        self.trackers = np.zeros((B, len(TRACKER_FIELDS), n))
        parent = sc.parent_index
        cap = sc.supplier.capacity
        self._L_root = L_root = float(L[r])

        # ---- observations: obs = min(x @ W, high), x = the stacked _INPUTS
        at = {name: k * n for k, name in enumerate(_INPUTS)}
        last_order, one = len(_INPUTS) * n, len(_INPUTS) * n + 1
        columns: list[dict[int, float]] = []  # one {input row: weight} per feature
        high: list[float] = []
        self._slices: dict[str, slice] = {}

        def feature(terms: dict[int, float], bound: float) -> None:
            columns.append(terms)
            high.append(bound)

        def inventory(i: int) -> dict[int, float]:
            return {at["on_hand"] + i: 1.0 / inv_scale[i]}

        def pipeline(i: int) -> dict[int, float]:
            return {
                at["in_transit"] + i: 1.0 / inv_scale[i],
                at["inbound_backlog"] + i: 1.0 / inv_scale[i],
            }

        for i in stores:
            start = len(columns)
            p = parent[i]
            feature(inventory(i), CLIP)
            feature({at["forecast"] + i: 1.0 / d_scale[i]}, CLIP)
            feature({at["demand_std"] + i: 1.0 / d_scale[i]}, CLIP)
            feature({at["cover"] + i: 1.0}, CLIP * (L[i] + 1))
            feature({at["stockout"] + i: 1.0}, 1.0)
            feature(inventory(p) if p >= 0 else {one: 1.0}, CLIP)
            feature({at["service"] + i: 1.0}, 1.0)
            if store_observation == "pipeline":
                feature(pipeline(i), CLIP)
            self._slices[names[i]] = slice(start, len(columns))
        for j in warehouses:
            start = len(columns)
            below = np.flatnonzero(sc.subtree[:, j])
            feature({at["demand"] + k: 1.0 / d_scale[j] for k in below}, CLIP)
            feature(inventory(j), CLIP)
            feature(pipeline(j), CLIP)
            for c in np.flatnonzero(parent == j):
                feature(inventory(c), CLIP)
            below_stores = [k for k in below if is_store[k]]
            feature(
                {at["service"] + k: 1.0 / len(below_stores) for k in below_stores}, 1.0
            )
            self._slices[names[j]] = slice(start, len(columns))
        start = len(columns)
        feature({last_order: 1.0 / inv_scale[r]}, CLIP)
        feature({at["inbound_backlog"] + r: 1.0 / inv_scale[r]}, CLIP)
        feature({one: L_root, at["inbound_backlog"] + r: 1.0 / cap}, CLIP * L_root)
        self._slices[SUPPLIER] = slice(start, len(columns))
        W = np.zeros((one + 1, len(columns)))
        for k, terms in enumerate(columns):
            for row, weight in terms.items():
                W[row, k] = weight
        self._obs_map = _csr(W)
        self._high = np.array(high, dtype=np.float64)
        self._high32 = self._high.astype(np.float32)

        # ---- rewards: rewards = table @ Wr, one column per node, then supplier
        width = len(_TABLE_FIELDS) * n + len(_SUPPLIER_TABLE)
        Wr = np.zeros((width, n + 1))
        signs = {
            "service_level": 1.0,
            "holding_cost": -1.0,
            "stockout_penalty": -1.0,
            "excess_inventory": -1.0,
        }
        for k, term in enumerate(_TABLE_FIELDS[:4]):
            for i in range(n):
                Wr[k * n + i, i] = signs[term] * getattr(weights[i], term)
        sup0 = len(_TABLE_FIELDS) * n
        sw = w.supplier
        Wr[sup0 : sup0 + 3, n] = (sw.service_level, -sw.backlog, -sw.overtime)
        self._reward_map = _csr(Wr)
        self._table_width = width

        acts = sc.actions
        self._n_actions = {
            "store": len(acts.store_order_multipliers),
            "warehouse": len(acts.warehouse_order_lots),
            "supplier": len(acts.supplier_fulfil_fractions),
        }
        # action value per node and action index: multiplier (stores) or lot
        table = np.zeros(
            (n, max(self._n_actions["store"], self._n_actions["warehouse"]))
        )
        for i in range(n):
            values = (
                acts.store_order_multipliers
                if is_store[i]
                else acts.warehouse_order_lots
            )
            table[i, : len(values)] = values
        self._action_table = table
        self._n_values = np.array(
            [self._n_actions["store" if s else "warehouse"] for s in is_store],
            dtype=np.int64,
        )
        self._is_store = is_store
        self._fulfil = np.asarray(acts.supplier_fulfil_fractions, dtype=np.float64)
        self.observation_spaces = {
            a: spaces.Box(0.0, self._high32[sl], dtype=np.float32)
            for a, sl in self._slices.items()
        }
        self.action_spaces = {
            a: spaces.Discrete(self.n_actions(a)) for a in self.agents
        }

    # --------------------------------------------------------------- spaces
    def role(self, agent: str) -> str:
        """``store``, ``warehouse`` or ``supplier``."""
        if agent not in self._slices:
            raise ValueError(f"unknown agent {agent!r}; agents: {list(self.agents)}")
        return agent.rsplit("_", 1)[0]

    def n_actions(self, agent: str) -> int:
        return self._n_actions[self.role(agent)]

    @property
    def slices(self) -> dict[str, slice]:
        """Each agent's columns in :meth:`observe_all`'s output."""
        return self._slices

    @property
    def state_space(self) -> spaces.Box:
        n = self.n_nodes
        high = np.full(6 * n + 1, CLIP, dtype=np.float32)
        high[5 * n :] = 1.0
        return spaces.Box(0.0, high, dtype=np.float32)

    # ------------------------------------------------------------- trackers
    def reset(self, sim: Simulation) -> None:
        """Start the trackers at the nominal demand, then observe period 0."""
        t = self.trackers
        t[:, _T.forecast] = self._mean0
        t[:, _T.variance] = self._var0
        t[:, _T.service] = 1.0
        t[:, _T.last_order] = 0.0
        _observe_demand(t, self._state(sim), self._alpha, self._keep, self._spread)

    def update(self, sim: Simulation, ledger: Ledger) -> None:
        """After ``sim.step``: remember the orders, observe the new period."""
        self.trackers[:, _T.last_order] = ledger.ordered
        if not sim.done:
            _observe_demand(
                self.trackers, self._state(sim), self._alpha, self._keep, self._spread
            )

    def _state(self, sim: Simulation) -> np.ndarray:
        """The simulation's state block, once its shape is known to fit (the
        kernels do not check their indices)."""
        state = sim.state_array
        if state.shape[0] != self.batch_size or state.shape[2] != self.n_nodes:
            raise ValueError(
                f"these roles are for {self.batch_size} replicas of "
                f"{self.n_nodes} nodes; the simulation has {state.shape[0]} of "
                f"{state.shape[2]}"
            )
        return state

    # ----------------------------------------------------------- observing
    def observe_all(self, sim: Simulation) -> np.ndarray:
        """All agents' observations side by side, ``(B, D)`` float32; agent
        ``a`` owns the columns ``slices[a]``."""
        return _observe(
            self.trackers, self._state(sim), self._root, *self._obs_map, self._high
        )

    def observe(self, sim: Simulation) -> dict[str, np.ndarray]:
        """Every agent's observation, each ``(B, dim)`` float32."""
        obs = self.observe_all(sim)
        return {a: obs[:, sl] for a, sl in self._slices.items()}

    def state(self, sim: Simulation) -> np.ndarray:
        """Global state ``(B, 6N + 1)`` for centralised critics: every node's on
        hand, in transit, on order, backlog (over its inventory scale) and demand
        forecast (over its demand scale), clipped at 10; its smoothed service
        level; the fraction of the horizon elapsed."""
        elapsed = min(sim.period / self.scenario.horizon, 1.0)
        return _global_state(
            self.trackers,
            self._state(sim),
            self.inventory_scale,
            self.demand_scale,
            elapsed,
        )

    # -------------------------------------------------------------- acting
    def decode(self, node_actions: np.ndarray, supplier_action: np.ndarray):
        """Order quantities ``(B, N)`` and fulfil fractions ``(B,)``.

        Args:
            node_actions: ``(B, N)`` integer actions in node order.
            supplier_action: ``(B,)`` integer actions of the supplier.

        Raises:
            ValueError: an action outside its agent's range (named, with the
                replica).
        """
        nodes, supplier = node_actions, supplier_action
        if type(nodes) is not np.ndarray:
            nodes = np.asarray(nodes)
        if type(supplier) is not np.ndarray:
            supplier = np.asarray(supplier)
        B, n = self.batch_size, self.n_nodes
        if (
            nodes.shape != (B, n)
            or supplier.shape != (B,)
            or nodes.dtype.kind not in "iu"
            or supplier.dtype.kind not in "iu"
        ):
            raise ValueError(
                f"decode takes integer actions of shape ({B}, {n}) for the nodes "
                f"and ({B},) for the supplier, got {nodes.dtype} {nodes.shape} and "
                f"{supplier.dtype} {supplier.shape}"
            )
        orders, fulfil, bad, b = _decode(
            self.trackers,
            self._action_table,
            self._n_values,
            self._is_store,
            nodes,
            supplier,
            self._fulfil,
        )
        if bad != _BAD_ACTION:
            names = self.scenario.node_names
            agent = names[bad] if bad < self.n_nodes else SUPPLIER
            n = self.n_actions(agent)
            raise ValueError(
                f"action for {agent!r} (replica {b}) must be in [0, {n - 1}]"
            )
        return orders, fulfil

    # ------------------------------------------------------------- scoring
    def period_table(self, led: Ledger) -> np.ndarray:
        """The period's report ``(B, 14N + 5)``: for every node the reward terms
        and ledger quantities of ``_TABLE_FIELDS`` (N columns each), then the
        supplier's ``_SUPPLIER_TABLE``."""
        if led.nodes.shape[2] != self.n_nodes:
            raise ValueError(
                f"a ledger of {led.nodes.shape[2]} nodes given to roles of "
                f"{self.n_nodes}"
            )
        return _table(led.nodes, led.supplier, self._excess, self._root)

    def metrics(
        self, table: np.ndarray
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Named views of a period table: per node ``(B, N)``, supplier ``(B,)``."""
        n = self.n_nodes
        node = {f: table[:, k * n : (k + 1) * n] for k, f in enumerate(_TABLE_FIELDS)}
        sup0 = len(_TABLE_FIELDS) * n
        supplier = {f: table[:, sup0 + k] for k, f in enumerate(_SUPPLIER_TABLE)}
        return node, supplier

    def rewards(self, table: np.ndarray) -> np.ndarray:
        """Rewards ``(B, N + 1)``: every node's (node order), then the supplier's."""
        if type(table) is not np.ndarray:
            table = np.asarray(table, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != self._table_width:
            raise ValueError(
                f"rewards take a period table of shape (B, {self._table_width}), "
                f"got {table.shape}"
            )
        return _rewards(table, *self._reward_map)

    def infos(self, table: np.ndarray, period: int, replica: int = 0):
        """Each agent's reconciliation report for one replica (plain floats)."""
        row = table[replica].tolist()
        n = self.n_nodes
        end = len(_TABLE_FIELDS) * n
        period = float(period)
        keys = NODE_INFO_KEYS[1:]
        out = {}
        for name, i in self.node_of.items():
            info = dict(zip(keys, row[i:end:n], strict=True))
            info["period"] = period
            out[name] = info
        sl, backlog_cost, overtime, released, owed = row[end:]
        out[SUPPLIER] = {
            "period": period,
            "service_level": sl,
            "holding_cost": 0.0,
            "stockout_penalty": backlog_cost,
            "excess_inventory": 0.0,
            "overtime_cost": overtime,
            "inventory": 0.0,
            "lost_sales": 0.0,
            "demand": row[_TABLE_FIELDS.index("ordered") * n + self._root],
            "shipped": released,
            "backlog": owed,
        }
        return out

    def reset_infos(self, sim: Simulation, replica: int = 0):
        """Reports at reset: the same keys, with period 0's demand so far, no costs."""
        st = sim.state_array[replica].tolist()  # one list per state field
        sold = st[_S.sold]
        out = {}
        for name, i in self.node_of.items():
            row = dict.fromkeys(NODE_INFO_KEYS, 0.0)
            row.update(
                service_level=_served(
                    st[_S.sold][i], st[_S.lost][i] + st[_S.backlog][i]
                ),
                inventory=st[_S.on_hand][i],
                lost_sales=st[_S.lost][i],
                demand=st[_S.demand][i],
                sold=sold[i],
                received=st[_S.received][i],
                backlog=st[_S.backlog][i],
                in_transit=st[_S.in_transit][i],
            )
            out[name] = row
        out[SUPPLIER] = dict.fromkeys(SUPPLIER_INFO_KEYS, 0.0)
        out[SUPPLIER]["service_level"] = 1.0
        return out
