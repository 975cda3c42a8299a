"""Other MARL libraries: the stores-only view, and each recipe's short training.

The recipes need the optional extras (``pip install -e ".[integrations]"``,
which CI installs); a recipe whose library is missing is skipped with the
install command as the reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from baselines.evaluate import evaluate
from baselines.policies import make_policies
from hmarl_env import get_scenario, parallel_env
from hmarl_env.seeding import HELD_OUT_SEED
from hmarl_env.wrappers import StoresOnlyEnv


def _stores_only(scenario="default", kind="tuned"):
    base = parallel_env(scenario)
    return StoresOnlyEnv(base, make_policies(base.scenario, kind))


# ------------------------------------------------------------ the wrapper
@pytest.mark.parametrize("scenario", ["default", "four_stores", "backorder"])
def test_stores_only_passes_the_parallel_api_test(scenario):
    env = _stores_only(scenario)
    parallel_api_test(env, num_cycles=120)
    assert env.possible_agents == [a for a in env.possible_agents if "store" in a]
    assert env.shares_spaces


def test_stores_only_equals_the_full_env_with_the_heuristics_inside():
    """Same seed, same store actions: the same rewards, observations and infos
    as the full env stepped with the heuristics for warehouse and supplier."""
    sc = get_scenario("default")
    rules = make_policies(sc, "tuned")
    wrapped, full = _stores_only(), parallel_env(sc)
    obs_w, _ = wrapped.reset(seed=5)
    obs_f, _ = full.reset(seed=5)
    rng = np.random.default_rng(0)
    while full.agents:
        store_actions = {a: int(rng.integers(4)) for a in wrapped.agents}
        actions = dict(store_actions)
        for a in ("warehouse_1", "supplier_1"):
            actions[a] = int(rules[a](obs_f[a][None])[0])
        obs_w, rew_w, _, trunc_w, info_w = wrapped.step(store_actions)
        obs_f, rew_f, _, _, info_f = full.step(actions)
        for a in obs_w:
            assert rew_w[a] == rew_f[a] and info_w[a] == info_f[a]
            np.testing.assert_array_equal(obs_w[a], obs_f[a])
        assert wrapped.inner_rewards["warehouse_1"] == rew_f["warehouse_1"]
    assert all(trunc_w.values()) and wrapped.agents == []


def test_stores_only_names_what_is_wrong():
    base = parallel_env("default")
    with pytest.raises(ValueError, match=r"missing \['supplier_1'\]"):
        StoresOnlyEnv(base, {"warehouse_1": lambda obs: obs[:, 0]})
    env = _stores_only()
    with pytest.raises(RuntimeError, match="before reset"):
        env.step({"store_1": 0, "store_2": 0})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="every store once"):
        env.step({"store_1": 0})
    with pytest.raises(ValueError, match="store_2"):
        env.step({"store_1": 0, "store_2": 9})


# ------------------------------------------------------------ the recipes
def _evaluable(policy, scenario="default"):
    """The recipe's store policy acts in the baselines' evaluator."""
    from experiments.recipes._report import with_heuristics

    sc = get_scenario(scenario)
    df = evaluate(sc, with_heuristics(sc, policy), episodes=8, seed=HELD_OUT_SEED)
    stores = df[df["role"] == "store"]
    assert len(stores) == 16 and np.isfinite(stores["episode_reward"]).all()
    obs = np.random.default_rng(0).uniform(0, 2, size=(32, 8)).astype(np.float32)
    actions = policy(obs)
    assert actions.shape == (32,) and actions.dtype == np.int64
    assert ((0 <= actions) & (actions < 4)).all()
    return stores


def test_sb3_recipe_trains_and_evaluates():
    pytest.importorskip("stable_baselines3", reason='pip install -e ".[sb3]"')
    pytest.importorskip("supersuit", reason='pip install -e ".[sb3]"')
    import torch

    from experiments.recipes.sb3_ppo import SB3Policy, train

    model = train("default", timesteps=512, seed=0, copies=2, n_steps=128, n_epochs=1)
    assert model.num_timesteps >= 512
    before = train("default", timesteps=0, seed=0, copies=2, n_steps=128, n_epochs=1)
    moved = any(
        not torch.equal(a, b)
        for a, b in zip(
            model.policy.state_dict().values(),
            before.policy.state_dict().values(),
            strict=True,
        )
    )
    assert moved  # PPO updated the network
    _evaluable(SB3Policy(model))


def test_torchrl_recipe_groups_agents_by_role_and_trains():
    pytest.importorskip("torchrl", reason='pip install -e ".[torchrl]"')
    from experiments.recipes.torchrl_ppo import make_env, store_policy, train

    env = make_env(get_scenario("default"))
    assert env.group_map == {
        "store": ["store_1", "store_2"],
        "warehouse": ["warehouse_1"],
        "supplier": ["supplier_1"],
    }
    rollout = env.rollout(3)
    assert rollout["store", "observation"].shape == (3, 2, 8)
    assert rollout["warehouse", "observation"].shape == (3, 1, 6)
    net = train("default", frames=512, frames_per_batch=256, epochs=1)
    _evaluable(store_policy(net))


def test_benchmarl_recipe_trains_and_evaluates(tmp_path):
    pytest.importorskip("benchmarl", reason='pip install -e ".[benchmarl]"')
    from experiments.recipes.benchmarl_ippo import run, store_policy

    experiment = run(
        "default", frames=600, frames_per_batch=300, envs=2, folder=tmp_path / "bm"
    )
    assert experiment.total_frames >= 600
    assert list((tmp_path / "bm").rglob("*.csv"))  # its logs, where it was told
    assert experiment.group_map == {"store": ["store_1", "store_2"]}
    _evaluable(store_policy(experiment))


def test_recipes_refuse_an_unknown_scenario():
    pytest.importorskip("stable_baselines3")
    pytest.importorskip("supersuit")
    from experiments.recipes import sb3_ppo

    assert sb3_ppo.main(["--scenario", "nowhere", "--timesteps", "1"]) == 2
