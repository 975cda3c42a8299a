"""The exact serial solver (Chen & Zheng's recursion) against Snyder &
Shen's Example 6.1, the newsvendor, and hmarl's own simulator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from baselines import echelon_base_stock_orders
from baselines.evaluate import evaluate
from baselines.serial import (
    echelon_policies,
    search_echelon_levels,
    solve_scenario,
    solve_serial,
)
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
    solver reads the preset as its table says, and the chain at the
    solver's levels, every node acting on its own observation in the batched
    evaluator (warehouses on the echelon layout), costs what the solver says
    and never orders more than the nodes' K."""
    from hmarl_env.scenario.presets import SERIAL_INSTANCES

    spec = SERIAL_INSTANCES[stages]
    sc = get_scenario(f"serial_N{stages}", horizon=1500)
    sol = solve_scenario(sc)
    assert sol == solve_serial(
        spec["holding"],
        spec["lead_times"],
        spec["stockout"],
        spec["demand"].mean,
        demand="poisson",
    )
    K = sc.actions.store_max_order
    assert K == sc.actions.warehouse_max_order
    per_replica, most = _simulated(sc, sol.levels, 300, 11)
    half = 1.96 * per_replica.std(ddof=1) / np.sqrt(per_replica.size)
    assert abs(per_replica.mean() - sol.cost) < 1.5 * half, (per_replica.mean(), half)
    assert most <= K
    df = evaluate(
        sc,
        echelon_policies(sc, sol.levels),
        200,
        seed=5,
        store_observation="orders",
        warehouse_observation="echelon",
    )
    cost = df.groupby("episode")["total_cost"].sum().to_numpy() / sc.horizon
    half = 1.96 * cost.std(ddof=1) / np.sqrt(cost.size)
    assert abs(cost.mean() - sol.cost) < 2 * half + 0.002 * sol.cost, (
        cost.mean(),
        half,
    )


def test_the_echelon_warehouse_orders_what_echelon_base_stock_does():
    """On random states of serial_N4, each warehouse's policy reading its
    echelon observation orders what Clark and Scarf's rule computes from the
    simulation's own echelon positions."""
    from hmarl_env.registry import SUPPLIER
    from hmarl_env.rollout import Rollout

    sc = _with_offsets("serial_N4", None, horizon=60)  # actions order units
    levels = (10.0, 16.0, 22.0, 34.0)
    policies = echelon_policies(sc, levels)
    rollout = Rollout(sc, 16, "orders", "echelon")
    rollout.reset([np.random.default_rng(s) for s in range(16)])
    rng = np.random.default_rng(0)
    roles = rollout.roles
    checked = 0
    while not rollout.done:
        obs = rollout.observe()
        want = np.clip(
            echelon_base_stock_orders(rollout.sim.echelon_inventory_position, levels),
            0,
            sc.actions.warehouse_max_order,
        )
        actions = np.zeros((16, len(roles.agents)), dtype=np.int64)
        for k, agent in enumerate(roles.agents):
            if agent.startswith("warehouse_"):
                j = sc.node_names.index(agent)
                mine = policies[agent](obs[:, roles.slices[agent]])
                assert (mine == np.rint(want[:, j])).all()
                checked += 1
            if agent != SUPPLIER:  # random orders: states off the policy's path
                actions[:, k] = rng.integers(0, 12, 16)
        rollout.step(actions)
    assert checked == 60 * 3


def test_the_search_finds_the_optimal_levels_from_an_untuned_start():
    sc = get_scenario("serial_N2", horizon=300)
    levels, _ = search_echelon_levels(sc, (15.0, 27.0), episodes=60)
    assert levels == solve_scenario(sc).levels == (8.0, 21.0)


@pytest.mark.parametrize(
    "preset, change, message",
    [
        ("default", {}, "it has 2 stores"),
        ("serial_N2", {"shortage": "lost_sales"}, "shortage is 'lost_sales'"),
        ("serial_N2", {"in_transit_holding": False}, "in_transit_holding is false"),
        (
            "serial_N2",
            {"actions.warehouse_max_order": 9},
            "warehouse_max_order = 9 is too small",
        ),
    ],
)
def test_scenarios_the_solver_cannot_hold_are_refused_naming_why(
    preset, change, message
):
    import dataclasses

    sc = get_scenario(preset)
    for key, value in change.items():
        if key.startswith("actions."):
            actions = dataclasses.replace(sc.actions, **{key[8:]: value})
            sc = sc.replace(actions=actions)
        else:
            sc = sc.replace(**{key: value})
    with pytest.raises(ValueError, match=message):
        solve_scenario(sc)
    with pytest.raises(ValueError, match=message):
        echelon_policies(sc, (8.0, 21.0))


def _with_offsets(name: str, k: int | None, **changes):
    import dataclasses

    sc = get_scenario(name, **changes)
    return sc.replace(actions=dataclasses.replace(sc.actions, order_offsets=k))


def test_order_offsets_adjust_the_demand_just_served():
    """Action a orders d + a - k within 0..K, d the customer demand below the
    node in the period just served; the orders and echelon layouts end with
    that demand over the node's demand scale."""
    import hmarl_env

    sc = _with_offsets("serial_N2", 3)
    env = hmarl_env.parallel_env(
        sc, store_observation="orders", warehouse_observation="echelon"
    )
    assert env.action_space("store_1").n == env.action_space("warehouse_1").n == 7
    obs, _ = env.reset(seed=4)
    sim = env._sim
    for a_store, a_wh in ((0, 6), (3, 3), (6, 0), (1, 5)):
        d = float(sim.state_array[0, 6, 0])  # the store's demand just served
        assert obs["store_1"][-1] * 5.0 == pytest.approx(d, abs=1e-5)
        assert obs["warehouse_1"][-1] * 5.0 == pytest.approx(d, abs=1e-5)
        obs, _, _, _, infos = env.step(
            {"store_1": a_store, "warehouse_1": a_wh, "supplier_1": 0}
        )
        assert infos["store_1"]["ordered"] == max(d + a_store - 3, 0)
        assert infos["warehouse_1"]["ordered"] == max(d + a_wh - 3, 0)


def test_echelon_base_stock_by_offsets_plays_the_same_chain():
    """With offsets wide enough never to bind, the heuristics' offsets order
    exactly what their unit orders do: the same ledger, period by period."""
    plain = _with_offsets("serial_N4", None, horizon=200)
    wide = _with_offsets("serial_N4", 40, horizon=200)
    levels = solve_scenario(plain).levels
    costs = [
        evaluate(
            sc,
            echelon_policies(sc, levels),
            20,
            seed=3,
            store_observation="orders",
            warehouse_observation="echelon",
        )["total_cost"].to_numpy()
        for sc in (plain, wide)
    ]
    assert np.array_equal(costs[0], costs[1])


@pytest.mark.parametrize(
    "actions, message",
    [
        (
            {"store_max_order": 9, "order_offsets": 0},
            "order_offsets must be an integer",
        ),
        (
            {"store_max_order": 9, "order_offsets": 2.5},
            "order_offsets must be an integer",
        ),
        ({"order_offsets": 2}, "set actions.store_max_order or"),
    ],
)
def test_bad_order_offsets_are_refused_naming_the_field(actions, message):
    from hmarl_env.scenario import Actions

    with pytest.raises(ValueError, match=message):
        Actions(**actions)


def test_stores_ordering_by_offsets_need_a_layout_that_shows_the_demand():
    import hmarl_env

    with pytest.raises(ValueError, match="does not show the demand just served"):
        hmarl_env.parallel_env(
            _with_offsets("serial_N2", 3), store_observation="pipeline"
        )


#: Shang & Song (2003), Table 1, rows 1, 9, 17 and 25 (as stockpyl encodes
#: them): four stages, Poisson demand of rate 16, transport lead time 0.25
#: per stage, echelon holding costs from the store up, backorder cost p per
#: unit and time; the optimal echelon base-stock levels and cost rate.
SHANG_SONG = {
    1: ((0.25, 0.25, 0.25, 0.25), 9.0, (8, 13, 18, 22), 12.688),
    9: ((0.25, 2.5, 2.5, 0.25), 9.0, (9, 10, 13, 19), 53.008),
    17: ((0.25, 0.25, 0.25, 0.25), 99.0, (11, 17, 22, 27), 16.206),
    25: ((0.25, 2.5, 2.5, 0.25), 99.0, (11, 14, 18, 26), 74.564),
}


@pytest.mark.parametrize("row", sorted(SHANG_SONG))
def test_shang_and_songs_table_1(row):
    """A period of 0.25 time units: demand Poisson(4) a period, one period
    of lead time a stage; costs per unit time give the cost rate."""
    echelon, p, levels, cost = SHANG_SONG[row]
    local = np.cumsum(echelon[::-1])[::-1]  # h_j = e_j + e_{j+1} + ...
    sol = solve_serial(tuple(local), (1, 1, 1, 1), p, 4.0, demand="poisson")
    assert sol.levels == levels
    assert sol.cost == pytest.approx(cost, abs=5e-4)
