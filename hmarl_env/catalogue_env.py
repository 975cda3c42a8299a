"""The PettingZoo env of a chain that stocks a catalogue of products.

:func:`hmarl_env.parallel_env` returns it for a scenario with ``products``
(the ``catalogue_*`` presets, or a file with ``[products]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hmarl_env.catalogue_roles import CatalogueRoles
from hmarl_env.core import Simulation
from hmarl_env.env import ChainEnvBase, episode_rng
from hmarl_env.ledger import NODE_FIELDS, SUPPLIER_FIELDS, Ledger
from hmarl_env.scenario import Scenario, get_scenario

__all__ = ["CatalogueEnv"]


class CatalogueEnv(ChainEnvBase):
    """A retail chain stocking ``P`` products, as a PettingZoo ``ParallelEnv``.

    ## Agents

    One per node (``store_<n>``, ``warehouse_<n>``) and ``supplier_1``, as in
    the single-product env: the default catalogue presets have ``store_1``,
    ``store_2``, ``warehouse_1`` and ``supplier_1``.

    ## Observations and actions

    A node agent observes ``Box(0, 10, (P, 21))``: one row per product, its
    stock, pipeline, backlog, demand, lost sales and parent's stock in that
    product's scales, and the node's shared capacities' use (storage, its
    lane), :mod:`hmarl_env.catalogue_roles` has the table. It acts with
    ``MultiDiscrete([C] * P)``: per product, an order-up-to level of
    ``actions.catalogue_cover[k]`` periods of the product's mean demand through
    the node. The supplier observes ``Box((3,))`` and picks a fulfil fraction
    (``Discrete(len(actions.supplier_fulfil_fractions))``).

    ## Rewards

    Minus the agent's ledger cost of the period over every product (the
    supplier: its backlog and overtime cost), mixed with minus the chain's
    cost by ``rewards.mode`` (local, system or mixed), in the scenario's money.

    ## Infos

    Every agent's ``infos`` have the same keys: each node and capacity field of
    the ledger (:mod:`hmarl_env.ledger`) as an array of ``P`` values, one per
    product (zeros for the supplier), each supplier field as a float (0 for
    nodes), ``period`` and ``reward``.

    ## Episode end and state

    Truncation after ``scenario.horizon`` periods. ``state()`` is ``(P, N *
    21)``: every node's features of each product side by side.

    ## Arguments

    * ``scenario``: a catalogue preset's name, a file with ``[products]``, or a
      :class:`~hmarl_env.scenario.Scenario` with products.
    * ``**overrides``: top-level scenario fields, e.g. ``horizon=30``.

    ## Version history

    * v0: initial release.
    """

    metadata = {
        "name": "retail_catalogue_v0",
        "render_modes": [],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        scenario: str | Path | Scenario = "catalogue_50",
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if render_mode is not None:
            raise ValueError(
                f"the catalogue env does not render (render_mode None), got "
                f"{render_mode!r}; its ledger (env.history) holds every period"
            )
        self.render_mode = None
        self.scenario = get_scenario(scenario, **overrides)
        self._sim = Simulation(self.scenario, 1)
        self._roles = roles = CatalogueRoles(self.scenario, 1)
        self.possible_agents = list(roles.agents)
        self.agents: list[str] = []
        self.observation_spaces = roles.observation_spaces
        self.action_spaces = roles.action_spaces
        self.state_space = roles.state_space
        self._rng: np.random.Generator | None = None
        self._history: list[Ledger] = []
        P, N = self.scenario.n_products, len(self.scenario.nodes)
        self._node_actions = np.zeros((1, N, P), dtype=np.intp)
        self._supplier_action = np.zeros(1, dtype=np.intp)

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._rng = episode_rng(self._rng, seed, options)
        self._sim.reset(self._rng)
        self._roles.reset(self._sim)
        self.agents = list(self.possible_agents)
        self._history = []
        rewards = np.zeros((1, len(self.agents)))
        return self._observations(), self._roles.infos(
            _empty_ledger(self.scenario), rewards
        )

    def _observations(self) -> dict[str, np.ndarray]:
        nodes = self._roles.node_features(self._sim)[0]
        obs = {a: nodes[i] for a, i in self._roles.node_of.items()}
        obs[self.possible_agents[-1]] = self._roles.supplier_features(self._sim)[0]
        return obs

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset()")
        self._read_actions(actions)
        orders, fulfil = self._roles.decode(
            self._sim, self._node_actions, self._supplier_action
        )
        ledger = self._sim.step(orders, fulfil)
        self._roles.update(self._sim, ledger)
        self._history.append(ledger)
        r = self._roles.score(ledger)
        rewards = {a: float(r[0, k]) for k, a in enumerate(self.agents)}
        infos = self._roles.infos(ledger, r)
        done = self._sim.done
        obs = self._observations()
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, done)
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def _read_actions(self, actions: Any) -> None:
        if not isinstance(actions, dict) or set(actions) != set(self.agents):
            given = sorted(actions) if isinstance(actions, dict) else actions
            raise ValueError(
                f"step takes one action per agent {self.agents}, got {given!r}"
            )
        P = self.scenario.n_products
        for a, i in self._roles.node_of.items():
            x = np.asarray(actions[a])
            if x.shape != (P,) or not np.issubdtype(x.dtype, np.integer):
                raise ValueError(
                    f"{a}'s action must be {P} whole numbers (one per product, "
                    f"MultiDiscrete), got shape {x.shape} of {x.dtype}"
                )
            self._node_actions[0, i] = x
        s = actions[self.possible_agents[-1]]
        if (
            isinstance(s, bool)
            or not isinstance(s, (int, np.integer))
            and not (
                isinstance(s, np.ndarray)
                and s.shape == ()
                and np.issubdtype(s.dtype, np.integer)
            )
        ):
            raise ValueError(
                f"{self.possible_agents[-1]}'s action must be a whole number, got {s!r}"
            )
        self._supplier_action[0] = int(s)

    def render(self) -> None:
        return None

    def close(self) -> None:
        pass


def _empty_ledger(scenario: Scenario) -> Ledger:
    """A ledger of zeros, for the infos at reset (the same keys, no costs)."""
    K = len(scenario.nodes) * scenario.n_products
    return Ledger(
        0,
        scenario.node_names,
        np.zeros((1, len(NODE_FIELDS), K)),
        np.zeros((1, len(SUPPLIER_FIELDS))),
        None,
        scenario.product_names,
    )
