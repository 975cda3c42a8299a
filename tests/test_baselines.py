"""Baselines: one interface, one evaluator that agrees with the env, tuning."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hmarl_env
from baselines.evaluate import KPIS, evaluate, main, summarize
from baselines.policies import (
    AlwaysFulfil,
    BaseStockStore,
    RuleBasedStore,
    SSWarehouse,
    make_policies,
)
from baselines.tune import tune
from baselines.tuned import fingerprint, load_tuned, tuned_path
from hmarl_env import get_scenario


def env_episode_rewards(scenario, policies, seed):
    """Play one episode through the PettingZoo env; total reward and cost per agent."""
    env = hmarl_env.parallel_env(scenario)
    obs, _ = env.reset(seed=seed)
    totals = dict.fromkeys(env.possible_agents, 0.0)
    holding = dict.fromkeys(env.possible_agents, 0.0)
    lost = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        actions = {a: int(policies[a](obs[a][None, :])[0]) for a in env.agents}
        obs, rewards, _, _, infos = env.step(actions)
        for a, r in rewards.items():
            totals[a] += r
            holding[a] += infos[a]["holding_cost"]
            lost[a] += infos[a]["lost_sales"]
    return totals, holding, lost


@pytest.mark.parametrize("scenario", ["default", "backorder", "four_stores", "serial"])
@pytest.mark.parametrize("kind", ["seed", "base_stock"])
def test_batched_evaluator_agrees_with_the_env(scenario, kind):
    sc = get_scenario(scenario, horizon=60)
    policies = make_policies(sc, kind)
    df = evaluate(sc, policies, episodes=3, seed=100, batch_size=2)
    for e in range(3):
        totals, holding, lost = env_episode_rewards(sc, policies, seed=100 + e)
        rows = df[df["episode"] == e].set_index("agent")
        for agent in totals:
            assert rows.loc[agent, "episode_reward"] == pytest.approx(totals[agent])
            assert rows.loc[agent, "holding_cost"] == pytest.approx(holding[agent])
            assert rows.loc[agent, "lost_sales"] == pytest.approx(lost[agent], abs=1e-9)


def test_evaluator_frame_and_common_random_numbers():
    sc = get_scenario("default", horizon=40)
    a = evaluate(sc, make_policies(sc, "seed"), episodes=5, seed=7)
    b = evaluate(sc, make_policies(sc, "base_stock"), episodes=5, seed=7)
    assert list(a.columns) == ["episode", "seed", "agent", "role", *KPIS]
    assert len(a) == 5 * 4 and set(a["seed"]) == set(range(7, 12))
    # the same seeds meet the same demand, whatever the policy
    env = hmarl_env.parallel_env(sc)
    env.reset(seed=7)
    assert a.equals(evaluate(sc, make_policies(sc, "seed"), episodes=5, seed=7))
    assert not a["episode_reward"].equals(b["episode_reward"])
    summary = summarize(a)
    assert set(summary.index) == {"store_1", "store_2", "warehouse_1", "supplier_1"}
    assert (summary["fill_rate"] <= 1).all()


def test_bullwhip_is_zero_when_nobody_orders():
    sc = get_scenario("default", horizon=30)
    nothing = {
        a: (lambda obs: np.zeros(len(obs), dtype=np.int64))
        for a in ("store_1", "store_2", "warehouse_1")
    }
    nothing["supplier_1"] = AlwaysFulfil()
    df = evaluate(sc, nothing, episodes=2)
    stores = df[df["role"] == "store"]
    assert (stores["bullwhip"] == 0).all() and (stores["lost_sales"] > 0).all()


def test_evaluator_refuses_bad_policies():
    sc = get_scenario("default", horizon=5)
    policies = make_policies(sc, "seed")
    with pytest.raises(ValueError, match=r"no policy for \['supplier_1'\]"):
        evaluate(sc, {k: v for k, v in policies.items() if k != "supplier_1"}, 2)
    with pytest.raises(ValueError, match="outside"):
        evaluate(sc, {**policies, "store_1": lambda o: np.full(len(o), 9)}, 2)
    with pytest.raises(ValueError, match="integer actions"):
        evaluate(sc, {**policies, "store_2": lambda o: np.zeros(len(o))}, 2)
    with pytest.raises(RuntimeError, match="the policy of 'warehouse_1'"):
        evaluate(sc, {**policies, "warehouse_1": lambda o: 1 / 0}, 2)


POLICY_SCENARIOS = ["default", "four_stores", "serial", "seasonal"]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(POLICY_SCENARIOS),
    kind=st.sampled_from(["seed", "base_stock"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_every_policy_acts_validly_on_any_observation(name, kind, seed):
    env = hmarl_env.parallel_env(name)
    policies = make_policies(env.scenario, kind)
    for agent in env.possible_agents:
        space = env.observation_space(agent)
        space.seed(seed)
        obs = np.stack([space.sample() for _ in range(32)] + [space.low, space.high])
        actions = policies[agent](obs)
        assert actions.shape == (34,) and actions.dtype.kind == "i"
        assert ((actions >= 0) & (actions < env.action_space(agent).n)).all()


def test_policy_rules():
    seed = RuleBasedStore()
    cover = np.zeros((4, 8), dtype=np.float32)
    cover[:, 3] = [0.5, 2.5, 4.0, 9.0]
    np.testing.assert_array_equal(seed(cover), [3, 2, 1, 0])
    base = BaseStockStore(
        lead_time=2, multipliers=(0, 0.5, 1, 1.5), cover=3.0, safety_factor=0.0
    )
    obs = np.zeros((2, 8), dtype=np.float32)
    obs[:, 1] = 1.0  # forecast = mean demand
    obs[0, 0] = 2.0 / 3  # position 2 periods: needs one more -> 1.0 x
    obs[1, 0] = 1.0  # position 3 periods: at target -> 0
    np.testing.assert_array_equal(base(obs), [2, 0])
    wh = SSWarehouse(s=500, S=1500, inventory_scale=1000, lots=(0, 500, 1000, 1500))
    w = np.zeros((3, 6), dtype=np.float32)
    w[:, 1] = [0.2, 0.4, 0.8]  # positions 200, 400, 800
    np.testing.assert_array_equal(wh(w), [3, 2, 0])
    assert (AlwaysFulfil((0.8, 1.0, 0.0))(np.zeros((3, 3))) == 1).all()
    with pytest.raises(ValueError, match="pipeline observation"):
        base(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="s <= S"):
        SSWarehouse(s=5, S=1, inventory_scale=1, lots=(0, 1))
    with pytest.raises(ValueError, match="the policy set must be one of"):
        make_policies(get_scenario("default"), "clever")


def test_tuning_beats_the_rule_based_baseline_on_held_out_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("HMARL_RESULTS", str(tmp_path))
    sc = get_scenario("default", horizon=50)
    record = tune(sc, episodes=40, held_out=200)
    store = record["held_out"]["store_reward"]
    gain = store["tuned_minus_rule_based"]
    assert gain["mean"] - gain["ci95"] > 0
    assert set(record["params"]) == {"store", "warehouse"}
    with pytest.raises(ValueError, match="no tuned parameters for scenario 'default'"):
        make_policies(sc, "tuned")
    tuned_path(sc).parent.mkdir(parents=True)
    tuned_path(sc).write_text(json.dumps(record))
    assert isinstance(make_policies(sc, "tuned")["store_1"], BaseStockStore)
    # another scenario of the same name has its own record
    assert tuned_path(sc.replace(horizon=51)) != tuned_path(sc)
    with pytest.raises(ValueError, match="no tuned parameters.*<the scenario file>"):
        load_tuned(sc.replace(horizon=51))
    tuned_path(sc).write_text("{not json")
    with pytest.raises(ValueError, match="not a tuned-baseline record"):
        load_tuned(sc)


@pytest.mark.parametrize(
    "name", ["default", "four_stores", "backorder", "seasonal", "serial"]
)
def test_committed_tuned_baselines_match_the_presets(name):
    """A changed preset must be tuned again (python -m baselines.tune)."""
    sc = get_scenario(name)
    record = load_tuned(sc)
    assert record["fingerprint"] == fingerprint(sc)
    verdict = record["held_out"]["store_reward"]["tuned_minus_rule_based"]
    assert verdict["mean"] > 0


def test_cli_prints_kpis_with_intervals(capsys):
    assert main(["--episodes", "20", "--policy", "base_stock"]) == 0
    out = capsys.readouterr().out
    assert "policy 'base_stock'" in out and "store_1" in out and "±" in out
    with pytest.raises(SystemExit):
        main(["--scenario", "nope"])


def test_a_scenario_named_like_a_preset_never_overwrites_its_record(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("HMARL_RESULTS", str(tmp_path))
    preset = get_scenario("default")
    mine = get_scenario("default", horizon=60)  # name "default", not the preset
    assert tuned_path(preset).name == "default.json"
    assert tuned_path(mine).name.startswith("default-") and tuned_path(mine) != (
        tuned_path(preset)
    )
    # a preset whose record is stale (the preset changed) says so
    tuned_path(preset).parent.mkdir(parents=True)
    tuned_path(preset).write_text(json.dumps({"fingerprint": "0" * 16, "params": {}}))
    with pytest.raises(ValueError, match="tuned for a different 'default' scenario"):
        load_tuned(preset)


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 65, "a b"])
def test_scenario_names_cannot_become_unsafe_paths(name):
    with pytest.raises(ValueError, match="scenario.name"):
        get_scenario("default").replace(name=name)


@pytest.mark.slow  # some 150 evaluations: the fast suite stays about a minute
def test_per_node_tuning_fits_each_warehouse_of_a_three_level_tree(
    monkeypatch, tmp_path
):
    """One (s, S) for the central warehouse and the regional ones fits
    neither; tuned node by node, the central warehouse's reward rises and
    each node acts with its own parameters."""
    from pathlib import Path

    from baselines.tune import tune

    monkeypatch.setenv("HMARL_RESULTS", str(tmp_path))
    # coarser grids than the defaults (CI time): wide enough for the
    # central warehouse's own (s, S) to differ from the regional ones'
    grids = {
        "store": {
            "cover_offset": [-1.0, 0.0, 1.0],
            "safety_factor": [0.5, 1.5, 2.5, 3.5],
        },
        "warehouse": {"s_days": [2, 4, 6, 8, 10], "gap_days": [0, 2, 4, 8]},
    }
    root = Path(__file__).resolve().parent.parent
    sc = get_scenario(root / "examples" / "three_level.toml")
    shared = tune(sc, episodes=2, held_out=8, grids=grids)
    own = tune(sc, episodes=2, held_out=8, per="node", grids=grids)
    assert own["training"]["grids"]["warehouse"]["s_days"] == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert "nodes" not in shared["params"]
    assert set(own["params"]["nodes"]) == set(sc.node_names)
    central = {r["held_out"]["per_agent"]["warehouse_1"]["tuned"] for r in (shared,)}
    assert own["held_out"]["per_agent"]["warehouse_1"]["tuned"] > max(central)
    policies = make_policies(sc, "tuned", own["params"])
    for name in ("warehouse_1", "warehouse_2"):
        mine = own["params"]["nodes"][name]
        mean = float(sc.mean_demand[sc.node_names.index(name)])
        assert policies[name].s == pytest.approx(mine["s_days"] * mean)
        assert policies[name].S == pytest.approx(mine["S_days"] * mean)
    with pytest.raises(ValueError, match="per must be 'role' or 'node'"):
        tune(sc, episodes=2, held_out=2, per="agent")


def test_tuning_grids_from_the_command_line_and_a_file(tmp_path):
    from baselines.tune import grids_from, parse_grid_options

    path = tmp_path / "grids.toml"
    path.write_text(
        "[warehouse]\ns_days = [3, 1, 2, 2]\n[store]\nsafety_factor = [1]\n"
    )
    changes = parse_grid_options(["store.safety_factor=0.5,2"], str(path))
    grids = grids_from(changes)
    assert grids["warehouse"]["s_days"] == [1.0, 2.0, 3.0]  # sorted, once each
    assert grids["store"]["safety_factor"] == [0.5, 2.0]  # the option wins
    assert grids["store"]["cover_offset"] == [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    bad = [
        ({"store": {"safty_factor": [1]}}, "did you mean 'safety_factor'"),
        ({"shop": {"x": [1]}}, "no role 'shop'"),
        ({"store": {"safety_factor": []}}, "grids.store.safety_factor is empty"),
        ({"warehouse": {"gap_days": [-1]}}, "grids.warehouse.gap_days: -1 is negative"),
        ({"store": {"cover_offset": [float("nan")]}}, "is not a finite number"),
    ]
    for changes, message in bad:
        with pytest.raises(ValueError, match=message):
            grids_from(changes)
    with pytest.raises(ValueError, match="'x' is not a number"):
        parse_grid_options(["store.safety_factor=1,x"])
    with pytest.raises(ValueError, match="write role.parameter=v1,v2"):
        parse_grid_options(["safety_factor=1"])
    from baselines.tune import main

    with pytest.raises(SystemExit):
        main(["--grid", "store.safty_factor=1", "--episodes", "2", "--held-out", "2"])
