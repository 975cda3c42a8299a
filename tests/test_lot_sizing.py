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


def test_nahmias_silver_meal_example():
    """Nahmias, *Production and Operations Analysis*, the Silver-Meal example
    (a machine shop's casings): demand 18, 30, 42, 5, 20, holding 2 a unit and
    week, setup 80. Published: C(2) = 70 < C(3) = 102.67, a lot of 48; from
    week 3 C(2) = 45 < C(3) = 56.67, a lot of 47; then 20: y = (48, 0, 47,
    0, 20). By hand on the same instance: least unit cost 80 / 18, 140 / 48
    = 2.92, then 308 / 90 rises (48); from week 3, 80 / 42 = 1.90 < 90 / 47 =
    1.91 (42); from week 4, 16 then 120 / 25 = 4.8 (25): cost 340.
    Part-period balancing: part-periods 60 then 228 against 80 (48); then 10,
    90 (67): cost 310, the optimum Wagner-Whitin finds, which Silver-Meal's
    plan also costs (240 of setups, 60 + 10 held)."""
    d, setup, h = [18, 30, 42, 5, 20], 80.0, 2.0
    assert silver_meal(d, setup, h).orders.tolist() == [48, 0, 47, 0, 20]
    assert least_unit_cost(d, setup, h).orders.tolist() == [48, 0, 42, 25, 0]
    assert least_unit_cost(d, setup, h).cost == 340.0
    assert part_period_balancing(d, setup, h).orders.tolist() == [48, 0, 67, 0, 0]
    assert wagner_whitin(d, setup, h).cost == 310.0 == silver_meal(d, setup, h).cost


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


def _rolling(rule: str, **changes):
    from baselines.lot_sizing import RollingLotStore
    from baselines.policies import make_policies
    from hmarl_env import get_scenario

    sc = get_scenario("backorder_L1_p9_K50", horizon=300)
    store = make_policies(sc, "base_stock", None, "orders")["store_1"]
    args = dict(
        rule=rule,
        setup=30.0,
        holding=1.0,
        forecast=10.0,
        lead_time=2,
        safety=0.0,
        horizon=12,
        position_of=store,
    )
    return sc, RollingLotStore(**{**args, **changes})


def test_a_rolling_lot_nets_the_stock_at_arrival_hand_worked():
    """Forecast 10 a period, setup 30, holding 1: Silver-Meal covers two
    periods (30, then (30 + 10) / 2 = 20, then (30 + 10 + 20) / 3 = 20, no
    better). Stock of 4 at arrival leaves 6 of the first period: a lot of
    6 + 10; stock of 12 covers it: no order; a backlog of 3 is owed on top."""
    _, store = _rolling("silver_meal")
    assert store.lot(0.0) == 20.0
    assert store.lot(4.0) == 16.0
    assert store.lot(12.0) == 0.0
    assert store.lot(-3.0) == 23.0


def test_rolling_lot_stores_order_in_lots_near_the_optimum():
    """On a fixed-cost instance every rule, as a policy in the simulator,
    orders in few periods and costs within 10% of the exact optimum."""
    from baselines.evaluate import evaluate
    from baselines.lot_sizing import RULES
    from baselines.optimal import SingleStage
    from baselines.policies import make_policies

    sc, _ = _rolling("silver_meal")
    optimum = SingleStage(sc).solve().cost
    base = make_policies(sc, "base_stock", None, "orders")
    for rule in RULES:
        _, store = _rolling(rule, setup=50.0, forecast=5.0, safety=2.0)
        df = evaluate(
            sc, {**base, "store_1": store}, 8, seed=0, store_observation="orders"
        )
        row = df[df["agent"] == "store_1"]
        cost = row["total_cost"].mean() / sc.horizon
        assert cost < 1.1 * optimum, (rule, cost, optimum)
        # what is neither holding nor stockout is the fixed cost: 50 an order
        fixed = row["total_cost"] - row["holding_cost"] - row["stockout_cost"]
        assert fixed.sum() / 50.0 < 0.3 * len(row) * sc.horizon, rule


def test_a_rolling_lot_store_refuses_bad_settings():
    with pytest.raises(ValueError, match="rule must be one of"):
        _rolling("eoq")
    with pytest.raises(ValueError, match="horizon must be an integer >= 2"):
        _rolling("silver_meal", horizon=1)
    with pytest.raises(ValueError, match="safety must be a finite number >= 0"):
        _rolling("silver_meal", safety=-1.0)


def _genetic(seed: int = 0, **changes):
    from baselines.lot_sizing import GeneticLotStore

    sc, rolling = _rolling("silver_meal")
    args = dict(
        setup=50.0,
        holding=1.0,
        penalty=9.0,
        backorder=True,
        mean=5.0,
        lead_time=2,
        safety=2.0,
        horizon=10,
        position_of=rolling.position_of,
        seed=seed,
    )
    return sc, GeneticLotStore(**{**args, **changes})


def test_the_genetic_algorithm_is_reproducible_under_a_seed_and_orders_in_lots():
    from baselines.evaluate import evaluate
    from baselines.optimal import SingleStage
    from baselines.policies import make_policies

    _, a = _genetic(seed=3)
    _, b = _genetic(seed=3)
    assert [a.lot(x) for x in (-4.0, 0.0, 3.0, 9.0)] == [
        b.lot(x) for x in (-4.0, 0.0, 3.0, 9.0)
    ]
    assert a.lot(40.0) == 0.0  # eight periods of demand on hand: no order
    sc, store = _genetic()
    base = make_policies(sc, "base_stock", None, "orders")
    df = evaluate(sc, {**base, "store_1": store}, 6, seed=0, store_observation="orders")
    row = df[df["agent"] == "store_1"]
    fixed = row["total_cost"] - row["holding_cost"] - row["stockout_cost"]
    assert fixed.sum() / 50.0 < 0.35 * len(row) * sc.horizon
    assert row["total_cost"].mean() / sc.horizon < 1.15 * SingleStage(sc).solve().cost


def test_the_genetic_algorithm_refuses_bad_settings():
    with pytest.raises(ValueError, match="population must be an integer >= 2"):
        _genetic(population=1)
    with pytest.raises(ValueError, match="mean must be > 0"):
        _genetic(mean=0.0)


def _covered(covers=(0.0, 1.0, 2.0, 4.0)):
    import dataclasses

    from hmarl_env import get_scenario

    sc = get_scenario("backorder_L1_p9_K20", horizon=40)
    return sc.replace(actions=dataclasses.replace(sc.actions, store_lot_cover=covers))


def test_a_planner_sizes_the_lot_of_the_periods_a_store_chooses_to_cover():
    """Mean 5, lead time 2 (one period of demand before an order arrives):
    cover c from inventory position y orders ceil(5 c + 5 - y) within 0..K;
    cover 0 orders only what a backlog needs."""
    import hmarl_env

    sc = _covered()
    env = hmarl_env.parallel_env(sc, store_observation="orders")
    assert env.action_space("store_1").n == 4
    env.reset(seed=2)
    sim = env._sim
    K = sc.actions.store_max_order
    for a in (3, 0, 2, 1, 3):
        S = sim.state_array[0]
        y = S[0, 0] - S[9, 0] + S[1, 0] + S[2, 0]  # on hand - backlog + pipeline
        cover = (0.0, 1.0, 2.0, 4.0)[a]
        want = min(max(np.ceil(5 * cover + 5 - y - 1e-9), 0), K)
        _, _, _, _, infos = env.step({"store_1": a, "supplier_1": 0})
        assert infos["store_1"]["ordered"] == want, (a, y)


def test_heuristics_act_through_the_planner_near_the_optimum():
    """A heuristic store in cover actions picks the cover whose lot is
    nearest its own order; with covers one period apart an (s, S) store and
    the rolling lot rules cost within 10% of the exact optimum."""
    from baselines.evaluate import evaluate
    from baselines.fixed_cost import optimal_ss
    from baselines.lot_sizing import RollingLotStore
    from baselines.optimal import SingleStage
    from baselines.policies import SSStore, make_policies

    sc = _covered(tuple(float(c) for c in range(0, 13)))
    optimum = SingleStage(_covered(None).replace(horizon=40)).solve().cost
    base = make_policies(sc, "base_stock", None, "orders")
    store = base["store_1"]
    sol = optimal_ss(1.0, 9.0, 20.0, 5.0, 1)
    for policy in (
        SSStore(sol.s, sol.S, store),
        RollingLotStore("silver_meal", 20.0, 1.0, 5.0, 2, 2.0, 12, store),
    ):
        df = evaluate(
            sc, {**base, "store_1": policy}, 30, seed=0, store_observation="orders"
        )
        cost = df[df["agent"] == "store_1"]["total_cost"].mean() / sc.horizon
        assert cost < 1.1 * optimum, (policy, cost, optimum)


@pytest.mark.parametrize("who", ["store", "warehouse"])
def test_cover_actions_need_quantities_and_exclude_offsets(who):
    from hmarl_env.scenario import Actions

    covers, most = f"{who}_lot_cover", f"{who}_max_order"
    with pytest.raises(ValueError, match=f"{covers} sizes lots of whole units"):
        Actions(**{covers: (0.0, 1.0)})
    with pytest.raises(ValueError, match="give one"):
        Actions(**{most: 9, "order_offsets": 2, covers: (0.0, 1.0)})
    with pytest.raises(ValueError, match=rf"{covers}\[1\] must be >= 0"):
        Actions(**{most: 9, covers: (0.0, -1.0)})


def test_cover_instances_by_name_act_in_unit_levels_and_hold_the_optimum():
    """``<instance>_cover``: covers k / mean for k = 0..K (order-up-to levels
    one unit apart above the demand until arrival), so the optimal policy
    acts through them exactly as on quantities: the same costs in every
    episode."""
    from baselines.evaluate import evaluate
    from baselines.optimal import SingleStage
    from baselines.policies import make_policies
    from hmarl_env import get_scenario

    sc = get_scenario("backorder_L1_p9_K10_cover", horizon=60)
    plain = get_scenario("backorder_L1_p9_K10", horizon=60)
    assert sc.name == "backorder_L1_p9_K10_cover"
    K = sc.actions.store_max_order
    assert K == plain.actions.store_max_order
    assert sc.actions.store_lot_cover == tuple(k / 5.0 for k in range(K + 1))
    assert plain.actions.store_lot_cover is None
    costs = []
    for scenario in (plain, sc):
        solver = SingleStage(scenario)
        base = make_policies(scenario, "base_stock", None, "orders")
        policies = {**base, "store_1": solver.policy(solver.solve())}
        df = evaluate(scenario, policies, 4, seed=7, store_observation="orders")
        costs.append(df[df["agent"] == "store_1"]["total_cost"].to_numpy())
    np.testing.assert_array_equal(costs[0], costs[1])
    assert get_scenario("lost_sales_L2_p19_K25_mean10_cover").name.endswith("_cover")


def test_a_warehouse_orders_the_lot_its_cover_needs():
    """warehouse_fixed_cost: cover c from the warehouse's position y (on hand
    less what it owes the stores, plus what is on its way) orders
    ceil((c + 3) * 200 - y) within 0..3000 (three days of its 200 a day
    until an order arrives), and the (s, S) warehouse acts through covers."""
    import hmarl_env
    from baselines.policies import SSWarehouse, make_policies
    from hmarl_env import get_scenario
    from hmarl_env.core import StateField as S

    sc = get_scenario("warehouse_fixed_cost")
    assert sc.nodes[2].fixed_order_cost == 75.0
    env = hmarl_env.parallel_env(sc)
    assert env.action_space("warehouse_1").n == 17
    env.reset(seed=4)
    sim = env._sim
    seen = set()
    for c in (0, 9, 2, 16, 5, 0, 12, 7, 3, 1):
        st = sim.state_array[0]
        y = st[S.on_hand, 2] - st[S.backlog, 2] + st[S.in_transit, 2]
        y += st[S.inbound_backlog, 2]
        want = min(max(np.ceil((c + 3) * 200.0 - y - 1e-9), 0.0), 3000.0)
        acts = {"store_1": 2, "store_2": 2, "warehouse_1": c, "supplier_1": 0}
        _, _, _, _, infos = env.step(acts)
        assert infos["warehouse_1"]["ordered"] == want, (c, y)
        seen.add(want > 0)
    assert seen == {True, False}
    policy = make_policies(sc, "tuned", {"warehouse": {"s_days": 5, "S_days": 9}})
    wh = policy["warehouse_1"]
    assert isinstance(wh, SSWarehouse) and wh.covers is not None
    obs = np.zeros((2, 6), dtype=np.float32)
    obs[1, 1] = 10.0  # far above s
    np.testing.assert_array_equal(wh(obs), [6, 0])  # up to 9 days: cover 6
    with pytest.raises(ValueError, match="use the local warehouse observation"):
        make_policies(sc, "rule_based", warehouse_observation="echelon")
