"""The PettingZoo env: the ecosystem's own tests, rewards from infos, bad use."""

import pickle

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, render_test, seed_test

import hmarl_env
from hmarl_env.rewards import NODE_INFO_KEYS, SUPPLIER_INFO_KEYS

CASES = [
    ("default", {}),
    ("four_stores", {}),
    ("backorder", {}),
    ("default", {"store_observation": "seed"}),
    ("serial", {"horizon": 60}),
    ("seasonal", {}),
]
IDS = ["default", "four_stores", "backorder", "seed_layout", "serial", "seasonal"]


@pytest.mark.parametrize("scenario, kwargs", CASES, ids=IDS)
def test_pettingzoo_suites(scenario, kwargs):
    parallel_api_test(hmarl_env.parallel_env(scenario, **kwargs), num_cycles=120)
    # api_test on the AEC form checks observations against spaces and dtypes
    api_test(hmarl_env.env(scenario, **kwargs), num_cycles=120)
    # seed_test on the AEC form compares whole trajectories, not the first step
    seed_test(lambda: hmarl_env.env(scenario, **kwargs), num_cycles=120)


def test_render_modes():
    render_test(lambda render_mode=None: hmarl_env.env(render_mode=render_mode))
    env = hmarl_env.parallel_env(render_mode="ansi")
    env.reset(seed=3)
    env.step({a: 1 for a in env.agents})
    table = env.render()
    assert (
        "period 0 of 100" in table and "warehouse_1" in table and "supplier_1" in table
    )
    env = hmarl_env.parallel_env(render_mode="rgb_array", horizon=20)
    env.reset(seed=3)
    for _ in range(20):
        env.step({a: 2 for a in env.agents})
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.std() > 10  # something was drawn


def test_agents_spaces_and_metadata():
    env = hmarl_env.parallel_env()
    assert env.possible_agents == ["store_1", "store_2", "warehouse_1", "supplier_1"]
    assert env.metadata["name"] == "retail_supply_chain_v1"
    assert env.metadata["is_parallelizable"]
    shapes = {a: env.observation_space(a).shape for a in env.possible_agents}
    assert shapes == {
        "store_1": (8,),
        "store_2": (8,),
        "warehouse_1": (6,),
        "supplier_1": (3,),
    }
    assert [env.action_space(a).n for a in env.possible_agents] == [4, 4, 4, 3]
    for a in env.possible_agents:
        assert env.observation_space(a) is env.observation_space(a)
        assert env.observation_space(a).dtype == np.float32
    seed = hmarl_env.parallel_env(store_observation="reference")
    assert seed.observation_space("store_1").shape == (7,)
    serial = hmarl_env.parallel_env("serial")
    assert serial.possible_agents == [
        "store_1",
        "warehouse_1",
        "warehouse_2",
        "supplier_1",
    ]


def rollout(env, policy, seed=0):
    obs, infos = env.reset(seed=seed)
    steps = [(obs, None, infos)]
    while env.agents:
        obs, rewards, terms, truncs, infos = env.step(policy(env))
        steps.append((obs, rewards, infos))
    return steps, terms, truncs


def random_policy(env):
    return {a: env.action_space(a).sample() for a in env.agents}


def test_rewards_recomputed_from_infos_with_the_documented_formula():
    env = hmarl_env.parallel_env("four_stores", horizon=300)
    for a in env.possible_agents:
        env.action_space(a).seed(1)
    steps, _, _ = rollout(env, random_policy, seed=11)
    w = env.scenario.rewards
    checked = 0
    for _, rewards, infos in steps[1:]:
        for agent, r in rewards.items():
            i = infos[agent]
            if agent == "supplier_1":
                sw = w.supplier
                expected = (
                    sw.service_level * i["service_level"]
                    - sw.backlog * i["stockout_penalty"]
                    - sw.overtime * i["overtime_cost"]
                )
            else:
                ww = w.store if agent.startswith("store") else w.warehouse
                expected = (
                    ww.service_level * i["service_level"]
                    - ww.holding_cost * i["holding_cost"]
                    - ww.stockout_penalty * i["stockout_penalty"]
                    - ww.excess_inventory * i["excess_inventory"]
                )
            assert r == pytest.approx(expected, rel=1e-12, abs=1e-12)
            checked += 1
    assert checked == 300 * 6


def test_reward_terms_follow_the_ledger():
    env = hmarl_env.parallel_env(horizon=200)
    steps, _, _ = rollout(env, random_policy, seed=5)
    sc = env.scenario
    for _, _, infos in steps[1:]:
        for name in sc.node_names:
            i = infos[name]
            asked = i["sold"] + i["shipped"] + i["lost_sales"] + i["backlog"]
            sl = (i["sold"] + i["shipped"]) / asked if asked > 0 else 1.0
            assert i["service_level"] == pytest.approx(sl)
            days = (
                sc.rewards.store if name.startswith("store") else sc.rewards.warehouse
            ).excess_cover_days
            excess = max(
                0.0, i["inventory"] - days * sc.mean_demand[sc.node_names.index(name)]
            )
            assert i["excess_inventory"] == pytest.approx(excess)
            assert 0.0 <= i["service_level"] <= 1.0


def test_infos_have_the_same_keys_at_reset_and_every_step():
    env = hmarl_env.parallel_env(horizon=30)
    steps, _, _ = rollout(env, random_policy)
    for _, _, infos in steps:
        for agent, info in infos.items():
            keys = SUPPLIER_INFO_KEYS if agent == "supplier_1" else NODE_INFO_KEYS
            assert set(info) == set(keys), agent
            assert all(isinstance(v, float) for v in info.values())
    seed_keys = {
        "service_level",
        "holding_cost",
        "stockout_penalty",
        "excess_inventory",
        "inventory",
        "lost_sales",
        "demand",
    }
    assert seed_keys <= set(NODE_INFO_KEYS)


def test_episode_ends_by_truncation_at_the_horizon():
    env = hmarl_env.parallel_env(horizon=7)
    steps, terms, truncs = rollout(env, random_policy)
    assert len(steps) == 8
    assert all(truncs.values()) and not any(terms.values())
    assert env.agents == []
    assert [led.period for led in env.history] == list(range(7))


@pytest.mark.parametrize("action", [0, 3])
@pytest.mark.parametrize("scenario", ["default", "serial", "four_stores"])
def test_observations_stay_in_bounds_under_extreme_policies(scenario, action):
    """Always ordering nothing, or always the most, over a long horizon."""
    env = hmarl_env.parallel_env(scenario, horizon=400)
    steps, _, _ = rollout(
        env, lambda e: {a: min(action, e.action_space(a).n - 1) for a in e.agents}
    )
    for obs, _, _ in steps:
        for agent, o in obs.items():
            assert env.observation_space(agent).contains(o), (agent, o)
        assert env.state_space.contains(env.state())
    hit = np.array([o["store_1"] for o, _, _ in steps])
    assert hit.max() > 0  # observations carry information


def test_pickle_round_trip_mid_episode():
    env = hmarl_env.parallel_env(horizon=40)
    env.reset(seed=9)
    for _ in range(10):
        env.step({a: 2 for a in env.agents})
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(30):
        actions = {a: 1 for a in env.agents}
        out_a, out_b = env.step(actions), clone.step(actions)
        for x, y in zip(out_a[:4], out_b[:4], strict=True):
            for agent in x:
                np.testing.assert_array_equal(x[agent], y[agent])
        assert out_a[4] == out_b[4]


def test_same_seed_same_episode_across_instances():
    a = rollout(
        hmarl_env.parallel_env(horizon=50), lambda e: {x: 2 for x in e.agents}, 4
    )
    b = rollout(
        hmarl_env.parallel_env(horizon=50), lambda e: {x: 2 for x in e.agents}, 4
    )
    assert [s[1] for s in a[0]] == [s[1] for s in b[0]]
    c = rollout(
        hmarl_env.parallel_env(horizon=50), lambda e: {x: 2 for x in e.agents}, 5
    )
    assert [s[1] for s in a[0]] != [s[1] for s in c[0]]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"store_1": 4},
            r"action for 'store_1' must be an integer in \[0, 3\] \(Discrete\(4\)\)",
        ),
        ({"supplier_1": -1}, r"action for 'supplier_1' must be an integer in \[0, 2\]"),
        ({"store_2": 1.0}, r"action for 'store_2' must be an integer"),
        ({"warehouse_1": "1"}, r"action for 'warehouse_1' must be an integer"),
        ({"store_1": True}, r"action for 'store_1' must be an integer"),
        ({"store_1": np.array([0.5])}, r"action for 'store_1' must be an integer"),
        ({"store_9": 1}, r"unknown \['store_9'\]"),
    ],
)
def test_bad_actions_name_the_agent_and_range(change, message):
    env = hmarl_env.parallel_env()
    env.reset(seed=0)
    actions = {a: 0 for a in env.agents}
    actions.update(change)
    with pytest.raises(ValueError, match=message):
        env.step(actions)


def test_batched_decode_refuses_actions_out_of_range():
    """Roles.decode (the batched path of the evaluator) names agent and replica."""
    from hmarl_env.roles import Roles

    sc = hmarl_env.get_scenario("default")
    roles, sim = Roles(sc, 3), hmarl_env.Simulation(sc, 3)
    sim.reset(np.random.default_rng(0))
    roles.reset(sim)
    nodes, supplier = np.zeros((3, 3), dtype=np.int64), np.zeros(3, dtype=np.int64)
    orders, fulfil = roles.decode(nodes, supplier)
    assert orders.shape == (3, 3) and fulfil.tolist() == [1.0, 1.0, 1.0]
    nodes[2, 2] = 4
    with pytest.raises(ValueError, match=r"'warehouse_1' \(replica 2\).*\[0, 3\]"):
        roles.decode(nodes, supplier)
    nodes[2, 2], supplier[1] = 0, -1
    with pytest.raises(ValueError, match=r"'supplier_1' \(replica 1\).*\[0, 2\]"):
        roles.decode(nodes, supplier)
    supplier[1] = 0
    with pytest.raises(ValueError, match=r"integer actions of shape \(3, 3\)"):
        roles.decode(nodes.astype(float), supplier)
    with pytest.raises(ValueError, match=r"integer actions of shape \(3, 3\)"):
        roles.decode(nodes[:2], supplier)
    # the kernels do not check indices, so the roles check what they are given
    other = hmarl_env.Simulation(sc, 2)
    other.reset(np.random.default_rng(0))
    with pytest.raises(ValueError, match="for 3 replicas of 3 nodes; the simulation"):
        roles.observe_all(other)
    from hmarl_env.rewards import table_width

    width = table_width(3)  # 14 columns a node, 5 the supplier's: 47
    with pytest.raises(ValueError, match=rf"period table of shape \(B, {width}\)"):
        roles.rewards(np.zeros((3, width - 7)))


def test_numpy_integer_actions_are_accepted():
    env = hmarl_env.parallel_env()
    env.reset(seed=0)
    env.step({a: np.int64(1) for a in env.agents})
    env.step({a: np.array(1) for a in env.agents})


def test_missing_agent_and_wrong_container():
    env = hmarl_env.parallel_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"missing \['supplier_1'\]"):
        env.step({"store_1": 0, "store_2": 0, "warehouse_1": 0})
    with pytest.raises(ValueError, match="must be a dict"):
        env.step([0, 0, 0, 0])


def test_step_before_reset_and_after_the_end():
    env = hmarl_env.parallel_env(horizon=2)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step({a: 0 for a in env.possible_agents})
    with pytest.raises(RuntimeError, match="before reset"):
        env.state()
    env.reset(seed=0)
    env.step({a: 0 for a in env.agents})
    env.step({a: 0 for a in env.agents})
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step({a: 0 for a in env.possible_agents})


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match=r"unknown scenario 'retail'.*'default'"):
        hmarl_env.parallel_env("retail")
    with pytest.raises(ValueError, match="render_mode must be"):
        hmarl_env.parallel_env(render_mode="video")
    with pytest.raises(ValueError, match="store_observation must be"):
        hmarl_env.parallel_env(store_observation="full")
    with pytest.raises(ValueError, match="scenario.horizon"):
        hmarl_env.parallel_env(horizon=0)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_reset_seeds_name_the_seed(seed):
    env = hmarl_env.parallel_env("default")
    with pytest.raises(ValueError, match="reset seed"):
        env.reset(seed=seed)


def test_simulation_reset_wants_a_generator():
    from hmarl_env import Simulation

    sim = Simulation(hmarl_env.get_scenario("default"), batch_size=2)
    with pytest.raises(ValueError, match="default_rng"):
        sim.reset(3)


@pytest.mark.parametrize("module", ["baselines.evaluate", "hmarl_env.validate"])
def test_clis_refuse_a_negative_seed(module, capsys):
    import importlib

    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exc:
        main(["--seed", "-1"])
    assert exc.value.code == 2 and "--seed must be >= 0" in capsys.readouterr().err


def test_every_agent_has_the_same_infos_and_their_costs_add_up_to_the_system():
    """One schema for every agent's infos (a key that does not apply to a
    role is 0), so summing a key over agents works; the total costs add up to
    minus the system reward."""
    from hmarl_env.rewards import INFO_KEYS

    for preset in ("default", "serial", "hierarchy"):
        env = hmarl_env.parallel_env(preset)
        _, infos = env.reset(seed=3)
        assert all(set(i) == set(INFO_KEYS) for i in infos.values())
        rng = np.random.default_rng(0)
        while env.agents:
            actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
            _, _, _, _, infos = env.step(actions)
            assert all(set(i) == set(INFO_KEYS) for i in infos.values())
            total = sum(i["total_cost"] for i in infos.values())
            system = infos["supplier_1"]["system_reward"]
            if not env.unwrapped.scenario.rewards.expected_store_costs:
                assert total == pytest.approx(-system, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("preset", ["serial_N3", "serial_N4", "hierarchy"])
def test_the_echelon_observation_is_the_ledgers_echelon_state(preset):
    """On random orders, every warehouse's echelon features equal the
    simulation's echelon stock and position (over its inventory scale), its
    on-order and arrivals (over its demand scale)."""
    from hmarl_env.registry import EchelonFeature as F

    env = hmarl_env.parallel_env(preset, warehouse_observation="echelon")
    sc = env.scenario
    roles, sim = env._roles, env._sim
    rng = np.random.default_rng(1)
    obs, _ = env.reset(seed=3)
    checked = 0
    while env.agents:
        for agent, j in roles.node_of.items():
            if sc.nodes[j].is_store:
                continue
            x = obs[agent].astype(np.float64)
            assert env.observation_space(agent).contains(obs[agent])
            below = np.flatnonzero(sc.subtree[:, j])
            stores = [k for k in below if sc.nodes[k].is_store]
            held = sim.on_hand[0, below].sum() + sim.in_transit[0, below].sum()
            held -= sim.in_transit[0, j]
            held -= sim.state_array[0, 9, stores].sum()  # customer backlog
            position = sim.echelon_inventory_position[0, j]
            inv = roles.inventory_scale[j]
            dem = roles.demand_scale[j]
            clip = lambda v: min(max(v, -10.0), 10.0)  # noqa: E731
            assert x[F.echelon_inventory] == pytest.approx(clip(held / inv), abs=1e-5)
            assert x[F.echelon_position] == pytest.approx(
                clip(position / inv), abs=1e-5
            )
            assert x[F.on_order] == pytest.approx(
                min(sim.inbound_backlog[0, j] / dem, 10.0), abs=1e-5
            )
            L = int(sc.lead_times[j])
            M = sim.pipeline_array.shape[1]
            for k in range(1, L):
                due = sim.pipeline_array[0, (sim.period + k) % M, j]
                assert x[F.arriving + k - 1] == pytest.approx(
                    min(due / dem, 10.0), abs=1e-5
                )
            checked += 1
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        obs, *_ = env.step(actions)
    assert checked >= sc.horizon


def test_a_bad_warehouse_observation_is_named():
    with pytest.raises(ValueError, match="warehouse_observation must be one of"):
        hmarl_env.parallel_env("default", warehouse_observation="global")
