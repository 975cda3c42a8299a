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

import numpy as np
from gymnasium import spaces

from hmarl_env.core import Simulation
from hmarl_env.ledger import Ledger
from hmarl_env.scenario import Scenario

__all__ = ["CLIP", "NODE_INFO_KEYS", "SUPPLIER", "SUPPLIER_INFO_KEYS", "Roles"]

CLIP = 10.0
SUPPLIER = "supplier_1"
STORE_FEATURES = (
    "inventory", "forecast", "demand_uncertainty", "days_of_cover",
    "last_day_stockout", "warehouse_ratio", "recent_service_level", "inbound_pipeline",
)  # fmt: skip
NODE_INFO_KEYS = (
    "period", "service_level", "holding_cost", "stockout_penalty", "excess_inventory",
    "inventory", "lost_sales", "demand", "sold", "shipped", "ordered", "received",
    "backlog", "in_transit", "total_cost",
)  # fmt: skip
SUPPLIER_INFO_KEYS = (
    "period", "service_level", "holding_cost", "stockout_penalty", "excess_inventory",
    "overtime_cost", "inventory", "lost_sales", "demand", "shipped", "backlog",
)  # fmt: skip


def _served_fraction(served: np.ndarray, unserved: np.ndarray) -> np.ndarray:
    """served / (served + unserved), and 1 where nothing was asked."""
    return 1.0 - unserved / np.maximum(served + unserved, _TINY)


_TINY = 1e-12
_REWARD_TERMS = (
    "service_level",
    "holding_cost",
    "stockout_penalty",
    "excess_inventory",
)
# ledger fields reported in infos, in NODE_INFO_KEYS order after the reward terms
_INFO_FIELDS = ("closing", "lost", "demand", "sold", "shipped", "ordered", "received",
                "backlog", "in_transit", "total_cost")  # fmt: skip
_ORDERED = len(_REWARD_TERMS) + _INFO_FIELDS.index("ordered")


class Roles:
    """Observations, action decoding and rewards for a batch of replicas.

    Trackers (forecast, its variance, smoothed service level) are kept for every
    node, ``(B, N)``; only the stores' columns are read. Whole-row arithmetic is
    several times cheaper in numpy than picking columns first.

    Args:
        scenario: the supply chain.
        batch_size: replicas ``B``.
        store_observation: ``"pipeline"`` (8 features) or ``"seed"`` (the seeds'
            7, without the inbound pipeline).
    """

    def __init__(self, scenario: Scenario, batch_size: int = 1,
                 store_observation: str = "pipeline") -> None:  # fmt: skip
        if store_observation not in ("pipeline", "seed"):
            raise ValueError(
                "store_observation must be 'pipeline' or 'seed', got "
                f"{store_observation!r}"
            )
        self.scenario = sc = scenario
        self.batch_size = B = batch_size
        self.store_observation = store_observation
        n = len(sc.nodes)
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

        def tile(values) -> np.ndarray:
            return np.repeat(np.asarray(values, dtype=np.float64)[None, :], B, axis=0)

        self.inventory_scale = np.maximum(mean * (L + 1.0), _TINY)
        self.demand_scale = np.maximum(mean, _TINY)
        self._inv_scale = tile(self.inventory_scale)
        self._demand_scale = tile(self.demand_scale)
        is_store = np.zeros(n, dtype=bool)
        is_store[stores] = True
        self._store_mask = tile(is_store)
        self._warehouse_mask = 1.0 - self._store_mask
        w = sc.rewards
        weights = [w.store if x else w.warehouse for x in is_store]
        self._w = {k: tile([getattr(x, k) for x in weights]) for k in _REWARD_TERMS}
        self._excess = tile(
            [x.excess_cover_days * m for x, m in zip(weights, mean, strict=True)]
        )
        self._alpha = sc.forecast_smoothing
        self._mean0 = tile(mean)
        self._var0 = tile(sc.demand_std**2)
        # parent's inventory ratio: inv @ P picks each node's parent's value
        parent = sc.parent_index
        P = np.zeros((n, n))
        for i, p in enumerate(parent):
            if p >= 0:
                P[p, i] = 1.0
        self._P = P
        self._root_one = tile(parent < 0)  # a root store sees ratio 1
        self._subtree = sc.subtree
        children = {int(j): np.flatnonzero(parent == j) for j in warehouses}
        avg = np.zeros((n, len(warehouses)))
        for k, j in enumerate(warehouses):
            below = [i for i in np.flatnonzero(sc.subtree[:, j]) if is_store[i]]
            avg[below, k] = 1.0 / len(below)
        self._avg_service = avg
        self._cap = float(sc.supplier.capacity)
        self._L_root = float(L[r])

        # One feature matrix per step: blocks of N columns (node-wide), then
        # one column per warehouse (average service below it), then the
        # supplier's three. Each agent's observation is a fixed gather of it.
        blocks = ("inventory", "pipeline", "forecast", "uncertainty", "cover",
                  "stockout", "service", "through", "parent_ratio")  # fmt: skip
        col = {b: k * n for k, b in enumerate(blocks)}
        avg_col = len(blocks) * n
        sup_col = avg_col + len(warehouses)
        store_blocks = ["inventory", "forecast", "uncertainty", "cover", "stockout",
                        "parent_ratio", "service"]  # fmt: skip
        if store_observation == "pipeline":
            store_blocks.append("pipeline")
        gather, high, self._slices = [], [], {}
        for i in stores:
            idx = [col[b] + i for b in store_blocks]
            h = [CLIP] * len(idx)
            h[3] = CLIP * (L[i] + 1)
            h[4] = h[6] = 1.0
            self._slices[names[i]] = slice(len(gather), len(gather) + len(idx))
            gather += idx
            high += h
        for k, j in enumerate(warehouses):
            kids = children[int(j)]
            idx = [col["through"] + j, col["inventory"] + j, col["pipeline"] + j]
            idx += [col["inventory"] + c for c in kids] + [avg_col + k]
            h = [CLIP] * (len(idx) - 1) + [1.0]
            self._slices[names[j]] = slice(len(gather), len(gather) + len(idx))
            gather += idx
            high += h
        self._slices[SUPPLIER] = slice(len(gather), len(gather) + 3)
        gather += [sup_col, sup_col + 1, sup_col + 2]
        high += [CLIP, CLIP, CLIP * self._L_root]
        self._gather = np.array(gather)
        self._high = tile(high)
        self._high32 = np.array(high, dtype=np.float32)

        acts = sc.actions
        self._n_actions = {"store": len(acts.store_order_multipliers),
                           "warehouse": len(acts.warehouse_order_lots),
                           "supplier": len(acts.supplier_fulfil_fractions)}  # fmt: skip
        # action value per node and action index: multiplier (stores) or lot
        width = max(self._n_actions["store"], self._n_actions["warehouse"])
        table = np.zeros((n, width))
        for i in range(n):
            values = (
                acts.store_order_multipliers
                if is_store[i]
                else acts.warehouse_order_lots
            )
            table[i, : len(values)] = values
        self._action_table = table
        self._node_ar = np.arange(n)
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
    def state_space(self) -> spaces.Box:
        n = len(self.scenario.nodes)
        high = np.full(6 * n + 1, CLIP, dtype=np.float32)
        high[5 * n :] = 1.0
        return spaces.Box(0.0, high, dtype=np.float32)

    # ------------------------------------------------------------- trackers
    def reset(self, sim: Simulation) -> None:
        """Start the trackers at the nominal demand, then observe period 0."""
        self.forecast = self._mean0.copy()
        self.variance = self._var0.copy()
        self.service = np.ones_like(self.forecast)
        self.last_root_order = np.zeros(self.batch_size)
        self._observe_demand(sim)

    def _observe_demand(self, sim: Simulation) -> None:
        """Fold the demand just served (steps 1-2 of the current period) in."""
        a = self._alpha
        err = sim.demand - self.forecast
        self.forecast = self.forecast + a * err
        self.variance = (1.0 - a) * (self.variance + a * err * err)
        served = _served_fraction(sim.sold, sim.lost + sim.backlog)
        self.service = self.service + a * (served - self.service)

    def update(self, sim: Simulation, ledger: Ledger) -> None:
        """After ``sim.step``: remember the root's order, observe the new period."""
        self.last_root_order = ledger.ordered[:, self._root]
        if not sim.done:
            self._observe_demand(sim)

    # ----------------------------------------------------------- observing
    def observe_all(self, sim: Simulation) -> np.ndarray:
        """All agents' observations side by side, ``(B, D)`` float32; agent
        ``a`` owns the columns ``slices[a]``."""
        inv = sim.on_hand / self._inv_scale
        pipe = (sim.in_transit + sim.inbound_backlog) / self._inv_scale
        owed = sim.inbound_backlog[:, self._root : self._root + 1]
        scale = self.inventory_scale[self._root]
        feat = np.concatenate(
            [
                inv,
                pipe,
                self.forecast / self._demand_scale,
                np.sqrt(self.variance) / self._demand_scale,
                sim.on_hand / np.maximum(self.forecast, _TINY),
                (sim.lost + sim.backlog > 0.0).astype(np.float64),
                self.service,
                np.dot(sim.demand, self._subtree) / self._demand_scale,
                np.dot(inv, self._P) + self._root_one,
                np.dot(self.service, self._avg_service),
                self.last_root_order[:, None] / scale,
                owed / scale,
                self._L_root + owed / self._cap,
            ],
            axis=1,
        )
        return np.minimum(feat[:, self._gather], self._high).astype(np.float32)

    @property
    def slices(self) -> dict[str, slice]:
        return self._slices

    def observe(self, sim: Simulation) -> dict[str, np.ndarray]:
        """Every agent's observation, each ``(B, dim)`` float32."""
        obs = self.observe_all(sim)
        return {a: obs[:, sl] for a, sl in self._slices.items()}

    def state(self, sim: Simulation) -> np.ndarray:
        """Global state ``(B, 6N + 1)`` for centralised critics: every node's on
        hand, in transit, on order, backlog (over its inventory scale) and demand
        forecast (over its demand scale), clipped at 10; its smoothed service
        level; the fraction of the horizon elapsed."""
        scale = self._inv_scale
        x = np.concatenate(
            [sim.on_hand / scale, sim.in_transit / scale, sim.inbound_backlog / scale,
             sim.backlog / scale, self.forecast / self._demand_scale],
            axis=1,
        )  # fmt: skip
        elapsed = np.full(
            (self.batch_size, 1), min(sim.period / self.scenario.horizon, 1.0)
        )
        out = np.concatenate([np.minimum(x, CLIP), self.service, elapsed], axis=1)
        return out.astype(np.float32)

    # -------------------------------------------------------------- acting
    def decode(self, node_actions: np.ndarray, supplier_action: np.ndarray):
        """Order quantities ``(B, N)`` and fulfil fractions ``(B,)``.

        Args:
            node_actions: ``(B, N)`` integer actions in node order (validated).
            supplier_action: ``(B,)`` integer actions of the supplier.
        """
        values = self._action_table[self._node_ar, node_actions]
        base = self.forecast * self._store_mask + self._warehouse_mask
        return values * base, self._fulfil[supplier_action]

    # ------------------------------------------------------------- scoring
    def metrics(
        self, led: Ledger
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Reward terms: per node ``(B, N)`` and for the supplier ``(B,)``."""
        r = self._root
        node = {
            "service_level": _served_fraction(
                led.sold + led.shipped, led.lost + led.backlog
            ),
            "holding_cost": led.holding_cost + led.transit_cost,
            "stockout_penalty": led.stockout_cost,
            "excess_inventory": np.maximum(led.closing - self._excess, 0.0),
        }
        supplier = {
            "service_level": _served_fraction(
                led.inbound[:, r], led.inbound_backlog[:, r]
            ),
            "stockout_penalty": led.supplier_backlog_cost,
            "overtime_cost": led.supplier_overtime_cost,
        }
        return node, supplier

    def rewards(self, node: dict[str, np.ndarray], supplier: dict[str, np.ndarray]):
        """Rewards per node ``(B, N)`` and for the supplier ``(B,)`` from
        :meth:`metrics`."""
        w = self._w
        node_r = (
            w["service_level"] * node["service_level"]
            - w["holding_cost"] * node["holding_cost"]
            - w["stockout_penalty"] * node["stockout_penalty"]
            - w["excess_inventory"] * node["excess_inventory"]
        )
        sw = self.scenario.rewards.supplier
        sup_r = (
            sw.service_level * supplier["service_level"]
            - sw.backlog * supplier["stockout_penalty"]
            - sw.overtime * supplier["overtime_cost"]
        )
        return node_r, sup_r

    def infos(self, led: Ledger, node: dict[str, np.ndarray],
              supplier: dict[str, np.ndarray], replica: int = 0):  # fmt: skip
        """Each agent's reconciliation report for one replica (plain floats)."""
        b = replica
        columns = [node[k][b].tolist() for k in _REWARD_TERMS]
        columns += [getattr(led, f)[b].tolist() for f in _INFO_FIELDS]
        table = list(zip(*columns, strict=True))  # one row per node
        period = float(led.period)
        keys = NODE_INFO_KEYS[1:]
        out = {}
        for name, i in self.node_of.items():
            row = dict(zip(keys, table[i], strict=True))
            row["period"] = period
            out[name] = row
        r = self._root
        out[SUPPLIER] = {
            "period": period,
            "service_level": float(supplier["service_level"][b]),
            "holding_cost": 0.0,
            "stockout_penalty": float(supplier["stockout_penalty"][b]),
            "excess_inventory": 0.0,
            "overtime_cost": float(supplier["overtime_cost"][b]),
            "inventory": 0.0,
            "lost_sales": 0.0,
            "demand": table[r][_ORDERED],
            "shipped": float(led.inbound[b, r]),
            "backlog": float(led.inbound_backlog[b, r]),
        }
        return out

    def reset_infos(self, sim: Simulation, replica: int = 0):
        """Reports at reset: the same keys, with period 0's demand so far, no costs."""
        b = replica
        served = _served_fraction(sim.sold, sim.lost + sim.backlog)[b]
        out = {}
        for name, i in self.node_of.items():
            row = dict.fromkeys(NODE_INFO_KEYS, 0.0)
            row.update(
                service_level=float(served[i]), inventory=float(sim.on_hand[b, i]),
                lost_sales=float(sim.lost[b, i]), demand=float(sim.demand[b, i]),
                sold=float(sim.sold[b, i]), received=float(sim.received[b, i]),
                backlog=float(sim.backlog[b, i]),
                in_transit=float(sim.in_transit[b, i]),
            )  # fmt: skip
            out[name] = row
        out[SUPPLIER] = dict.fromkeys(SUPPLIER_INFO_KEYS, 0.0)
        out[SUPPLIER]["service_level"] = 1.0
        return out
