"""The classic lot-sizing rules for a known demand plan: Wagner–Whitin (the
optimum) and the Silver–Meal, least-unit-cost and part-period-balancing
heuristics.

A plan of ``T`` periods' demands is met without shortages by lots ordered at
the start of a period (arriving at once); a lot costs ``setup`` to order and
each unit carried from one period to the next costs ``holding``. Each rule
returns the order quantities per period and the plan's cost. They are the
building blocks of rolling-horizon policies on a forecast (a lot sized on
the next periods' forecast, reordered each period).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "LotPlan",
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
