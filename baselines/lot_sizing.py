"""The classic lot-sizing rules for a known demand plan: Wagner–Whitin (the
optimum) and the Silver–Meal, least-unit-cost and part-period-balancing
heuristics.

A plan of ``T`` periods' demands is met without shortages by lots ordered at
the start of a period (arriving at once); a lot costs ``setup`` to order and
each unit carried from one period to the next costs ``holding``. Each rule
returns the order quantities per period and the plan's cost. They are the
building blocks of rolling-horizon policies on a forecast (a lot sized on
the next periods' forecast, reordered each period): :class:`RollingLotStore`
makes each rule a store's policy in the env.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from baselines.policies import OrderUpToStore

__all__ = [
    "RULES",
    "LotPlan",
    "GeneticLotStore",
    "RollingLotStore",
    "least_unit_cost",
    "part_period_balancing",
    "plan_cost",
    "silver_meal",
    "wagner_whitin",
]


class LotPlan(tuple):
    """``(orders, cost)``: the quantity ordered in each period, and the plan's
    setup plus holding cost."""

    __slots__ = ()

    def __new__(cls, orders: np.ndarray, cost: float) -> LotPlan:
        return super().__new__(cls, (orders, float(cost)))

    @property
    def orders(self) -> np.ndarray:
        return self[0]

    @property
    def cost(self) -> float:
        return self[1]


def _check(demand: Sequence[float], setup: float, holding: float) -> np.ndarray:
    d = np.asarray(demand, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"demand must be a non-empty list of periods, got {demand!r}")
    if not np.isfinite(d).all() or (d < 0).any():
        k = int(np.flatnonzero(~np.isfinite(d) | (d < 0))[0])
        raise ValueError(f"demand[{k}] must be finite and >= 0, got {d[k]!r}")
    for name, v in (("setup", setup), ("holding", holding)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return d


def _lot_cost(d: np.ndarray, start: int, end: int, setup: float, h: float) -> float:
    """One lot at ``start`` covering periods ``start .. end - 1``."""
    carried = sum((k - start) * d[k] for k in range(start, end))
    return setup + h * carried


def plan_cost(
    orders: Sequence[float], demand: Sequence[float], setup: float, holding: float
) -> float:
    """The cost of ordering ``orders`` against ``demand``; an error if the
    plan falls short in some period."""
    d = _check(demand, setup, holding)
    q = np.asarray(orders, dtype=np.float64)
    if q.shape != d.shape:
        raise ValueError(f"orders has {q.size} periods, demand {d.size}")
    stock = np.cumsum(q) - np.cumsum(d)
    if (stock < -1e-9).any():
        raise ValueError(
            f"the plan falls short in period {int(np.argmax(stock < -1e-9))}"
        )
    return float(setup * np.count_nonzero(q > 0) + holding * stock.clip(0).sum())


def _plan(
    d: np.ndarray, lots: list[tuple[int, int]], setup: float, h: float
) -> LotPlan:
    orders = np.zeros_like(d)
    for start, end in lots:
        orders[start] = d[start:end].sum()
    return LotPlan(orders, plan_cost(orders, d, setup, h))


def wagner_whitin(demand: Sequence[float], setup: float, holding: float) -> LotPlan:
    """The optimal plan (Wagner & Whitin 1958): ``F(t)``, the least cost of
    periods ``0 .. t - 1``, is ``min_j F(j) + lot(j, t)`` over the period
    ``j`` of the last lot; a period without demand needs no lot of its own."""
    d = _check(demand, setup, holding)
    T = d.size
    best = np.full(T + 1, math.inf)
    best[0] = 0.0
    last = np.zeros(T + 1, dtype=np.int64)
    for t in range(1, T + 1):
        for j in range(t):  # the last lot at j covers j .. t - 1 (none: no demand)
            lot = _lot_cost(d, j, t, setup, holding) if d[j:t].sum() > 0 else 0.0
            cost = best[j] + lot
            if cost < best[t] - 1e-12:
                best[t], last[t] = cost, j
    lots, t = [], T
    while t > 0:
        j = int(last[t])
        if d[j:t].sum() > 0:
            lots.append((j, t))
        t = j
    return _plan(d, sorted(lots), setup, holding)


def _greedy(d: np.ndarray, setup: float, h: float, keep) -> LotPlan:
    """Lots from the first period with demand, each extended one period at a
    time while ``keep(d, start, end, setup, h)`` says the longer lot is better."""
    lots, start, T = [], 0, d.size
    while start < T:
        if d[start] == 0:
            start += 1
            continue
        end = start + 1
        while end < T and keep(d, start, end, setup, h):
            end += 1
        lots.append((start, end))
        start = end
    return _plan(d, lots, setup, h)


def silver_meal(demand: Sequence[float], setup: float, holding: float) -> LotPlan:
    """Silver–Meal: extend a lot while its cost per period covered falls."""
    d = _check(demand, setup, holding)

    def keep(d, start, end, setup, h):
        now = _lot_cost(d, start, end, setup, h) / (end - start)
        more = _lot_cost(d, start, end + 1, setup, h) / (end + 1 - start)
        return more < now

    return _greedy(d, setup, holding, keep)


def least_unit_cost(demand: Sequence[float], setup: float, holding: float) -> LotPlan:
    """Least unit cost: extend a lot while its cost per unit falls."""
    d = _check(demand, setup, holding)

    def keep(d, start, end, setup, h):
        now = _lot_cost(d, start, end, setup, h) / d[start:end].sum()
        more = _lot_cost(d, start, end + 1, setup, h) / d[start : end + 1].sum()
        return more < now

    return _greedy(d, setup, holding, keep)


def part_period_balancing(
    demand: Sequence[float], setup: float, holding: float
) -> LotPlan:
    """Part-period balancing: extend a lot while its holding cost stays closer
    to the setup cost than the next extension's would be."""
    d = _check(demand, setup, holding)

    def keep(d, start, end, setup, h):
        # a lot's holding cost (its cost less the setup) against the setup
        now = abs(_lot_cost(d, start, end, setup, h) - 2 * setup)
        more = abs(_lot_cost(d, start, end + 1, setup, h) - 2 * setup)
        return more < now

    return _greedy(d, setup, holding, keep)


#: the rules by name, as the rolling-horizon policy and the benchmark name them
RULES = {
    "wagner_whitin": wagner_whitin,
    "silver_meal": silver_meal,
    "least_unit_cost": least_unit_cost,
    "part_period_balancing": part_period_balancing,
}


@dataclass(frozen=True)
class RollingLotStore:
    """A lot-sizing rule as a store's policy, on a rolling horizon.

    At each decision (after the period's demand) the store projects what it
    will hold when an order placed now arrives, ``lead_time - 1`` periods of
    forecast demand later: its inventory position (as ``position_of`` reads
    it) less that demand, less the ``safety`` stock it keeps for demand
    above the forecast. The periods from the arrival on need the forecast
    each; what the projected stock covers is netted from the front. If the
    arrival period itself needs stock, the rule plans lots for the next
    ``horizon`` periods of net requirements and the store orders the first
    lot (rounded up to whole units, at most ``max_order``); otherwise it
    orders nothing, and a later decision will. Each period plans afresh.

    Attributes:
        rule: a name of :data:`RULES`.
        setup, holding: the rule's costs: the fixed cost of an order and the
            holding cost per unit and period.
        forecast: the demand forecast per period (a stationary store: its
            mean).
        lead_time: the store's lead time (periods from an order to its
            arrival).
        safety: units kept above the forecast.
        horizon: periods each plan covers.
        position_of: the store's order-up-to policy, whose ``position``
            reads the inventory position from its observation and whose
            ``max_order`` and ``to_action`` say how it orders.
    """

    rule: str
    setup: float
    holding: float
    forecast: float
    lead_time: int
    safety: float
    horizon: int
    position_of: OrderUpToStore
    role: str = "store"

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {sorted(RULES)}, got {self.rule!r}")
        if not (math.isfinite(self.forecast) and self.forecast > 0):
            raise ValueError(f"forecast must be > 0, got {self.forecast!r}")
        if not (isinstance(self.horizon, int) and self.horizon >= 2):
            raise ValueError(f"horizon must be an integer >= 2, got {self.horizon!r}")
        if not (math.isfinite(self.safety) and self.safety >= 0):
            raise ValueError(
                f"safety must be a finite number >= 0, got {self.safety!r}"
            )

    def lot(self, available: float) -> float:
        """The first lot of a plan whose projected stock at arrival, beyond
        the safety stock, is ``available`` (0 where the arrival period is
        covered)."""
        f = self.forecast
        if available >= f:
            return 0.0
        cum = f * np.arange(1, self.horizon + 1)
        net = np.diff(np.clip(cum - max(available, 0.0), 0.0, None), prepend=0.0)
        plan = RULES[self.rule](net, self.setup, self.holding)
        # a backlog beyond the stock at hand is owed on arrival as well
        return float(plan.orders[0]) + max(-available, 0.0)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        y = self.position_of.position(obs)
        ahead = (self.lead_time - 1) * self.forecast + self.safety
        available = np.round(y - ahead, 6)
        order = np.zeros_like(y)
        for a in np.unique(available):  # positions repeat across replicas
            order[available == a] = self.lot(float(a))
        order = np.clip(np.ceil(order - 1e-9), 0, self.position_of.max_order)
        return self.position_of.to_action(order, obs)


@dataclass(frozen=True)
class GeneticLotStore:
    """An adaptive genetic algorithm for stochastic lot sizing over a short
    horizon, as a store's policy.

    At each decision the store projects its stock at the arrival of an
    order placed now (as :class:`RollingLotStore` does, without a safety
    stock) and searches plans for the next ``horizon`` periods: a plan says
    in which periods an order arrives (a bit each); an order brings the
    expected stock up to the mean demand until the next order plus
    ``safety`` units. A plan's cost is its sample average over ``scenarios``
    demand paths drawn from the store's own demand (Poisson, ``mean`` a
    period): setup, holding, and the shortage penalty, backlogged or lost as
    the scenario says. The population evolves by tournament selection,
    one-point crossover, bit-flip mutation and elitism, with adaptive rates
    (Srinivas & Patnaik, 1994: plans better than the population's mean
    cross and mutate less, the worse more). The store orders the plan's
    first order, if it has one.

    The decision depends on the state only through the projected stock, so
    each value is searched once (from a generator seeded by ``seed`` and the
    value: reproducible) and remembered.
    """

    setup: float
    holding: float
    penalty: float
    backorder: bool
    mean: float
    lead_time: int
    safety: float
    horizon: int
    position_of: OrderUpToStore
    population: int = 24
    generations: int = 20
    scenarios: int = 40
    seed: int = 0
    role: str = "store"
    _memo: dict = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for name in ("population", "generations", "scenarios", "horizon"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
        if not (math.isfinite(self.mean) and self.mean > 0):
            raise ValueError(f"mean must be > 0, got {self.mean!r}")
        object.__setattr__(self, "_memo", {})

    def _quantities(self, plans: np.ndarray, start: float) -> np.ndarray:
        """The order of each plan in each period ``(P, H)``: at an arrival,
        up to the expected demand until the next arrival plus ``safety``."""
        P, H = plans.shape
        q = np.zeros((P, H))
        expected = np.full(P, float(start))
        nxt = np.full(P, H)
        until = np.empty((P, H), dtype=np.int64)
        for k in range(H - 1, -1, -1):  # the next arrival after k
            until[:, k] = nxt
            nxt = np.where(plans[:, k], k, nxt)
        for k in range(H):
            need = self.mean * (until[:, k] - k) + self.safety - expected
            q[:, k] = np.where(plans[:, k], np.maximum(np.ceil(need), 0.0), 0.0)
            expected = expected + q[:, k] - self.mean
            if not self.backorder:
                expected = np.maximum(expected, 0.0)
        return q

    def _costs(self, plans: np.ndarray, start: float, demand: np.ndarray) -> np.ndarray:
        """Each plan's sample-average cost over the demand paths ``(N, H)``."""
        q = self._quantities(plans, start)
        stock = np.full((plans.shape[0], demand.shape[0]), float(start))
        cost = self.setup * (q > 0).sum(axis=1)[:, None] * np.ones_like(stock)
        for k in range(plans.shape[1]):
            stock = stock + q[:, k, None] - demand[None, :, k]
            short = np.maximum(-stock, 0.0)
            cost = cost + self.holding * np.maximum(stock, 0.0) + self.penalty * short
            if not self.backorder:
                stock = np.maximum(stock, 0.0)
        return cost.mean(axis=1)

    def lot(self, available: float) -> float:
        """The first order of the best plan found from projected stock
        ``available`` at the arrival of an order placed now."""
        key = round(float(available), 6)
        if key in self._memo:
            return self._memo[key]
        rng = np.random.default_rng([self.seed, int(round(key * 1000)) & 0xFFFFFFFF])
        H, P = self.horizon, self.population
        demand = rng.poisson(self.mean, size=(self.scenarios, H)).astype(np.float64)
        plans = rng.random((P, H)) < 0.5
        plans[0] = False  # never order in the horizon
        plans[1] = True  # order every period
        costs = self._costs(plans, key, demand)
        for _ in range(self.generations):
            fit = -costs
            best, avg = fit.max(), fit.mean()
            spread = max(best - avg, 1e-12)
            # adaptive rates: the better a parent, the less it changes
            pc = np.where(fit >= avg, 0.9 * (best - fit) / spread, 0.9)
            pm = np.where(fit >= avg, 0.5 * (best - fit) / spread, 0.5) / H
            a, b = rng.integers(0, P, (2, P))
            parents = np.where((costs[a] < costs[b])[:, None], plans[a], plans[b])
            pi = np.where(costs[a] < costs[b], a, b)
            mates = parents[rng.permutation(P)]
            cut = rng.integers(1, H, P)
            cross = rng.random(P) < pc[pi]
            child = np.where(
                cross[:, None] & (np.arange(H)[None, :] >= cut[:, None]), mates, parents
            )
            child ^= rng.random((P, H)) < pm[pi][:, None]
            child[0] = plans[np.argmin(costs)]  # elitism
            plans, costs = child, self._costs(child, key, demand)
        best = plans[np.argmin(costs)]
        q = self._quantities(best[None, :], key)[0, 0]
        self._memo[key] = float(q)
        return float(q)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        y = self.position_of.position(obs)
        available = np.round(y - (self.lead_time - 1) * self.mean, 6)
        order = np.zeros_like(y)
        for a in np.unique(available):
            order[available == a] = self.lot(float(a))
        order = np.clip(order, 0, self.position_of.max_order)
        return self.position_of.to_action(order, obs)
