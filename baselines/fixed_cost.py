"""The optimal (s, S) policy of a single stage with a fixed order cost and
backorders: Zheng & Federgruen's (1991) algorithm.

How to run:
    python -m baselines.fixed_cost --mean 10 --fixed 64 --penalty 9

A store reviews its inventory position ``y`` every period; it orders up to
``S`` when ``y <= s`` and nothing otherwise, paying ``fixed`` per order. With
``L`` periods of demand between an order and its arrival (Zipkin's ``L``; the
store's ``lead_time`` is ``L + 1`` in hmarl, :func:`hmarl_env.scenario.
single_stage`), the period in which an order arrives is charged ``G(y) = h
E[(y - D)^+] + p E[(D - y)^+]``, ``D`` the demand of ``L + 1`` periods. Scarf
(1960) showed some (s, S) policy optimal among all policies; its long-run
cost per period is the renewal-reward ratio::

    c(s, S) = (fixed + sum_{j=0}^{S-s-1} m(j) G(S - j)) / M(S - s)

with ``m`` the renewal mass of one period's demand (the expected number of
periods the position spends ``j`` units below ``S``: ``m(0) = 1 / (1 - p_0)``,
``m(j) = sum_{l=1}^{j} p_l m(j - l) / (1 - p_0)``) and ``M(n) = sum_{j<n}
m(j)``. Zheng & Federgruen's algorithm finds the optimal pair in a few
passes over ``S`` by the bounds ``G(s) < c* <= G(s + 1)`` and ``G(S) <= c*``.

Discretisation: Poisson demand, exact on the integers; its mass beyond the
``1 - 1e-12`` quantile is dropped (the expectations in ``G`` lose less than
that share of a unit).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

import numpy as np
from scipy import stats

from baselines.policies import SSStore, make_policies

__all__ = ["SSSolution", "optimal_ss", "scenario_ss", "ss_cost", "ss_policies"]


@dataclass(frozen=True)
class SSSolution:
    """An (s, S) policy and its expected cost per period."""

    s: int
    S: int
    cost: float


class _Renewal:
    """``G`` and the renewal masses of one instance, on an integer grid."""

    def __init__(self, holding, penalty, fixed, mean, lead_time) -> None:
        for name, v, low in (
            ("holding", holding, 0.0),
            ("penalty", penalty, 0.0),
            ("fixed", fixed, 0.0),
            ("mean", mean, 0.0),
        ):
            if not (
                isinstance(v, (int, float))
                and not isinstance(v, bool)
                and math.isfinite(v)
                and v > low
            ):
                raise ValueError(f"{name} must be a finite number > {low:g}, got {v!r}")
        if (
            isinstance(lead_time, bool)
            or not isinstance(lead_time, int)
            or lead_time < 0
        ):
            raise ValueError(f"lead_time must be an integer >= 0, got {lead_time!r}")
        self.fixed = float(fixed)
        top = int(stats.poisson.isf(1e-12, mean * (lead_time + 1))) + 1
        one = stats.poisson.pmf(np.arange(top + 1), mean)
        over = stats.poisson.pmf(np.arange(top + 1), mean * (lead_time + 1))
        # positions from well below any s to well above any S (an EOQ's
        # reach above the newsvendor level, many times over)
        reach = int(10 * math.sqrt(2 * fixed * mean / holding)) + 10 * top
        self.low = -top
        y = np.arange(self.low, top + reach)
        d = np.arange(top + 1)
        self.G = (
            holding * np.maximum(y[:, None] - d, 0)
            + penalty * np.maximum(d - y[:, None], 0)
        ) @ over
        n = len(y)
        m = np.zeros(n)
        m[0] = 1.0 / (1.0 - one[0])
        for j in range(1, n):
            k = min(j, top)
            m[j] = one[1 : k + 1] @ m[j - 1 :: -1][:k] / (1.0 - one[0])
        self.m = m
        self.M = np.concatenate([[0.0], np.cumsum(m)])
        self.ystar = int(np.argmin(self.G)) + self.low

    def g(self, y: int) -> float:
        return float(self.G[y - self.low])

    def cost(self, s: int, S: int) -> float:
        if not self.low <= s < S < self.low + len(self.G):
            raise ValueError(
                f"(s, S) = ({s}, {S}) is outside the grid "
                f"[{self.low}, {self.low + len(self.G) - 1}] with s < S"
            )
        j = np.arange(S - s)
        return float(
            (self.fixed + self.m[j] @ self.G[S - j - self.low]) / self.M[S - s]
        )


def ss_cost(
    s: int,
    S: int,
    holding: float,
    penalty: float,
    fixed: float,
    mean: float,
    lead_time: int = 0,
) -> float:
    """The expected cost per period of the (s, S) policy (``s < S``)."""
    return _Renewal(holding, penalty, fixed, mean, lead_time).cost(s, S)


def optimal_ss(
    holding: float,
    penalty: float,
    fixed: float,
    mean: float,
    lead_time: int = 0,
) -> SSSolution:
    """The optimal (s, S) policy and its cost per period, for Poisson demand
    of ``mean`` per period, by Zheng & Federgruen's (1991) algorithm."""
    r = _Renewal(holding, penalty, fixed, mean, lead_time)
    ystar = r.ystar
    s = ystar - 1
    while r.cost(s, ystar) > r.g(s):
        s -= 1
    S0, c0, S = ystar, r.cost(s, ystar), ystar + 1
    while r.g(S) <= c0:
        if r.cost(s, S) < c0:
            S0 = S
            while r.cost(s, S0) <= r.g(s + 1):
                s += 1
            c0 = r.cost(s, S0)
        S += 1
    return SSSolution(int(s), int(S0), float(c0))


def scenario_ss(scenario) -> SSSolution:
    """The optimal (s, S) of a single-stage backorder scenario with a fixed
    order cost (``backorder_L1_p9_K64_mean10``); a ``ValueError`` naming what
    does not fit, or where the scenario's largest order would cut the
    policy's."""
    sc = scenario
    if len(sc.nodes) != 1 or sc.shortage != "backorder":
        raise ValueError(
            f"scenario {sc.name!r}: the (s, S) optimum is for one store with "
            "backorders (lost sales: baselines.optimal's dynamic program)"
        )
    node = sc.nodes[0]
    if type(node.demand).__name__ != "Poisson":
        raise ValueError(
            f"scenario {sc.name!r}: the (s, S) optimum needs Poisson demand"
        )
    mean = float(node.demand.mean)
    sol = optimal_ss(
        node.holding_cost,
        node.stockout_cost,
        node.fixed_order_cost,
        mean,
        node.lead_time - 1,
    )
    K = sc.actions.store_max_order
    need = sol.S - sol.s - 1 + int(stats.poisson.isf(1e-6, mean))
    if K is None or K < need:
        raise ValueError(
            f"scenario {sc.name!r}: actions.store_max_order = {K} is too small "
            f"for the optimal (s, S) = ({sol.s}, {sol.S}), which orders up to "
            f"{need} units (S - s - 1 plus a period's demand at its 1 - 1e-6 "
            "quantile)"
        )
    return sol


def ss_policies(scenario, solution: SSSolution | None = None) -> dict:
    """Every agent's policy with the store at the (s, S) ``solution`` (the
    optimum by default), reading the ``orders`` layout."""
    sol = solution or scenario_ss(scenario)
    policies = make_policies(scenario, "base_stock", None, "orders")
    store = policies["store_1"]
    return {**policies, "store_1": SSStore(sol.s, sol.S, store)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mean", type=float, default=10.0)
    parser.add_argument("--fixed", type=float, default=64.0)
    parser.add_argument("--holding", type=float, default=1.0)
    parser.add_argument("--penalty", type=float, default=9.0)
    parser.add_argument("--lead-time", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        sol = optimal_ss(
            args.holding, args.penalty, args.fixed, args.mean, args.lead_time
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"optimal (s, S) = ({sol.s}, {sol.S}); expected cost {sol.cost:.3f} per period"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
