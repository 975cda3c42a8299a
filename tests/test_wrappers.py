"""PaddedEnv and WithoutInfos: the full env in the shapes other libraries want."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test
from pettingzoo.utils.conversions import parallel_to_aec

from hmarl_env import parallel_env
from hmarl_env.wrappers import PaddedEnv, WithoutInfos


@pytest.mark.parametrize("scenario", ["default", "hierarchy", "four_stores"])
def test_padded_env_passes_pettingzoos_tests(scenario):
    """Its own tests sample actions by the masks the observations carry."""
    parallel_api_test(PaddedEnv(parallel_env(scenario)), num_cycles=150)
    api_test(parallel_to_aec(PaddedEnv(parallel_env(scenario))))


def _masked_actions(obs, rng):
    return {
        a: int(rng.choice(np.flatnonzero(o["action_mask"]))) for a, o in obs.items()
    }


@pytest.mark.parametrize("scenario", ["default", "hierarchy"])
def test_padded_env_is_the_full_env_padded(scenario):
    padded, full = PaddedEnv(parallel_env(scenario)), parallel_env(scenario)
    agents = full.possible_agents
    obs_p, _ = padded.reset(seed=3)
    obs_f, _ = full.reset(seed=3)
    width = max(full.observation_space(a).shape[0] for a in agents)
    space = padded.observation_space(agents[0])
    assert all(padded.observation_space(a) is space for a in agents)
    assert padded.action_space("store_1").n == max(
        full.action_space(a).n for a in agents
    )
    rng = np.random.default_rng(0)
    while full.agents:
        for i, a in enumerate(agents):
            x, mask = obs_p[a]["observation"], obs_p[a]["action_mask"]
            own = obs_f[a].shape[0]
            np.testing.assert_array_equal(x[:own], obs_f[a])
            assert not x[own:width].any()  # padding
            assert x[width:].tolist() == [float(j == i) for j in range(len(agents))]
            assert mask.tolist() == [
                int(k < full.action_space(a).n) for k in range(mask.shape[0])
            ]
            assert space.contains(obs_p[a])
        actions = _masked_actions(obs_p, rng)
        obs_p, rew_p, _, trunc_p, info_p = padded.step(actions)
        obs_f, rew_f, _, _, info_f = full.step(actions)
        assert rew_p == rew_f and info_p == info_f
        np.testing.assert_array_equal(padded.state(), full.state())
    assert all(trunc_p.values()) and padded.agents == []


def test_a_padding_action_is_refused_and_changes_nothing():
    padded, full = PaddedEnv(parallel_env("default")), parallel_env("default")
    padded.reset(seed=1)
    full.reset(seed=1)
    actions = {"store_1": 1, "store_2": 2, "warehouse_1": 1, "supplier_1": 3}
    with pytest.raises(ValueError, match=r"supplier_1 has 3 actions \(0\.\.2\)"):
        padded.step(actions)
    actions["supplier_1"] = 0
    _, rew_p, *_ = padded.step(actions)
    _, rew_f, *_ = full.step(actions)
    assert rew_p == rew_f  # the refused step moved nothing
    with pytest.raises(ValueError, match="store_1"):  # out of every range: the env's
        padded.step({**actions, "store_1": 7})


def test_padded_env_wraps_the_full_env_only():
    with pytest.raises(TypeError, match="wraps a SupplyChainEnv"):
        PaddedEnv(PaddedEnv(parallel_env("default")))


def test_padded_env_in_tianshou():
    """Tianshou's own multi-agent wrapper takes it and reads the masks."""
    pytest.importorskip("tianshou", reason="pip install tianshou (it needs pandas<3)")
    from tianshou.env import PettingZooEnv

    env = PettingZooEnv(parallel_to_aec(PaddedEnv(parallel_env("hierarchy"))))
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(4 * 100):
        assert obs["agent_id"] in env.agents
        seen[obs["agent_id"]] = sum(obs["mask"])
        obs, rewards, terminated, truncated, _ = env.step(
            int(rng.choice(np.flatnonzero(obs["mask"])))
        )
        assert len(rewards) == 4
        if terminated or truncated:
            break
    assert truncated
    assert seen == {"store_1": 4, "store_2": 4, "warehouse_1": 4, "supplier_1": 5}


def test_without_infos_keeps_everything_else():
    bare, full = WithoutInfos(parallel_env("default")), parallel_env("default")
    obs_b, info_b = bare.reset(seed=2)
    obs_f, _ = full.reset(seed=2)
    assert info_b == {a: {} for a in full.possible_agents}
    actions = {a: 1 for a in full.possible_agents}
    obs_b, rew_b, _, _, info_b = bare.step(actions)
    obs_f, rew_f, _, _, _ = full.step(actions)
    assert rew_b == rew_f and all(v == {} for v in info_b.values())
    for a in obs_f:
        np.testing.assert_array_equal(obs_b[a], obs_f[a])
    np.testing.assert_array_equal(bare.state(), full.state())


def test_scaled_rewards_are_the_envs_divided_by_the_scenarios_scale():
    from pettingzoo.test import parallel_api_test

    import hmarl_env
    from hmarl_env.rewards import reward_scales
    from hmarl_env.wrappers import ScaledRewards

    base = hmarl_env.parallel_env("default")
    env = ScaledRewards(base, gamma=0.99)
    scales = reward_scales(base.scenario)
    # min(horizon 100, 1 / (1 - gamma) = 100)
    assert env.scales == pytest.approx({a: s * 100.0 for a, s in scales.items()})
    env.reset(seed=0)
    _, rewards, _, _, _ = env.step({a: 1 for a in env.agents})
    for agent, reward in rewards.items():
        assert reward == pytest.approx(env.raw_rewards[agent] / env.scales[agent])
    parallel_api_test(ScaledRewards(hmarl_env.parallel_env("default")), num_cycles=20)
    with pytest.raises(ValueError, match="gamma must be in"):
        ScaledRewards(base, gamma=1.0)


def test_scaled_rewards_centre_on_the_last_episodes_mean_per_role():
    import numpy as np

    import hmarl_env
    from hmarl_env.wrappers import ScaledRewards

    env = ScaledRewards(hmarl_env.parallel_env("default", horizon=10), centring=1.0)
    means = []
    for episode in range(2):
        env.reset(seed=episode)
        got = []
        while env.agents:
            _, rewards, _, _, _ = env.step({a: 1 for a in env.agents})
            got.append(rewards["store_1"])
            raw = env.raw_rewards["store_1"] / env.scales["store_1"]
            assert rewards["store_1"] == pytest.approx(
                raw - (means[-1] if means else 0)
            )
        means.append(env.centres["store"].value)
    assert means[0] is not None and np.isfinite(means[0])
