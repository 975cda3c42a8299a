"""Views of the env that other MARL libraries expect.

Parameter-sharing libraries (SuperSuit's vector envs for Stable-Baselines3,
one-group setups in TorchRL or BenchMARL) want every agent to share one
observation and one action space. The full env has four kinds of agent with
different spaces; instead of padding them, :class:`StoresOnlyEnv` keeps only the
stores as agents and lets the warehouse and supplier act inside the env by
given policies (for example the tuned heuristics of :mod:`baselines`)::

    from baselines.policies import make_policies
    from hmarl_env import parallel_env
    from hmarl_env.wrappers import StoresOnlyEnv

    base = parallel_env("default")
    env = StoresOnlyEnv(base, make_policies(base.scenario, "tuned"))

Rewards, observations and infos of the stores are the full env's, unchanged.

:class:`PaddedEnv` is the full four-agent env for libraries that need one
space for every agent (Tianshou's ``PettingZooEnv``, SuperSuit's vector envs),
padded safely: observations zero-padded to the widest agent's and followed by
a one-hot of the agent's identity, one ``Discrete`` action space as wide as
the widest agent's, and an ``action_mask`` that marks each agent's own actions
(for libraries that mask; one that cannot would explore into padding).
An action outside an agent's own range is refused with an error that names
the agent, never remapped (SuperSuit's ``pad_action_space_v0`` turns the
supplier's padded action 3 into 0, "release 100%", without a word)::

    from pettingzoo.utils.conversions import parallel_to_aec
    from tianshou.env import PettingZooEnv

    env = PettingZooEnv(parallel_to_aec(PaddedEnv(parallel_env("default"))))

:class:`ScaledRewards` gives a library's learner rewards at the scale hmarl's
own learner uses (each agent's reward divided by a scale derived from the
scenario, optionally centred), where a library has no such option (an
RLlib config of a user's own saw episode returns in the millions)::

    env = ScaledRewards(parallel_env("hierarchy"), gamma=0.99, centring=0.1)

:class:`WithoutInfos` drops the per-agent ledger reports from ``infos``, for
libraries that turn every info entry into a tensor at every step (TorchRL's
``PettingZooWrapper``, hence BenchMARL): 17 entries per agent halve their
collection speed when nothing reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.wrappers import BaseParallelWrapper

from hmarl_env.env import SupplyChainEnv
from hmarl_env.registry import ROLES, role_of
from hmarl_env.rewards import reward_scales
from hmarl_env.utils.stats import RunningMean

__all__ = ["PaddedEnv", "ScaledRewards", "StoresOnlyEnv", "WithoutInfos"]


class _View(ParallelEnv):
    """A view of a :class:`SupplyChainEnv` held as ``self.env``: its global
    state, rendering and closing pass through."""

    env: SupplyChainEnv

    def state(self) -> np.ndarray:
        return self.env.state()

    @property
    def state_space(self):
        return self.env.state_space

    def render(self):
        return self.env.render()

    def close(self) -> None:
        self.env.close()


class StoresOnlyEnv(_View):
    """The stores as the only agents; every other agent acts by a policy inside.

    Args:
        env: the full env (its scenario, render mode and observation layout).
        policies: agent -> policy (observations ``(B, dim)`` -> actions ``(B,)``,
            the :mod:`baselines` interface) for at least every agent that is not a
            store; entries for stores are ignored.

    ``inner_rewards`` holds the inside agents' rewards of the last step and
    ``inner_infos`` their reports, for whoever wants the whole system's view.
    """

    metadata = {
        "name": "retail_supply_chain_stores_only_v0",
        "render_modes": SupplyChainEnv.metadata["render_modes"],
        "is_parallelizable": True,
        "render_fps": 4,
    }

    def __init__(
        self,
        env: SupplyChainEnv,
        policies: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    ) -> None:
        if not isinstance(env, SupplyChainEnv):
            raise TypeError(
                f"StoresOnlyEnv wraps a SupplyChainEnv, got {type(env).__name__}"
            )
        self.env = env
        self.scenario = env.scenario
        self.render_mode = env.render_mode
        self.possible_agents = [
            a for a in env.possible_agents if role_of(a) is ROLES["store"]
        ]
        self.inner_agents = [
            a for a in env.possible_agents if role_of(a) is not ROLES["store"]
        ]
        missing = [a for a in self.inner_agents if a not in policies]
        if missing:
            raise ValueError(
                f"StoresOnlyEnv needs a policy for every agent that is not a store; "
                f"missing {missing}"
            )
        self.policies = {a: policies[a] for a in self.inner_agents}
        self.observation_spaces = {
            a: env.observation_space(a) for a in self.possible_agents
        }
        self.action_spaces = {a: env.action_space(a) for a in self.possible_agents}
        self.agents: list[str] = []
        self.inner_rewards: dict[str, float] = {}
        self.inner_infos: dict[str, dict] = {}
        self._inner_obs: dict[str, np.ndarray] = {}

    def observation_space(self, agent: str):
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        return self.action_spaces[agent]

    @property
    def shares_spaces(self) -> bool:
        """Whether every store has the same observation and action space (what
        parameter sharing needs; stores with other lead times differ)."""
        first = self.possible_agents[0]
        return all(
            self.observation_spaces[a] == self.observation_spaces[first]
            and self.action_spaces[a] == self.action_spaces[first]
            for a in self.possible_agents
        )

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self._keep_inner(obs, {}, infos)
        return self._stores(obs), self._stores(infos)

    def step(self, actions: dict[str, Any]):
        if not self.agents:  # before reset or after the end: the env says which
            self.env.step(actions)
        if not isinstance(actions, dict) or set(actions) != set(self.agents):
            given = sorted(actions) if isinstance(actions, dict) else actions
            raise ValueError(
                f"actions must name every store once: expected {self.agents}, "
                f"got {given!r}"
            )
        full = dict(actions)
        for agent, policy in self.policies.items():
            full[agent] = int(policy(self._inner_obs[agent][None, :])[0])
        obs, rewards, terms, truncs, infos = self.env.step(full)
        self._keep_inner(obs, rewards, infos)
        if not self.env.agents:
            self.agents = []
        return (
            self._stores(obs),
            self._stores(rewards),
            self._stores(terms),
            self._stores(truncs),
            self._stores(infos),
        )

    def _keep_inner(self, obs: dict, rewards: dict, infos: dict) -> None:
        self._inner_obs = {a: obs[a] for a in self.inner_agents}
        self.inner_rewards = {a: rewards[a] for a in self.inner_agents if a in rewards}
        self.inner_infos = {a: infos[a] for a in self.inner_agents}

    def _stores(self, d: dict) -> dict:
        return {a: d[a] for a in self.possible_agents}


class ScaledRewards(BaseParallelWrapper):
    """Any of hmarl's parallel envs with each agent's reward at a learner's
    scale; observations, infos and episodes unchanged.

    Args:
        env: the env (its ``unwrapped.scenario`` gives the scales).
        gamma: with a discount factor, each reward is also divided by the
            effective horizon ``min(horizon, 1 / (1 - gamma))``, so that a
            discounted return is of order one (``PPOSettings.reward_scaling =
            "return"``); ``None``: a period's reward of order one
            (``"period"``).
        centring: the step of a running mean per role that is subtracted
            from the scaled rewards (0: none); it is updated at the end of each
            episode with the episode's mean scaled reward of the role's agents
            (:class:`hmarl_env.utils.stats.RunningMean`).

    The env's own rewards of the last step stay readable as
    :attr:`raw_rewards`; the scales as :attr:`scales`.
    """

    def __init__(
        self, env: Any, gamma: float | None = None, centring: float = 0.0
    ) -> None:
        super().__init__(env)
        scenario = env.unwrapped.scenario
        horizon = 1.0
        if gamma is not None:
            if not 0.0 <= gamma < 1.0:
                raise ValueError(f"gamma must be in [0, 1), got {gamma!r}")
            horizon = min(float(scenario.horizon), 1.0 / (1.0 - gamma))
        per_agent = reward_scales(scenario)
        self.scales = {a: per_agent[a] * horizon for a in env.possible_agents}
        self.centres = {
            role_of(a).name: RunningMean(centring) for a in env.possible_agents
        }
        self.centring = float(centring)
        self.raw_rewards: dict[str, float] = {}
        self._episode: dict[str, list[float]] = {}

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._episode = {role: [] for role in self.centres}
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Mapping[str, Any]):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        self.raw_rewards = dict(rewards)
        scaled = {}
        for agent, reward in rewards.items():
            role = role_of(agent).name
            value = reward / self.scales[agent]
            self._episode.setdefault(role, []).append(value)
            centre = self.centres[role].value if self.centring else None
            scaled[agent] = value - (centre or 0.0)
        if not self.env.agents and self.centring:  # the episode ended
            for role, values in self._episode.items():
                if values:
                    self.centres[role].update(float(np.mean(values)))
            self._episode = {role: [] for role in self.centres}
        return obs, scaled, terminations, truncations, infos


class WithoutInfos(BaseParallelWrapper):
    """Any of hmarl's parallel envs with empty ``infos`` (``{agent: {}}``);
    everything else passes through unchanged."""

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, _ = self.env.reset(seed=seed, options=options)
        return obs, {a: {} for a in obs}

    def step(self, actions: Mapping[str, Any]):
        obs, rewards, terminations, truncations, _ = self.env.step(actions)
        return obs, rewards, terminations, truncations, {a: {} for a in obs}


class PaddedEnv(_View):
    """Every agent of the full env in one observation and one action space.

    Observation of agent ``i`` (of ``A`` agents; ``D`` the widest agent's
    observation, ``K`` the most actions any agent has), PettingZoo's masked
    form, which Tianshou reads: ``{"observation": x, "action_mask": m}``, where
    ``x`` (float32, ``D + A``) is the agent's own observation, zeros up to
    ``D``, then a one-hot of ``i`` (``possible_agents`` order: a shared network
    needs it to tell agents apart), and ``m`` (int8, ``K``) is 1 for the
    agent's own actions and 0 for padding. Actions: ``Discrete(K)`` for every
    agent; an action outside the agent's own range is a ``ValueError`` naming
    the agent and its range, and the step moves nothing. A library that cannot
    mask would explore into padding: give it :class:`StoresOnlyEnv`, or
    groups by role (TorchRL's ``group_map``). Rewards, terminations,
    truncations, infos and ``state()`` are the env's.
    """

    metadata = {
        "name": "retail_supply_chain_padded_v0",
        "render_modes": SupplyChainEnv.metadata["render_modes"],
        "is_parallelizable": True,
        "render_fps": 4,
    }

    def __init__(self, env: SupplyChainEnv) -> None:
        if not isinstance(env, SupplyChainEnv):
            raise TypeError(
                f"PaddedEnv wraps a SupplyChainEnv, got {type(env).__name__}"
            )
        self.env = env
        self.scenario = env.scenario
        self.render_mode = env.render_mode
        self.possible_agents = list(env.possible_agents)
        self.agents: list[str] = []
        agents = self.possible_agents
        width = max(env.observation_space(a).shape[0] for a in agents)
        self.n_actions = {a: int(env.action_space(a).n) for a in agents}
        k = max(self.n_actions.values())
        high = np.zeros(width + len(agents), dtype=np.float32)
        for a in agents:
            own = env.observation_space(a).high
            high[: own.shape[0]] = np.maximum(high[: own.shape[0]], own)
        high[width:] = 1.0
        self._space = spaces.Dict(
            {
                "observation": spaces.Box(0.0, high, dtype=np.float32),
                "action_mask": spaces.Box(0, 1, (k,), dtype=np.int8),
            }
        )
        self._action_space = spaces.Discrete(k)
        self._rows = {}
        self._masks = {}
        for i, a in enumerate(agents):
            row = np.zeros(width + len(agents), dtype=np.float32)
            row[width + i] = 1.0
            self._rows[a] = row
            mask = np.zeros(k, dtype=np.int8)
            mask[: self.n_actions[a]] = 1
            self._masks[a] = mask

    def observation_space(self, agent: str):
        return self._space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_space

    def _pad(self, obs: dict[str, np.ndarray]) -> dict[str, Any]:
        out = {}
        for a, o in obs.items():
            x = self._rows[a].copy()
            x[: o.shape[0]] = o
            out[a] = {"observation": x, "action_mask": self._masks[a].copy()}
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(self.env.agents)
        return self._pad(obs), infos

    def step(self, actions: Mapping[str, Any]):
        for agent, action in actions.items():
            n, k = self.n_actions.get(agent), self._action_space.n
            if (
                n is not None
                and isinstance(action, (int, np.integer))
                and n <= action < k
            ):
                raise ValueError(
                    f"{agent} has {n} actions (0..{n - 1}); action {int(action)} is "
                    "padding, which means nothing for it (mask it: observations "
                    "carry action_mask)"
                )
        obs, rewards, terms, truncs, infos = self.env.step(dict(actions))
        self.agents = list(self.env.agents)
        return self._pad(obs), rewards, terms, truncs, infos
