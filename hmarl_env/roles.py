"""Agents' view of the simulation, batched: observe, decode, score.

:class:`Roles` puts together, for a batch of ``B`` replicas, what each agent
observes (:mod:`hmarl_env.observations`), what its action means
(:mod:`hmarl_env.actions`) and what it is rewarded (:mod:`hmarl_env.rewards`),
with the trackers (forecasts, service levels, last order) the observations and
the stores' orders read. Which agents there are and what role each plays is the
registry's (:mod:`hmarl_env.registry`); the PettingZoo env (``B = 1``) and the
batched evaluator step through it with :class:`hmarl_env.rollout.Rollout`.
"""

from __future__ import annotations

import numpy as np

from hmarl_env.actions import ActionDecoder
from hmarl_env.core import Simulation, StateField
from hmarl_env.ledger import Ledger
from hmarl_env.observations import (
    TRACKER_FIELDS,
    Observations,
    Tracker,
    default_store_observation,
    observe_demand,
)
from hmarl_env.registry import SUPPLIER, node_agents
from hmarl_env.rewards import LedgerRewards, table_columns
from hmarl_env.scenario import Scenario

__all__ = ["Roles"]

_T = Tracker


class Roles:
    """Observations, action decoding and rewards for a batch of replicas.

    Trackers (forecast, its variance, smoothed service level, last order) are
    kept for every node in :attr:`trackers`, ``(B, 4, N)``; only the stores'
    forecasts and service levels and the root's last order are read.

    Args:
        scenario: the supply chain.
        batch_size: replicas ``B``.
        warehouse_observation: ``"local"`` or ``"echelon"``
            (:mod:`hmarl_env.observations`).
        store_observation: ``None`` (the scenario's default,
            :func:`~hmarl_env.observations.default_store_observation`),
            ``"pipeline"`` (8 features), ``"reference"`` (the
            reference design's 7, without the inbound pipeline) or ``"orders"``.
    """

    def __init__(
        self,
        scenario: Scenario,
        batch_size: int = 1,
        store_observation: str | None = None,
        warehouse_observation: str = "local",
    ) -> None:
        if scenario.products:
            raise ValueError(
                f"scenario {scenario.name!r} stocks {len(scenario.products)} "
                "products; its agents are hmarl_env.catalogue_roles.CatalogueRoles' "
                "(hmarl_env.parallel_env gives its env, CatalogueEnv)"
            )
        self.scenario = sc = scenario
        self.batch_size = batch_size
        if store_observation is None:
            store_observation = default_store_observation(sc)
        self.store_observation = store_observation
        self.n_nodes = len(sc.nodes)
        #: agent -> node index, in agent order (the supplier is no node)
        self.node_of = node_agents(sc)
        self.agents: tuple[str, ...] = (*self.node_of, SUPPLIER)
        every = {**self.node_of, SUPPLIER: -1}
        self.warehouse_observation = warehouse_observation
        self._observations = Observations(
            sc, every, store_observation, warehouse_observation
        )
        self._actions = ActionDecoder(sc, every)
        self._rewards = LedgerRewards(sc)
        self.inventory_scale = self._observations.inventory_scale
        self.demand_scale = self._observations.demand_scale
        a = sc.forecast_smoothing
        self._alpha, self._keep, self._spread = (
            np.float64(x) for x in (a, 1 - a, a * (1 - a))
        )
        self._mean0 = np.asarray(sc.mean_demand, dtype=np.float64)
        self._var0 = np.asarray(sc.demand_std**2, dtype=np.float64)
        self.trackers = np.zeros((batch_size, len(TRACKER_FIELDS), self.n_nodes))
        #: the customer demand below each node in the period just served
        #: ``(B, N)``, which order offsets adjust (kept only where they do)
        self._below = np.zeros((batch_size, self.n_nodes))
        #: each node's inventory position, which cover orders are sized from
        self._position = np.zeros((batch_size, self.n_nodes))
        self._subtree = np.asarray(sc.subtree, dtype=np.float64)
        self.observation_spaces = self._observations.spaces
        self.action_spaces = self._actions.spaces

    # --------------------------------------------------------------- spaces
    def n_actions(self, agent: str) -> int:
        return self._actions.n_actions(agent)

    @property
    def slices(self) -> dict[str, slice]:
        """Each agent's columns in :meth:`observe_all`'s output."""
        return self._observations.slices

    @property
    def state_space(self):
        return self._observations.state_space

    # ------------------------------------------------------------- trackers
    def reset(self, sim: Simulation) -> None:
        """Start the trackers at the nominal demand, then observe period 0."""
        t = self.trackers
        t[:, _T.forecast] = self._mean0
        t[:, _T.variance] = self._var0
        t[:, _T.service] = 1.0
        t[:, _T.last_order] = 0.0
        observe_demand(t, self._state(sim), self._alpha, self._keep, self._spread)
        self._keep_order_inputs(sim)

    def update(self, sim: Simulation, ledger: Ledger) -> None:
        """After ``sim.step``: remember the orders, observe the new period."""
        self.trackers[:, _T.last_order] = ledger.ordered
        if not sim.done:
            observe_demand(
                self.trackers, self._state(sim), self._alpha, self._keep, self._spread
            )
            self._keep_order_inputs(sim)

    def demand_below(self, sim: Simulation) -> np.ndarray:
        """``(B, N)``: the customer demand at the stores below each node (a
        store: its own) in the period just served."""
        return self._state(sim)[:, StateField.demand] @ self._subtree

    def _keep_order_inputs(self, sim: Simulation) -> None:
        """Keep what the next decode reads beside the actions, where some
        node's orders need it: the demand below each node (order offsets),
        each node's inventory position (cover orders)."""
        if self._actions.adds_demand:
            self._below = self.demand_below(sim)
        if self._actions.reads_position:
            st, S = self._state(sim), StateField
            self._position = (  # what a node owes: customers' or children's
                st[:, S.on_hand]
                - st[:, S.backlog]
                + st[:, S.in_transit]
                + st[:, S.inbound_backlog]
            )

    def _state(self, sim: Simulation) -> np.ndarray:
        """The simulation's state block, once its shape is known to fit (the
        kernels do not check their indices)."""
        state = sim.state_array
        if state.shape[0] != self.batch_size or state.shape[2] != self.n_nodes:
            raise ValueError(
                f"these roles are for {self.batch_size} replicas of "
                f"{self.n_nodes} nodes; the simulation has {state.shape[0]} of "
                f"{state.shape[2]}"
            )
        return state

    # ----------------------------------------------------------- observing
    def observe_all(self, sim: Simulation) -> np.ndarray:
        """All agents' observations side by side, ``(B, D)`` float32; agent
        ``a`` owns the columns ``slices[a]``."""
        return self._observations(
            self.trackers, self._state(sim), sim.pipeline_array, sim.period
        )

    def state(self, sim: Simulation) -> np.ndarray:
        """Global state ``(B, 6N + 1)`` for centralised critics
        (:meth:`hmarl_env.observations.Observations.state`)."""
        return self._observations.state(self.trackers, self._state(sim), sim)

    # -------------------------------------------------------------- acting
    def decode(self, node_actions: np.ndarray, supplier_action: np.ndarray):
        """Order quantities ``(B, N)`` and fulfil fractions ``(B,)`` of integer
        actions ``(B, N)`` (node order) and ``(B,)`` (the supplier's).

        Raises:
            ValueError: an action outside its agent's range (named, with the
                replica).
        """
        return self._actions(
            self.trackers, node_actions, supplier_action, self._below, self._position
        )

    # ------------------------------------------------------------- scoring
    def period_table(self, led: Ledger) -> np.ndarray:
        """The period table (:meth:`~hmarl_env.rewards.LedgerRewards.period_table`)."""
        return self._rewards.period_table(led)

    def metrics(
        self, table: np.ndarray
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Named views of a period table: per node ``(B, N)``, supplier ``(B,)``."""
        return table_columns(table, self.n_nodes)

    def rewards(self, table: np.ndarray) -> np.ndarray:
        """The rewards agents receive ``(B, N + 1)``: every node's (node order),
        then the supplier's."""
        return self._rewards(table)

    def score(self, table: np.ndarray) -> np.ndarray:
        """Every reward of the period: received, local, system
        (:meth:`hmarl_env.rewards.LedgerRewards.score`)."""
        return self._rewards.score(table)

    def infos(
        self, table: np.ndarray, scores: np.ndarray, period: int, replica: int = 0
    ):
        """Each agent's reconciliation report for one replica (plain floats)."""
        return self._rewards.infos(table, scores, period, replica)

    def reset_infos(self, sim: Simulation, replica: int = 0):
        """Reports at reset: the same keys, with period 0's demand so far, no costs."""
        return self._rewards.reset_infos(sim, replica)
