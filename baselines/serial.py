"""The exact optimum of a serial chain with backorders: Clark & Scarf's
echelon base-stock policy, its levels and cost by Chen & Zheng's recursion.

How to run:
    python -m baselines.serial                       # Snyder & Shen, Example 6.1

Stages ``j = 1 .. N`` from the store (1) up to the stage the supplier feeds
(N); stage ``j`` has local holding cost ``h_j``, lead time ``L_j`` and
echelon holding cost ``e_j = h_j - h_{j+1}`` (``h_{N+1} = 0``); the store
backlogs unmet demand at ``p`` per unit and period; demand is i.i.d. per
period. Under an echelon base-stock policy each stage orders up to ``S_j`` of
its echelon inventory position, and (Clark & Scarf 1960) some such policy is
optimal. With ``D_j`` the demand over ``L_j`` periods, the recursion of Chen &
Zheng (1994; Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed.,
section 6.2.3) is::

    C_0(x)  = (p + h_1) * max(-x, 0)
    Ch_j(x) = e_j * x + C_{j-1}(x)
    Cb_j(y) = E[ Ch_j(y - D_j) ]          S_j = argmin Cb_j
    C_j(x)  = Cb_j(min(S_j, x))

and the optimal expected cost per period is ``Cb_N(S_N)``: it charges every
unit on hand or in transit at the holding rate of the stage that holds or
ships it (hmarl's ``in_transit_holding``), and the store's backlog at ``p``.

Discretisation: integer demands (Poisson, or any probabilities on 0, 1, 2,
...) are exact on the integers. A normal demand is put on a grid of step
``step`` (default 0.01): each lead-time demand ``N(L mu, L sigma^2)`` as the
probabilities of the grid's cells (its mass beyond 10 standard deviations,
below 1e-22, dropped), the levels found to the grid's step. Each stage's
expectation is a convolution on the grid, so the grid is made wide enough
below that every value a stage reads is one the stage below computed, and a
level at the edge of the grid is an error.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

import numpy as np
from scipy import stats

from baselines.evaluate import evaluate
from baselines.policies import make_policies

__all__ = [
    "SerialSolution",
    "echelon_params",
    "echelon_policies",
    "search_echelon_levels",
    "serial_stages",
    "solve_scenario",
    "solve_serial",
]


@dataclass(frozen=True)
class SerialSolution:
    """The optimal echelon base-stock levels (store first) and the optimal
    expected cost per period."""

    levels: tuple[float, ...]
    cost: float

    @property
    def local_levels(self) -> tuple[float, ...]:
        """The levels as local base-stock levels: ``S_j - S_{j-1}``."""
        out, below = [], 0.0
        for s in self.levels:
            out.append(s - below)
            below = s
        return tuple(out)


def _check(name: str, values, positive: bool = False) -> tuple[float, ...]:
    values = tuple(values)
    for i, v in enumerate(values):
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not math.isfinite(v)
        ):
            raise ValueError(f"{name}[{i}] must be a finite number, got {v!r}")
        if v < 0 or (positive and v <= 0):
            raise ValueError(
                f"{name}[{i}] must be {'> 0' if positive else '>= 0'}, got {v!r}"
            )
    return values


def _lead_time_pmf(
    demand: str, mean: float, std: float, lead: int, step: float
) -> np.ndarray:
    """Probabilities of the lead-time demand on 0, step, 2 step, ..."""
    if demand == "poisson":
        top = int(stats.poisson.isf(1e-15, lead * mean)) + 1
        return stats.poisson.pmf(np.arange(top + 1), lead * mean)
    m, s = lead * mean, math.sqrt(lead) * std
    top = m + 10 * s
    edges = (np.arange(int(math.ceil(top / step)) + 2) - 0.5) * step
    cdf = stats.norm.cdf(edges, m, s)
    cdf[0] = 0.0  # a normal demand below 0 is counted as 0 (mass < 1e-22 here)
    return np.diff(cdf)


def solve_serial(
    holding_costs,
    lead_times,
    stockout_cost: float,
    mean: float,
    std: float | None = None,
    demand: str = "normal",
    step: float = 0.01,
    levels=None,
) -> SerialSolution:
    """The optimal echelon base-stock levels and cost of a serial chain, or
    with ``levels`` the expected cost of those echelon levels (store first).

    Args:
        holding_costs: local holding cost of each stage, the store first
            (non-increasing upstream for the echelon costs to be >= 0).
        lead_times: each stage's lead time (periods from its supplier's
            shipment to arrival), the store first; >= 1.
        stockout_cost: ``p``, per unit backlogged at the store per period.
        mean, std: the demand per period (``std`` for a normal demand).
        demand: ``"normal"`` or ``"poisson"`` (``std`` unused).
        step: the grid's step for a normal demand (Poisson: 1).
        levels: echelon base-stock levels to evaluate instead of optimising
            (each rounded to the grid).
    """
    h = _check("holding_costs", holding_costs)
    if not h:
        raise ValueError("holding_costs must name at least one stage")
    L = tuple(lead_times)
    if len(L) != len(h):
        raise ValueError(f"lead_times has {len(L)} stages, holding_costs {len(h)}")
    for i, lead in enumerate(L):
        if isinstance(lead, bool) or not isinstance(lead, int) or lead < 1:
            raise ValueError(f"lead_times[{i}] must be an integer >= 1, got {lead!r}")
    echelon = [h[j] - (h[j + 1] if j + 1 < len(h) else 0.0) for j in range(len(h))]
    if min(echelon) < 0:
        j = int(np.argmin(echelon))
        raise ValueError(
            f"holding_costs[{j}] ({h[j]}) is below the stage above's "
            f"({h[j + 1]}): the echelon holding cost would be negative"
        )
    (p,) = _check("stockout_cost", (stockout_cost,), positive=True)
    if demand not in ("normal", "poisson"):
        raise ValueError(f"demand must be 'normal' or 'poisson', got {demand!r}")
    (mean,) = _check("mean", (mean,), positive=True)
    if demand == "normal":
        if std is None:
            raise ValueError("a normal demand needs its std")
        (std,) = _check("std", (std,), positive=True)
        (step,) = _check("step", (step,), positive=True)
    else:
        step, std = 1.0, math.sqrt(mean)
    pmfs = [_lead_time_pmf(demand, mean, std, lead, step) for lead in L]
    if levels is not None:
        levels = _check("levels", levels)
        if len(levels) != len(h):
            raise ValueError(f"levels has {len(levels)} stages, holding_costs {len(h)}")
    # the grid: from below every stage's lowest read, to a top no level reaches
    spread = sum(len(q) for q in pmfs)
    top_units = sum(L) * mean + 12 * math.sqrt(sum(L)) * std + 10 * step
    top = int(math.ceil(top_units / step))
    lo = -spread - top  # indices of x / step
    x = np.arange(lo, top + 1) * step
    cost = (p + h[0]) * np.maximum(-x, 0.0)  # C_0 on the grid
    valid = 0  # C on x[valid:] is exact
    given, levels = levels, []
    for j, q in enumerate(pmfs):
        ch = echelon[j] * x + cost
        # Cb(y_k) = sum_m q[m] Ch(y_k - m step): valid from index valid + len(q) - 1
        cb = np.convolve(ch, q, mode="full")[: len(x)]
        start = valid + len(q) - 1
        if given is not None:
            k = int(round(given[j] / step)) - lo
            if not start < k < len(x) - 1:
                raise ValueError(f"levels[{j}] = {given[j]} is outside the grid")
        else:
            k = start + int(np.argmin(cb[start:]))
        if k in (start, len(x) - 1):
            raise ValueError(
                f"stage {j + 1}'s level is at the edge of the grid ({x[k]:.3f}); "
                "the discretisation does not hold it"
            )
        levels.append(float(x[k]))
        cost = np.where(np.arange(len(x)) >= k, cb[k], cb)
        cost[:start] = np.nan  # not computed exactly: never read below
        valid = start
    return SerialSolution(tuple(levels), float(cb[k]))


def serial_stages(scenario) -> list[int]:
    """The node indices of a serial scenario, store first; a ``ValueError``
    naming what does not fit the exact model otherwise (one store, every
    node with at most one child, backorders, stock in transit held at the
    shipper's rate, no fixed order, capacity, overtime or supplier backlog
    costs, Poisson or normal demand)."""
    sc = scenario
    name = f"scenario {sc.name!r}"
    stores = [i for i, n in enumerate(sc.nodes) if n.is_store]
    problems = []
    if len(stores) != 1:
        problems.append(f"it has {len(stores)} stores (a serial chain has one)")
    if sc.shortage != "backorder":
        problems.append(f"shortage is {sc.shortage!r} (the optimum is for backorders)")
    if not sc.in_transit_holding:
        problems.append(
            "in_transit_holding is false (the recursion charges stock in transit)"
        )
    if sc.products:
        problems.append("it has a product catalogue")
    for n in sc.nodes:
        if (
            n.fixed_order_cost
            or math.isfinite(n.storage)
            or math.isfinite(n.truck_volume)
        ):
            problems.append(f"{n.name} has a fixed order cost or a capacity")
        if not n.is_store and n.stockout_cost:
            problems.append(
                f"{n.name} has a stockout cost (only the store's is modelled)"
            )
    sup = sc.supplier
    if (
        math.isfinite(sup.capacity)
        or sup.backlog_cost
        or (math.isfinite(sup.regular_capacity) and sup.overtime_cost)
    ):
        problems.append("the supplier is capacitated or charges backlog or overtime")
    if stores and type(sc.nodes[stores[0]].demand).__name__ not in (
        "Poisson",
        "Normal",
    ):
        problems.append(
            f"the store's demand is {type(sc.nodes[stores[0]].demand).__name__} "
            "(the solver takes Poisson or normal)"
        )
    if stores and not problems:
        problems += _small_orders(sc, sc.nodes[stores[0]].demand)
    chain = list(stores[:1])
    while not problems and sc.parent_index[chain[-1]] >= 0:
        chain.append(int(sc.parent_index[chain[-1]]))
    if not problems and len(chain) != len(sc.nodes):
        problems.append("its nodes are not one chain")
    if problems:
        raise ValueError(
            f"{name} is not a serial chain the exact solver holds: "
            + "; ".join(problems)
        )
    return chain


def _small_orders(sc, demand) -> list[str]:
    """Where nodes order whole units up to ``K``: a ``K`` below a period's
    demand at its 1 - 1e-6 quantile cannot follow the optimal policy, which
    orders in steady state what the stage below ordered (a period's demand)."""
    if type(demand).__name__ == "Poisson":
        need = float(stats.poisson.isf(1e-6, demand.mean))
    else:
        need = float(stats.norm.isf(1e-6, demand.mean, demand.std))
    out = []
    for field in ("store_max_order", "warehouse_max_order"):
        K = getattr(sc.actions, field)
        if K is not None and K < need:
            out.append(
                f"actions.{field} = {K} is too small for the optimal policy, "
                f"which orders a period's demand (its 1 - 1e-6 quantile is "
                f"{need:g}); make K at least that"
            )
    return out


def solve_scenario(scenario, step: float = 0.01) -> SerialSolution:
    """The optimum of a serial scenario (``serial_N2``, a file of one): its
    stages' holding costs and lead times, the store's stockout cost and
    demand, as :func:`serial_stages` checks them; levels store first."""
    chain = serial_stages(scenario)
    nodes = [scenario.nodes[i] for i in chain]
    d = nodes[0].demand
    poisson = type(d).__name__ == "Poisson"
    return solve_serial(
        [n.holding_cost for n in nodes],
        [n.lead_time for n in nodes],
        nodes[0].stockout_cost,
        float(d.mean),
        None if poisson else float(d.std),
        "poisson" if poisson else "normal",
        step,
    )


def echelon_params(scenario, levels) -> dict:
    """The heuristics' parameters (:func:`baselines.policies.make_policies`)
    of echelon base-stock at ``levels`` (store first, :func:`serial_stages`'
    order): the store's order-up-to level and each warehouse's
    ``echelon_days``, both in periods of the node's mean demand."""
    chain = serial_stages(scenario)
    if len(levels) != len(chain):
        raise ValueError(
            f"{len(levels)} echelon levels for the {len(chain)} stages of "
            f"scenario {scenario.name!r}"
        )
    mean = scenario.mean_demand
    store = chain[0]
    cover = float(levels[0]) / float(mean[store])
    return {
        "store": {
            "cover_offset": cover - (scenario.nodes[store].lead_time + 1),
            "safety_factor": 0.0,
        },
        "nodes": {
            scenario.nodes[i].name: {"echelon_days": float(s) / float(mean[i])}
            for i, s in zip(chain[1:], levels[1:], strict=True)
        },
    }


def echelon_policies(scenario, levels, store_observation: str = "orders") -> dict:
    """Every agent's policy with the chain at echelon base-stock ``levels``:
    the store by its order-up-to rule, the warehouses observing the
    ``echelon`` layout, the supplier always fulfilling."""
    return make_policies(
        scenario,
        "tuned",
        echelon_params(scenario, levels),
        store_observation,
        "echelon",
    )


def search_echelon_levels(
    scenario,
    start,
    episodes: int = 100,
    seed: int = 0,
    step: float = 1.0,
    store_observation: str = "orders",
) -> tuple[tuple[float, ...], float]:
    """The best echelon base-stock levels found by simulation: coordinate
    search from ``start`` (store first), moving one stage's level by
    ``step`` while that lowers the chain's mean cost per period on the same
    ``episodes`` episodes from ``seed`` (training seeds, common random
    numbers), until no single move helps. Returns the levels and their cost
    per period on those episodes."""
    cache: dict[tuple[float, ...], float] = {}

    def cost(levels: tuple[float, ...]) -> float:
        if levels not in cache:
            df = evaluate(
                scenario,
                echelon_policies(scenario, levels, store_observation),
                episodes,
                seed=seed,
                store_observation=store_observation,
                warehouse_observation="echelon",
            )
            cache[levels] = float(df["total_cost"].sum()) / (
                episodes * scenario.horizon
            )
        return cache[levels]

    best = tuple(float(x) for x in start)
    improved = True
    while improved:
        improved = False
        for j in range(len(best)):
            for move in (step, -step):
                while True:
                    trial = best[:j] + (best[j] + move,) + best[j + 1 :]
                    if cost(trial) < cost(best):
                        best, improved = trial, True
                    else:
                        break
    return best, cost(best)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holding", type=float, nargs="+", default=[7.0, 4.0, 2.0])
    parser.add_argument("--lead-times", type=int, nargs="+", default=[1, 1, 2])
    parser.add_argument("--stockout-cost", type=float, default=37.12)
    parser.add_argument("--mean", type=float, default=5.0)
    parser.add_argument("--std", type=float, default=1.0)
    parser.add_argument("--demand", choices=("normal", "poisson"), default="normal")
    args = parser.parse_args(argv)
    try:
        sol = solve_serial(
            args.holding,
            args.lead_times,
            args.stockout_cost,
            args.mean,
            args.std,
            args.demand,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        "echelon base-stock levels (store first): "
        + ", ".join(f"{s:.2f}" for s in sol.levels)
        + f"; optimal expected cost {sol.cost:.3f} per period"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
