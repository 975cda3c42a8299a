"""An RLlib env runner that steps every replica of the chain at once.

RLlib's ``MultiAgentEnvRunner`` steps a vector of PettingZoo envs one by one
and keeps a ``MultiAgentEpisode`` per env, paying Python bookkeeping for every
agent of every env at every step: profiled on the default chain, the env's own
``step`` was 6% of its sampling time. :class:`BatchedEnvRunner` holds the
runner's ``B`` replicas (``num_envs_per_env_runner``) in one
:class:`hmarl_env.rollout.Rollout`, the batched core that the PettingZoo env
(``B = 1``) and the evaluator share, and at each period

1. observes every replica at once, ``(B, D)``;
2. runs every RLModule once on all the rows of its agents (the stores'
   shared module on ``B x stores`` rows): learned modules sample from their
   action distribution (or take its mode when not exploring), heuristic
   modules act by their rule;
3. steps all replicas in one call and keeps observations, actions,
   log-probabilities, distribution inputs and rewards in arrays.

When a fragment ends (RLlib's ``rollout_fragment_length`` periods, or the
horizon) the arrays become RLlib ``SingleAgentEpisode`` chunks, one per
replica and agent of each *trained* module (frozen and heuristic modules need
no training data), tagged with their agent, module and episode, which is
what RLlib's learner connectors group by: hmarl's reward scaling and
centring, GAE (a chunk cut before the horizon is bootstrapped, the horizon
is a truncation, never a termination), the PPO loss, checkpoints, resume and
restores work unchanged. Rewards stay in the scenario's units.

Metrics are RLlib's (``num_env_steps_sampled``, per-agent and per-module
episode returns, episode length) plus the stores' KPIs of
:class:`experiments.common.KPICallback`, computed from the period tables by
:func:`experiments.kpis.store_kpis`, the rule the callback applies to infos.
RLlib's per-episode callbacks (``on_episode_start`` / ``step`` / ``end``) are
not called: there are no ``MultiAgentEpisode`` objects; ``on_sample_end`` is.

Seeding: replica ``e`` of env runner ``r`` (``r = 0`` for the driver's own
runner, remote runners ``1, 2, ...``) draws from
``numpy.random.default_rng([seed, r + 1, e + 1])`` for its whole life, one
episode after another, as a PettingZoo env keeps its generator across
``reset()`` calls. Every replica of a run has its own stream (RLlib's
PettingZoo path seeds env ``e`` of runner ``r`` with ``seed + r + e``, so two
runners share most of their demand), and none is the stream of an integer
seed below 2**32, as the held-out and monitoring episodes' are.

The observations, rewards, global state and KPIs of a replica equal the
PettingZoo env's for the same generator and actions
(``tests/test_batched_runner.py``). On a scenario family (env config
``family``) each replica plays its own instance, a new one every episode,
through :class:`hmarl_env.family_env.FamilyRollout` (the same observations
and scaled rewards as :class:`hmarl_env.family_env.FamilyEnv`).
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.utils.metrics import (
    EPISODE_AGENT_RETURN_MEAN,
    EPISODE_AGENT_STEPS,
    EPISODE_DURATION_SEC_MEAN,
    EPISODE_LEN_MAX,
    EPISODE_LEN_MEAN,
    EPISODE_LEN_MIN,
    EPISODE_MODULE_RETURN_MEAN,
    EPISODE_RETURN_MAX,
    EPISODE_RETURN_MEAN,
    EPISODE_RETURN_MIN,
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
)

from analysis.runs.loading import OWN_KEY, STATE_KEY
from experiments.heads import actor_logits
from experiments.kpis import KPI_FIELDS, KPI_WINDOW, store_kpis
from hmarl_env.family_env import FamilyRollout
from hmarl_env.observations import observation_layouts
from hmarl_env.registry import role_of
from hmarl_env.rewards import table_columns
from hmarl_env.rollout import Rollout
from hmarl_env.scenario import scenario_from_dict

__all__ = ["BatchedEnvRunner", "replica_generators"]

#: the infos of a chunk's steps (the ledger's rows reach metrics as KPIs)
_NO_INFO: dict = {}


def replica_generators(seed: int | None, runner: int, replicas: int) -> list:
    """The generators of a runner's replicas: ``default_rng([seed, runner + 1,
    e + 1])`` for replica ``e`` (fresh entropy where ``seed`` is ``None``)."""
    if seed is None:
        return [np.random.default_rng() for _ in range(replicas)]
    return [
        np.random.default_rng([int(seed), runner + 1, e + 1]) for e in range(replicas)
    ]


class _Group:
    """The agents of one module and the columns they act and observe in."""

    def __init__(self, mid: str, agents: list[str], rollout: Rollout) -> None:
        self.mid = mid
        self.agents = agents
        self.columns = [rollout.agents.index(a) for a in agents]
        self.slices = [rollout.roles.slices[a] for a in agents]


class BatchedEnvRunner(MultiAgentEnvRunner):
    """RLlib's multi-agent env runner over hmarl's batched core (see the
    module's docstring). ``num_envs_per_env_runner`` is the number of
    replicas; the env config is hmarl's (:func:`experiments.common.env_creator`)."""

    # ------------------------------------------------------------------ setup
    def make_env(self) -> None:
        """RLlib's vector env of one PettingZoo env (for the spaces and checks
        RLlib derives from an env), and the replicas in one :class:`Rollout`."""
        replicas = self.config.num_envs_per_env_runner
        self.config.num_envs_per_env_runner = 1
        try:
            super().make_env()
        finally:
            self.config.num_envs_per_env_runner = replicas
        self.num_envs = replicas
        env_config = self.config.env_config
        if env_config.get("family"):  # every replica its own instance
            self._rollout = FamilyRollout(
                env_config["family"],
                replicas,
                **observation_layouts(env_config),
                units=env_config.get("family_units", "scenario"),
            )
            self._horizon = self._rollout.horizon
        else:
            scenario = scenario_from_dict(env_config["scenario"])
            self._rollout = Rollout(
                scenario, replicas, **observation_layouts(env_config)
            )
            self._horizon = scenario.horizon
        self._central = env_config.get("critic", "local") == "central"
        #: every agent's observation side by side (``Rollout.observe``'s width)
        self._obs_width = max(sl.stop for sl in self._rollout.roles.slices.values())
        self._rngs = replica_generators(
            self.config.seed, self.worker_index or 0, replicas
        )
        by_module: dict[str, list[str]] = defaultdict(list)
        mapping = self.config.policy_mapping_fn  # the phase's (ModuleMapping)
        for agent in self._rollout.agents:
            by_module[mapping(agent, None)].append(agent)
        self._groups = [_Group(m, a, self._rollout) for m, a in by_module.items()]
        # the stores' node indices: the KPIs' columns of the period tables
        node_of = self._rollout.roles.node_of
        self._store_nodes = [
            node_of[a] for a in self._rollout.agents if role_of(a).name == "store"
        ]
        self._t = -1  # the period the replicas are at; -1: not reset yet
        self._episode_ids: list[str] = []
        self._returns = np.zeros((replicas, len(self._rollout.agents)))
        self._kpi_rows: list[np.ndarray] = []
        self._started = time.perf_counter()

    def _trained(self, mid: str) -> bool:
        train = self.config.policies_to_train
        if train is None:
            return not hasattr(self.module[mid], "policy")
        if callable(train):
            return bool(train(mid, None))
        return mid in train

    def _reset(self) -> None:
        self._rollout.reset(self._rngs)
        self._t = 0
        self._episode_ids = [uuid.uuid4().hex for _ in range(self.num_envs)]
        self._returns[:] = 0.0
        self._kpi_rows = []
        self._started = time.perf_counter()

    # --------------------------------------------------------------- sampling
    def _sample(
        self,
        *,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> list[SingleAgentEpisode]:
        if random_actions:
            raise ValueError(
                "the batched env runner acts with its modules only; sample "
                "random actions with env_runner='pettingzoo'"
            )
        horizon = self._horizon
        if force_reset or num_episodes is not None or self._t < 0:
            self._reset()
        if num_episodes is not None:
            # whole episodes of every replica, at least num_episodes of them
            rounds = -(-num_episodes // self.num_envs)
            steps = rounds * horizon
        else:
            steps = -(-int(num_timesteps) // self.num_envs)
        out: list[SingleAgentEpisode] = []
        while steps > 0:
            if self._t >= horizon:
                self._reset()
            length = min(steps, horizon - self._t)
            out += self._fragment(length, explore)
            steps -= length
        return out

    def _fragment(self, length: int, explore: bool) -> list[SingleAgentEpisode]:
        """``length`` periods of every replica (not past the horizon), as
        episode chunks of the trained modules' agents."""
        rollout, B = self._rollout, self.num_envs
        horizon = self._horizon
        t0 = self._t
        trained = [g for g in self._groups if self._trained(g.mid)]
        obs = np.empty((length + 1, B, self._obs_width), np.float32)
        states = (
            np.empty((length + 1, B, rollout.roles.state_space.shape[0]), np.float32)
            if self._central and trained
            else None
        )
        actions = np.empty((length, B, len(rollout.agents)), np.int64)
        rewards = np.empty((length, B, len(rollout.agents)), np.float64)
        extras: dict[str, dict[str, np.ndarray]] = {g.mid: {} for g in trained}
        kpi_cols = []
        for k in range(length + 1):
            obs[k] = rollout.observe()
            if states is not None:
                states[k] = rollout.roles.state(rollout.sim)
            if k == length:
                break
            for g in self._groups:
                acts, outputs = self._act(g, obs[k], explore)
                actions[k][:, g.columns] = acts.reshape(len(g.agents), B).T
                for col, value in outputs.items():
                    if g in trained:
                        buf = extras[g.mid].setdefault(
                            col,
                            np.empty(
                                (length, len(g.agents) * B, *value.shape[1:]),
                                value.dtype,
                            ),
                        )
                        buf[k] = value
            period = rollout.step(actions[k])
            rewards[k] = period.rewards
            node, _ = table_columns(period.table, rollout.roles.n_nodes)
            kpi_cols.append(np.stack([node[f] for f in KPI_FIELDS], axis=-1))
        self._t += length
        done = self._t >= horizon
        self._returns += rewards.sum(axis=0)
        self._kpi_rows += kpi_cols
        self._log_steps(length)
        episodes = self._episodes(
            trained, obs, states, actions, rewards, extras, t0, done
        )
        if done:
            self._log_episodes(horizon)
        return episodes

    def _act(self, g: _Group, obs: np.ndarray, explore: bool):
        """Every row of module ``g``'s agents acts: ``(agents * B,)`` actions
        (agent-major) and the forward pass's outputs to keep."""
        rows = np.concatenate([obs[:, sl] for sl in g.slices], axis=0)
        return self._act_rows(g.mid, rows, explore)

    def _act_rows(self, mid: str, rows: np.ndarray, explore: bool):
        """Module ``mid`` acts on ``rows``: its actions and the forward
        pass's outputs to keep (none for heuristic modules)."""
        module = self.module[mid]
        if hasattr(module, "policy"):  # a heuristic module: its rule, no outputs
            return np.asarray(module.policy(rows)), {}
        if module.training:  # once: RLlib's forward_* set the mode every call
            module.eval()
        obs = torch.from_numpy(rows)
        with torch.no_grad():
            if explore and _categorical(module):
                logits = actor_logits(module, obs)
                acts, logp = sample_categorical(logits)
                return acts.numpy(), {
                    Columns.ACTION_DIST_INPUTS: logits.numpy(),
                    Columns.ACTION_LOGP: logp.numpy(),
                }
            batch = {Columns.OBS: obs}
            if explore:
                out = module._forward_exploration(batch)
                dist = module.get_exploration_action_dist_cls().from_logits(
                    out[Columns.ACTION_DIST_INPUTS]
                )
            else:
                out = module._forward_inference(batch)
                dist = (
                    module.get_inference_action_dist_cls()
                    .from_logits(out[Columns.ACTION_DIST_INPUTS])
                    .to_deterministic()
                )
            acts = dist.sample()
            kept = {
                Columns.ACTION_DIST_INPUTS: out[Columns.ACTION_DIST_INPUTS].numpy(),
                Columns.ACTION_LOGP: dist.logp(acts).numpy(),
            }
        return acts.numpy(), kept

    def _episodes(self, trained, obs, states, actions, rewards, extras, t0, done):
        """One chunk per replica and agent of each trained module. Chunks carry
        no spaces: RLlib's learner connectors read numpy buffers only."""
        out = []
        B = self.num_envs
        for g in trained:
            for j, (agent, col, sl) in enumerate(
                zip(g.agents, g.columns, g.slices, strict=True)
            ):
                own = obs[:, :, sl]
                for b in range(B):
                    row = j * B + b
                    observations = (
                        {OWN_KEY: own[:, b], STATE_KEY: states[:, b]}
                        if states is not None
                        else own[:, b]
                    )
                    out.append(
                        _chunk(
                            observations,
                            actions[:, b, col],
                            rewards[:, b, col],
                            {c: v[:, row] for c, v in extras[g.mid].items()},
                            agent,
                            g.mid,
                            f"{self._episode_ids[b]}_{t0}",
                            t0,
                            done,
                        )
                    )
        return out

    # ---------------------------------------------------------------- metrics
    def _log_steps(self, length: int) -> None:
        n = length * self.num_envs
        self.num_env_steps_sampled_lifetime += n
        m = self.metrics
        m.log_value(NUM_ENV_STEPS_SAMPLED, n, reduce="sum")
        m.log_value(
            NUM_ENV_STEPS_SAMPLED_LIFETIME,
            n,
            reduce="lifetime_sum",
            with_throughput=True,
        )
        for g in self._groups:
            for agent in g.agents:
                m.log_value((NUM_AGENT_STEPS_SAMPLED, agent), n, reduce="sum")
                m.log_value(
                    (NUM_AGENT_STEPS_SAMPLED_LIFETIME, agent), n, reduce="lifetime_sum"
                )
            m.log_value(
                (NUM_MODULE_STEPS_SAMPLED, g.mid), n * len(g.agents), reduce="sum"
            )
            m.log_value(
                (NUM_MODULE_STEPS_SAMPLED_LIFETIME, g.mid),
                n * len(g.agents),
                reduce="lifetime_sum",
            )

    def _log_episodes(self, horizon: int) -> None:
        """RLlib's episode metrics and the stores' KPIs of the ``B`` episodes
        that just ended. Each metric keeps a window of the latest episodes
        (RLlib's: 100 over all runners; the KPIs': 100 per runner), so only
        the last window's worth of replicas is logged: the same means, minima
        and maxima as logging every one."""
        B = self.num_envs
        m = self.metrics
        m.log_value(NUM_EPISODES, B, reduce="sum")
        m.log_value(NUM_EPISODES_LIFETIME, B, reduce="lifetime_sum")
        seconds = (time.perf_counter() - self._started) / B
        agents = self._rollout.agents
        returns = self._returns
        modules = {g.mid: returns[:, g.columns].sum(axis=1) for g in self._groups}
        window = max(
            1,
            math.ceil(
                self.config.metrics_num_episodes_for_smoothing
                / (self.config.num_env_runners or 1)
            ),
        )
        # what RLlib's _log_episode_metrics logs for each episode, one
        # log_value per metric and episode (its log_dict walks a tree each
        # time: a quarter of the sampling time with 64 replicas)
        last = range(max(0, B - window), B)
        total = [float(returns[b].sum()) for b in last]
        series: list[tuple[tuple | str, str, list[float]]] = [
            (EPISODE_LEN_MEAN, "mean", [horizon] * len(last)),
            (EPISODE_RETURN_MEAN, "mean", total),
            (EPISODE_DURATION_SEC_MEAN, "mean", [seconds] * len(last)),
        ]
        for j, agent in enumerate(agents):
            series.append(
                (
                    (EPISODE_AGENT_RETURN_MEAN, agent),
                    "mean",
                    [float(returns[b, j]) for b in last],
                )
            )
            series.append(((EPISODE_AGENT_STEPS, agent), "mean", [horizon] * len(last)))
        for mid, r in modules.items():
            series.append(
                ((EPISODE_MODULE_RETURN_MEAN, mid), "mean", [float(r[b]) for b in last])
            )
        for reduce, length, ret in (
            ("min", EPISODE_LEN_MIN, EPISODE_RETURN_MIN),
            ("max", EPISODE_LEN_MAX, EPISODE_RETURN_MAX),
        ):
            series.append((length, reduce, [horizon] * len(last)))
            series.append((ret, reduce, total))
        for b in range(len(last)):  # episode by episode, as RLlib logs them
            for key, reduce, values in series:
                m.log_value(key, values[b], reduce=reduce, window=window)
        kpis = store_kpis(np.stack(self._kpi_rows, axis=1)[:, :, self._store_nodes])
        for b in range(max(0, B - KPI_WINDOW), B):
            for key, values in kpis.items():
                m.log_value(
                    ("kpi", key), float(values[b]), reduce="mean", window=KPI_WINDOW
                )

    def get_metrics(self):
        # episodes are logged as they end; nothing is kept for later
        return self.metrics.reduce()


def _categorical(module) -> bool:
    """Whether ``module`` explores by RLlib's categorical distribution over
    its action distribution inputs (every hmarl PPO head does)."""
    return module.get_exploration_action_dist_cls() is TorchCategorical


def sample_categorical(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Actions drawn from the categorical distribution over ``logits`` and
    their log-probabilities: the draws and values of RLlib's
    ``TorchCategorical`` (``torch.distributions.Categorical``: the same
    normalisation, one ``torch.multinomial`` call on the same probabilities),
    without building the distribution objects."""
    log_pmf = logits - logits.logsumexp(dim=-1, keepdim=True)
    acts = torch.multinomial(torch.softmax(log_pmf, dim=-1), 1, True)
    return acts.squeeze(-1), log_pmf.gather(-1, acts).squeeze(-1)


def _buffer(data) -> InfiniteLookbackBuffer:
    """RLlib's buffer of an episode's column over ``data`` (a numpy array, a
    dict of them, or a list), no lookback, no space: what its constructor
    makes, without deriving a space's structure for every buffer."""
    buf = InfiniteLookbackBuffer.__new__(InfiniteLookbackBuffer)
    buf.data, buf.lookback, buf.finalized = data, 0, not isinstance(data, list)
    buf._space = buf._space_struct = None
    return buf


def _chunk(
    observations,
    actions,
    rewards,
    extras,
    agent,
    mid,
    episode_id,
    t0,
    done,
) -> SingleAgentEpisode:
    """One agent's chunk of one replica's episode, numpy buffers from the
    start. Every slot of RLlib's ``SingleAgentEpisode`` is set as its
    constructor sets it for these arguments (``tests/test_batched_runner.py``
    compares the two), at a fraction of the constructor's cost, which
    derives space structures and validates lengths the runner already knows."""
    n = len(actions)
    episode = SingleAgentEpisode.__new__(SingleAgentEpisode)
    episode.id_ = uuid.uuid4().hex
    episode.agent_id = agent
    episode.module_id = mid
    episode.multi_agent_episode_id = episode_id
    episode.observations = _buffer(observations)
    episode.infos = _buffer([_NO_INFO] * (n + 1))
    episode.actions = _buffer(actions)
    episode.rewards = _buffer(rewards)
    episode.extra_model_outputs = {c: _buffer(v) for c, v in extras.items()}
    episode._observation_space = episode._action_space = None
    episode.is_terminated = False
    episode.is_truncated = done
    episode.t_started = t0
    episode.t = t0 + n
    episode._custom_data = {}
    episode._start_time = episode._last_step_time = None
    episode._last_added_observation = episode._last_added_infos = None
    return episode
