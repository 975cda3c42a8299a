"""A PettingZoo env over a scenario family: a new instance every episode.

:class:`FamilyEnv` draws the episode's instance from its seed
(:meth:`hmarl_env.scenario.family.Family.sample`) and plays it as
:class:`hmarl_env.env.SupplyChainEnv` does, with the same agents and actions
in every instance. Each agent's observation is its observation in the
instance (a store's stock per mean demand, :data:`FAMILY_UNITS`), padded
with zeros to the widest instance's (a longer lead time has
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
from hmarl_env.observations import (
    default_store_observation,
    demand_scales,
    inventory_scales,
)
from hmarl_env.registry import StoreOrderFeature, node_agents
from hmarl_env.rewards import reward_scales
from hmarl_env.rollout import Period, Rollout
from hmarl_env.scenario.family import Family, get_family

__all__ = ["FAMILY_UNITS", "FamilyEnv", "FamilyLayout", "FamilyRollout"]

#: how a family shows a store's stock in the ``orders`` layout: ``scenario``
#: (as the instance's env does: on hand and backlog per inventory scale, the
#: pipeline per demand scale) or ``demand`` (every quantity per mean demand,
#: so a unit of stock reads the same whatever the instance's lead time). A
#: run records its units; runs recorded before them read ``scenario``.
FAMILY_UNITS = ("scenario", "demand")
#: the units of new family runs
DEFAULT_FAMILY_UNITS = "demand"
#: a store's stock columns in the ``orders`` layout
_STOCK = [StoreOrderFeature.inventory, StoreOrderFeature.backlog]


class FamilyLayout:
    """What every instance of a family looks like to a policy: the agents
    (the same in every instance), their actions (the same: one policy acts on
    all) and their observations, each padded with zeros to the widest
    instance's, then the family's context.

    Args:
        family: the family.
        layouts: the observation layouts (``store_observation``,
            ``warehouse_observation``), as the envs take them.
        units: :data:`FAMILY_UNITS`; with ``demand`` a store observing the
            ``orders`` layout sees its on hand and backlog per mean demand
            (each instance's observation multiplied by :meth:`units_of`).
    """

    def __init__(
        self, family: Family, layouts: dict[str, Any], units: str = DEFAULT_FAMILY_UNITS
    ) -> None:
        if units not in FAMILY_UNITS:
            raise ValueError(
                f"family units must be one of {list(FAMILY_UNITS)}, got {units!r}"
            )
        self.units = units
        self._layouts = dict(layouts)
        ends = [*family.corners(), family.widest()]
        corners = [SupplyChainEnv(family.instance(v), **layouts) for v in ends]
        pinned = (
            SupplyChainEnv(family.instance(family.pin), **layouts)
            if family.pin
            else None
        )
        first = corners[0]
        self.agents: list[str] = list(first.possible_agents)
        self.horizons = {env.scenario.horizon for env in corners}
        n_context = len(family.varied)
        self.observation_spaces: dict[str, spaces.Space] = {}
        #: agent -> the width of its widest instance observation (the context
        #: follows)
        self.width: dict[str, int] = {}
        #: agent -> the positions of its observation that no instance the
        #: family draws fills (the room beyond its ranges: always zero in
        #: training, so a learner never moves their weights)
        self.unfilled: dict[str, tuple[int, ...]] = {}
        for agent in self.agents:
            boxes = [env.observation_space(agent) for env in corners]
            width = max(b.shape[0] for b in boxes)
            drawn = (
                pinned.observation_space(agent).shape[0]
                if pinned is not None
                else max(b.shape[0] for b in boxes[:-1])  # not the room's
            )
            self.unfilled[agent] = tuple(range(min(drawn, width), width))
            if pinned is not None:
                own = pinned.observation_space(agent).shape[0]
                if own > width:
                    raise ValueError(
                        f"family {family.name!r}: {agent}'s observation in the "
                        f"pinned instance is {own} wide, the family's layout "
                        f"{width} (it makes room for {family.widest()}); a "
                        "policy of the family cannot act on it"
                    )
                boxes.append(pinned.observation_space(agent))
                self.horizons.add(pinned.scenario.horizon)
            low = np.zeros(width + n_context, dtype=np.float32)
            high = np.zeros(width + n_context, dtype=np.float32)
            envs = [*corners, *([pinned] if pinned is not None else [])]
            for b, env in zip(boxes, envs, strict=True):
                w, f = b.shape[0], self._factor(agent, env.scenario)
                lo, hi = b.low.copy(), b.high.copy()
                if f is not None:
                    lo[_STOCK], hi[_STOCK] = lo[_STOCK] * f, hi[_STOCK] * f
                low[:w] = np.minimum(low[:w], lo)
                high[:w] = np.maximum(high[:w], hi)
            high[width:] = 1.0
            self.width[agent] = width
            self.observation_spaces[agent] = spaces.Box(low, high, dtype=np.float32)
        self.action_spaces = {a: first.action_space(a) for a in self.agents}
        for env in [*corners[1:], *([pinned] if pinned is not None else [])]:
            for a in self.agents:
                if env.action_space(a) != self.action_spaces[a]:
                    raise ValueError(
                        f"family {family.name!r}: {a}'s actions differ between "
                        f"its instances ({self.action_spaces[a]} and "
                        f"{env.action_space(a)}); one policy cannot act on both"
                    )

    def _factor(self, agent: str, scenario: Any) -> float | None:
        """What ``agent``'s stock columns are multiplied by in the family's
        units on the instance ``scenario`` (``None``: as they are)."""
        i = self._stores(scenario).get(agent) if self.units == "demand" else None
        if i is None:
            return None
        return float(inventory_scales(scenario)[i] / demand_scales(scenario)[i])

    def _stores(self, scenario: Any) -> dict[str, int]:
        """The store agents observing the ``orders`` layout -> their nodes."""
        layout = self._layouts.get("store_observation") or (
            default_store_observation(scenario)
        )
        if layout != "orders":
            return {}
        return {
            a: i for a, i in node_agents(scenario).items() if scenario.nodes[i].is_store
        }

    def units_of(self, scenario: Any) -> dict[str, float | None]:
        """Agent -> the factor its on hand and backlog (``orders`` layout) are
        multiplied by on the instance ``scenario`` in the family's units:
        its inventory scale over its demand scale (``None``: as they are)."""
        return {a: self._factor(a, scenario) for a in self.agents}

    def pad(
        self,
        agent: str,
        obs: np.ndarray,
        context: np.ndarray,
        units: float | None = None,
    ) -> np.ndarray:
        """``agent``'s observations in an instance, ``(..., w)``, as the
        family's: its on hand and backlog multiplied by ``units`` (the
        instance's :meth:`units_of`), zeros to its widest, then
        ``context``."""
        out = np.zeros(
            (*obs.shape[:-1], self.observation_spaces[agent].shape[0]), np.float32
        )
        out[..., : obs.shape[-1]] = obs
        if units is not None:
            out[..., _STOCK] *= units
        out[..., self.width[agent] :] = context
        return out


class FamilyEnv(ChainEnvBase):
    """The env of a family of scenarios (see the module).

    Args:
        family: a :class:`~hmarl_env.scenario.family.Family` or a family's name.
        store_observation, warehouse_observation: the layouts, as
            :class:`~hmarl_env.env.SupplyChainEnv` takes them.
        scale_rewards: divide each agent's reward by the instance's scale.
        units: :data:`FAMILY_UNITS` (:class:`FamilyLayout`).
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
        units: str = DEFAULT_FAMILY_UNITS,
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
        #: what every instance looks like to a policy
        self.layout = layout = FamilyLayout(self.family, self._layouts, units)
        self.possible_agents = layout.agents
        self.observation_spaces = layout.observation_spaces
        self.action_spaces = layout.action_spaces
        n_context = len(self.family.varied)
        self.agents: list[str] = []
        self._rng: np.random.Generator | None = None
        self._env: SupplyChainEnv | None = None
        self._context = np.zeros(n_context, dtype=np.float32)
        self._scales: dict[str, float] = {}
        self._units: dict[str, float | None] = {}
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
        self._units = self.layout.units_of(scenario)
        scales = reward_scales(scenario)
        self._scales = {a: (scales[a] if self.scale_rewards else 1.0) for a in scales}
        obs, infos = self._env.reset(seed=episode_seed)
        self.agents = list(self._env.agents)
        for a in infos:
            infos[a] = {**infos[a], "family_params": dict(self.params)}
        return self._observe(obs), infos

    def _observe(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            a: self.layout.pad(a, o, self._context, self._units[a])
            for a, o in obs.items()
        }

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


class _FamilyRoles:
    """The agents' layout of a :class:`FamilyRollout`, as the batched env
    runner reads a :class:`~hmarl_env.roles.Roles`: ``slices`` (each agent's
    columns of :meth:`FamilyRollout.observe`), ``node_of``, ``n_nodes``."""

    def __init__(self, layout: FamilyLayout, node_of: dict[str, int]) -> None:
        self.agents = layout.agents
        self.node_of = dict(node_of)
        self.n_nodes = len(node_of)
        self.observation_spaces = layout.observation_spaces
        self.action_spaces = layout.action_spaces
        self.slices: dict[str, slice] = {}
        start = 0
        for a in layout.agents:
            n = layout.observation_spaces[a].shape[0]
            self.slices[a] = slice(start, start + n)
            start += n


class FamilyRollout:
    """``B`` replicas of a family stepped together, each playing its own
    instance: at every reset replica ``b`` draws its episode's seed from its
    generator and plays that seed's instance and demand, as a
    :class:`FamilyEnv` whose generator it is (``tests/test_family.py``
    compares the two step by step). Observations are :class:`FamilyEnv`'s
    (padded, then the context); rewards are divided by each instance's reward
    scale with ``scale_rewards``. It offers what hmarl's batched env runner
    uses of a :class:`~hmarl_env.rollout.Rollout`: ``agents``, ``roles``
    (``slices``, ``node_of``, ``n_nodes``), ``horizon``, ``reset``,
    ``observe`` and ``step``; each replica is a
    :class:`~hmarl_env.rollout.Rollout` of its own, stepped in turn.

    Args:
        family: the family (every instance must have the same horizon).
        batch_size: replicas ``B``.
        store_observation, warehouse_observation: the layouts.
        scale_rewards: divide each agent's reward by its instance's scale.
        units: :data:`FAMILY_UNITS` (:class:`FamilyLayout`).
    """

    def __init__(
        self,
        family: Family | str,
        batch_size: int = 1,
        store_observation: str | None = None,
        warehouse_observation: str = "local",
        scale_rewards: bool = True,
        units: str = DEFAULT_FAMILY_UNITS,
    ) -> None:
        self.family = get_family(family) if isinstance(family, str) else family
        self._layouts = {
            "store_observation": store_observation,
            "warehouse_observation": warehouse_observation,
        }
        #: what every instance looks like to a policy
        self.layout = layout = FamilyLayout(self.family, self._layouts, units)
        if len(layout.horizons) != 1:
            raise ValueError(
                f"family {self.family.name!r}: its instances' horizons differ "
                f"({sorted(layout.horizons)}); replicas step in lockstep"
            )
        (self.horizon,) = layout.horizons
        probe = Rollout(self.family.instance(self.family.corners()[0]), 1)
        self.agents = layout.agents
        self.roles = _FamilyRoles(layout, probe.roles.node_of)
        self.batch_size = int(batch_size)
        self.scale_rewards = bool(scale_rewards)
        self._width = sum(layout.observation_spaces[a].shape[0] for a in self.agents)
        self._replicas: list[Rollout] = []
        self._contexts = np.zeros((self.batch_size, len(self.family.varied)))
        self._scales = np.ones((self.batch_size, len(self.agents)))
        self._units: list[dict[str, float | None]] = []
        #: the parameters of each replica's instance
        self.params: list[dict[str, float]] = []

    def reset(self, rngs) -> None:
        """Every replica draws its next episode's seed from its generator and
        starts that seed's instance (one generator each)."""
        if len(rngs) != self.batch_size:
            raise ValueError(
                f"reset takes one generator per replica ({self.batch_size}), got "
                f"{len(rngs)}"
            )
        self._replicas, self.params, self._units = [], [], []
        for b, rng in enumerate(rngs):
            seed = int(rng.integers(2**31))
            params = self.family.draw(seed)
            scenario = self.family.instance(params)
            rollout = Rollout(scenario, 1, **self._layouts)
            rollout.reset(np.random.default_rng(seed))
            self._replicas.append(rollout)
            self.params.append(params)
            self._contexts[b] = self.family.context(params)
            self._units.append(self.layout.units_of(scenario))
            if self.scale_rewards:
                scales = reward_scales(scenario)
                self._scales[b] = [scales[a] for a in self.agents]

    def observe(self) -> np.ndarray:
        """Every agent's observation side by side, ``(B, D)`` float32 (agent
        ``a``'s columns: ``roles.slices[a]``)."""
        out = np.zeros((self.batch_size, self._width), np.float32)
        for b, rollout in enumerate(self._replicas):
            obs, units = rollout.observe()[0], self._units[b]
            for a in self.agents:
                out[b, self.roles.slices[a]] = self.layout.pad(
                    a, obs[rollout.roles.slices[a]], self._contexts[b], units[a]
                )
        return out

    def step(self, actions: np.ndarray) -> Period:
        """One period of every replica: ``(B, A)`` integer actions in agent
        order; the period's tables stacked, rewards scaled."""
        periods = [
            rollout.step(actions[b : b + 1]) for b, rollout in enumerate(self._replicas)
        ]
        return Period(
            [p.ledger for p in periods],  # type: ignore[arg-type]
            np.concatenate([p.table for p in periods]),
            np.concatenate([p.rewards for p in periods]) / self._scales,
            np.concatenate([p.scores for p in periods]),
        )

    @property
    def done(self) -> bool:
        return bool(self._replicas) and self._replicas[0].done
