"""A PettingZoo env over a scenario family: a new instance every episode.

:class:`FamilyEnv` draws the episode's instance from its seed
(:meth:`hmarl_env.scenario.family.Family.sample`) and plays it as
:class:`hmarl_env.env.SupplyChainEnv` does, with the same agents and actions
in every instance. Each agent's observation is its observation in the
instance, padded with zeros to the widest instance's (a longer lead time has
more orders in the pipeline), then the family's context: every varied
parameter of the instance scaled to ``[0, 1]`` over its range
(:meth:`~hmarl_env.scenario.family.Family.context`), so one policy can tell
the instances apart. Rewards are the instance's, in its ledger's units; with
``scale_rewards`` each agent's is divided by the instance's reward scale
(:func:`hmarl_env.rewards.reward_scales`), so that no instance's costs
dominate a learner's gradient (evaluate in the ledger's units:
``infos[agent]["unscaled_reward"]``). ``infos`` of ``reset`` carry the
instance's parameters (``family_params``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from hmarl_env.env import ChainEnvBase, SupplyChainEnv, episode_rng
from hmarl_env.rewards import reward_scales
from hmarl_env.scenario.family import Family, get_family

__all__ = ["FamilyEnv"]


class FamilyEnv(ChainEnvBase):
    """The env of a family of scenarios (see the module).

    Args:
        family: a :class:`~hmarl_env.scenario.family.Family` or a family's name.
        store_observation, warehouse_observation: the layouts, as
            :class:`~hmarl_env.env.SupplyChainEnv` takes them.
        scale_rewards: divide each agent's reward by the instance's scale.
    """

    metadata = {
        "name": "retail_supply_chain_family_v0",
        "render_modes": [],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        family: Family | str,
        store_observation: str | None = None,
        warehouse_observation: str = "local",
        scale_rewards: bool = False,
    ) -> None:
        self.family = get_family(family) if isinstance(family, str) else family
        if not isinstance(self.family, Family):
            raise ValueError(
                f"family must be a Family or a family's name, got {family!r}"
            )
        self._layouts = {
            "store_observation": store_observation,
            "warehouse_observation": warehouse_observation,
        }
        self.scale_rewards = bool(scale_rewards)
        # the widest instance: every corner of the ranges
        corners = [self._env_of(self.family.instance(v)) for v in self.family.corners()]
        first = corners[0]
        self.possible_agents = list(first.possible_agents)
        n_context = len(self.family.varied)
        self.observation_spaces: dict[str, spaces.Space] = {}
        self._width: dict[str, int] = {}
        for agent in self.possible_agents:
            boxes = [env.observation_space(agent) for env in corners]
            width = max(b.shape[0] for b in boxes)
            low = np.zeros(width + n_context, dtype=np.float32)
            high = np.zeros(width + n_context, dtype=np.float32)
            for b in boxes:
                w = b.shape[0]
                low[:w] = np.minimum(low[:w], b.low)
                high[:w] = np.maximum(high[:w], b.high)
            high[width:] = 1.0
            self._width[agent] = width
            self.observation_spaces[agent] = spaces.Box(low, high, dtype=np.float32)
        self.action_spaces = {a: first.action_space(a) for a in self.possible_agents}
        for env in corners[1:]:
            for a in self.possible_agents:
                if env.action_space(a) != self.action_spaces[a]:
                    raise ValueError(
                        f"family {self.family.name!r}: {a}'s actions differ between "
                        f"its instances ({self.action_spaces[a]} and "
                        f"{env.action_space(a)}); one policy cannot act on both"
                    )
        self.agents: list[str] = []
        self._rng: np.random.Generator | None = None
        self._env: SupplyChainEnv | None = None
        self._context = np.zeros(n_context, dtype=np.float32)
        self._scales: dict[str, float] = {}
        self.params: dict[str, float] = {}

    def _env_of(self, scenario) -> SupplyChainEnv:
        return SupplyChainEnv(scenario, **self._layouts)

    @property
    def scenario(self):
        """The current episode's instance (``None`` before the first reset)."""
        return None if self._env is None else self._env.scenario

    @property
    def _sim(self):  # ChainEnvBase.state() and history read the instance's
        if self._env is None:
            raise RuntimeError("state() called before reset()")
        return self._env._sim

    @property
    def _roles(self):
        return self._env._roles

    @property
    def _history(self):
        return [] if self._env is None else self._env._history

    # ------------------------------------------------------------- reset
    def reset(self, seed: int | None = None, options: dict | None = None):
        self._rng = episode_rng(self._rng, seed, options)
        episode_seed = int(self._rng.integers(2**31)) if seed is None else seed
        self.params = self.family.draw(episode_seed)
        scenario = self.family.instance(self.params)
        self._env = self._env_of(scenario)
        self._context = self.family.context(self.params)
        scales = reward_scales(scenario)
        self._scales = {a: (scales[a] if self.scale_rewards else 1.0) for a in scales}
        obs, infos = self._env.reset(seed=episode_seed)
        self.agents = list(self._env.agents)
        for a in infos:
            infos[a] = {**infos[a], "family_params": dict(self.params)}
        return self._observe(obs), infos

    def _observe(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for a, o in obs.items():
            row = np.zeros(self.observation_spaces[a].shape, dtype=np.float32)
            row[: o.shape[0]] = o
            row[self._width[a] :] = self._context
            out[a] = row
        return out

    # -------------------------------------------------------------- step
    def step(self, actions: dict[str, Any]):
        if self._env is None:
            raise RuntimeError("step() called before reset()")
        obs, rewards, terms, truncs, infos = self._env.step(actions)
        for a, r in rewards.items():
            infos[a] = {**infos[a], "unscaled_reward": r}
            rewards[a] = r / self._scales[a]
        self.agents = list(self._env.agents)
        return self._observe(obs), rewards, terms, truncs, infos

    def render(self):
        return None

    def close(self):
        if self._env is not None:
            self._env.close()
