"""Exact optimal policies of single-stage instances, and the classic heuristics.

(One module past 500 lines on purpose: the heuristics are judged on the
solver's own state space and stationary distributions, which they share.)

How to run:
    python -m baselines.optimal lost_sales_L2_p4        # optimum and heuristics

For one store ordering whole units from an uncapacitated supplier
(:func:`hmarl_env.scenario.single_stage`, e.g. ``lost_sales_L4_p39``) with
Poisson demand, :class:`SingleStage` solves the average-cost dynamic program
exactly and evaluates any stationary policy exactly, for lost sales and for
backorders.

**The state** is Zipkin's (2008): at a decision, ``x`` (on hand, less any
backlog, including what arrives before the next demand) and the orders still
in the pipeline ``a_2 .. a_L`` (``L = lead_time - 1``, hmarl's store lead
time being ``L + 1``: see :func:`~hmarl_env.scenario.single_stage`). An order
``q`` placed now joins the pipeline's end; after the period's demand ``D``
the next state is ``(max(x - D, 0) + a_2, a_3, .., a_L, q)`` (lost sales;
backorders: ``x - D + a_2``), and the period costs ``h * (x - D)^+ + p * (D -
x)^+`` plus the fixed cost of an order. In hmarl's terms ``x`` is the store's
on hand minus its backlog plus what arrives next period.

**Truncation**, documented and checked:

* orders are ``0 .. K`` (the scenario's ``actions.store_max_order``: the
  learner's own action set, so the optimum is the optimum over what the
  learner may do);
* the inventory position after ordering is at most ``cap``, by default two
  units above Morton's (1969) bound ``S_bar``, the ``p / (p + h)`` quantile of
  ``L + 1`` periods' demand, above which an optimal lost-sales (and
  backorder) policy never orders; states above ``cap`` order nothing;
* backorders: net stock is floored at ``x_min``, far enough below ``S_bar -
  D`` that the floor is hit with negligible probability;
* demand above its ``1 - 1e-12`` quantile is folded into that quantile for the
  next state (costs use the exact expectation).

:meth:`SingleStage.solve` checks on the optimal policy's stationary
distribution that none of these binds: the chance of a state where the
optimal order is ``K``, or brings the position to ``cap``, or where the floor
cuts the demand, must be below ``1e-6`` (else a ``ValueError`` says which
bound to widen).

**Method**: relative value iteration (stopping when the Odoni bounds on the
average cost are within a relative ``1e-7``), vectorised over the whole state
space: each iteration is one gather and one matrix product over on hand.
Policies are evaluated on their stationary distribution (power iteration
from the scenario's starting state). The state space has ``(x range) * (K +
1)^(L - 1)`` states; an instance that would not fit in memory is refused
before anything is allocated, with the estimated count.

:func:`solve_instance` returns the optimum and the heuristics of the
literature: the best base-stock level (searched over every level, with
uncapped orders as in the literature), the
myopic policy (the order minimising the expected cost of the period in which
it arrives) and the best constant order; each is a :class:`TablePolicy` with
the baselines' interface (observations in the ``orders`` store layout ->
order quantities), so :func:`baselines.evaluate.evaluate` simulates it like
any other policy.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from baselines.policies import Covers, orders_position
from hmarl_env.demand import Poisson
from hmarl_env.observations import demand_scales, inventory_scales
from hmarl_env.registry import StoreOrderFeature
from hmarl_env.scenario import Scenario, get_scenario

__all__ = [
    "BINDING_TOLERANCE",
    "GridTooLarge",
    "MAX_ENTRIES",
    "Instance",
    "SingleStage",
    "Solution",
    "TablePolicy",
    "UNCAPPED_MEANS",
    "ZIPKIN_TABLE",
    "instance_of",
    "solve_instance",
]

#: Zipkin (2008), Table 3 (Poisson demand, mean 5, holding 1): (L, p) ->
#: (optimal, best base-stock) average cost per period, as published
ZIPKIN_TABLE = {
    (1, 4): (4.04, 4.16),
    (2, 4): (4.40, 4.64),
    (3, 4): (4.60, 4.98),
    (4, 4): (4.73, 5.20),
    (1, 39): (7.84, 7.86),
    (2, 39): (9.11, 9.19),
    (3, 39): (10.04, 10.22),
    (4, 39): (10.79, 11.06),
}
#: the most state x order entries the solver allocates (about 0.4 GB of float64
#: per array; it holds a few)
MAX_ENTRIES = 50_000_000
#: the largest stationary probability a truncation may carry
BINDING_TOLERANCE = 1e-6
#: demand beyond this upper-tail probability is folded into the quantile
_DEMAND_TAIL = 1e-12
#: relative width of the Odoni bounds at which value iteration stops
_GAIN_TOLERANCE = 1e-7
_MAX_ITERATIONS = 100_000


@dataclass(frozen=True)
class Instance:
    """What the solver reads from a single-stage scenario."""

    name: str
    lead_time: int  # Zipkin's L: demands between an order and its arrival
    holding: float
    penalty: float
    fixed: float
    mean: float
    max_order: int
    backorder: bool


def instance_of(scenario: Scenario) -> Instance:
    """The single-stage instance a scenario describes; a ``ValueError`` naming
    what does not fit the solver."""
    sc = scenario
    where = f"scenario {sc.name!r}"
    if len(sc.nodes) != 1 or not sc.nodes[0].is_store:
        raise ValueError(
            f"the exact solver takes one store ordering from the supplier; {where} "
            f"has nodes {list(sc.node_names)}"
        )
    node = sc.nodes[0]
    if not isinstance(node.demand, Poisson):
        raise ValueError(
            f"the exact solver needs Poisson demand; {where} has {node.demand!r}"
        )
    if node.lead_time < 2:
        raise ValueError(
            f"the exact solver needs at least one demand between an order and "
            f"its arrival (Zipkin's L >= 1, a store lead_time >= 2); {where} has "
            f"lead_time {node.lead_time} (with backorders, baselines.fixed_cost "
            "solves L = 0)"
        )
    K = sc.actions.store_max_order
    if K is None:
        raise ValueError(
            f"the exact solver needs stores that order quantities "
            f"(actions.store_max_order); {where} orders multiples of a forecast"
        )
    if sc.supplier.capacity < K:
        raise ValueError(
            f"the exact solver needs a supplier that releases every order; {where} "
            f"releases at most {sc.supplier.capacity:g} a period, below the "
            f"largest order {K}"
        )
    return Instance(
        name=sc.name,
        lead_time=node.lead_time - 1,
        holding=node.holding_cost,
        penalty=node.stockout_cost,
        fixed=node.fixed_order_cost,
        mean=node.demand.mean,
        max_order=int(K),
        backorder=sc.shortage == "backorder",
    )


@dataclass(frozen=True)
class Solution:
    """A policy's exact long-run average cost per period, and its table.

    Attributes:
        name: what the policy is (``optimal``, ``base-stock S=12``, ...).
        cost: average cost per period (the ledger's units).
        table: the order in every state of the grid (``SingleStage.shape``).
        distribution: its stationary distribution over the grid.
        seconds: wall-clock to compute it.
    """

    name: str
    cost: float
    table: np.ndarray = field(repr=False)
    distribution: np.ndarray = field(repr=False)
    seconds: float = 0.0


class GridTooLarge(ValueError):
    """An instance whose state x order grid exceeds the solver's size limit."""


class SingleStage:
    """The average-cost dynamic program of a single-stage scenario.

    Args:
        scenario: a single-stage scenario (preset name, file or object).
        cap: largest inventory position after ordering (default ``S_bar + 2``,
            plus twice the economic order quantity ``sqrt(2 fixed mean / h)``
            where orders cost a fixed amount; the net-stock floor of
            backorders moves down as far).
        max_order: the largest order (default: the scenario's
            ``actions.store_max_order``); given, the scenario is taken with it,
            so that :meth:`policy` acts in a scenario whose actions reach it.
        max_entries: the most state x order entries to allocate.

    Raises:
        ValueError: the scenario is not single-stage with Poisson demand and
            quantity actions, or its state space would not fit (the estimated
            count is in the message; nothing is allocated).
    """

    def __init__(
        self,
        scenario: Scenario | str,
        cap: int | None = None,
        max_order: int | None = None,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        sc = get_scenario(scenario)
        if max_order is not None:
            sc = sc.replace(
                actions=dataclasses.replace(sc.actions, store_max_order=max_order)
            )
        self.scenario = sc
        self.instance = ins = instance_of(sc)
        L, K, mu = ins.lead_time, ins.max_order, ins.mean
        ratio = ins.penalty / (ins.penalty + ins.holding)
        #: Morton's bound: no optimal policy orders above this position
        self.s_bar = int(stats.poisson.ppf(ratio, mu * (L + 1)))
        # a fixed order cost raises S above S_bar by about an EOQ (and s below)
        lot = math.ceil(2 * math.sqrt(2 * ins.fixed * mu / ins.holding))
        self.cap = int(cap) if cap is not None else self.s_bar + 2 + lot
        if self.cap < 1:
            raise ValueError(f"cap must be at least 1, got {cap!r}")
        self.d_max = int(stats.poisson.isf(_DEMAND_TAIL, mu)) + 1
        if ins.backorder:  # net stock this far below S_bar is (almost) never seen
            self.x_min = (
                self.s_bar
                - int(stats.poisson.isf(_DEMAND_TAIL, mu * (L + 1)))
                - 1
                - lot
            )
        else:
            self.x_min = 0
        self.x_max = self.cap
        X = self.x_max - self.x_min + 1
        pipes = max(L - 1, 0)
        entries = X * (K + 1) ** (pipes + 1)
        if entries > max_entries:
            raise GridTooLarge(
                f"{sc.name}: the exact solver would need about {entries:.3g} "
                f"state x order entries (net stock {self.x_min}..{self.x_max} x "
                f"{K + 1}^{pipes} pipelines x {K + 1} orders), more than "
                f"max_entries = {max_entries:.3g}: use a shorter lead time or a "
                "smaller actions.store_max_order"
            )
        self.X, self.K, self.L = X, K, L
        #: the grid: net stock, then a_2 .. a_L (each 0..K)
        self.shape = (X,) + (K + 1,) * pipes
        self.n_states = int(np.prod(self.shape))
        self._tables()

    # -------------------------------------------------------------- set-up
    def _tables(self) -> None:
        ins, X, K = self.instance, self.X, self.K
        x = np.arange(self.x_min, self.x_max + 1)
        d = np.arange(self.d_max + 1)
        pmf = stats.poisson.pmf(d, ins.mean)
        pmf[-1] += stats.poisson.sf(self.d_max, ins.mean)  # the tail, folded
        # expected cost of a period that starts with net stock x (exact)
        over = np.array(
            [
                stats.poisson.pmf(np.arange(max(v, 0)), ins.mean)
                @ (v - np.arange(max(v, 0)))
                for v in x
            ]
        )  # E (x - D)^+
        under = ins.mean - x + over  # E (D - x)^+
        self.cost = ins.holding * over + ins.penalty * under
        # P[x, y]: net stock after demand is y (lost sales: at least 0)
        P = np.zeros((X, X))
        after = x[:, None] - d[None, :]
        if not ins.backorder:
            after = np.maximum(after, 0)
        #: where the backorder floor cuts demand: P(x - D < x_min) per x
        self.floor_cut = (pmf[None, :] * (after < self.x_min)).sum(axis=1)
        idx = np.clip(after, self.x_min, None) - self.x_min
        np.add.at(P, (np.repeat(np.arange(X), len(d)), idx.ravel()), np.tile(pmf, X))
        self.P = P
        # net stock of the next state: y + the first pipeline entry (or the
        # order, L = 1), capped at the grid
        first = np.arange(K + 1)
        self._merge = (
            np.minimum(x[:, None] + first[None, :], self.x_max) - self.x_min
        )  # (y, a) -> index of y + a
        # inventory position of each state, and the largest allowed order
        pos = self._by_stock(x).astype(np.int64)
        for axis in range(1, len(self.shape)):
            shape = [1] * len(self.shape)
            shape[axis] = K + 1
            pos = pos + np.arange(K + 1).reshape(shape)
        self.position = np.broadcast_to(pos, self.shape)
        self.room = np.clip(self.cap - self.position, 0, K)

    def _by_stock(self, values: np.ndarray) -> np.ndarray:
        """A vector over net stock shaped to broadcast over the grid."""
        return values.reshape((self.X,) + (1,) * (len(self.shape) - 1))

    # ---------------------------------------------------------- operators
    def _expect(self, V: np.ndarray) -> np.ndarray:
        """``E[V(next state)]`` for every state and order, ``shape + (K + 1,)``
        (``L >= 1``), or per post-order net stock (``L = 0``)."""
        X, K = self.X, self.K
        if self.L == 0:  # the order joins the stock at once: V over y
            return self.P @ V
        flat = V.reshape(X, -1)  # (net stock, tail = a_3..a_L)
        if self.L == 1:  # the next state is y + q
            G = flat[:, 0][self._merge]  # (y, q)
            return self.P @ G
        G = flat[self._merge]  # (y, a_2, tail)
        H = self.P @ G.reshape(X, -1)
        return H.reshape(self.shape + (K + 1,))

    def _q_values(self, V: np.ndarray) -> np.ndarray:
        """Cost of each order in each state (infeasible orders: inf)."""
        K, fixed = self.K, self.instance.fixed
        order_cost = np.where(np.arange(K + 1) > 0, fixed, 0.0)
        if self.L == 0:  # post-order net stock u + q, then demand
            post = np.minimum(
                np.arange(self.X)[:, None] + np.arange(K + 1)[None, :], self.X - 1
            )
            Q = (self.cost + self._expect(V))[post]
        else:
            c = self.cost.reshape((self.X,) + (1,) * len(self.shape))
            Q = c + self._expect(V)
        Q = Q + order_cost
        allowed = np.arange(K + 1) <= self.room[..., None]
        return np.where(allowed, Q, np.inf)

    def _step_distribution(self, mu: np.ndarray, table: np.ndarray) -> np.ndarray:
        """One period forward of the state distribution under ``table``."""
        X, K = self.X, self.K
        if self.L == 0:
            post = np.minimum(np.arange(X) + table, X - 1)
            w = np.bincount(post, weights=mu, minlength=X)
            return self.P.T @ w
        if self.L == 1:  # (x, q) -> y + q
            W = np.zeros((X, K + 1))
            W[np.arange(X), table] = mu
            Z = self.P.T @ W  # (y, q)
            return np.bincount(self._merge.ravel(), weights=Z.ravel(), minlength=X)
        tail = (K + 1) ** (self.L - 2)
        R = tail * (K + 1)
        out = np.zeros((X, R))
        m = mu.reshape(X, K + 1, tail)
        t = table.reshape(X, K + 1, tail)
        nt = np.arange(tail)[None, None, :] * (K + 1) + t  # (a_3..a_L, q)
        W = np.zeros((X, K + 1, R))
        np.put_along_axis(W, nt, m, axis=2)
        Z = (self.P.T @ W.reshape(X, -1)).reshape(X, K + 1, R)  # (y, a_2, nt)
        for a in range(K + 1):  # y + a_2, capped at the grid's top
            if a >= X:  # an order above the grid: every level lands on top
                out[X - 1] += Z[:, a].sum(axis=0)
                continue
            out[a:] += Z[: X - a, a]
            out[X - 1] += Z[X - a :, a].sum(axis=0) if a else 0.0
        return out.reshape(self.shape)

    # ---------------------------------------------------------- evaluation
    def start(self) -> np.ndarray:
        """The scenario's starting state as a distribution on the grid."""
        node = self.scenario.nodes[0]
        x = int(
            round(node.initial_inventory + (node.initial_pipeline if self.L else 0))
        )
        mu = np.zeros(self.shape)
        index = [min(max(x, self.x_min), self.x_max) - self.x_min]
        index += [min(int(round(node.initial_pipeline)), self.K)] * (
            len(self.shape) - 1
        )
        mu[tuple(index)] = 1.0
        return mu

    def stationary(
        self,
        table: np.ndarray,
        start: np.ndarray | None = None,
        tol: float = 1e-10,
        max_iter: int = _MAX_ITERATIONS,
    ) -> np.ndarray:
        """The stationary distribution of ``table``'s chain, by power
        iteration from ``start`` (default: the scenario's starting state)."""
        mu = self.start() if start is None else start
        for _ in range(max_iter):
            nxt = self._step_distribution(mu, table)
            if np.abs(nxt - mu).sum() < tol:
                return nxt
            mu = nxt
        raise RuntimeError(
            f"{self.instance.name}: the stationary distribution did not converge "
            f"in {max_iter} periods"
        )

    def average_cost(self, table: np.ndarray, mu: np.ndarray) -> float:
        """The long-run average cost per period of ``table`` with stationary
        distribution ``mu``."""
        X = self.X
        if self.L == 0:
            post = np.minimum(np.arange(X) + table, X - 1)
            cost = self.cost[post]
        else:
            cost = np.broadcast_to(self._by_stock(self.cost), self.shape)
        fixed = self.instance.fixed * (table > 0)
        return float((mu * (cost + fixed)).sum())

    def evaluate(
        self, table: np.ndarray, name: str, start: np.ndarray | None = None
    ) -> Solution:
        """A stationary policy's exact average cost (``start``: where the
        power iteration starts, e.g. a neighbouring policy's distribution)."""
        started = time.perf_counter()
        table = np.asarray(table, dtype=np.int64)
        if table.shape != self.shape:
            raise ValueError(
                f"a policy table has shape {self.shape}, got {table.shape}"
            )
        mu = self.stationary(table, start)
        cost = self.average_cost(table, mu)
        return Solution(name, cost, table, mu, time.perf_counter() - started)

    # --------------------------------------------------------------- optimum
    def solve(self) -> Solution:
        """The optimal policy by relative value iteration; checks that no
        truncation binds (module docstring)."""
        start = time.perf_counter()
        V = np.zeros(self.shape)
        for _ in range(_MAX_ITERATIONS):
            Q = self._q_values(V)
            new = Q.min(axis=-1)
            diff = new - V
            lo, hi = float(diff.min()), float(diff.max())
            V = new - new.flat[0]
            if hi - lo <= _GAIN_TOLERANCE * max(abs(hi), 1e-12):
                break
        else:
            raise RuntimeError(
                f"{self.instance.name}: value iteration did not converge"
            )
        table = Q.argmin(axis=-1)
        mu = self.stationary(table)
        cost = self.average_cost(table, mu)
        self.check_truncation(table, mu)
        return Solution("optimal", cost, table, mu, time.perf_counter() - start)

    def check_truncation(self, table: np.ndarray, mu: np.ndarray) -> dict[str, float]:
        """The stationary probability of each truncation binding (module
        docstring); a ``ValueError`` when one is above :data:`BINDING_TOLERANCE`."""
        at_cap = (self.position + table >= self.cap) & (self.position < self.cap)
        binding = {
            f"largest order K={self.K}": float(mu[table == self.K].sum()),
            f"position cap {self.cap}": float(mu[at_cap].sum()),
        }
        if self.instance.backorder:
            cut = self._by_stock(self.floor_cut)
            binding[f"net stock floor {self.x_min}"] = float((mu * cut).sum())
        worst = {k: v for k, v in binding.items() if v > BINDING_TOLERANCE}
        if worst:
            raise ValueError(
                f"{self.instance.name}: the solver's truncation binds: "
                + ", ".join(f"{k} (probability {v:.2g})" for k, v in worst.items())
                + " - widen it (cap=, a larger actions.store_max_order)"
            )
        return binding

    # ------------------------------------------------------------ heuristics
    def base_stock_table(self, level: int) -> np.ndarray:
        """Order up to ``level`` (within ``0..K``)."""
        return np.clip(level - self.position, 0, self.K).astype(np.int64)

    def best_base_stock(self) -> Solution:
        """The best base-stock level, evaluated exactly level by level from
        Morton's bound ``S_bar`` down (the best level is at or below it) until
        the cost has risen for two levels in a row (the lost-sales base-stock
        cost is convex in the level: Janakiraman & Roundy, 2004)."""
        start = time.perf_counter()
        best: Solution | None = None
        worse = 0
        for level in range(self.s_bar, -1, -1):  # the best is at or below S_bar
            s = self.evaluate(
                self.base_stock_table(level),
                f"base-stock S={level}",
                None if best is None else best.distribution,
            )
            if best is None or s.cost < best.cost:
                best, worse = s, 0
            else:
                worse += 1
                if worse >= 2:
                    break
        assert best is not None
        return dataclasses.replace(best, seconds=time.perf_counter() - start)

    def myopic_table(self) -> np.ndarray:
        """The order minimising the expected cost of the period it arrives in
        (orders placed later arrive after it, so they are taken as 0)."""
        if self.L == 0:  # it arrives at once: this period's cost
            return self._q_values(np.zeros(self.shape)).argmin(axis=-1)
        K = self.K
        V = np.broadcast_to(self._by_stock(self.cost), self.shape)
        for _ in range(self.L - 1):
            V = self._expect(V)[..., 0]
        Q = self._expect(V) + np.where(np.arange(K + 1) > 0, self.instance.fixed, 0.0)
        Q = np.where(np.arange(K + 1) <= self.room[..., None], Q, np.inf)
        return Q.argmin(axis=-1).astype(np.int64)

    def myopic(self) -> Solution:
        return self.evaluate(self.myopic_table(), "myopic")

    def best_constant(self) -> Solution:
        """The best constant order (every integer from 0 to ``K``, searched
        from the mean demand down and up while the cost falls)."""
        start = time.perf_counter()
        mean = int(math.ceil(self.instance.mean))
        results: dict[int, Solution] = {}

        def cost(r: int) -> float:
            if r not in results:
                table = np.full(self.shape, r, dtype=np.int64)
                table = np.minimum(table, self.room)
                results[r] = self.evaluate(table, f"constant {r}")
            return results[r].cost

        r = min(mean, self.K)
        while r > 0 and cost(r - 1) < cost(r):
            r -= 1
        while r < self.K and cost(r + 1) < cost(r):
            r += 1
        return dataclasses.replace(results[r], seconds=time.perf_counter() - start)

    def policy(self, solution: Solution) -> TablePolicy:
        """``solution`` as a policy with the baselines' interface."""
        return TablePolicy(self, solution.table, solution.name)


@dataclass(frozen=True, eq=False)
class TablePolicy:
    """A tabulated single-stage policy: observations in the ``orders`` store
    layout ``(B, 3 + L)`` -> order quantities ``(B,)`` (the action of a store
    ordering quantities is the quantity; where the store orders periods of
    cover, ``actions.store_lot_cover``, the cover whose lot is nearest).
    Positions above the grid order nothing (above Morton's bound no optimal
    policy orders)."""

    solver: SingleStage
    table: np.ndarray
    name: str
    role: str = "store"

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        s, F = self.solver, StoreOrderFeature
        width = F.arriving + s.L
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim != 2 or obs.shape[1] != width:
            raise ValueError(
                f"{self.name} ({s.instance.name}) reads the 'orders' store "
                f"observation, shape (batch, {width}); got {obs.shape}"
            )
        sc = s.scenario
        inv, dem = inventory_scales(sc)[0], demand_scales(sc)[0]
        net = np.rint((obs[:, F.inventory] - obs[:, F.backlog]) * inv).astype(np.int64)
        pipe = np.rint(obs[:, F.arriving :] * dem).astype(np.int64)
        if s.L >= 1:
            net = net + pipe[:, 0]
            rest = np.clip(pipe[:, 1:], 0, s.K)
        else:
            rest = pipe[:, :0]
        over = net > s.x_max
        idx = (np.clip(net, s.x_min, s.x_max) - s.x_min,) + tuple(rest.T)
        q = np.where(over, 0, self.table[idx]).astype(np.int64)
        covers = sc.actions.store_lot_cover
        if covers is None:
            return q
        position = np.rint(orders_position(obs, inv, dem))
        node = sc.nodes[0]
        rule = Covers(covers, float(node.demand.mean), node.lead_time, s.K)
        return rule.action(q, position)


# ------------------------------------------------------------------- report
#: base-stock as inventory theory knows it reorders every period's demand: the
#: best base-stock level is searched with orders up to this many mean demands
#: (never binding: at mean 5, P(D > 20) < 1e-6), whatever the scenario's K
UNCAPPED_MEANS = 4


def _widest(s: SingleStage, max_order: int) -> SingleStage:
    """``s``'s scenario solved with orders up to ``max_order``, or up to the
    largest bound the solver's size limit allows (at least ``s``'s own K: a
    long lead time and a large mean make the uncapped grid too big)."""
    for k in range(max_order, s.K - 1, -1):
        try:
            return SingleStage(s.scenario, max_order=k)
        except ValueError:
            if k == s.K:
                raise
    raise AssertionError("unreachable: s itself fits")


def _fitting(scenario: Scenario | str, max_entries: int = MAX_ENTRIES) -> SingleStage:
    """The solver of ``scenario``, or, where its orders ``0..K`` make the grid
    too big (a lead time of 5 and more), of the scenario with orders capped at
    the largest bound that fits: the best policy within those orders, an
    upper bound on the optimum (equal to it where the optimum never orders
    more; the name of its solution says the cap)."""
    try:
        return SingleStage(scenario, max_entries=max_entries)
    except GridTooLarge as exc:
        first = exc
    K = get_scenario(scenario).actions.store_max_order
    for k in range(K - 1, 0, -1):
        try:
            return SingleStage(scenario, max_order=k, max_entries=max_entries)
        except GridTooLarge:
            continue
    raise first


def solve_instance(
    scenario: Scenario | str,
) -> dict[str, tuple[SingleStage, Solution]]:
    """The optimum and the heuristics of one instance: name -> (the solver
    whose scenario the policy acts in, the solution). ``base_stock`` is the
    best uncapped base-stock policy (Zipkin's; where a long lead time and a
    large mean make the uncapped grid too big for the solver, orders are
    capped at the largest bound that fits, and its name says so), the others
    act within the scenario's orders ``0..K``."""
    s = _fitting(scenario)
    wide = _widest(s, max(s.K, UNCAPPED_MEANS * math.ceil(s.instance.mean)))
    base = wide.best_base_stock()
    if wide.K < UNCAPPED_MEANS * math.ceil(s.instance.mean):  # said in its name
        base = dataclasses.replace(base, name=f"{base.name} (orders <= {wide.K})")
    optimal = s.solve()
    own = get_scenario(scenario).actions.store_max_order
    if s.K < own:  # the best policy within orders 0..s.K: said in its name
        optimal = dataclasses.replace(optimal, name=f"{optimal.name} (orders <= {s.K})")
    return {
        "optimal": (s, optimal),
        "base_stock": (wide, base),
        "myopic": (s, s.myopic()),
        "constant": (s, s.best_constant()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m baselines.optimal", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("scenario", nargs="+", help="single-stage instances")
    args = parser.parse_args(argv)
    for name in args.scenario:
        try:
            solutions = solve_instance(name)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for key, (_, sol) in solutions.items():
            print(
                f"{name:24s} {key:11s} {sol.cost:9.4f}  {sol.name:18s} "
                f"{sol.seconds:6.1f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
