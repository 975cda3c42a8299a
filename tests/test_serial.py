"""The exact serial solver (Chen & Zheng's recursion) against Snyder &
Shen's Example 6.1, the newsvendor, and hmarl's own simulator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from baselines import echelon_base_stock_orders
from baselines.serial import solve_serial
from hmarl_env import Simulation, get_scenario

EXAMPLE_6_1 = ((7.0, 4.0, 2.0), (1, 1, 2), 37.12, 5.0, 1.0)
#: Snyder & Shen's figures (also stockpyl's, from a coarser discretisation)
PUBLISHED_LEVELS, PUBLISHED_COST = (6.51, 12.01, 22.70), 47.67


def _simulated(sc, levels, batch: int, seed: int) -> tuple[np.ndarray, float]:
    """Per-replica cost per period of echelon base-stock at ``levels`` after
    a 100-period warm-up, and the largest order placed after it."""
    sim = Simulation(sc, batch_size=batch)
    sim.reset(np.random.default_rng(seed))
    per_replica, most = np.zeros(batch), 0.0
    while not sim.done:
        orders = echelon_base_stock_orders(
            sim.echelon_inventory_position, np.array(levels)
        )
        if sim.period >= 100:
            most = max(most, float(orders.max()))
        led = sim.step(orders)
        if led.period >= 100:
            per_replica += led.total_cost.sum(axis=1)
    return per_replica / (sc.horizon - 100), most


def test_example_6_1_levels_and_cost():
    sol = solve_serial(*EXAMPLE_6_1)
    assert sol.levels == pytest.approx(PUBLISHED_LEVELS, abs=0.03)
    assert abs(sol.cost - PUBLISHED_COST) / PUBLISHED_COST < 3e-4  # 47.660
    # the store's level is exactly the newsvendor fractile of its own costs
    fractile = 5.0 + stats.norm.ppf((37.12 + 7.0 - 3.0) / (37.12 + 7.0))
    assert sol.levels[0] == pytest.approx(fractile, abs=0.01)
    # the published levels, evaluated exactly, cost no less: the optimum is flat
    published = solve_serial(*EXAMPLE_6_1, levels=PUBLISHED_LEVELS).cost
    assert sol.cost <= published < sol.cost + 0.01
    # converged: a grid ten times finer moves the cost by less than 1e-4
    assert solve_serial(*EXAMPLE_6_1, step=0.001).cost == pytest.approx(
        sol.cost, abs=1e-4
    )


def test_the_simulator_agrees_with_the_solver_within_its_ci():
    sol = solve_serial(*EXAMPLE_6_1)
    sc = get_scenario("serial", horizon=1500)  # node order: store, middle, top
    per_replica, _ = _simulated(sc, sol.levels, 400, 7)
    half = 1.96 * per_replica.std(ddof=1) / np.sqrt(per_replica.size)
    assert abs(per_replica.mean() - sol.cost) < 1.5 * half, (per_replica.mean(), half)


@pytest.mark.parametrize("demand", ["poisson", "normal"])
def test_one_stage_is_the_newsvendor(demand):
    h, p, mean, std, lead = 1.0, 9.0, 20.0, 4.0, 2
    sol = solve_serial((h,), (lead,), p, mean, std, demand=demand)
    if demand == "poisson":
        dist = stats.poisson(lead * mean)
        S = int(dist.ppf(p / (p + h)))
        k = np.arange(0, 200)
        cost = (
            dist.pmf(k) * (h * np.maximum(S - k, 0) + p * np.maximum(k - S, 0))
        ).sum()
        assert sol.levels == (S,)
        assert sol.cost == pytest.approx(cost, rel=1e-9)
    else:
        m, s = lead * mean, np.sqrt(lead) * std
        z = stats.norm.ppf(p / (p + h))
        assert sol.levels[0] == pytest.approx(m + z * s, abs=0.01)
        assert sol.cost == pytest.approx((h + p) * s * stats.norm.pdf(z), rel=1e-4)


@pytest.mark.parametrize(
    "args, message",
    [
        (((7.0, 4.0), (1, 1, 2), 37.12, 5.0, 1.0), "lead_times has 3 stages"),
        (
            ((2.0, 4.0), (1, 1), 37.12, 5.0, 1.0),
            "echelon holding cost would be negative",
        ),
        (((7.0,), (0,), 37.12, 5.0, 1.0), r"lead_times\[0\] must be an integer >= 1"),
        (((7.0,), (1,), 0.0, 5.0, 1.0), "stockout_cost"),
        (((7.0,), (1,), 37.12, 5.0, None), "a normal demand needs its std"),
    ],
)
def test_bad_instances_are_refused_with_the_field_named(args, message):
    with pytest.raises(ValueError, match=message):
        solve_serial(*args)


@pytest.mark.parametrize("stages", [2, 4])
def test_the_serial_presets_simulate_at_their_solved_optimum(stages):
    """serial_N2 and serial_N4 (Poisson demand, exact on the integers): the
    simulator running the solver's echelon levels costs what the solver
    says, and never orders more than the nodes' K."""
    from hmarl_env.scenario.presets import SERIAL_INSTANCES

    spec = SERIAL_INSTANCES[stages]
    sol = solve_serial(
        spec["holding"],
        spec["lead_times"],
        spec["stockout"],
        spec["demand"].mean,
        demand="poisson",
    )
    sc = get_scenario(f"serial_N{stages}", horizon=1500)
    K = sc.actions.store_max_order
    assert K == sc.actions.warehouse_max_order
    per_replica, most = _simulated(sc, sol.levels, 300, 11)
    half = 1.96 * per_replica.std(ddof=1) / np.sqrt(per_replica.size)
    assert abs(per_replica.mean() - sol.cost) < 1.5 * half, (per_replica.mean(), half)
    assert most <= K
