"""What each agent's discrete action means, batched.

A store orders ``store_order_multipliers[a] * forecast``, or ``a`` units when
the scenario's stores order quantities (``actions.store_max_order``); a
warehouse orders
``warehouse_order_lots[a]`` units (``a`` with ``actions.warehouse_max_order``);
with ``actions.order_offsets = k`` a node ordering quantities orders ``d + a -
k`` within ``0..K``, ``d`` the customer demand below it in the period just
served, rounded (:meth:`hmarl_env.roles.Roles.demand_below`); with
``actions.store_lot_cover`` (``warehouse_lot_cover``) a store's (a
warehouse's) action is periods of cover that a planner turns into a lot from
its inventory position; the supplier releases
``supplier_fulfil_fractions[a]`` of what it owes (up to capacity). Which field
of ``scenario.actions`` a role's actions index is the registry's
(:attr:`hmarl_env.registry.Role.action_values`).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from hmarl_env._jit import kernel
from hmarl_env.observations import Tracker
from hmarl_env.registry import SUPPLIER, role_of
from hmarl_env.scenario import Scenario

__all__ = ["ActionDecoder"]

_BAD_ACTION = -1  # decode: every action was in range when it returns this
_FORECAST = Tracker.forecast


#: how a node's action value becomes its order (``ActionDecoder._mode``)
_UNITS, _TIMES_FORECAST, _PLUS_DEMAND, _COVER = 0, 1, 2, 3


@kernel
def _decode(
    trackers,
    below,
    position,
    values,
    n_values,
    mode,
    cap,
    unit,
    ahead,
    node_actions,
    supplier_action,
    fractions,
):  # pragma: no cover - jit
    """Orders ``(B, N)`` and fulfil fractions ``(B,)``; the first bad action's
    node (N for the supplier) and replica, or ``_BAD_ACTION`` twice."""
    B, N = node_actions.shape
    orders = np.empty((B, N))
    fulfil = np.empty(B)
    for b in range(B):
        for i in range(N):
            a = node_actions[b, i]
            if a < 0 or a >= n_values[i]:
                return orders, fulfil, i, b
            v = values[i, a]
            if mode[i] == _TIMES_FORECAST:
                orders[b, i] = v * trackers[b, _FORECAST, i]
            elif mode[i] == _PLUS_DEMAND:
                orders[b, i] = min(max(np.rint(below[b, i]) + v, 0.0), cap[i])
            elif mode[i] == _COVER:  # up to v periods after the arrival
                lot = np.ceil(v * unit[i] + ahead[i] - position[b, i] - 1e-9)
                orders[b, i] = min(max(lot, 0.0), cap[i])
            else:
                orders[b, i] = v
        a = supplier_action[b]
        if a < 0 or a >= fractions.shape[0]:
            return orders, fulfil, N, b
        fulfil[b] = fractions[a]
    return orders, fulfil, _BAD_ACTION, _BAD_ACTION


class ActionDecoder:
    """Integer actions -> order quantities and the supplier's fulfil fraction.

    Args:
        scenario: the supply chain.
        agents: agent -> node index (``-1``: the supplier), in agent order.
    """

    def __init__(self, scenario: Scenario, agents: dict[str, int]) -> None:
        self.scenario = scenario
        acts = scenario.actions
        serves = scenario.mean_demand
        self.values = {
            a: acts.choices(role_of(a).action_values, None if i < 0 else serves[i])
            for a, i in agents.items()
        }
        n = len(scenario.nodes)
        nodes = [(a, i) for a, i in agents.items() if a != SUPPLIER]
        width = max(len(self.values[a]) for a, _ in nodes)
        # action value per node and action index: multiplier (stores) or lot
        self._table = np.zeros((n, width))
        self._n_values = np.zeros(n, dtype=np.int64)
        self._mode = np.zeros(n, dtype=np.int64)
        self._cap = np.zeros(n)
        #: per node: its mean demand, and the demand until an order arrives
        self._unit = np.asarray(serves, dtype=np.float64)
        self._ahead = (scenario.lead_times - 1) * self._unit
        for a, i in nodes:
            self._table[i, : len(self.values[a])] = self.values[a]
            self._n_values[i] = len(self.values[a])
            # a multiplier scales the forecast; an offset adds the demand
            # below; a quantity or a lot is the order itself
            field = role_of(a).action_values
            if acts.offsets(field):
                self._mode[i] = _PLUS_DEMAND
                self._cap[i] = float(acts.max_order(field))
            elif acts.covers(field):
                self._mode[i] = _COVER
                self._cap[i] = float(acts.max_order(field))
            elif scenario.nodes[i].is_store and not acts.store_orders_quantities:
                self._mode[i] = _TIMES_FORECAST
        #: whether any node's order adds the demand below it, or is sized
        #: from its inventory position
        self.adds_demand = bool((self._mode == _PLUS_DEMAND).any())
        self.reads_position = bool((self._mode == _COVER).any())
        self._fulfil = np.asarray(self.values[SUPPLIER], dtype=np.float64)
        self._node_names = scenario.node_names
        self.spaces = {a: spaces.Discrete(len(v)) for a, v in self.values.items()}

    def n_actions(self, agent: str) -> int:
        return len(self.values[agent])

    def __call__(
        self,
        trackers: np.ndarray,
        node_actions: np.ndarray,
        supplier_action: np.ndarray,
        below: np.ndarray | None = None,
        position: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Order quantities ``(B, N)`` and fulfil fractions ``(B,)``.

        Args:
            trackers: the forecasts the stores' multipliers scale.
            below: ``(B, N)`` the customer demand below each node in the
                period just served, which offsets adjust (needed where
                :attr:`adds_demand`).
            position: ``(B, N)`` each node's inventory position, from which
                a planner sizes a cover's lot (needed where
                :attr:`reads_position`).
            node_actions: ``(B, N)`` integer actions in node order.
            supplier_action: ``(B,)`` integer actions of the supplier.

        Raises:
            ValueError: an action outside its agent's range (named, with the
                replica), or actions of the wrong shape or kind.
        """
        nodes, supplier = node_actions, supplier_action
        if type(nodes) is not np.ndarray:
            nodes = np.asarray(nodes)
        if type(supplier) is not np.ndarray:
            supplier = np.asarray(supplier)
        B, n = trackers.shape[0], self._table.shape[0]
        if (
            nodes.shape != (B, n)
            or supplier.shape != (B,)
            or nodes.dtype.kind not in "iu"
            or supplier.dtype.kind not in "iu"
        ):
            raise ValueError(
                f"decode takes integer actions of shape ({B}, {n}) for the nodes "
                f"and ({B},) for the supplier, got {nodes.dtype} {nodes.shape} and "
                f"{supplier.dtype} {supplier.shape}"
            )
        if below is None:
            if self.adds_demand:
                raise ValueError(
                    "orders by offsets (actions.order_offsets) need the demand "
                    "below each node"
                )
            below = trackers[:, _FORECAST]  # read by no node
        if position is None:
            if self.reads_position:
                raise ValueError(
                    "orders by periods of cover (actions.store_lot_cover, "
                    "actions.warehouse_lot_cover) need "
                    "each node's inventory position"
                )
            position = below  # read by no node
        orders, fulfil, bad, b = _decode(
            trackers,
            below,
            position,
            self._table,
            self._n_values,
            self._mode,
            self._cap,
            self._unit,
            self._ahead,
            nodes,
            supplier,
            self._fulfil,
        )
        if bad != _BAD_ACTION:
            agent = self._node_names[bad] if bad < n else SUPPLIER
            k = self.n_actions(agent)
            raise ValueError(
                f"action for {agent!r} (replica {b}) must be in [0, {k - 1}]"
            )
        return orders, fulfil
