"""Agents' view of a catalogue, batched: observe, decode, score.

The catalogue's counterpart of :class:`hmarl_env.roles.Roles`, for scenarios
with ``products``: the same four kinds of agent (stores, warehouses, the
supplier), each node agent seeing and deciding every product it stocks.

Observation of a node agent: ``(P, F)`` float32, one row per product
(:data:`CATALOGUE_FEATURES`), every quantity divided by a scale of that
product at that node: its *demand scale* ``d`` (the mean demand of the
product flowing through the node per period) and its *inventory scale* ``d (L
+ 1)``. The last two columns are the node's shared capacities, the same in
every row. Bounds ``[0, 10]``.

===  ===================  ===================================================
col  feature              meaning
===  ===================  ===================================================
0    inventory            on hand / inventory scale
1    pipeline             (in transit + ordered, not yet shipped) / inventory
                          scale
2    backlog              customer backlog (stores) or units owed to children
                          (warehouses) / inventory scale
3    demand               this period's customer demand (stores) or last
                          period's orders from children (warehouses) / demand
                          scale
4    lost                 demand lost this period / demand scale
5    parent_inventory     the parent's on hand of the product / the parent's
                          inventory scale (1 at the root)
6    volume_share         this product's on-hand volume / the node's storage
                          (0 without a storage limit)
7    storage_use          the node's on-hand volume / its storage (0 without)
8    lane_use             volume that came down the node's lane last period /
                          its limit (the truck's; the supplier's release volume
                          at the root; 0 without)
===  ===================  ===================================================

Action of a node agent: ``MultiDiscrete([C] * P)``; product ``p``'s action
``k`` sets its order-up-to level to ``actions.catalogue_cover[k]`` periods of
its demand scale, and the node orders ``max(level - inventory position, 0)``
(local position: on hand + in transit + on order - backlog).

The supplier observes ``(3,)``: the root's last order, what it still owes the
root (both in volume, over the chain's mean demand volume per period, ``[0,
10]``) and its lead time plus owed volume over its release volume (``[0, 10
L]``), and picks a fulfil fraction (``Discrete``) as in the single-product
env.

Rewards: a node agent's local reward is minus its ledger cost over every
product; the supplier's minus its backlog and overtime cost; the system reward
minus the chain's cost. ``rewards.mode`` mixes them as in the single-product
env (:attr:`Rewards.system_share`). The reward weights of the single-product
env do not apply: a catalogue is scored by its ledger alone.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from gymnasium import spaces

from hmarl_env.core import Simulation, StateField
from hmarl_env.ledger import CAPACITY_FIELDS, NODE_FIELDS, SUPPLIER_FIELDS, Ledger
from hmarl_env.registry import SUPPLIER, node_agents
from hmarl_env.scenario import Scenario

__all__ = ["CATALOGUE_FEATURES", "CatalogueFeature", "CatalogueRoles"]

#: observation bound, in scales (as the single-product env's)
CLIP = 10.0
_S = StateField


class CatalogueFeature(IntEnum):
    """Columns of a node agent's catalogue observation."""

    inventory = 0
    pipeline = 1
    backlog = 2
    demand = 3
    lost = 4
    parent_inventory = 5
    volume_share = 6
    storage_use = 7
    lane_use = 8


CATALOGUE_FEATURES = tuple(f.name for f in CatalogueFeature)
_F = CatalogueFeature


class CatalogueRoles:
    """Observations, action decoding and rewards of a catalogue, ``B`` replicas.

    Args:
        scenario: a scenario with products.
        batch_size: replicas ``B``.
    """

    def __init__(self, scenario: Scenario, batch_size: int = 1) -> None:
        if not scenario.products:
            raise ValueError(
                f"scenario {scenario.name!r} has no products: its agents are "
                "hmarl_env.roles.Roles'"
            )
        self.scenario = sc = scenario
        self.batch_size = B = batch_size
        self.n_nodes = N = len(sc.nodes)
        self.n_products = P = sc.n_products
        self.node_of = node_agents(sc)
        self.agents: tuple[str, ...] = (*self.node_of, SUPPLIER)
        self._nodes = np.array(list(self.node_of.values()), dtype=np.intp)
        volume = sc.product_table[0]
        self._volume = volume
        lead = sc.lead_times.astype(np.float64)[:, None]
        self._demand_scale = np.maximum(sc.product_mean_demand, 1e-9)  # (N, P)
        self._inventory_scale = self._demand_scale * (lead + 1.0)
        parent = sc.parent_index
        self._parent = np.maximum(parent, 0)
        self._is_root = parent < 0
        self._storage = np.array([n.storage for n in sc.nodes])
        lane = np.array([n.truck_volume for n in sc.nodes])
        lane[sc.root] = sc.supplier.capacity
        self._lane = lane
        self._cover = np.asarray(sc.actions.catalogue_cover, dtype=np.float64)
        self._chain_volume = max(
            float((sc.product_mean_demand[sc.store_index] * volume).sum()), 1e-9
        )
        self._fulfil = np.asarray(
            sc.actions.supplier_fulfil_fractions, dtype=np.float64
        )
        self._share = sc.rewards.system_share
        self._supplier_lead = float(sc.supplier_lead_time)
        # trackers: last period's orders from children, volume down each lane,
        # the root's last order volume
        self._child_orders = np.zeros((B, N, P))
        self._lane_volume = np.zeros((B, N))
        self._root_order = np.zeros(B)
        box = spaces.Box(
            0.0, CLIP, shape=(P, len(CATALOGUE_FEATURES)), dtype=np.float32
        )
        self.observation_spaces: dict[str, spaces.Space] = {
            a: box for a in self.node_of
        }
        self.observation_spaces[SUPPLIER] = spaces.Box(
            0.0,
            np.array([CLIP, CLIP, CLIP * self._supplier_lead], dtype=np.float32),
            dtype=np.float32,
        )
        self.action_spaces: dict[str, spaces.Space] = {
            a: spaces.MultiDiscrete(np.full(P, len(self._cover), dtype=np.int64))
            for a in self.node_of
        }
        self.action_spaces[SUPPLIER] = spaces.Discrete(len(self._fulfil))
        self.state_space = spaces.Box(
            0.0, CLIP, shape=(P, N * len(CATALOGUE_FEATURES)), dtype=np.float32
        )

    # ------------------------------------------------------------- trackers
    def reset(self, sim: Simulation) -> None:
        self._child_orders[:] = 0.0
        self._lane_volume[:] = 0.0
        self._root_order[:] = 0.0

    def update(self, sim: Simulation, ledger: Ledger) -> None:
        """After ``sim.step``: remember what the observations read of it."""
        demand = ledger.by_product("demand")
        self._child_orders[:] = demand
        self._child_orders[:, self.scenario.store_index] = 0.0
        inbound = ledger.by_product("inbound")
        self._lane_volume[:] = inbound @ self._volume
        ordered = ledger.by_product("ordered")[:, self.scenario.root]
        self._root_order[:] = ordered @ self._volume

    def _blocks(self, sim: Simulation) -> np.ndarray:
        state = sim.state_array
        B, N, P = self.batch_size, self.n_nodes, self.n_products
        if state.shape[0] != B or state.shape[2] != N * P:
            raise ValueError(
                f"these roles are for {B} replicas of {N} nodes x {P} products; "
                f"the simulation has {state.shape[0]} of {state.shape[2]} columns"
            )
        return state.reshape(B, state.shape[1], N, P)

    # ----------------------------------------------------------- observing
    def node_features(self, sim: Simulation) -> np.ndarray:
        """Every node's observation, ``(B, N, P, F)`` float32 (node order)."""
        st = self._blocks(sim)
        B, N, P = self.batch_size, self.n_nodes, self.n_products
        inv, dem = self._inventory_scale, self._demand_scale
        out = np.empty((B, N, P, len(CATALOGUE_FEATURES)))
        on_hand = st[:, _S.on_hand]
        out[..., _F.inventory] = on_hand / inv
        out[..., _F.pipeline] = (st[:, _S.in_transit] + st[:, _S.inbound_backlog]) / inv
        out[..., _F.backlog] = st[:, _S.backlog] / inv
        out[..., _F.demand] = (st[:, _S.demand] + self._child_orders) / dem
        out[..., _F.lost] = st[:, _S.lost] / dem
        parent = on_hand[:, self._parent] / inv[self._parent]
        parent[:, self._is_root] = 1.0
        out[..., _F.parent_inventory] = parent
        held = on_hand * self._volume  # (B, N, P) volume
        with np.errstate(divide="ignore"):
            per_storage = 1.0 / self._storage  # 0 where unlimited
            per_lane = 1.0 / self._lane
        out[..., _F.volume_share] = held * per_storage[:, None]
        out[..., _F.storage_use] = (held.sum(axis=2) * per_storage)[..., None]
        out[..., _F.lane_use] = (self._lane_volume * per_lane)[..., None]
        np.clip(out, 0.0, CLIP, out=out)
        return out.astype(np.float32)

    def supplier_features(self, sim: Simulation) -> np.ndarray:
        """The supplier's observation, ``(B, 3)`` float32."""
        st = self._blocks(sim)
        owed = st[:, _S.inbound_backlog, self.scenario.root] @ self._volume
        cap = self.scenario.supplier.capacity
        delay = self._supplier_lead + (owed / cap if np.isfinite(cap) else 0.0 * owed)
        out = np.stack(
            [self._root_order / self._chain_volume, owed / self._chain_volume, delay],
            axis=1,
        )
        np.clip(out, 0.0, [CLIP, CLIP, CLIP * self._supplier_lead], out=out)
        return out.astype(np.float32)

    def state(self, sim: Simulation) -> np.ndarray:
        """The global state, ``(B, P, N * F)``: every node's features of each
        product side by side."""
        x = self.node_features(sim)  # (B, N, P, F)
        B, N, P, F = x.shape
        return np.ascontiguousarray(x.transpose(0, 2, 1, 3)).reshape(B, P, N * F)

    # -------------------------------------------------------------- acting
    def decode(
        self, sim: Simulation, node_actions: np.ndarray, supplier_action: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Orders ``(B, N * P)`` and fulfil fractions ``(B,)`` of integer actions
        ``(B, N, P)`` (node order) and ``(B,)``.

        Raises:
            ValueError: an action outside its range (agent, product and replica
                named).
        """
        C = len(self._cover)
        bad = (node_actions < 0) | (node_actions >= C)
        if bad.any():
            b, i, p = (int(x[0]) for x in np.nonzero(bad))
            raise ValueError(
                f"{self.scenario.node_names[i]}'s action for product "
                f"{self.scenario.product_names[p]!r} (replica {b}) must be in "
                f"0..{C - 1}, got {int(node_actions[b, i, p])}"
            )
        if ((supplier_action < 0) | (supplier_action >= len(self._fulfil))).any():
            b = int(
                np.flatnonzero(
                    (supplier_action < 0) | (supplier_action >= len(self._fulfil))
                )[0]
            )
            raise ValueError(
                f"{SUPPLIER}'s action (replica {b}) must be in "
                f"0..{len(self._fulfil) - 1}, got {int(supplier_action[b])}"
            )
        level = self._cover[node_actions] * self._demand_scale
        B = self.batch_size
        position = sim.inventory_position.reshape(level.shape)
        orders = np.maximum(level - position, 0.0).reshape(B, -1)
        return orders, self._fulfil[supplier_action]

    # ------------------------------------------------------------- scoring
    def score(self, ledger: Ledger) -> np.ndarray:
        """Rewards ``(B, A)`` in agent order: each node agent's minus its cost
        over products, the supplier's minus its costs, mixed with minus the
        chain's cost by the reward mode."""
        node_cost = ledger.node_total("total_cost")  # (B, N)
        supplier_cost = ledger.supplier[:, 1:].sum(axis=1)
        local = -np.concatenate(
            [node_cost[:, self._nodes], supplier_cost[:, None]], axis=1
        )
        if self._share == 0:
            return local
        system = -(node_cost.sum(axis=1) + supplier_cost)
        return (1 - self._share) * local + self._share * system[:, None]

    def infos(self, ledger: Ledger, rewards: np.ndarray, replica: int = 0):
        """Each agent's report for one replica: every node and capacity field
        of the ledger as an array over products (zeros for the supplier),
        every supplier field (zeros for nodes), the period and the reward."""
        P = self.n_products
        nodes = ledger.nodes[replica].reshape(len(NODE_FIELDS), self.n_nodes, P)
        caps = ledger.capacity[replica].reshape(len(CAPACITY_FIELDS), self.n_nodes, P)
        zeros = np.zeros(P)
        out = {}
        for k, agent in enumerate(self.agents):
            i = self.node_of.get(agent)
            info: dict = {"period": ledger.period, "reward": float(rewards[replica, k])}
            for f, name in enumerate(NODE_FIELDS):
                info[name] = nodes[f, i] if i is not None else zeros
            for f, name in enumerate(CAPACITY_FIELDS):
                info[name] = caps[f, i] if i is not None else zeros
            for f, name in enumerate(SUPPLIER_FIELDS):
                info[name] = float(ledger.supplier[replica, f]) if i is None else 0.0
            out[agent] = info
        return out
