"""The batched env runner against the PettingZoo env it replaces.

Each test builds RLlib's config of phase 1 and a :class:`BatchedEnvRunner` in
this process (no Ray cluster), samples whole episodes, then replays every
replica's episode in a PettingZoo env drawing from the same generator, with
the stores' sampled actions and the tuned heuristics acting for the other
agents: observations, rewards, the global state and the KPIs must be equal.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray")

from analysis.runs.loading import OWN_KEY, STATE_KEY  # noqa: E402
from analysis.runs.settings import PHASES, PPOSettings, RunnerSettings  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from experiments.batched_runner import (  # noqa: E402
    BatchedEnvRunner,
    replica_generators,
)
from experiments.common import build_config  # noqa: E402
from experiments.kpis import episode_kpis  # noqa: E402
from hmarl_env import get_scenario, parallel_env  # noqa: E402
from hmarl_env.registry import role_of  # noqa: E402

SEED = 7


def make_runner(scenario, replicas=3, critic="local", runner_index=None):
    config = build_config(
        scenario,
        PHASES["phase1"],
        PPOSettings(critic=critic, train_batch_size=60, minibatch_size=30),
        RunnerSettings(0, replicas, "batched"),
        seed=SEED,
    )
    return BatchedEnvRunner(config=config, worker_index=runner_index)


def replay(scenario, episodes, replica, runner=0, central=False):
    """Play one replica's episode in the PettingZoo env: the stores' actions
    from the episodes, the others' from their tuned heuristics; returns
    per store the observations, rewards (and states) seen, and the infos."""
    env = parallel_env(scenario)
    env.reset(seed=0)
    env._rng = replica_generators(SEED, runner, replica + 1)[replica]
    obs, _ = env.reset()
    heuristics = make_policies(scenario, "tuned")
    mine = {e.agent_id: e for e in episodes}
    seen = {a: {"obs": [obs[a]], "rewards": [], "state": [env.state()]} for a in mine}
    infos_all = []
    t = 0
    while env.agents:
        actions = {}
        for a in env.agents:
            if a in mine:
                actions[a] = int(mine[a].get_actions(t))
            else:
                actions[a] = int(heuristics[a](obs[a][None])[0])
        obs, rewards, _, _, infos = env.step(actions)
        infos_all.append(infos)
        for a in mine:
            seen[a]["obs"].append(obs[a])
            seen[a]["rewards"].append(rewards[a])
            seen[a]["state"].append(env.state())
        t += 1
    return seen, infos_all


class _Infos:
    """An episode chunk as :func:`episode_kpis` reads it."""

    def __init__(self, infos):
        self._infos = infos

    def get_infos(self):
        agents = self._infos[0]
        return {a: [i[a] for i in self._infos] for a in agents}


@pytest.mark.parametrize(
    "name", ["default", "four_stores", "serial", "backorder", "seasonal", "hierarchy"]
)
def test_episodes_equal_the_pettingzoo_env(name):
    scenario = get_scenario(name)
    runner = make_runner(scenario)
    try:
        chunks = runner.sample(num_episodes=3)
        metrics = runner.get_metrics()
    finally:
        runner.stop()
    stores = [
        a for a in parallel_env(scenario).possible_agents if role_of(a).name == "store"
    ]
    # every store of every replica: one chunk of the whole horizon
    assert len(chunks) == 3 * len(stores)
    assert {c.module_id for c in chunks} == {"store"}
    assert all(c.is_truncated and not c.is_terminated for c in chunks)
    assert all(len(c) == scenario.horizon for c in chunks)
    by_replica = {}
    for c in chunks:
        by_replica.setdefault(c.multi_agent_episode_id, []).append(c)
    assert len(by_replica) == 3
    kpis = []
    for replica, eps in enumerate(by_replica.values()):
        seen, infos = replay(scenario, eps, replica)
        for e in eps:
            n = len(e)
            np.testing.assert_array_equal(
                e.get_observations(slice(0, n + 1)), np.array(seen[e.agent_id]["obs"])
            )
            np.testing.assert_array_equal(
                e.get_rewards(slice(0, n)), np.array(seen[e.agent_id]["rewards"])
            )
            logp = e.get_extra_model_outputs("action_logp", slice(0, n))
            assert np.all(np.isfinite(logp)) and np.all(logp <= 0)
        kpis.append(episode_kpis([_Infos(infos)]))
    for key, value in metrics["kpi"].items():
        assert float(value) == pytest.approx(np.mean([k[key] for k in kpis]), rel=1e-9)
    assert float(metrics["num_env_steps_sampled"]) == 3 * scenario.horizon
    assert float(metrics["num_episodes"]) == 3


def test_central_critic_episodes_carry_the_global_state():
    scenario = get_scenario("default")
    runner = make_runner(scenario, replicas=2, critic="central")
    try:
        chunks = runner.sample(num_episodes=2)
    finally:
        runner.stop()
    by_replica = {}
    for c in chunks:
        by_replica.setdefault(c.multi_agent_episode_id, []).append(c)
    for replica, eps in enumerate(by_replica.values()):
        seen, _ = replay(scenario, eps, replica)
        for e in eps:
            obs = e.get_observations(slice(0, len(e) + 1))
            np.testing.assert_array_equal(
                obs[OWN_KEY], np.array(seen[e.agent_id]["obs"])
            )
            np.testing.assert_array_equal(
                obs[STATE_KEY], np.array(seen[e.agent_id]["state"], dtype=np.float32)
            )


def test_fragments_continue_episodes_and_are_cut_at_the_horizon():
    scenario = get_scenario("default")
    runner = make_runner(scenario, replicas=2)
    try:
        first = runner.sample(num_timesteps=2 * 60)  # 60 periods each
        second = runner.sample(num_timesteps=2 * 60)  # 40, then 20 of the next
    finally:
        runner.stop()
    assert {len(c) for c in first} == {60} and not any(c.is_done for c in first)
    assert all(c.t_started == 0 for c in first)
    lengths = sorted((c.t_started, len(c), c.is_truncated) for c in second)
    assert lengths == [(0, 20, False)] * 4 + [(60, 40, True)] * 4
    # a chunk continues its episode: its first observation is the last one's
    cont = {(c.agent_id, c.multi_agent_episode_id.rsplit("_", 1)[0]): c for c in second}
    for c in first:
        nxt = cont[(c.agent_id, c.multi_agent_episode_id.rsplit("_", 1)[0])]
        np.testing.assert_array_equal(c.get_observations(-1), nxt.get_observations(0))


def test_seeding_is_reproducible_and_distinct_per_runner_and_replica():
    a = [g.random() for g in replica_generators(3, 1, 4)]
    b = [g.random() for g in replica_generators(3, 1, 4)]
    c = [g.random() for g in replica_generators(3, 2, 4)]
    assert a == b and len(set(a + c)) == 8
    # no replica stream is an integer seed's (held-out and monitoring episodes)
    ints = {np.random.default_rng(s).random() for s in range(0, 5)}
    assert not ints & set(a + c)
    scenario = get_scenario("default")
    episodes = []
    for _ in range(2):
        runner = make_runner(scenario, replicas=2, runner_index=1)
        try:
            episodes.append(runner.sample(num_episodes=2))
        finally:
            runner.stop()
    for x, y in zip(*episodes, strict=True):
        np.testing.assert_array_equal(
            x.get_observations(slice(0, len(x) + 1)),
            y.get_observations(slice(0, len(y) + 1)),
        )


def test_random_actions_are_refused_with_the_way_out():
    runner = make_runner(get_scenario("default"), replicas=1)
    try:
        with pytest.raises(ValueError, match="pettingzoo"):
            runner.sample(num_timesteps=10, random_actions=True)
    finally:
        runner.stop()


def test_unknown_env_runner_is_refused():
    with pytest.raises(ValueError, match="env_runner must be one of"):
        RunnerSettings(env_runner="fast")


def test_chunks_are_what_rllibs_constructor_makes():
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode
    from ray.rllib.env.utils.infinite_lookback_buffer import (
        InfiniteLookbackBuffer as Buffer,
    )

    from experiments.batched_runner import _chunk

    obs = np.arange(12, dtype=np.float32).reshape(4, 3)
    actions, rewards = np.array([1, 0, 2]), np.array([0.5, -1.0, 2.0])
    logp = np.log(np.array([0.2, 0.5, 0.9]))
    fast = _chunk(
        obs, actions, rewards, {"action_logp": logp}, "store_1", "store", "e_5", 5, True
    )
    slow = SingleAgentEpisode(
        observations=Buffer(obs),
        infos=Buffer([{}] * 4),
        actions=Buffer(actions),
        rewards=Buffer(rewards),
        extra_model_outputs={"action_logp": Buffer(logp)},
        truncated=True,
        t_started=5,
        len_lookback_buffer=0,
        agent_id="store_1",
        module_id="store",
        multi_agent_episode_id="e_5",
    )
    fast.validate()
    # every slot the constructor sets, set alike (a Ray upgrade that adds one
    # fails here, not in training)
    for slot in SingleAgentEpisode.__slots__:
        if slot == "id_":
            continue
        a, b = getattr(fast, slot), getattr(slow, slot)
        if slot in ("observations", "infos", "actions", "rewards"):
            assert a.lookback == b.lookback and a.finalized == b.finalized
            np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))
        elif slot == "extra_model_outputs":
            assert a.keys() == b.keys()
            np.testing.assert_array_equal(a["action_logp"].data, b["action_logp"].data)
        else:
            assert a == b, slot
    assert len(fast) == len(slow) == 3 and fast.t == slow.t == 8
    np.testing.assert_array_equal(fast.get_observations(-1), obs[-1])


@pytest.mark.parametrize(
    "head, critic, shared",
    [
        ("categorical", "local", False),
        ("ordinal", "local", False),
        ("normal", "local", False),
        ("categorical", "local", True),
        ("categorical", "central", False),
    ],
)
def test_acting_takes_the_modules_own_logits_and_rllibs_draws(head, critic, shared):
    """The runner's actor-only forward pass gives the module's exploration
    logits, and its draws and log-probabilities are RLlib's categorical ones
    under the same torch seed."""
    import torch
    from ray.rllib.core.columns import Columns

    from experiments.batched_runner import sample_categorical
    from experiments.heads import actor_logits

    config = build_config(
        get_scenario("default"),
        PHASES["phase1"],
        PPOSettings(
            critic=critic,
            policy_head=head,
            vf_share_layers=shared,
            train_batch_size=60,
            minibatch_size=30,
        ),
        RunnerSettings(0, 2, "batched"),
        seed=SEED,
    )
    runner = BatchedEnvRunner(config=config)
    try:
        module = runner.module["store"]
        module.eval()
        width = runner._rollout.roles.slices["store_1"]
        obs = torch.from_numpy(
            np.random.default_rng(0).normal(size=(50, width.stop - width.start))
        ).float()
        with torch.no_grad():
            want = module._forward_exploration({Columns.OBS: obs})[
                Columns.ACTION_DIST_INPUTS
            ]
            got = actor_logits(module, obs)
            torch.testing.assert_close(got, want, rtol=0, atol=0)
            dist = module.get_exploration_action_dist_cls().from_logits(want)
            torch.manual_seed(3)
            rllib = dist.sample()
            torch.manual_seed(3)
            acts, logp = sample_categorical(got)
        assert torch.equal(acts, rllib)
        torch.testing.assert_close(logp, dist.logp(rllib), rtol=0, atol=0)
    finally:
        runner.stop()


def test_episode_metrics_are_what_rllibs_runner_logs():
    """The runner logs each ended episode's metrics as RLlib's own
    ``_log_episode_metrics`` does (same keys, reductions and windows)."""
    from types import SimpleNamespace

    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
    from ray.rllib.utils.metrics import EPISODE_DURATION_SEC_MEAN
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    scenario = get_scenario("four_stores")
    runner = make_runner(scenario, replicas=3)
    try:
        runner.sample(num_episodes=3)
        got = runner.get_metrics()
        returns = runner._returns.copy()
        agents = runner._rollout.agents
        groups = {g.mid: g.columns for g in runner._groups}
        stub = SimpleNamespace(config=runner.config, metrics=MetricsLogger())
    finally:
        runner.stop()
    for b in range(3):
        MultiAgentEnvRunner._log_episode_metrics(
            stub,
            scenario.horizon,
            float(returns[b].sum()),
            0.0,
            dict(zip(agents, returns[b].tolist(), strict=True)),
            {mid: float(returns[b, cols].sum()) for mid, cols in groups.items()},
            dict.fromkeys(agents, scenario.horizon),
        )
    want = stub.metrics.reduce()
    want.pop(EPISODE_DURATION_SEC_MEAN)
    assert EPISODE_DURATION_SEC_MEAN in got
    for key, value in want.items():
        if isinstance(value, dict):
            assert set(got[key]) == set(value), key
            for k, v in value.items():
                assert float(got[key][k]) == pytest.approx(float(v), rel=1e-12), key
        else:
            assert float(got[key]) == pytest.approx(float(value), rel=1e-12), key
