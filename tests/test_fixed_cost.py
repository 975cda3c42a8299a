"""Fixed order costs: Zheng & Federgruen's optimal (s, S) against their
published table, the dynamic program and hmarl's simulator."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.evaluate import evaluate
from baselines.fixed_cost import optimal_ss, scenario_ss, ss_cost, ss_policies
from baselines.optimal import SingleStage
from hmarl_env import get_scenario

#: Zheng & Federgruen (1991), "Finding optimal (s, S) policies is about as
#: simple as evaluating a single policy", Operations Research 39(4), Table 1:
#: Poisson demand of these means, h = 1, p = 9, K = 64, no lead time; the
#: optimal s, S and cost per period
ZF_MEANS = [*range(10, 80, 5), 21, 22, 23, 24, 51, 52, 59, 61, 63, 64]
ZF_S_LOW = [6, 10, 14, 19, 23, 28, 33, 37, 42, 47, 52, 56, 62, 67]
ZF_S_LOW += [15, 16, 17, 18, 43, 44, 51, 52, 54, 55]
ZF_S_UP = [40, 49, 62, 56, 66, 77, 87, 97, 108, 118, 129, 75, 81, 86]
ZF_S_UP += [65, 68, 52, 54, 110, 112, 126, 131, 73, 74]
ZF_COST = [35.022, 42.698, 49.173, 54.262, 57.819, 61.215, 64.512, 67.776]
ZF_COST += [70.975, 74.149, 77.306, 78.518, 79.037, 79.554, 50.406, 51.632]
ZF_COST += [52.757, 53.518, 71.611, 72.246, 76.679, 77.929, 78.287, 78.402]


def test_zheng_and_federgruens_table():
    for k, mean in enumerate(ZF_MEANS):
        sol = optimal_ss(1.0, 9.0, 64.0, float(mean))
        assert (sol.s, sol.S) == (ZF_S_LOW[k], ZF_S_UP[k]), mean
        assert sol.cost == pytest.approx(ZF_COST[k], abs=5e-4), mean


def test_no_other_pair_is_cheaper():
    """Around the optimum every (s, S) evaluated by renewal theory costs at
    least as much."""
    sol = optimal_ss(1.0, 4.0, 20.0, 5.0, lead_time=1)
    for s in range(sol.s - 4, sol.s + 5):
        for S in range(max(s + 1, sol.S - 5), sol.S + 6):
            assert ss_cost(s, S, 1.0, 4.0, 20.0, 5.0, 1) >= sol.cost - 1e-12


def test_the_dynamic_program_finds_no_better_policy_than_s_S():
    """Scarf: with backorders some (s, S) policy is optimal among all; the
    average-cost dynamic program over every policy agrees."""
    sc = get_scenario("backorder_L1_p9_K64_mean10")
    assert sc.nodes[0].fixed_order_cost == 64.0 and sc.nodes[0].lead_time == 2
    dp = SingleStage(sc).solve()
    assert dp.cost == pytest.approx(scenario_ss(sc).cost, rel=1e-6)


def test_the_simulator_agrees_with_the_optimal_s_S():
    sc = get_scenario("backorder_L2_p4_K20", horizon=2000)
    sol = scenario_ss(sc)
    df = evaluate(sc, ss_policies(sc), 60, seed=7, store_observation="orders")
    cost = df[df["agent"] == "store_1"]["total_cost"].to_numpy() / sc.horizon
    half = 1.96 * cost.std(ddof=1) / np.sqrt(cost.size)
    # the episodes start at the newsvendor level, not the steady state
    assert abs(cost.mean() - sol.cost) < 2 * half + 0.002 * sol.cost


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: optimal_ss(1.0, 9.0, 0.0, 10.0), "fixed must be a finite number > 0"),
        (lambda: optimal_ss(1.0, 9.0, 64.0, 10.0, -1), "lead_time must be an integer"),
        (lambda: ss_cost(5, 5, 1.0, 9.0, 64.0, 10.0), r"with s < S"),
        (
            lambda: get_scenario("backorder_L1_p9_mean10").nodes[0].fixed_order_cost,
            None,
        ),
        (
            lambda: scenario_ss(get_scenario("lost_sales_L1_p9_K64")),
            "for one store with backorders",
        ),
        (
            lambda: SingleStage(get_scenario("backorder_L0_p9_K64_mean10")),
            r"Zipkin's L >= 1",
        ),
    ],
)
def test_bad_input_is_refused_naming_it(call, message):
    if message is None:
        assert call() == 0.0  # no fixed cost unless the name gives one
        return
    with pytest.raises(ValueError, match=message):
        call()


def test_a_largest_order_too_small_for_the_optimum_is_named():
    import dataclasses

    sc = get_scenario("backorder_L1_p9_K64_mean10")
    small = sc.replace(actions=dataclasses.replace(sc.actions, store_max_order=30))
    with pytest.raises(ValueError, match="store_max_order = 30 is too small"):
        scenario_ss(small)
