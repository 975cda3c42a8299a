"""The retail supply chain as a PettingZoo ``ParallelEnv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from hmarl_env import render
from hmarl_env.ledger import Ledger
from hmarl_env.rollout import Rollout
from hmarl_env.scenario import Scenario, get_scenario
from hmarl_env.seeding import check_seed

__all__ = ["SupplyChainEnv"]


class ChainEnvBase(ParallelEnv):
    """What hmarl's two envs share (this one and the catalogue's): the space
    lookups (an unknown agent a ``KeyError`` that lists the env's agents),
    ``state()`` and the episode's ledgers, over ``_sim``, ``_roles`` and
    ``_history``."""

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[self._known(agent)]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[self._known(agent)]

    def _known(self, agent: str) -> str:
        if agent not in self.observation_spaces:
            raise KeyError(
                f"{agent!r} is not an agent of this env; its agents are "
                f"{self.possible_agents}"
            )
        return agent

    def state(self) -> np.ndarray:
        if self._sim.period < 0:
            raise RuntimeError("state() called before reset()")
        return self._roles.state(self._sim)[0]

    @property
    def history(self) -> list[Ledger]:
        """The ledgers of the periods played so far in this episode."""
        return list(self._history)


def episode_rng(
    rng: np.random.Generator | None, seed: int | None, options: dict | None
) -> np.random.Generator:
    """The generator of the next episode: a new one from ``seed`` when given
    (or on the first reset), else the env's, drawing on (PettingZoo's rule);
    ``seed`` and ``options`` checked."""
    if options is not None and not isinstance(options, dict):
        raise ValueError(
            f"reset options must be a dict or None, got {type(options).__name__} "
            f"{options!r} (the env reads none: every setting is the scenario's)"
        )
    if seed is not None:
        seed = check_seed(seed, "reset seed")
    if seed is not None or rng is None:
        return np.random.default_rng(seed)
    return rng


class SupplyChainEnv(ChainEnvBase):
    """Stores, a warehouse and a supplier replenishing each other, day by day.

    ## Agents

    ===============  ==========  ===================================================
    agent            actions     what it decides
    ===============  ==========  ===================================================
    ``store_1``      Discrete(4) order 0, 0.5, 1.0 or 1.5 x its demand forecast
    ``store_2``      Discrete(4) the same (more stores: ``store_3``, ...)
    ``warehouse_1``  Discrete(4) order 0, 500, 1000 or 1500 units from the supplier
    ``supplier_1``   Discrete(3) release 100%, 80% or 0% (delay) of what it owes
    ===============  ==========  ===================================================

    Agents are the scenario's nodes (stores first, then warehouses) and
    ``supplier_1``; the multipliers, lots and fractions come from
    ``scenario.actions``. A serial scenario has ``store_1``, ``warehouse_1``,
    ``warehouse_2`` (the root) and ``supplier_1``. With
    ``actions.store_max_order = K`` stores order whole quantities instead:
    action ``a`` orders ``a`` units (``Discrete(K + 1)``). A single-stage
    scenario (``lost_sales_L4_p39``) has ``store_1`` (ordering from the
    supplier) and ``supplier_1``.

    ## Observations

    ``float32`` vectors inside their ``Box`` bounds; every quantity is divided by
    a scale derived from the scenario (a node's expected demand per period, or
    that times its lead time plus one) and clipped at 10 scales.

    * store (8): inventory, forecast, demand uncertainty, days of cover (in
      periods), last-day stockout (0/1), warehouse inventory ratio, recent
      service level, inbound pipeline (in transit + on order). The reference design's
      7-D layout (``store_observation="reference"``) drops the pipeline. For stores
      ordering quantities, ``store_observation="orders"`` (``2 + L``): on
      hand, backlog, units ordered and not yet shipped, then what arrives in
      each of the next ``L - 1`` periods - the whole state of a single-stage
      system.
    * warehouse (4 + number of children; 6 by default): aggregate store demand,
      inventory, inbound pipeline from the supplier, each child's inventory,
      average service level of the stores below. With
      ``warehouse_observation="echelon"`` (``2 + L``): its echelon inventory
      (stock here and below and in transit between, minus the stores'
      backorders), its echelon inventory position, units ordered and not yet
      shipped, then what arrives in each of the next ``L - 1`` periods: what
      the optimal policy of a serial chain acts on, assuming the warehouse
      sees the stock below it.
    * supplier (3): the warehouse's last order, units owed to it, days until a
      new order would be delivered.

    :mod:`hmarl_env.observations` gives every feature's exact definition and
    bounds; :mod:`hmarl_env.registry` their indices (``StoreFeature.inventory``).

    ## Timeline and rewards

    ``reset`` opens period 0 (arrivals, then customer demand) and returns the
    first observations. ``step(actions)`` places the orders, ships, charges the
    period's costs, reconciles the period in the ledger, then opens the next
    period. Rewards come from that period's ledger only, in the scenario's
    reward mode (``scenario.rewards.mode``; :mod:`hmarl_env.rewards` has the
    formulas):

    * ``local`` (default): each agent's reward is its *local reward*, from its
      own ledger row. Store, warehouse: ``10 * service_level - 0.1 *
      holding_cost - 5 * stockout_penalty - 0.05 * excess_inventory`` (the
      reference design's formula), where service level is the fraction of what was asked
      of the node that it served, holding cost includes transit holding,
      stockout penalty is the node's stockout cost, excess inventory is its
      closing stock above 5 days (stores) or 10 days (warehouses) of expected
      demand. Supplier: ``10 * service_level - 0.1 * backlog_cost - 0.1 *
      overtime_cost``.
    * ``system``: every agent receives the *system reward*, minus the whole
      chain's ledger cost of the period (every node's total cost, the
      supplier's backlog and overtime costs).
    * ``mixed``: ``(1 - w) * local + w * system`` with ``w =
      scenario.rewards.system_weight``.

    ``infos[agent]`` is that agent's reconciliation report for the period: the
    reward terms plus ``inventory``, ``lost_sales``, ``demand``, ``sold``,
    ``shipped``, ``ordered``, ``received``, ``backlog``, ``in_transit``,
    ``total_cost`` and ``period`` (the supplier's: its terms, ``overtime_cost``,
    ``demand`` = the warehouse's order, ``shipped`` = released, ``backlog``),
    and in every mode both parts of the reward, ``local_reward`` and
    ``system_reward``. The same keys come at reset, with period 0's demand and
    no costs.

    ## Episode end

    Truncation after ``scenario.horizon`` periods (100 by default); nothing
    terminates. ``state()`` gives the global state for centralised critics.

    ## Arguments

    * ``scenario``: a preset name (``default``, ``serial``, ``four_stores``,
      ``backorder``, ``seasonal``, ``hierarchy``), a path to a TOML/YAML/JSON
      file, or a
      :class:`~hmarl_env.scenario.Scenario`.
    * ``render_mode``: ``None``, ``"ansi"`` (a table of the period, returned),
      ``"human"`` (the same table, printed) or ``"rgb_array"`` (inventory,
      orders and demand per node so far).
    * ``store_observation``: ``"pipeline"`` (the default, but for stores
      ordering by offsets: ``"orders"``), ``"reference"`` (the HMARL
      reference design's 7; alias ``"seed"``) or ``"orders"``.
    * ``warehouse_observation``: ``"local"`` (default) or ``"echelon"``.
    * ``**overrides``: top-level scenario fields, e.g. ``horizon=30``. A
      reward mode: ``parallel_env(get_scenario("default").with_reward_mode(
      "system"))``, the ``hierarchy`` preset, or ``[rewards] mode = "system"``
      in a scenario file.

    ## Version history

    * v1: reward modes (``local``, the v0 rewards unchanged; ``system``;
      ``mixed``); ``infos`` gain ``local_reward`` and ``system_reward``.
    * v0: initial release.
    """

    metadata = {
        "name": "retail_supply_chain_v1",
        "render_modes": ["human", "ansi", "rgb_array"],
        "is_parallelizable": True,
        "render_fps": 4,
    }

    def __init__(
        self,
        scenario: str | Path | Scenario = "default",
        render_mode: str | None = None,
        store_observation: str | None = None,
        warehouse_observation: str = "local",
        **overrides: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.scenario = get_scenario(scenario, **overrides)
        self.render_mode = render_mode
        self._rollout = Rollout(
            self.scenario, 1, store_observation, warehouse_observation
        )
        self._sim, self._roles = self._rollout.sim, self._rollout.roles
        self.possible_agents = list(self._roles.agents)
        self.agents: list[str] = []
        self.observation_spaces = self._roles.observation_spaces
        self.action_spaces = self._roles.action_spaces
        self.state_space = self._roles.state_space
        self._slices = tuple(self._roles.slices.items())
        self._agent_set = frozenset(self.possible_agents)
        self._actions = np.zeros((1, len(self.possible_agents)), dtype=np.intp)
        self._n_actions = {a: int(sp.n) for a, sp in self.action_spaces.items()}
        self._rng: np.random.Generator | None = None
        self._history: list[Ledger] = []
        self._last_rewards: dict[str, float] = {}

    # ------------------------------------------------------------- reset
    def reset(self, seed: int | None = None, options: dict | None = None):
        self._rng = episode_rng(self._rng, seed, options)
        self._rollout.reset(self._rng)
        self.agents = list(self.possible_agents)
        self._history = []
        self._last_rewards = dict.fromkeys(self.agents, 0.0)
        return self._observations(), self._roles.reset_infos(self._sim)

    def _observations(self) -> dict[str, np.ndarray]:
        obs = self._rollout.observe()[0]
        return {a: obs[sl] for a, sl in self._slices}

    # -------------------------------------------------------------- step
    def step(self, actions: dict[str, Any]):
        if not self.agents:
            if self._sim.period < 0:
                raise RuntimeError("step() called before reset()")
            raise RuntimeError(
                f"the episode ended (truncated at the horizon, {self.scenario.horizon} "
                "periods): call reset() before step()"
            )
        ledger, table, r, scores = self._rollout.step(self._validate(actions))
        self._history.append(ledger)
        rewards = dict(zip(self.possible_agents, r[0].tolist(), strict=True))
        self._last_rewards = rewards
        infos = self._roles.infos(table, scores, ledger.period)
        done = self._sim.done
        observations = self._observations()
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, done)
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _validate(self, actions: dict[str, Any]) -> np.ndarray:
        """Integer actions as ``(1, A)``, in agent order."""
        if not isinstance(actions, dict) or actions.keys() != self._agent_set:
            self._bad_actions(actions)
        out = self._actions
        for k, agent in enumerate(self.possible_agents):
            a = actions[agent]
            if type(a) is not int and not isinstance(a, np.integer):
                a = self._as_int(agent, a)
            if not 0 <= a < self._n_actions[agent]:
                self._bad_action(agent, a)
            out[0, k] = a
        return out

    def _as_int(self, agent: str, a: Any) -> int:
        if isinstance(a, np.ndarray) and a.shape in ((), (1,)) and a.dtype.kind in "iu":
            return int(a.reshape(()))
        self._bad_action(agent, a)
        return 0  # unreachable: _bad_action raises

    def _bad_action(self, agent: str, a: Any) -> None:
        n = self._n_actions[agent]
        raise ValueError(
            f"action for {agent!r} must be an integer in [0, {n - 1}] (Discrete({n})), "
            f"got {a!r}"
        )

    def _bad_actions(self, actions: Any) -> None:
        if not isinstance(actions, dict):
            raise ValueError(
                "actions must be a dict from agent to action, got "
                f"{type(actions).__name__}"
            )
        missing = sorted(self._agent_set - set(actions))
        unknown = sorted(set(actions) - self._agent_set)
        raise ValueError(
            f"actions must name every live agent once; missing {missing}, "
            f"unknown {unknown}"
        )

    # ------------------------------------------------------------- extras
    def render(self):
        if self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            return render.trajectory_rgb(self.scenario, self._history)
        table = render.ansi_table(self.scenario, self._history, self._last_rewards)
        if self.render_mode == "ansi":
            return table
        print(table, end="")  # human: the table on standard output
        return None

    def close(self) -> None:
        """Nothing to release: rendering keeps no windows or figures open."""
