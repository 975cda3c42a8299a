"""Heuristics for catalogues, and their batched evaluation.

How to run:
    hmarl catalogue --scenario catalogue_500 --episodes 200
    (or python -m baselines.catalogue ...)

Policies here act on the simulation core (order quantities for every node
and product, ``(B, N * P)``), the reference points a learned catalogue policy
is measured against:

* :class:`BaseStock` - a local order-up-to level per node and product:
  orders ``max(S - inventory position, 0)``; :class:`SS`, ``(s, S)``.
* :func:`tune_per_product` - the naive policy: each product's levels tuned on
  its own, ignoring every shared capacity. Without capacities products are
  independent, so one batched run scores every product at once: replica ``g``
  of a grid runs every product at safety factor ``z_g``, each product keeps its
  cheapest (stores first, then the warehouse given the stores', on training
  seeds, common random numbers); :func:`tune_ss_per_product` tunes each
  product's ``(s, S)`` the same way, for fixed order costs.
* :func:`tune_capacity_prices` - the capacity-aware policy (Lagrangian
  relaxation of the shared storage, after Hadley & Whitin's multi-item
  models): each node puts a price ``lambda`` on a unit of volume held, and
  each product's level minimises its own cost plus ``lambda * volume * mean
  units on hand`` over the same grid, from the curves the naive tuning
  measured; the prices are then tuned on the capacitated chain. The
  simulator's proportional rules cut what still does not fit.

KPIs, one row per episode (ledger units and money, whole episode):

=================  ============================================================
total_cost         the chain's ledger cost (every node and product, supplier)
store_cost         the stores' ledger cost (minus the stores' reward)
holding_cost       holding plus transit cost
stockout_cost      lost sales and backlog cost
discard_cost       value of what was discarded at full storage
fill_rate          units sold / units demanded at the stores
discarded          units discarded at full storage
storage_binds      share of node-periods where something was discarded
truck_binds        share of store lane-periods where a truck cut a shipment
supplier_binds     share of periods where the supplier's volume cut a release
=================  ============================================================
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from hmarl_env.catalogue_roles import CatalogueRoles
from hmarl_env.core import Simulation
from hmarl_env.registry import node_agents
from hmarl_env.scenario import Scenario, get_scenario
from hmarl_env.scenario.catalogue import SAFETY_FACTORS
from hmarl_env.seeding import HELD_OUT_SEED, check_seed
from hmarl_env.utils.stats import mean_ci

__all__ = [
    "CATALOGUE_HEURISTICS",
    "CATALOGUE_ACTIONS_KEY",
    "CATALOGUE_KPIS",
    "EnvActions",
    "catalogue_actions",
    "fixed_actions",
    "heuristic_actions",
    "heuristic_policy",
    "tune_uniform",
    "SS",
    "BaseStock",
    "evaluate_catalogue",
    "format_catalogue_table",
    "product_levels",
    "tune_capacity_prices",
    "tune_per_product",
    "tune_ss_per_product",
    "uncapacitated",
]

CATALOGUE_KPIS = (
    "total_cost",
    "store_cost",
    "holding_cost",
    "stockout_cost",
    "discard_cost",
    "fill_rate",
    "discarded",
    "storage_binds",
    "truck_binds",
    "supplier_binds",
)
#: the safety factors searched per product and node: the catalogue presets'
#: actions (``actions.catalogue_safety``)
Z_GRID = SAFETY_FACTORS
#: order sizes searched for (s, S), in periods of mean demand (``S - s``)
Q_GRID = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0)
#: prices on a unit of volume held per period, in multiples of the mean
#: holding cost of a unit of volume at the node
PRICE_GRID = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
#: replicas stepped at once (node-product columns x replicas stay in cache)
_BATCH_COLUMNS = 200_000
#: episodes per grid point when tuning, from training seeds 0, 1, ...
TUNE_EPISODES = 8

#: a chain policy: the simulation -> every node's orders ``(B, N * P)``. A
#: policy that observes as the env's agents do also has ``reset(sim)`` and
#: ``observe(sim, ledger)`` (:class:`EnvActions`), called at the start and
#: after every period.
Policy = Callable[[Simulation], np.ndarray]


class EnvActions:
    """A chain policy of env actions: each node agent acts on its catalogue
    observation (:mod:`hmarl_env.catalogue_roles`), the supplier fulfils.

    Args:
        scenario: the catalogue.
        nodes: node agent -> its policy: observations ``(B, P, F)`` ->
            actions ``(B, P)`` (a learned module's
            :class:`analysis.runs.loading.ModulePolicy`, or fixed actions).
    """

    def __init__(self, scenario: Scenario, nodes: dict[str, Callable]) -> None:
        self.scenario = scenario
        self.nodes = nodes
        self._roles: CatalogueRoles | None = None
        missing = set(node_agents(scenario)) - set(nodes)
        if missing:
            raise ValueError(f"EnvActions needs a policy for {sorted(missing)}")

    def reset(self, sim: Simulation) -> None:
        if self._roles is None or self._roles.batch_size != sim.batch_size:
            self._roles = CatalogueRoles(self.scenario, sim.batch_size)
        self._roles.reset(sim)

    def observe(self, sim: Simulation, ledger) -> None:
        self._roles.update(sim, ledger)

    def __call__(self, sim: Simulation) -> np.ndarray:
        roles = self._roles
        features = roles.node_features(sim)
        B, N, P, _ = features.shape
        actions = np.zeros((B, N, P), dtype=np.int64)
        for agent, i in roles.node_of.items():
            actions[:, i] = np.asarray(self.nodes[agent](features[:, i])).reshape(B, P)
        orders, _ = roles.decode(sim, actions, np.zeros(B, dtype=np.int64))
        return orders


def fixed_actions(actions: np.ndarray) -> Callable:
    """A node policy that always takes ``actions`` ``(P,)``."""
    actions = np.asarray(actions, dtype=np.int64)
    return lambda obs: np.broadcast_to(actions, np.shape(obs)[:-1])


def heuristic_policy(
    scenario: Scenario, kinds: dict[str, str] | str = "tuned"
) -> EnvActions:
    """Every node acting by a tuned catalogue heuristic as env actions
    (``kinds``: one kind for all, or node agent -> kind)."""
    node_of = node_agents(scenario)
    if isinstance(kinds, str):
        kinds = dict.fromkeys(node_of, kinds)
    tuned = {k: heuristic_actions(scenario, k) for k in set(kinds.values())}
    return EnvActions(
        scenario, {a: fixed_actions(tuned[kinds[a]][i]) for a, i in node_of.items()}
    )


def _per_replica(levels: np.ndarray, sim: Simulation, who: str) -> np.ndarray:
    """Levels ``(N, P)`` or ``(B, N, P)`` as ``(1 or B, N * P)``."""
    levels = np.asarray(levels, dtype=np.float64)
    B, K = sim.batch_size, sim.n_columns
    if levels.shape[-2:] != (sim.n_nodes, sim.n_products) or levels.ndim not in (2, 3):
        raise ValueError(
            f"{who} needs levels of shape (nodes, products) = "
            f"{(sim.n_nodes, sim.n_products)} or (replicas, nodes, products), "
            f"got {levels.shape}"
        )
    flat = levels.reshape(-1, K)
    if flat.shape[0] not in (1, B):
        raise ValueError(
            f"{who} has levels for {flat.shape[0]} replicas; the simulation has {B}"
        )
    return flat


@dataclasses.dataclass
class BaseStock:
    """Local base-stock per node and product: order ``max(S - position, 0)``.

    Args:
        levels: order-up-to levels ``S``, ``(N, P)`` for every replica or
            ``(B, N, P)`` one set per replica.
    """

    levels: np.ndarray

    def __call__(self, sim: Simulation) -> np.ndarray:
        S = _per_replica(self.levels, sim, "BaseStock")
        return np.maximum(S - sim.inventory_position, 0.0)


@dataclasses.dataclass
class SS:
    """(s, S) per node and product: where the inventory position is at or
    below ``s``, order up to ``S``; else nothing (``s = S``: base-stock).

    Args:
        s, S: reorder points and order-up-to levels, ``(N, P)`` or ``(B, N,
            P)``, ``s <= S``.
    """

    s: np.ndarray
    S: np.ndarray

    def __post_init__(self) -> None:
        if np.any(np.asarray(self.s) > np.asarray(self.S)):
            raise ValueError("SS needs s <= S for every node and product")

    def __call__(self, sim: Simulation) -> np.ndarray:
        s = _per_replica(self.s, sim, "SS")
        S = _per_replica(self.S, sim, "SS")
        position = sim.inventory_position
        return np.where(position <= s, np.maximum(S - position, 0.0), 0.0)


def product_levels(scenario: Scenario, z: np.ndarray | float) -> np.ndarray:
    """Levels ``(N, P)`` of safety factors ``z``
    (:meth:`hmarl_env.scenario.Scenario.safety_levels`)."""
    return scenario.safety_levels(z)


def uncapacitated(scenario: Scenario) -> Scenario:
    """The scenario with every storage, truck and supplier volume unlimited."""
    nodes = tuple(
        dataclasses.replace(n, storage=math.inf, truck_volume=math.inf)
        for n in scenario.nodes
    )
    supplier = dataclasses.replace(
        scenario.supplier, capacity=math.inf, regular_capacity=math.inf
    )
    return scenario.replace(nodes=nodes, supplier=supplier)


# ------------------------------------------------------------------ evaluation
def _episodes(
    scenario: Scenario,
    policy: Policy,
    seeds: Sequence[int],
    per_product: bool = False,
) -> dict[str, np.ndarray]:
    """Run one batch of episodes; every KPI per episode (with ``per_product``
    also each product's cost and mean volume on hand per node)."""
    B, N, P = len(seeds), len(scenario.nodes), scenario.n_products
    sim = Simulation(scenario, batch_size=B)
    sim.reset([np.random.default_rng(int(s)) for s in seeds])
    stores, root = scenario.store_index, scenario.root
    lanes = scenario.parent_index >= 0
    sums = {k: np.zeros(B) for k in CATALOGUE_KPIS}
    sold = np.zeros(B)
    demand = np.zeros(B)
    product_cost = np.zeros((B, P))
    held = np.zeros((B, N, P))
    led = None
    reset, observe = getattr(policy, "reset", None), getattr(policy, "observe", None)
    if reset is not None:
        reset(sim)
    while not sim.done:
        led = sim.step(policy(sim), out=led)  # each period's read before the next
        if observe is not None:
            observe(sim, led)
        cost = led.by_product("total_cost")
        sums["total_cost"] += cost.sum(axis=(1, 2)) + led.supplier[:, 1:].sum(axis=1)
        sums["store_cost"] += cost[:, stores].sum(axis=(1, 2))
        sums["holding_cost"] += led.holding_cost.sum(axis=1) + led.transit_cost.sum(
            axis=1
        )
        sums["stockout_cost"] += led.stockout_cost.sum(axis=1)
        sums["discard_cost"] += led.discard_cost.sum(axis=1)
        sums["discarded"] += led.discarded.sum(axis=1)
        discarded = led.node_total("discarded")
        cut = led.node_total("capacity_cut")
        sums["storage_binds"] += (discarded > 0).mean(axis=1)
        sums["truck_binds"] += (cut[:, lanes] > 0).mean(axis=1)
        sums["supplier_binds"] += cut[:, root] > 0
        sold += led.node_total("sold")[:, stores].sum(axis=1)
        demand += led.node_total("demand")[:, stores].sum(axis=1)
        if per_product:
            product_cost += cost.sum(axis=1)
            held += led.by_product("closing")
    T = scenario.horizon
    for k in ("storage_binds", "truck_binds", "supplier_binds"):
        sums[k] = sums[k] / T
    with np.errstate(divide="ignore", invalid="ignore"):
        sums["fill_rate"] = np.where(demand > 0, sold / demand, 1.0)
    if per_product:
        sums["product_cost"] = product_cost
        sums["held"] = held / T
    return sums


def _batch(scenario: Scenario) -> int:
    """Replicas stepped at once: at most ``_BATCH_COLUMNS`` node-product columns."""
    return max(1, _BATCH_COLUMNS // (len(scenario.nodes) * scenario.n_products))


def _chunks(scenario: Scenario, seeds: Sequence[int]) -> list[list[int]]:
    size = _batch(scenario)
    seeds = list(seeds)
    return [seeds[k : k + size] for k in range(0, len(seeds), size)]


def evaluate_catalogue(
    scenario: Scenario | str,
    policy: Policy,
    episodes: int,
    seed: int = HELD_OUT_SEED,
) -> pd.DataFrame:
    """Run ``episodes`` episodes (seeds ``seed``, ``seed + 1``, ...) of a
    catalogue under a chain policy; one row of :data:`CATALOGUE_KPIS` each.

    Episode ``e`` meets the demand of ``reset`` with
    ``numpy.random.default_rng(seed + e)`` (common random numbers across
    policies), in batches that keep the state in cache."""
    scenario = get_scenario(scenario)
    seed = check_seed(seed)
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a whole number >= 1, got {episodes!r}")
    rows = []
    for chunk in _chunks(scenario, range(seed, seed + episodes)):
        out = _episodes(scenario, policy, chunk)
        rows.append(pd.DataFrame({"episode": np.array(chunk) - seed, **out}))
    return pd.concat(rows, ignore_index=True)


def summarize_catalogue(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% half-width of every KPI."""
    rows = {}
    for k in CATALOGUE_KPIS:
        mean, half = mean_ci(df[k].to_numpy())
        rows[k] = {"mean": mean, "ci95": half}
    return pd.DataFrame(rows).T


def format_catalogue_table(results: dict[str, pd.DataFrame]) -> str:
    """An aligned table, one line per policy: the cost per episode with its
    95% CI, the fill rate, units discarded and how often each capacity binds
    (``results``: policy name -> :func:`evaluate_catalogue`'s frame)."""
    lines = [
        f"  {'policy':16s} {'total cost':>24s} {'fill':>7s} {'discarded':>10s} "
        f"{'storage':>8s} {'truck':>6s} {'supplier':>8s}"
    ]
    for label, df in results.items():
        s = summarize_catalogue(df)
        m = s["mean"]
        lines.append(
            f"  {label:16s} {m['total_cost']:14,.0f} ± "
            f"{s.loc['total_cost', 'ci95']:7,.0f} "
            f"{m['fill_rate']:7.2%} {m['discarded']:10,.0f} {m['storage_binds']:8.1%} "
            f"{m['truck_binds']:6.1%} {m['supplier_binds']:8.1%}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------- tuning
def _grid_runs(
    scenario: Scenario, z: np.ndarray, episodes: int, q: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each grid point's per-product episode cost and mean units held per node,
    ``(G, P)`` and ``(G, N, P)``: grid point ``g`` runs (s, S) with ``s`` the
    levels of safety factors ``z[g]`` and ``S = s + q[g]`` periods of mean
    demand (``q`` None: base-stock), ``(G, N, P)`` each, on training seeds
    ``0 .. episodes - 1``."""
    G = z.shape[0]
    cost = np.zeros((G, scenario.n_products))
    held = np.zeros((G, len(scenario.nodes), scenario.n_products))
    low = product_levels(scenario, z)  # (G, N, P)
    high = low if q is None else low + q * scenario.product_mean_demand
    jobs = [(g, e) for g in range(G) for e in range(episodes)]
    size = _batch(scenario)
    for k in range(0, len(jobs), size):
        batch = jobs[k : k + size]
        rows = [g for g, _ in batch]
        policy = SS(low[rows], high[rows])
        out = _episodes(scenario, policy, [e for _, e in batch], per_product=True)
        for row, (g, _) in enumerate(batch):
            cost[g] += out["product_cost"][row] / episodes
            held[g] += out["held"][row] / episodes
    return cost, held


@dataclasses.dataclass
class Tuning:
    """What :func:`tune_per_product` measured: the chosen safety factors ``z``
    ``(N, P)``, the grid, and for each node the grid's per-product cost and
    mean units held when that node's factor ran through the grid (``(N, G,
    P)`` each; the stores' stage for stores, the warehouses' for warehouses),
    which :func:`priced_levels` prices."""

    z: np.ndarray
    grid: np.ndarray
    cost: np.ndarray
    held: np.ndarray

    def levels(self, scenario: Scenario) -> np.ndarray:
        return product_levels(scenario, self.z)


def tune_per_product(
    scenario: Scenario, episodes: int = TUNE_EPISODES, grid: Sequence[float] = Z_GRID
) -> Tuning:
    """Each product's safety factors, tuned on the uncapacitated chain: the
    stores' first (warehouses at the grid's highest), then the warehouses'
    given the stores'."""
    free = uncapacitated(scenario)
    N, P = len(scenario.nodes), scenario.n_products
    grid_ = np.asarray(grid, dtype=np.float64)
    G = len(grid_)
    is_store = np.zeros(N, dtype=bool)
    is_store[scenario.store_index] = True
    cost, held = np.zeros((N, G, P)), np.zeros((N, G, P))
    best = np.full((N, P), grid_[-1])
    for stage in (is_store, ~is_store):
        z = np.broadcast_to(best, (G, N, P)).copy()
        z[:, stage] = grid_[:, None, None]
        c, h = _grid_runs(free, z, episodes)
        for i in np.flatnonzero(stage):
            cost[i], held[i] = c, h[:, i]
        best[stage] = grid_[np.argmin(c, axis=0)]
    return Tuning(best, grid_, cost, held)


def priced_levels(scenario: Scenario, tuning: Tuning, prices: np.ndarray) -> np.ndarray:
    """Levels at prices ``(N,)`` on a unit of volume held per period: each
    product's safety factor at each node minimises its measured cost plus
    ``price * volume * units held`` over the episode."""
    return product_levels(scenario, priced_safety(scenario, tuning, prices))


def priced_safety(scenario: Scenario, tuning: Tuning, prices: np.ndarray) -> np.ndarray:
    """The safety factors ``(N, P)`` of :func:`priced_levels`."""
    volume = scenario.product_table[0]
    z = tuning.z.copy()
    for i in range(len(scenario.nodes)):
        if prices[i] > 0:
            score = tuning.cost[i] + prices[i] * scenario.horizon * (
                tuning.held[i] * volume
            )
            z[i] = tuning.grid[np.argmin(score, axis=0)]
    return z


def tune_ss_per_product(
    scenario: Scenario,
    tuning: Tuning,
    episodes: int = TUNE_EPISODES,
    grid: Sequence[float] = Q_GRID,
) -> tuple[np.ndarray, np.ndarray]:
    """(s, S) per node and product, capacities ignored: ``s`` the tuned
    base-stock level, ``S = s + q`` periods of mean demand with each product's
    ``q`` from ``grid`` (stores, then warehouses), then each product's
    safety factor again given its ``q``. A node's own fixed order cost is
    shared by the products ordering with it, so where a node has one each
    product is scored with its share under the grid point's joint orders (an
    approximation; products' own fixed costs are exact)."""
    free = uncapacitated(scenario)
    N, P = len(scenario.nodes), scenario.n_products
    qs = np.asarray(grid, dtype=np.float64)
    is_store = np.zeros(N, dtype=bool)
    is_store[scenario.store_index] = True
    current = {"z": tuning.z.copy(), "q": np.zeros((N, P))}
    for name, values in (("q", qs), ("z", tuning.grid)):
        for stage in (is_store, ~is_store):  # one of them through its grid
            trial = {
                k: np.broadcast_to(v, (len(values), N, P)) for k, v in current.items()
            }
            trial[name] = trial[name].copy()
            trial[name][:, stage] = values[:, None, None]
            cost, _ = _grid_runs(free, trial["z"], episodes, trial["q"])
            current[name][stage] = values[np.argmin(cost, axis=0)]
    z, q = current["z"], current["q"]
    s = product_levels(scenario, z)
    return s, s + q * scenario.product_mean_demand


def tune_capacity_prices(
    scenario: Scenario,
    tuning: Tuning,
    episodes: int = TUNE_EPISODES,
    grid: Sequence[float] = PRICE_GRID,
) -> tuple[np.ndarray, pd.DataFrame]:
    """A price on each node's storage, from ``grid`` (in multiples of the
    node's mean holding cost of a unit of volume), tuned on the capacitated
    chain (training seeds), stores' together first, then each warehouse's:
    the prices and every tried point's mean cost."""
    volume, hold = scenario.product_table[0], scenario.product_table[2]
    unit = np.array(
        [n.holding_cost * float(np.mean(hold / volume)) for n in scenario.nodes]
    )
    N = len(scenario.nodes)
    prices = np.zeros(N)
    rows = []
    best_cost = math.inf
    groups = [scenario.store_index] + [[w] for w in scenario.warehouse_index]
    for group in groups:
        best_m = 0.0
        for m in grid:
            trial = prices.copy()
            trial[group] = m * unit[group]
            levels = priced_levels(scenario, tuning, trial)
            df = evaluate_catalogue(scenario, BaseStock(levels), episodes, seed=0)
            cost = float(df["total_cost"].mean())
            names = [scenario.node_names[i] for i in group]
            rows.append({"nodes": "+".join(names), "price": m, "total_cost": cost})
            if cost < best_cost:
                best_cost, best_m = cost, m
        prices[group] = best_m * unit[group]
    return prices, pd.DataFrame(rows)


# ------------------------------------------------------------ as env actions
#: the catalogue heuristics a phase can name for a node: ``tuned`` is the
#: capacity-aware policy (the bar), ``per_product`` the naive one,
#: ``uniform`` one safety factor for every product at the stores (the
#: warehouse capacity-aware), tuned on the capacitated chain
CATALOGUE_HEURISTICS = ("tuned", "per_product", "uniform")


def heuristic_actions(scenario: Scenario, kind: str = "tuned") -> np.ndarray:
    """A tuned heuristic as the env's actions ``(N, P)``: the index of each
    node's and product's safety factor in ``actions.catalogue_safety``
    (``tuned``: capacity-aware, :func:`tune_capacity_prices`; ``per_product``:
    :func:`tune_per_product`), tuned on training seeds."""
    if kind not in CATALOGUE_HEURISTICS:
        raise ValueError(
            f"catalogue heuristics are {list(CATALOGUE_HEURISTICS)}, got {kind!r}"
        )
    # tuning is deterministic (training seeds): once per scenario and kind in
    # a process (the monitor, the gate and loading each ask for it)
    key = (json.dumps(scenario.to_dict(), sort_keys=True, default=str), kind)
    if key not in _TUNED:
        _TUNED[key] = _heuristic_actions(scenario, kind)
    return _TUNED[key].copy()


#: tuned heuristics' env actions by (scenario, kind), this process's
_TUNED: dict[tuple[str, str], np.ndarray] = {}


def _heuristic_actions(scenario: Scenario, kind: str) -> np.ndarray:
    grid = scenario.actions.catalogue_safety
    if grid is None or tuple(grid) != tuple(Z_GRID):
        raise ValueError(
            f"scenario {scenario.name!r}: the catalogue heuristics act as env "
            "actions only with actions.catalogue_safety the grid they are tuned "
            f"on ({list(Z_GRID)}), got {grid!r}"
        )
    if kind == "uniform":  # the stores' one factor, the rest capacity-aware
        tuned = np.asarray(Z_GRID)[heuristic_actions(scenario, "tuned")]
        z = tune_uniform(scenario, tuned)
    else:
        tuning = tune_per_product(scenario)
        z = tuning.z
        if kind == "tuned":
            prices, _ = tune_capacity_prices(scenario, tuning)
            z = priced_safety(scenario, tuning, prices)
    return np.searchsorted(np.asarray(Z_GRID), np.round(z, 2)).astype(np.int64)


def tune_uniform(
    scenario: Scenario,
    z: np.ndarray,
    episodes: int = TUNE_EPISODES,
    grid: Sequence[float] = Z_GRID,
) -> np.ndarray:
    """Safety factors ``z`` ``(N, P)`` with the stores' replaced by the one
    factor for every product and store that costs the capacitated chain
    least on training seeds (the other nodes as ``z`` says): the simplest
    policy that respects shared storage, a check on the per-product ones."""
    stores = scenario.store_index
    best, best_cost = z, math.inf
    for g in grid:
        trial = np.array(z, dtype=np.float64)
        trial[stores] = g
        levels = product_levels(scenario, trial)
        cost = float(
            evaluate_catalogue(scenario, BaseStock(levels), episodes, seed=0)[
                "total_cost"
            ].mean()
        )
        if cost < best_cost:
            best, best_cost = trial, cost
    return best


#: where a run freezes its catalogue heuristics' actions
#: (``heuristic_params[CATALOGUE_ACTIONS_KEY][kind]``, ``(N, P)`` lists)
CATALOGUE_ACTIONS_KEY = "catalogue_actions"


def catalogue_actions(
    scenario: Scenario, kind: str, frozen: dict | None = None
) -> np.ndarray:
    """A heuristic's env actions ``(N, P)``: frozen in a run's
    ``heuristic_params`` where it is there for this scenario's shape, else
    tuned now (:func:`heuristic_actions`)."""
    saved = ((frozen or {}).get(CATALOGUE_ACTIONS_KEY) or {}).get(kind)
    shape = (len(scenario.nodes), scenario.n_products)
    if saved is not None and np.shape(saved) == shape:
        return np.asarray(saved, dtype=np.int64)
    return heuristic_actions(scenario, kind)


# ------------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hmarl catalogue",
        description="Tune and compare the catalogue heuristics: per product "
        "(capacities ignored) and capacity-aware (a price on storage).",
    )
    parser.add_argument("--scenario", default="catalogue_50")
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args(argv)
    try:
        scenario = get_scenario(args.scenario)
        if not scenario.products:
            raise ValueError(
                f"scenario {scenario.name!r} has no products; use a catalogue "
                "(catalogue_50, catalogue_500, catalogue_2000 or a file with "
                "[products])"
            )
        start = time.perf_counter()
        tuning = tune_per_product(scenario)
        prices, _ = tune_capacity_prices(scenario, tuning)
        tuned_s = time.perf_counter() - start
        low, high = tune_ss_per_product(scenario, tuning)
        policies = {
            "per_product": BaseStock(tuning.levels(scenario)),
            "per_product_sS": SS(low, high),
            "capacity_priced": BaseStock(priced_levels(scenario, tuning, prices)),
        }
        print(
            f"{scenario.name}: {scenario.n_products} products, tuned in "
            f"{tuned_s:.0f} s; {args.episodes} held-out episodes (storage, truck, "
            "supplier: share of periods each capacity cut something)"
        )
        results = {
            name: evaluate_catalogue(scenario, policy, args.episodes)
            for name, policy in policies.items()
        }
        print(format_catalogue_table(results))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
