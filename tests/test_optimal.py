"""Single-stage instances against the optimum: presets, quantity actions, the
'orders' observation, the exact solver and its heuristics."""

import dataclasses
import math
import time

import numpy as np
import pytest
from scipy import stats

import hmarl_env
from baselines.evaluate import evaluate
from baselines.optimal import ZIPKIN_TABLE, SingleStage, TablePolicy
from baselines.policies import ConstantOrderStore, OrderUpToStore, make_policies
from hmarl_env import get_scenario
from hmarl_env.core import Simulation
from hmarl_env.registry import StoreOrderFeature
from hmarl_env.rewards import ExpectedStoreCosts
from hmarl_env.scenario import Actions, Node, single_stage

#: the instances solved in the default run (L = 3, 4 are the benchmark's)
SMALL = [(L, p) for (L, p) in ZIPKIN_TABLE if L <= 2]


def test_single_stage_presets_by_name():
    sc = get_scenario("lost_sales_L4_p39")
    (store,) = sc.nodes
    assert store.name == "store_1" and store.parent is None
    assert store.lead_time == 5  # Zipkin's L = 4 demands between order and arrival
    assert (store.holding_cost, store.stockout_cost) == (1.0, 39.0)
    assert store.demand.mean == 5.0 and sc.shortage == "lost_sales"
    assert sc.actions.store_max_order == 11 and sc.rewards.mode == "system"
    other = get_scenario("backorder_L2_p9_mean10")
    assert other.shortage == "backorder" and other.nodes[0].demand.mean == 10.0
    assert other.name == "backorder_L2_p9_mean10"
    assert get_scenario(single_stage(1, 4.0)).name == "lost_sales_L1_p4"
    with pytest.raises(ValueError, match="single-stage instance such as"):
        get_scenario("lost_sales_L4")


def test_agents_act_on_order_quantities():
    sc = get_scenario("lost_sales_L2_p4")
    env = hmarl_env.parallel_env(sc, store_observation="orders")
    env.reset(seed=3)
    assert env.action_space("store_1").n == sc.actions.store_max_order + 1
    assert env.possible_agents == ["store_1", "supplier_1"]
    placed = []
    for q in (7, 0, 3, 11):
        obs, _, _, _, infos = env.step({"store_1": q, "supplier_1": 0})
        placed.append(q)
        assert infos["store_1"]["ordered"] == q
        # the pipeline shows the last L orders, oldest first, in demand scales
        arriving = obs["store_1"][StoreOrderFeature.arriving :] * 5.0
        assert arriving == pytest.approx(([5.0, 5.0] + placed)[-2:], abs=1e-5)
    with pytest.raises(ValueError, match=r"integer in \[0, 11\]"):
        env.step({"store_1": 12, "supplier_1": 0})


def test_orders_observation_is_the_simulation_state():
    sc = get_scenario("backorder_L3_p9")
    env = hmarl_env.parallel_env(sc, store_observation="orders")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        sim = env.unwrapped._sim if hasattr(env, "unwrapped") else env._sim
        o = obs["store_1"].astype(np.float64)
        inv, dem = 5.0 * 5, 5.0  # mean * (lead time + 1), mean
        assert o[StoreOrderFeature.inventory] * inv == pytest.approx(
            sim.on_hand[0, 0], abs=1e-4
        )
        assert o[StoreOrderFeature.backlog] * inv == pytest.approx(
            sim.backlog[0, 0], abs=1e-4
        )
        in_pipe = o[StoreOrderFeature.arriving :].sum() * dem
        assert in_pipe == pytest.approx(sim.in_transit[0, 0], abs=1e-4)
        obs, *_ = env.step({"store_1": int(rng.integers(0, 12)), "supplier_1": 0})


def test_initial_pipeline_arrives_in_the_first_periods():
    sc = get_scenario("lost_sales_L3_p4")  # lead time 4: arrivals in periods 1-3
    sim = Simulation(sc)
    sim.reset(np.random.default_rng(0))
    assert sim.in_transit[0, 0] == 15.0
    received = []
    for _ in range(5):
        led = sim.step(np.zeros((1, 1)))
        received.append(sim.received[0, 0])
        assert led.in_transit[0, 0] >= 0
    assert received[:4] == [5.0, 5.0, 5.0, 0.0]
    with pytest.raises(ValueError, match="initial_pipeline"):
        Node("store_1", None, 2, 1.0, initial_pipeline=-1.0, demand=sc.nodes[0].demand)


@pytest.mark.parametrize(("L", "p"), SMALL)
def test_solver_reproduces_zipkins_table(L, p):
    s = SingleStage(f"lost_sales_L{L}_p{p}")
    optimal = s.solve()
    published_opt, published_bs = ZIPKIN_TABLE[(L, p)]
    assert optimal.cost == pytest.approx(published_opt, rel=0.005)
    # Zipkin's base-stock orders whatever the demand was: uncapped orders
    wide = SingleStage(f"lost_sales_L{L}_p{p}", max_order=20)
    base = wide.best_base_stock()
    assert base.cost == pytest.approx(published_bs, rel=0.005)
    # the optimum is a lower bound of every heuristic
    for h in (base, wide.myopic(), wide.best_constant(), s.best_base_stock()):
        assert h.cost >= optimal.cost - 1e-9
    assert s.check_truncation(optimal.table, optimal.distribution)


def test_backorder_optimum_is_the_newsvendor_base_stock():
    # with backorders base-stock is optimal; its cost is the newsvendor's over
    # L + 1 periods of demand at the critical fractile
    L, b = 2, 9.0
    s = SingleStage(f"backorder_L{L}_p{b:g}")
    optimal = s.solve()
    D = stats.poisson(5.0 * (L + 1))
    S = int(D.ppf(b / (b + 1.0)))
    d = np.arange(200)
    newsvendor = float(
        (D.pmf(d) * (np.maximum(S - d, 0) + b * np.maximum(d - S, 0))).sum()
    )
    assert optimal.cost == pytest.approx(newsvendor, rel=1e-6)
    assert s.best_base_stock().cost == pytest.approx(newsvendor, rel=1e-6)


@pytest.mark.parametrize("name", ["lost_sales_L1_p4", "lost_sales_L2_p39"])
def test_simulated_optimal_policy_agrees_with_the_solver(name):
    s = SingleStage(name)
    optimal = s.solve()
    sc = get_scenario(name, horizon=5000)
    df = evaluate(
        sc,
        {"store_1": s.policy(optimal), "supplier_1": make_policies(sc)["supplier_1"]},
        episodes=40,
        seed=0,
        store_observation="orders",
    )
    per_period = df[df["agent"] == "store_1"]["total_cost"].to_numpy() / 5000
    mean = per_period.mean()
    half = 1.96 * per_period.std(ddof=1) / math.sqrt(len(per_period))
    assert abs(mean - optimal.cost) < half, (mean, half, optimal.cost)


def test_orders_above_the_inventory_grid_land_on_its_top():
    """A base-stock search with orders up to 24 units on a grid of 21
    inventory levels (a low penalty, mean demand 5.05, L 2): the stationary
    distribution keeps its mass and its cost is what the policy costs in
    simulation."""
    sc = single_stage(2, 4.852, 5.047)
    wide = SingleStage(sc, max_order=24)
    assert wide.K + 1 > wide.X
    best = wide.best_base_stock()
    assert np.isclose(wide.stationary(best.table).sum(), 1.0)
    long = wide.scenario.replace(horizon=3000)
    df = evaluate(
        long,
        {"store_1": wide.policy(best), "supplier_1": make_policies(long)["supplier_1"]},
        episodes=30,
        seed=0,
        store_observation="orders",
    )
    per_period = df[df["agent"] == "store_1"]["total_cost"].to_numpy() / 3000
    half = 1.96 * per_period.std(ddof=1) / math.sqrt(len(per_period))
    assert abs(per_period.mean() - best.cost) < max(half, 0.01 * best.cost)


def test_table_policy_reads_the_orders_layout_only():
    s = SingleStage("lost_sales_L2_p4")
    policy = s.policy(s.solve())
    assert isinstance(policy, TablePolicy)
    with pytest.raises(ValueError, match="'orders' store observation"):
        policy(np.zeros((2, 8), dtype=np.float32))
    # far above the grid: order nothing
    big = np.zeros((1, 5), dtype=np.float32)
    big[0, StoreOrderFeature.inventory] = 10.0
    assert policy(big)[0] == 0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="store_max_order must be an integer"):
        Actions(store_max_order=0)
    with pytest.raises(ValueError, match="needs stores that order quantities"):
        hmarl_env.parallel_env("default", store_observation="orders")
    sc = get_scenario("default")
    nodes = tuple(
        n.__class__(**{**n.__dict__, "lead_time": 3}) if n.name == "store_2" else n
        for n in sc.nodes
    )
    mixed = sc.replace(
        nodes=nodes,
        actions=Actions(store_max_order=200),
    )
    with pytest.raises(ValueError, match="need one lead time"):
        hmarl_env.parallel_env(mixed, store_observation="orders")
    with pytest.raises(ValueError, match="one store ordering from the supplier"):
        SingleStage("default")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"about [0-9.e+]+ state x order entries"):
        SingleStage("lost_sales_L9_p39")
    assert time.perf_counter() - start < 5  # refused before allocating


def test_quantity_heuristics():
    sc = get_scenario("lost_sales_L2_p4")
    rules = make_policies(sc, "base_stock", store_observation="orders")
    store = rules["store_1"]
    assert isinstance(store, OrderUpToStore)
    obs = np.zeros((2, 5), dtype=np.float32)
    obs[1, StoreOrderFeature.inventory] = 0.5  # 10 units (scale 5 x (3 + 1))
    obs[1, StoreOrderFeature.arriving :] = 1.0  # 5 + 5 in the pipeline
    # hmarl's lead time 3: cover 4 periods, safety 1.65 std over them
    level = 5.0 * 4 + 1.65 * math.sqrt(5.0) * math.sqrt(4)
    expected = np.clip(np.rint([level, level - 20.0]), 0, 11)
    assert store(obs).tolist() == expected.tolist()
    constant = make_policies(sc, "constant", store_observation="orders")["store_1"]
    assert constant == ConstantOrderStore(5)
    with pytest.raises(ValueError, match="'orders' or 'pipeline'"):
        make_policies(sc, "base_stock", store_observation="seed")


def test_command_line(capsys):
    from baselines.optimal import main

    assert main(["lost_sales_L1_p39"]) == 0
    out = capsys.readouterr().out
    assert "optimal" in out and "7.83" in out and "base-stock S=" in out
    assert main(["default"]) == 2
    assert "one store ordering from the supplier" in capsys.readouterr().err


def test_single_stage_instances_extend_in_files(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('extends = "lost_sales_L2_p9"\nhorizon = 500\n')
    sc = get_scenario(path)
    assert sc.horizon == 500 and sc.nodes[0].stockout_cost == 9.0
    assert sc.actions.store_max_order == 11 and sc.name == "mine"
    assert SingleStage(sc).instance.lead_time == 2


@pytest.mark.parametrize(
    "name", ["lost_sales_L1_p4", "lost_sales_L3_p39", "backorder_L2_p9"]
)
def test_the_simulator_is_zipkins_model_period_by_period(name):
    """Zipkin's recursion on the simulator's own demand, under the optimal
    policy: every order is the table's at Zipkin's state, every period's cost
    the ledger's."""
    s = SingleStage(name)
    optimal = s.solve()
    policy = s.policy(optimal)
    sc = get_scenario(name, horizon=400)
    env = hmarl_env.parallel_env(sc, store_observation="orders")
    obs, _ = env.reset(seed=11)
    demand = env._sim._demand[:, 0, 0].copy()
    node = sc.nodes[0]
    h, p = node.holding_cost, node.stockout_cost
    backorder = sc.shortage == "backorder"

    def period(x, d):  # net stock after arrivals, demand -> (left, cost)
        y = x - d if backorder else max(x - d, 0.0)
        short = max(-y, 0.0) if backorder else max(d - x, 0.0)
        return y, h * max(y, 0.0) + p * short

    y, cost = period(node.initial_inventory, demand[0])
    arriving = [node.initial_pipeline] * s.L  # in 1 .. L periods
    for t in range(sc.horizon):
        x = int(round(y + arriving[0]))
        if x > s.x_max:
            expected = 0
        else:
            index = (x - s.x_min, *(int(a) for a in arriving[1:]))
            expected = int(optimal.table[index])
        q = int(policy(obs["store_1"][None, :])[0])
        assert q == expected
        obs, _, _, _, infos = env.step({"store_1": q, "supplier_1": 0})
        assert infos["store_1"]["total_cost"] == pytest.approx(cost, abs=1e-9)
        if t + 1 < sc.horizon:
            x, arriving = y + arriving[0], arriving[1:] + [q]
            y, cost = period(x, demand[t + 1])


def _expected(name, on=True, **changes):
    sc = get_scenario(name, **changes)
    return sc.replace(rewards=dataclasses.replace(sc.rewards, expected_store_costs=on))


def test_expected_store_costs_are_exact_expectations():
    sc = _expected("lost_sales_L1_p39")
    e = ExpectedStoreCosts(sc)
    x = np.array([[-3.0], [0.0], [2.0], [2.5], [6.0], [60.0]])
    d = np.arange(400)
    pmf = stats.poisson.pmf(d, 5.0)
    brute = [float(pmf @ np.maximum(v - d, 0.0)) for v in x[:, 0]]
    assert e.over(x)[:, 0] == pytest.approx(brute, abs=1e-9)
    # the ledger keeps the realised costs; the reward charges the expectation
    env = hmarl_env.parallel_env(sc, store_observation="orders")
    plain = hmarl_env.parallel_env(
        _expected("lost_sales_L1_p39", on=False), store_observation="orders"
    )
    obs, _ = env.reset(seed=2)
    plain.reset(seed=2)
    for q in (0, 0, 9, 3, 5, 5):
        _, r, _, _, info = env.step({"store_1": q, "supplier_1": 0})
        _, r0, _, _, info0 = plain.step({"store_1": q, "supplier_1": 0})
        assert info["store_1"]["total_cost"] == info0["store_1"]["total_cost"]
        assert r0["store_1"] == -info0["store_1"]["total_cost"]
        i = info["store_1"]
        stock = i["inventory"] - i["backlog"] + i["demand"] - i["lost_sales"]
        over = float(pmf @ np.maximum(stock - d, 0.0))
        expected = over + 39.0 * (over + 5.0 - stock)
        assert r["store_1"] == pytest.approx(-expected, abs=1e-9)
        assert i["system_reward"] == r["store_1"]


def test_expected_store_costs_keep_the_average_and_cut_the_noise():
    s = SingleStage("lost_sales_L1_p39")
    optimal = s.solve()
    # long episodes: the start (near, not at, the steady state) adds ~20
    # units of cost to an episode, 0.2% of 1,000 periods
    sc = _expected("lost_sales_L1_p39", horizon=5000)
    policies = {
        "store_1": s.policy(optimal),
        "supplier_1": make_policies(sc)["supplier_1"],
    }
    df = evaluate(sc, policies, episodes=40, seed=0, store_observation="orders")
    store = df[df["agent"] == "store_1"]
    reward = -store["episode_reward"].to_numpy() / 5000
    cost = store["total_cost"].to_numpy() / 5000
    half = 1.96 * reward.std(ddof=1) / math.sqrt(len(reward))
    assert abs(reward.mean() - optimal.cost) < half
    assert reward.std() < 0.5 * cost.std()  # the demand draw's noise is gone


def test_expected_store_costs_need_poisson_stores_and_a_system_share():
    with pytest.raises(ValueError, match="only in 'system' or 'mixed' mode"):
        _expected("lost_sales_L1_p4").with_reward_mode("local")
    with pytest.raises(ValueError, match="needs Poisson demand at every store"):
        _expected("hierarchy")
    # the single-stage presets train on expected costs
    assert get_scenario("lost_sales_L4_p39").rewards.expected_store_costs


@pytest.mark.parametrize("name", ["lost_sales_L2_p39", "backorder_L1_p9"])
def test_the_validator_passes_single_stage_instances(name, capsys):
    # more actions than validation steps; rewards on expected costs
    from hmarl_env.validate import main as validate

    assert validate(["--scenario", name, "--store-observation", "orders"]) == 0
    assert "ALL 5 VALIDATIONS PASSED" in capsys.readouterr().out


def test_a_base_stock_search_too_big_uncapped_caps_its_orders(monkeypatch):
    """Where the uncapped grid exceeds the solver's size limit, the best
    base-stock policy is searched with the largest order bound that fits,
    and its name says so."""
    import baselines.optimal as optimal

    sc = single_stage(2, 9.0, 5.0)
    s = SingleStage(sc)
    limit = s.X * (s.K + 3) ** 2  # room for orders up to K + 2, not 20
    real = optimal.SingleStage

    def limited(scenario, max_order=None, **kw):
        return real(scenario, max_order=max_order, **{**kw, "max_entries": limit})

    monkeypatch.setattr(optimal, "SingleStage", limited)
    solved = optimal.solve_instance(sc)
    wide, base = solved["base_stock"]
    assert wide.K == s.K + 2
    assert base.name.endswith(f"(orders <= {s.K + 2})")
    assert base.cost >= solved["optimal"][1].cost - 1e-9


def test_an_instance_too_big_to_solve_is_solved_within_the_orders_that_fit():
    """Where the instance's own orders 0..K exceed the solver's size limit
    (a lead time of 5 with a family's K), the optimum is solved over the
    largest order bound that fits, its name says so, and where the bound
    does not bind it is the optimum (checked against the full solve)."""
    from baselines.optimal import GridTooLarge, _fitting

    sc = single_stage(2, 9.0, 5.0)
    full = SingleStage(sc)
    limit = full.X * (full.K - 2) ** 2  # room for orders up to K - 3
    with pytest.raises(GridTooLarge, match="max_entries"):
        SingleStage(sc, max_entries=limit)
    capped = _fitting(sc, max_entries=limit)
    assert capped.K == full.K - 3
    assert capped.solve().cost == pytest.approx(full.solve().cost, abs=1e-9)
    with pytest.raises(GridTooLarge):  # nothing fits: the instance's own error
        _fitting(sc, max_entries=10)
