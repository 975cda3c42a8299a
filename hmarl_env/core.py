"""Batched simulation of a tree supply chain.

:class:`Simulation` advances ``B`` independent replicas of a
:class:`~hmarl_env.scenario.Scenario` at once; every state array has the batch
axis first. It knows nothing of agents, observations or rewards: it takes order
quantities and returns the period's :class:`~hmarl_env.ledger.Ledger`.

Timeline of period ``t`` (the textbook's periodic review):

1. shipments due in ``t`` arrive and join on-hand;
2. customer demand at stores is served from on-hand; the unmet part is lost
   (``lost_sales``) or added to the store's backlog (``backorder``), which is
   served first in later periods;
3. every node orders (``step``'s ``orders``); each node then ships to its
   children from on-hand against what they ordered plus what it still owes
   them, rationing proportionally when short (what it cannot ship stays owed);
   the supplier releases ``min(outstanding * fulfil, capacity)`` to the root
   and owes the rest. A shipment sent in ``t`` to a node with lead time ``L``
   arrives at the start of ``t + L``;
4. costs are charged on end-of-period quantities: on-hand at the node's
   holding cost; units in transit to a node at its parent's holding cost when
   ``in_transit_holding`` is on (the supplier's pipeline is free); stockout cost
   per unit lost, or per unit backlogged (stores) or owed to children
   (warehouses) at the end of the period; a fixed cost per order placed.

:meth:`Simulation.reset` runs 1-2 of period 0. :meth:`Simulation.step` runs 3-4
of period ``t``, returns its complete ledger, then runs 1-2 of ``t + 1`` (unless
``t + 1`` is the horizon), so that the state seen between two calls is the
state in which decisions are made.

All demand of an episode is drawn at reset from the generator(s) given, so it
does not depend on the orders: two policies reset with the same seed meet the
same demand (common random numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hmarl_env.ledger import Ledger
from hmarl_env.scenario import Scenario

__all__ = ["Simulation"]

dot, _min, _max = np.dot, np.minimum.reduce, np.maximum.reduce
_ZERO, _ONE, _INF = np.float64(0.0), np.float64(1.0), np.float64(np.inf)
_TINY = np.float64(1e-300)  # x / max(y, _TINY) is finite where y is 0 (x >= 0)


class Simulation:
    """``B`` replicas of a scenario, stepped together.

    Args:
        scenario: the supply chain.
        batch_size: number of independent replicas ``B``.

    Attributes (valid after :meth:`reset`, shape ``(B, N)`` unless noted):
        on_hand: units on hand.
        in_transit: units shipped to each node that have not arrived.
        inbound_backlog: units each node ordered that its parent (the supplier
            for the root) has not shipped yet.
        backlog: stores: customer demand waiting (backorder mode);
            warehouses: units owed to children.
        period: the current period (the one awaiting decisions).
        demand, sold, lost, received, opening: this period's values so far.
    """

    def __init__(self, scenario: Scenario, batch_size: int = 1) -> None:
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.scenario = scenario
        self.batch_size = B = int(batch_size)
        n = self.n_nodes = len(scenario.nodes)
        parent = scenario.parent_index
        self._root = scenario.root
        # child incidence: x @ A sums x over each node's children
        self._A = np.zeros((n, n))
        for i, p in enumerate(parent):
            if p >= 0:
                self._A[i, p] = 1.0
        self._A_T = np.ascontiguousarray(self._A.T)
        self._stores = scenario.store_index

        # Per-node constants are tiled to (B, N): numpy is several times slower
        # broadcasting a short (N,) vector over rows than combining whole arrays.
        def tile(values) -> np.ndarray:
            out = np.repeat(np.asarray(values, dtype=np.float64)[None, :], B, axis=0)
            out.flags.writeable = False
            return out

        lead = scenario.lead_times
        self._M = int(lead.max())
        # shipments of nodes with the same lead time land in the same slot
        self._lead_groups = [(int(L), tile(lead == L)) for L in np.unique(lead)]
        h = np.array([nd.holding_cost for nd in scenario.nodes])
        self._h = tile(h)
        self._p = tile([nd.stockout_cost for nd in scenario.nodes])
        K = [nd.fixed_order_cost for nd in scenario.nodes]
        self._K = tile(K) if any(K) else None
        self._h_transit = (
            tile(np.where(parent < 0, 0.0, h[np.maximum(parent, 0)]))
            if scenario.in_transit_holding
            else None
        )
        self._init = np.array([nd.initial_inventory for nd in scenario.nodes])
        self._backorder = scenario.shortage == "backorder"
        sup = scenario.supplier
        # numpy scalars: a Python float costs a conversion in every ufunc call
        f64 = np.float64
        self._cap = f64(sup.capacity)
        self._regular = f64(sup.regular_capacity)
        self._overtime_cost = f64(sup.overtime_cost)
        self._sup_backlog_cost = f64(sup.backlog_cost)
        self._processes = [scenario.nodes[i].demand for i in self._stores]
        self._zeros = np.zeros((B, n))
        self._zeros.flags.writeable = False
        self.period = -1

    # ------------------------------------------------------------------ reset
    def reset(self, rng: np.random.Generator | Sequence[np.random.Generator]) -> None:
        """Start an episode: draw its demand, set initial stock, run 1-2 of period 0.

        Args:
            rng: one generator that draws the whole batch, or one generator per
                replica (replica ``b`` then meets the same demand as a batch of
                one reset with ``rng[b]``).
        """
        B, n, T = self.batch_size, self.n_nodes, self.scenario.horizon
        demand = np.zeros((T, B, n))
        if isinstance(rng, np.random.Generator):
            for i, p in zip(self._stores, self._processes, strict=True):
                demand[:, :, i] = p.sample(rng, T, B)
        else:
            rngs = list(rng)
            if len(rngs) != B or not all(
                isinstance(r, np.random.Generator) for r in rngs
            ):
                raise ValueError(
                    f"reset needs one numpy Generator or {B} of them (one per "
                    f"replica), got {len(rngs)} items"
                )
            for b, r in enumerate(rngs):
                for i, p in zip(self._stores, self._processes, strict=True):
                    demand[:, b, i] = p.sample(r, T, 1)[:, 0]
        self._demand = demand
        self.on_hand = np.repeat(self._init[None, :], B, axis=0)
        self._pipeline = np.zeros((self._M, B, n))
        self.in_transit = np.zeros((B, n))
        self.inbound_backlog = np.zeros((B, n))
        self._customer_backlog = self._owed_children = self.backlog = self._zeros
        self.period = 0
        self._open_period()

    def _open_period(self) -> None:
        """Steps 1-2 of ``self.period``: arrivals, then customer demand."""
        t = self.period
        self.opening = self.on_hand
        slot = t % self._M
        self.received = self._pipeline[slot].copy()
        self._pipeline[slot] = 0.0
        on_hand = self.on_hand + self.received
        # max(.., 0) absorbs rounding once a node's pipeline has emptied
        self.in_transit = np.maximum(self.in_transit - self.received, _ZERO)
        # demand is zero at warehouses, so whole-row arithmetic leaves them alone
        self.demand = d = self._demand[t]
        need = d + self._customer_backlog if self._backorder else d
        self.sold = np.minimum(on_hand, need)
        self.on_hand = on_hand - self.sold
        if self._backorder:
            self._customer_backlog = need - self.sold
            self.backlog = self._customer_backlog + self._owed_children
            self.lost = self._zeros
        else:
            self.lost = need - self.sold

    # ------------------------------------------------------------------- step
    def step(self, orders: np.ndarray, fulfil: np.ndarray | float = 1.0) -> Ledger:
        """Steps 3-4 of the current period, then 1-2 of the next.

        Args:
            orders: ``(B, N)`` non-negative order quantities, one per node in
                scenario order (the root's goes to the supplier).
            fulfil: the supplier's fulfil fraction in ``[0, 1]``, a scalar or
                ``(B,)``.

        Returns:
            The completed ledger of the period.

        Raises:
            ValueError: wrong shape, NaN, infinite or negative orders, or a fulfil
                fraction outside ``[0, 1]``.
            RuntimeError: before :meth:`reset` or after the horizon.
        """
        if self.period < 0:
            raise RuntimeError("Simulation.step called before reset()")
        if self.period >= self.scenario.horizon:
            raise RuntimeError(
                f"the episode ended at the horizon "
                f"({self.scenario.horizon} periods); call reset()"
            )
        B, n = self.batch_size, self.n_nodes
        try:
            orders = np.asarray(orders, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"orders must be numbers: {exc}") from None
        if orders.shape != (B, n):
            raise ValueError(
                f"orders must have shape (batch, nodes) = {(B, n)} in the "
                f"order {list(self.scenario.node_names)}, got {orders.shape}"
            )
        # NaN fails both comparisons
        if not (_min(orders, axis=None) >= _ZERO and _max(orders, axis=None) < _INF):
            self._bad_orders(orders)
        if type(fulfil) is float and 0.0 <= fulfil <= 1.0:
            fulfil = np.float64(fulfil)
        else:
            fulfil = self._check_fulfil(fulfil)

        # 3. orders, then shipments from on-hand (proportional rationing).
        A = self._A
        owed = self.inbound_backlog + orders
        requested = dot(owed, A)  # what each node's children ask of it
        frac = np.minimum(self.on_hand / np.maximum(requested, _TINY), _ONE)
        outstanding = owed[:, self._root]
        release = np.minimum(outstanding * fulfil, self._cap)
        ship = owed * dot(frac, self._A_T)  # each child gets its parent's fraction
        ship[:, self._root] = release
        shipped = dot(ship, A)
        on_hand = self.on_hand - shipped
        np.maximum(on_hand, _ZERO, out=on_hand)  # rounding when a node ships its all
        self.on_hand = on_hand
        self.inbound_backlog = inbound_backlog = owed - ship
        t, M = self.period, self._M
        for L, mask in self._lead_groups:
            self._pipeline[(t + L) % M] += ship * mask
        in_transit = self.in_transit + ship
        self._owed_children = dot(inbound_backlog, A)
        backlog = self._customer_backlog + self._owed_children

        # 4. costs on end-of-period quantities.
        holding = on_hand * self._h
        transit = (
            self._zeros if self._h_transit is None else in_transit * self._h_transit
        )
        stockout = (self.lost + backlog) * self._p
        total = holding + transit + stockout
        if self._K is not None:
            order_cost = (orders > 0) * self._K
            total += order_cost
        else:
            order_cost = self._zeros
        released = ship[:, self._root]
        overtime = np.maximum(released - self._regular, _ZERO)
        ledger = Ledger(
            period=t,
            node_names=self.scenario.node_names,
            opening=self.opening,
            received=self.received,
            demand=self.demand + dot(orders, A),
            sold=self.sold,
            lost=self.lost,
            ordered=orders,
            inbound=ship,
            shipped=shipped,
            inbound_backlog=inbound_backlog,
            backlog=backlog,
            closing=on_hand,
            in_transit=in_transit,
            holding_cost=holding,
            transit_cost=transit,
            stockout_cost=stockout,
            order_cost=order_cost,
            total_cost=total,
            supplier_overtime=overtime,
            supplier_overtime_cost=overtime * self._overtime_cost,
            supplier_backlog_cost=inbound_backlog[:, self._root]
            * self._sup_backlog_cost,
        )
        self.period = t + 1
        self.in_transit = in_transit
        self.backlog = backlog
        if self.period < self.scenario.horizon:
            self._open_period()
        return ledger

    def _check_fulfil(self, fulfil) -> np.ndarray:
        try:
            arr = np.asarray(fulfil, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.full(2, np.nan)  # refused below
        if (
            arr.shape not in ((), (self.batch_size,))
            or not ((arr >= 0) & (arr <= 1)).all()
        ):
            raise ValueError(
                f"fulfil must be a fraction in [0, 1], a scalar or shape "
                f"({self.batch_size},), got {fulfil!r}"
            )
        return arr

    @property
    def done(self) -> bool:
        """Whether the horizon is reached."""
        return self.period >= self.scenario.horizon

    def _bad_orders(self, orders: np.ndarray) -> None:
        bad = ~(np.isfinite(orders) & (orders >= 0))
        b, i = (int(x[0]) for x in np.nonzero(bad))
        raise ValueError(
            f"orders must be finite and >= 0; replica {b}, node "
            f"{self.scenario.node_names[i]!r} got {float(orders[b, i])!r}"
        )

    # ------------------------------------------------------------ derived state
    @property
    def inventory_position(self) -> np.ndarray:
        """Local inventory position: on hand + in transit + on order - owed."""
        return self.on_hand + self.in_transit + self.inbound_backlog - self.backlog

    @property
    def echelon_inventory_position(self) -> np.ndarray:
        """Echelon inventory position of each node (its own and everything below it)."""
        return self.inventory_position @ self.scenario.subtree
