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
from hmarl_env.roles import Roles
from hmarl_env.scenario import Scenario

__all__ = ["Period", "Rollout"]


class Period(NamedTuple):
    """What one step produced, for every replica."""

    ledger: Ledger
    #: the period table (:meth:`hmarl_env.rewards.Rewards.period_table`)
    table: np.ndarray
    #: ``(B, N + 1)``: every node's reward (node order), then the supplier's
    rewards: np.ndarray


class Rollout:
    """The simulation and the agents' view of it, stepped together.

    Args:
        scenario: the supply chain.
        batch_size: replicas ``B``.
        store_observation: the stores' observation layout.
    """

    def __init__(
        self,
        scenario: Scenario,
        batch_size: int = 1,
        store_observation: str = "pipeline",
    ) -> None:
        self.roles = Roles(scenario, batch_size, store_observation)
        self.sim = Simulation(scenario, batch_size=batch_size)

    def reset(self, rngs: np.random.Generator | Sequence[np.random.Generator]) -> None:
        """Start every replica's episode (one generator each, or one for all)."""
        self.sim.reset(rngs)
        self.roles.reset(self.sim)

    def observe(self) -> np.ndarray:
        """Every agent's observation side by side, ``(B, D)`` float32
        (agent ``a``'s columns: ``roles.slices[a]``)."""
        return self.roles.observe_all(self.sim)

    def step(self, node_actions: np.ndarray, supplier_action: np.ndarray) -> Period:
        """Play one period: ``(B, N)`` node actions, ``(B,)`` supplier actions."""
        orders, fulfil = self.roles.decode(node_actions, supplier_action)
        ledger = self.sim.step(orders, fulfil)
        self.roles.update(self.sim, ledger)
        table = self.roles.period_table(ledger)
        return Period(ledger, table, self.roles.rewards(table))

    @property
    def done(self) -> bool:
        return self.sim.done

    @property
    def period(self) -> int:
        return self.sim.period
