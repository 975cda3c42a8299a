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
9    position_use         the node's volume on hand, in transit and on order /
                          its storage (0 without): what will want shelf space
10   mean_inventory       column 0 averaged over the node's products
11   mean_lost            column 4 averaged over the node's products
12   log_demand           ``log(1 + mu)`` of the product's mean demand ``mu``
                          through the node, in units per period
13   variability          the product's demand std / mean through the node
14   volume_flow          the product's volume x mean demand / the average
                          over the node's products (its claim on shared
                          capacity)
15   critical_ratio       stockout cost / (stockout + holding cost) of the
                          product at the node
16   lead                 the node's lead time + 1, in periods
17   periods_left         periods left in the episode / the horizon
18   newsvendor_level     the newsvendor's order-up-to level of the product
                          at the node over the mean demand of its lead time
                          plus one period: the critical-ratio quantile of that
                          demand (negative binomial, Poisson or normal matched
                          to its mean and variance), what a textbook policy
                          holds before any shared capacity
19   parent_storage_use   the parent's storage_use (column 7 of its rows; 0 at
                          the root): how full the shelf upstream is
20   bulk                 the product's volume per unit of its holding cost
                          at the node / the average over the node's products:
                          what a unit of shelf space costs it relative to the
                          others (a price on volume weighs bulky, cheap
                          products most)
===  ===================  ===================================================

Columns 7 to 11, 17 and 19 are the same in every row of a node: the shared
capacities' use and a pooled summary of the catalogue, the context each
product's decision needs about the others. Columns 12 to 16, 18 and 20
describe the product, so one network can act on every product of any catalogue (its
weights shared across products and stores: nothing depends on how many
products there are or their order).

Action of a node agent: ``MultiDiscrete([C] * P)``; product ``p``'s action
``k`` sets its order-up-to level to ``actions.catalogue_cover[k]`` periods of
its demand scale, or with ``actions.catalogue_safety`` (the presets) to ``mu
(L + 1) + z_k sigma sqrt(L + 1)`` (:meth:`Scenario.safety_levels`), and the
node orders ``max(level - inventory position, 0)`` (local position: on hand +
in transit + on order - backlog).

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

Each product decision's own share
(:meth:`CatalogueRoles.own_product_rewards`; what a product-shared learner
trains on adds, by the reward mode, the product's cost upstream:
:meth:`CatalogueRoles.product_rewards`): minus the product's holding,
transit, stockout and order cost at the node, plus the node's discard cost
split over the products in proportion to the volume each brought in that
period (volume fills the shelf; the proportional discard rule writes off
whatever arrives, and charging each product its own write-off would let a
cheap bulky product overflow the shelf at a dear product's expense). The
node's fixed order cost, shared by the products ordering, is split over them
as the ledger splits it (its ``order_cost`` rows). Summed over products it is
the node's ledger cost.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from gymnasium import spaces

from hmarl_env.core import Simulation, StateField
from hmarl_env.ledger import CAPACITY_FIELDS, NODE_FIELDS, SUPPLIER_FIELDS, Ledger
from hmarl_env.registry import SUPPLIER, node_agents
from hmarl_env.scenario import Scenario

__all__ = [
    "CATALOGUE_FEATURES",
    "CatalogueFeature",
    "CatalogueRoles",
    "newsvendor_level",
    "offset_actions",
    "with_reference",
]

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
    position_use = 9
    mean_inventory = 10
    mean_lost = 11
    log_demand = 12
    variability = 13
    volume_flow = 14
    critical_ratio = 15
    lead = 16
    periods_left = 17
    newsvendor_level = 18
    parent_storage_use = 19
    bulk = 20


CATALOGUE_FEATURES = tuple(f.name for f in CatalogueFeature)
_F = CatalogueFeature


def with_reference(rows: np.ndarray, reference: np.ndarray, choices: int):
    """Rows ``(..., P, F)`` with a last column added: each product's
    reference action ``reference`` ``(..., P)`` over ``choices - 1`` (a
    tuned heuristic's safety-factor index, in ``[0, 1]``)."""
    ref = np.broadcast_to(reference, rows.shape[:-1]) / max(choices - 1, 1)
    return np.concatenate([rows, ref[..., None].astype(rows.dtype)], axis=-1)


def offset_actions(
    offsets: np.ndarray, reference: np.ndarray, residual: int, choices: int
) -> np.ndarray:
    """Env actions of offsets ``0 .. 2 R`` (``R`` below, at, above) around
    ``reference``, kept within ``0 .. choices - 1``."""
    return np.clip(
        np.asarray(reference) + np.asarray(offsets) - residual, 0, choices - 1
    ).astype(np.int64)


def newsvendor_level(mean: np.ndarray, var: np.ndarray, ratio: np.ndarray):
    """The ``ratio``-quantile of a demand with ``mean`` and ``var`` over its
    mean (0 where the mean is 0): a negative binomial matched to both where
    the variance exceeds the mean, a Poisson where they are equal, a normal
    where it is below (same shapes)."""
    from scipy import stats

    mean, var, ratio = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (mean, var, ratio))
    )
    q = np.zeros(mean.shape)
    safe = mean > 0
    m, v, r = mean[safe], var[safe], np.clip(ratio[safe], 0.0, 1.0 - 1e-9)
    over = v > m * 1.0001
    under = v < m * 0.9999
    poisson = ~over & ~under
    out = np.empty(m.shape)
    n = m[over] ** 2 / (v[over] - m[over])
    out[over] = stats.nbinom.ppf(r[over], n, m[over] / v[over])
    out[poisson] = stats.poisson.ppf(r[poisson], m[poisson])
    out[under] = np.maximum(
        m[under] + np.sqrt(v[under]) * stats.norm.ppf(r[under]), 0.0
    )
    q[safe] = out / m
    return q


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
        safety = sc.actions.catalogue_safety
        if safety is not None:  # levels (C, N, P) of each safety factor
            self._levels = sc.safety_levels(np.asarray(safety)[:, None, None])
        else:
            cover = np.asarray(sc.actions.catalogue_cover, dtype=np.float64)
            self._levels = cover[:, None, None] * self._demand_scale
        self._horizon = float(sc.horizon)
        # upstream[s, w, p]: node s's share of product p's flow through w, for
        # each proper ancestor w of s (what of w's cost s's product carries)
        above = sc.subtree.copy()
        np.fill_diagonal(above, 0.0)
        mu = sc.product_mean_demand
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(mu[None, :, :] > 0, mu[:, None, :] / mu[None, :, :], 0.0)
        self._upstream = above[:, :, None] * share
        self._static = self._product_descriptors()
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
            a: spaces.MultiDiscrete(np.full(P, len(self._levels), dtype=np.int64))
            for a in self.node_of
        }
        self.action_spaces[SUPPLIER] = spaces.Discrete(len(self._fulfil))
        self.state_space = spaces.Box(
            0.0, CLIP, shape=(P, N * len(CATALOGUE_FEATURES)), dtype=np.float32
        )

    def _product_descriptors(self) -> np.ndarray:
        """Columns 12-16, 18 and 20, ``(N, P, 7)``: what describes each
        product at each node."""
        sc = self.scenario
        mu, sigma = sc.product_mean_demand, sc.product_demand_std
        _, _, hold, short, _ = sc.product_table
        h = np.array([n.holding_cost for n in sc.nodes])[:, None] * hold
        p = np.array([n.stockout_cost for n in sc.nodes])[:, None] * short
        flow = self._volume * mu
        mean_flow = np.maximum(flow.mean(axis=1, keepdims=True), 1e-12)
        lead = np.broadcast_to((sc.lead_times + 1.0)[:, None], mu.shape)
        bulk = self._volume / np.maximum(h, 1e-12)  # (N, P)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(p + h > 0, p / (p + h), 0.0)
            out = np.stack(
                [
                    np.log1p(mu),
                    np.where(mu > 0, sigma / np.maximum(mu, 1e-12), 0.0),
                    flow / mean_flow,
                    ratio,
                    lead,
                    newsvendor_level(mu * lead, sigma**2 * lead, ratio),
                    bulk / np.maximum(bulk.mean(axis=1, keepdims=True), 1e-12),
                ],
                axis=-1,
            )
        return np.clip(out, 0.0, CLIP)

    @property
    def n_choices(self) -> int:
        """``C``, the actions of a node agent for each product."""
        return len(self._levels)

    def row_spaces(self, residual: int = 0) -> dict[str, spaces.Space]:
        """The spaces of one product decision of a node agent, what a
        product-shared module acts on: a row of :data:`CATALOGUE_FEATURES`
        in, one of the ``C`` per-product actions out; with ``residual`` R
        the row ends with a reference action's column and the module picks
        one of ``2 R + 1`` offsets from it (:func:`with_reference`,
        :func:`offset_actions`)."""
        width = len(CATALOGUE_FEATURES) + (1 if residual else 0)
        return {
            "observation_space": spaces.Box(
                0.0, CLIP, shape=(width,), dtype=np.float32
            ),
            "action_space": spaces.Discrete(
                2 * residual + 1 if residual else self.n_choices
            ),
        }

    def product_scales(self) -> np.ndarray:
        """``(N, P)``: the size of a product's cost per period at a node, what
        a learner divides its reward by so that every product's signal is of
        order one: the holding cost of its lead-time demand, ``h mu (L + 1)``
        (at least a millionth of the largest, for products without demand)."""
        sc = self.scenario
        hold = sc.product_table[2]
        h = np.array([n.holding_cost for n in sc.nodes])[:, None] * hold
        scale = h * self._inventory_scale
        return np.maximum(scale, 1e-6 * max(float(scale.max()), 1e-12))

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
        committed = (
            on_hand + st[:, _S.in_transit] + st[:, _S.inbound_backlog]
        ) @ self._volume  # (B, N)
        out[..., _F.position_use] = (committed * per_storage)[..., None]
        np.clip(
            out[..., : _F.position_use + 1],
            0.0,
            CLIP,
            out=out[..., : _F.position_use + 1],
        )
        out[..., _F.mean_inventory] = out[..., _F.inventory].mean(axis=2, keepdims=True)
        out[..., _F.mean_lost] = out[..., _F.lost].mean(axis=2, keepdims=True)
        out[..., _F.log_demand : _F.lead + 1] = self._static[..., :-2]
        out[..., _F.newsvendor_level] = self._static[..., -2]
        out[..., _F.bulk] = self._static[..., -1]
        parent_use = out[:, self._parent, 0, _F.storage_use]  # (B, N)
        parent_use[:, self._is_root] = 0.0
        out[..., _F.parent_storage_use] = parent_use[..., None]
        out[..., _F.periods_left] = (
            max(self._horizon - max(sim.period, 0), 0.0) / self._horizon
        )
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
        C = len(self._levels)
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
        N, P = self.n_nodes, self.n_products
        level = self._levels[node_actions, np.arange(N)[:, None], np.arange(P)[None, :]]
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

    def product_rewards(self, ledger: Ledger) -> np.ndarray:
        """Each product decision's reward ``(B, N, P)`` in money: its own
        (:meth:`own_product_costs`, the module's docstring says how the shared
        costs are split) plus, by the reward mode's system share, the same
        product's cost at every node above, split over the nodes below by
        their share of its mean demand. In ``system`` mode the stores'
        rewards summed over products are minus the nodes' whole ledger
        cost: each store's product carries its part of what stocking it
        costs upstream (holding, backlog, write-offs of a full warehouse)."""
        own = self.own_product_rewards(ledger)
        if self._share == 0:
            return own
        return own + self._share * np.einsum("bwp,swp->bsp", own, self._upstream)

    def own_product_rewards(self, ledger: Ledger) -> np.ndarray:
        """Each product decision's own reward ``(B, N, P)`` in money; summed
        over products it is minus each node's ledger cost."""
        cost = ledger.by_product("total_cost")
        discard = ledger.by_product("discard_cost")
        own = cost - discard
        arrived = ledger.by_product("received") * self._volume  # (B, N, P)
        total = arrived.sum(axis=2, keepdims=True)
        share = np.divide(
            arrived,
            total,
            out=np.full_like(arrived, 1.0 / self.n_products),
            where=total > 0,
        )
        own += discard.sum(axis=2, keepdims=True) * share
        return -own

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
