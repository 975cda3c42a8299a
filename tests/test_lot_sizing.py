"""The lot-sizing rules: Wagner–Whitin is the optimum (against every plan of
small instances), the heuristics on a hand-worked instance, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from baselines.lot_sizing import (
    least_unit_cost,
    part_period_balancing,
    plan_cost,
    silver_meal,
    wagner_whitin,
)

RULES = (wagner_whitin, silver_meal, least_unit_cost, part_period_balancing)


def _brute_force(d, setup, h):
    """The least cost over every set of order periods (lots cover up to the
    next order)."""
    T, best = len(d), np.inf
    for starts in itertools.product((0, 1), repeat=T - 1):
        begins = [0] + [t + 1 for t, s in enumerate(starts) if s]
        orders = np.zeros(T)
        for k, b in enumerate(begins):
            e = begins[k + 1] if k + 1 < len(begins) else T
            orders[b] = sum(d[b:e])
        best = min(best, plan_cost(orders, d, setup, h))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_wagner_whitin_is_the_optimum_and_the_heuristics_never_beat_it(seed):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 60, size=7).astype(float)
    d[0] = max(d[0], 1.0)
    setup, h = float(rng.uniform(20, 200)), float(rng.uniform(0.2, 3))
    optimum = wagner_whitin(d, setup, h)
    assert optimum.cost == pytest.approx(_brute_force(d, setup, h))
    for rule in RULES:
        plan = rule(d, setup, h)
        assert plan.cost >= optimum.cost - 1e-9
        assert plan.cost == pytest.approx(plan_cost(plan.orders, d, setup, h))
        assert plan.orders.sum() == pytest.approx(d.sum())


def test_a_hand_worked_instance():
    """Demand 20, 50, 10, 50, 50; setup 100, holding 1 a unit and period.
    Silver–Meal from period 1: 100 / 1, 150 / 2, 170 / 3 = 56.7, then 320 / 4
    = 80 rises: a lot of 80 for periods 1-3; from period 4: 100, then 150 / 2
    = 75: a lot of 100. Least unit cost: 100 / 20, 150 / 70, 170 / 80 = 2.13,
    320 / 130 = 2.46: the same lots. Part-period balancing (holding closest
    to the setup, 100): 50, 70, then 220: periods 1-3, then 4-5. Each plan
    costs 100 + 50 + 20 + 100 + 50 = 320, which is the optimum (every other
    split costs 360 or more)."""
    d, setup, h = [20, 50, 10, 50, 50], 100.0, 1.0
    for rule in RULES:
        plan = rule(d, setup, h)
        assert plan.orders.tolist() == [80, 0, 0, 100, 0], rule.__name__
        assert plan.cost == 320.0


def test_a_hand_worked_instance_where_the_rules_differ():
    """Demand 10, 40, 20, 60; setup 50, holding 1. Silver–Meal: 50, 90 / 2 =
    45, 130 / 3 = 43.3, then 310 / 4 = 77.5 rises: 70 for periods 1-3, then 60
    (cost 180). Least unit cost: 50 / 10 = 5, 90 / 50 = 1.8, then 130 / 70 =
    1.86 rises: 50 for periods 1-2; from period 3, 50 / 20 = 2.5, 110 / 80 =
    1.38: 80 (cost 200). Part-period balancing: holding 40 for periods 1-2 is
    closer to 50 than 80 for 1-3; from period 3, 60 is closer than 0: the same
    lots (200). The optimum orders 10, 60 and 60: 50 + 50 + 20 + 50 = 170."""
    d, setup, h = [10, 40, 20, 60], 50.0, 1.0
    expected = {
        wagner_whitin: ([10, 60, 0, 60], 170.0),
        silver_meal: ([70, 0, 0, 60], 180.0),
        least_unit_cost: ([50, 0, 80, 0], 200.0),
        part_period_balancing: ([50, 0, 80, 0], 200.0),
    }
    for rule, (orders, cost) in expected.items():
        plan = rule(d, setup, h)
        assert plan.orders.tolist() == orders, rule.__name__
        assert plan.cost == cost, rule.__name__


@pytest.mark.parametrize(
    "args, message",
    [
        (([], 1.0, 1.0), "non-empty"),
        (([1.0, -2.0], 1.0, 1.0), r"demand\[1\] must be finite and >= 0"),
        (([1.0], -1.0, 1.0), "setup must be"),
        (([1.0], 1.0, float("nan")), "holding must be"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(args, message):
    with pytest.raises(ValueError, match=message):
        wagner_whitin(*args)
    with pytest.raises(ValueError, match="falls short"):
        plan_cost([0.0, 5.0], [3.0, 1.0], 1.0, 1.0)
