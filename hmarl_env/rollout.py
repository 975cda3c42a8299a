"""One period of play for a batch of replicas: the step sequence, once.

The PettingZoo env (one replica) and the batched evaluator (thousands) both
step through :class:`Rollout`: decode the agents' actions into orders, step the
simulation core, update the agents' trackers, reconcile the period's ledger
into the period table and score it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from hmarl_env.core import Simulation
from hmarl_env.ledger import Ledger
from hmarl_env.registry import SUPPLIER
from hmarl_env.roles import Roles
from hmarl_env.scenario import Scenario

__all__ = ["Period", "Rollout"]


class Period(NamedTuple):
    """What one step produced, for every replica."""

    ledger: Ledger
    #: the period table (:meth:`hmarl_env.rewards.LedgerRewards.period_table`)
    table: np.ndarray
    #: ``(B, A)``: the reward every agent receives, in agent order
    rewards: np.ndarray
    #: every reward of the period, node order (:meth:`Roles.score`)
    scores: np.ndarray


class Rollout:
    """The simulation and the agents' view of it, stepped together.

    Args:
        scenario: the supply chain.
        batch_size: replicas ``B``.
        store_observation: the stores' observation layout.
        warehouse_observation: the warehouses' (``local`` or ``echelon``).
    """

    def __init__(
        self,
        scenario: Scenario,
        batch_size: int = 1,
        store_observation: str | None = None,
        warehouse_observation: str = "local",
    ) -> None:
        self.roles = roles = Roles(
            scenario, batch_size, store_observation, warehouse_observation
        )
        self.sim = Simulation(scenario, batch_size=batch_size)
        self.agents = roles.agents
        # agent column of each node's action; a reward column of each agent's
        column = {a: k for k, a in enumerate(roles.agents)}
        nodes = sorted(roles.node_of.items(), key=lambda item: item[1])
        n = roles.n_nodes
        node_columns = [column[a] for a, _ in nodes]
        reward_columns = [roles.node_of.get(a, n) for a in roles.agents]
        # where agent order is node order then the supplier (every preset),
        # plain slices (views) instead of gathers: a step at batch 1 is ~25 us
        if node_columns == list(range(n)) and column[SUPPLIER] == n:
            self._node_columns: slice | np.ndarray = slice(0, n)
            self._reward_columns: slice | np.ndarray = slice(0, n + 1)
        else:
            self._node_columns = np.array(node_columns, dtype=np.intp)
            self._reward_columns = np.array(reward_columns, dtype=np.intp)
        self._supplier_column = column[SUPPLIER]

    def reset(self, rngs: np.random.Generator | Sequence[np.random.Generator]) -> None:
        """Start every replica's episode (one generator each, or one for all)."""
        self.sim.reset(rngs)
        self.roles.reset(self.sim)

    def observe(self) -> np.ndarray:
        """Every agent's observation side by side, ``(B, D)`` float32
        (agent ``a``'s columns: ``roles.slices[a]``)."""
        return self.roles.observe_all(self.sim)

    def step(self, actions: np.ndarray) -> Period:
        """Play one period: ``(B, A)`` integer actions, every agent's in agent
        order (:attr:`agents`)."""
        if type(actions) is not np.ndarray:
            actions = np.asarray(actions)
        if actions.ndim != 2 or actions.shape[1] != len(self.agents):
            raise ValueError(
                f"step takes actions of shape (B, {len(self.agents)}), one column "
                f"per agent {list(self.agents)}, got {actions.shape}"
            )
        orders, fulfil = self.roles.decode(
            actions[:, self._node_columns], actions[:, self._supplier_column]
        )
        ledger = self.sim.step(orders, fulfil)
        self.roles.update(self.sim, ledger)
        table = self.roles.period_table(ledger)
        scores = self.roles.score(table)
        return Period(ledger, table, scores[:, self._reward_columns], scores)

    @property
    def done(self) -> bool:
        return self.sim.done
