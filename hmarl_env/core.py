"""Batched simulation of a tree supply chain.

(One module past 500 lines on purpose: the period's kernel and the state it
reads and writes are one piece, and the timeline below is their spec.)

:class:`Simulation` advances ``B`` independent replicas of a
:class:`~hmarl_env.scenario.Scenario` at once; every state array has the batch
axis first. It knows nothing of agents, observations or rewards: it takes order
quantities and returns the period's :class:`~hmarl_env.ledger.Ledger`.

With a catalogue of ``P`` products (:attr:`Scenario.products`) every state
array has one column per node and product, node-major (column ``i * P + p``),
and every step below runs for each product; the capacities are what couples
products. Without a catalogue ``P = 1`` and a column is a node.

Timeline of period ``t`` (the textbook's periodic review):

1. shipments due in ``t`` arrive and join on-hand; where a node's storage
   (``Node.storage``, volume) cannot take them all, every product arriving is
   accepted in the same proportion, that of the room left to the volume
   arriving, and the rest is discarded (ledger ``discarded``, costing the
   product's ``value`` a unit);
2. customer demand at stores is served from on-hand; the unmet part is lost
   (``lost_sales``) or added to the store's backlog (``backorder``), which is
   served first in later periods;
3. every node orders (``step``'s ``orders``); each node then ships to its
   children from on-hand against what they ordered plus what it still owes
   them, rationing proportionally when short (what it cannot ship stays owed);
   the supplier releases ``outstanding * fulfil`` to the root and owes the
   rest. Then the volume limits: where what goes down a lane (to a node from
   its parent: ``Node.truck_volume``; to the root from the supplier:
   ``Supplier.capacity``) exceeds its volume, every product on it is cut in the
   same proportion (ledger ``capacity_cut``) and the cut stays owed. With one
   product the supplier's rule is ``min(outstanding * fulfil, capacity)``. A
   shipment sent in ``t`` to a node with lead time ``L`` arrives at the start
   of ``t + L``, less the fraction lost on the way where the node has a
   ``shipping_loss`` (drawn for the lane and period at reset; ledger
   ``transit_lost``, costing the product's value);
4. costs are charged on end-of-period quantities: on-hand at the node's
   holding cost; units in transit to a node at its parent's holding cost when
   ``in_transit_holding`` is on (the supplier's pipeline is free); stockout cost
   per unit lost, or per unit backlogged (stores) or owed to children
   (warehouses) at the end of the period; a node's fixed cost per period in
   which it orders, shared equally by the products it ordered, plus each
   ordered product's own; the value of what was discarded or lost in transit;
   what the order cost at the node's unit prices (``Node.price_breaks``,
   all-units or incremental quantity discounts).

:meth:`Simulation.reset` runs 1-2 of period 0. :meth:`Simulation.step` runs 3-4
of period ``t``, returns its complete ledger, then runs 1-2 of ``t + 1`` (unless
``t + 1`` is the horizon), so that the state seen between two calls is the
state in which decisions are made.

All demand of an episode is drawn at reset from the generator(s) given, so it
does not depend on the orders: two policies reset with the same seed meet the
same demand (common random numbers). The shipping losses are drawn after it,
from the same generator(s), only where some node has a ``shipping_loss``, so
that a scenario without losses draws what it always drew.

Steps 1-4 are numba kernels (``_step``, ``_open``): loops over replicas and
nodes, compiled on first use and cached on disk, the one implementation for
every batch size. ``NUMBA_DISABLE_JIT=1`` runs them as plain Python (slow, same
results: ``tests/test_kernels.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np

from hmarl_env._jit import kernel
from hmarl_env.demand import MAX_MAGNITUDE, sample_columns
from hmarl_env.ledger import (
    CAPACITY_FIELDS,
    NODE_FIELDS,
    SUPPLIER_FIELDS,
    CapacityField,
    Ledger,
    NodeField,
    SupplierField,
)
from hmarl_env.scenario import Scenario, get_scenario

__all__ = ["STATE_FIELDS", "TINY", "Simulation", "StateField", "served"]


class StateField(IntEnum):
    """Rows of :attr:`Simulation.state_array` (its axis 1), each ``(B, N)``."""

    on_hand = 0
    in_transit = 1
    inbound_backlog = 2
    backlog = 3
    opening = 4
    received = 5
    demand = 6
    sold = 7
    lost = 8
    customer_backlog = 9
    owed_children = 10
    discarded = 11


STATE_FIELDS = tuple(f.name for f in StateField)
# short names for the kernels: state[b, _S.on_hand, i], led[b, _L.shipped, i]
_S, _L, _SF, _CF = StateField, NodeField, SupplierField, CapacityField
#: the concentration ``a + b`` of the beta distribution a lane's shipping
#: loss is drawn from (mean ``Node.shipping_loss``): a mean loss of 2% a
#: period has a standard deviation of 2.5 points
LOSS_CONCENTRATION = 30.0
#: the floor of a divisor that may be 0: ``x / max(y, TINY)`` is finite where
#: ``y`` is 0 (and ``x >= 0``); every kernel of hmarl's uses this one
TINY = 1e-300
#: rows of the per-column constants given to the kernels (``_FIXED``: the
#: product's own fixed cost; a node's is shared by what it orders)
_HOLD, _STOCKOUT, _FIXED, _HOLD_TRANSIT, _VALUE = range(5)
#: rows of the per-node limits given to the kernels
_STORAGE, _TRUCK, _MAJOR = range(3)
#: what a step kernel reports about its inputs (nothing is changed unless OK)
_OK, _BAD_ORDERS, _BAD_FULFIL = range(3)
#: the largest order a node may place in a period: a thousand times the largest
#: demand a scenario may have (:data:`hmarl_env.demand.MAX_MAGNITUDE`), so that
#: stock, costs and rewards stay finite
MAX_ORDER = 1e3 * MAX_MAGNITUDE

# Why kernels: at batch 1 every numpy call costs about a microsecond whatever
# its size, and a period is dozens of them; a compiled loop does the period in
# about two microseconds, and at large batches it streams each replica's state
# once instead of once per operation.


@kernel(inline=True)
def served(done, undone):  # pragma: no cover - jit
    """The fraction of what was asked that was served, ``done / (done +
    undone)``, and 1 where nothing was asked."""
    return 1.0 - undone / max(done + undone, TINY)


@kernel
def _open(state, pipeline, demand, t, backorder, limits, volume):  # pragma: no cover
    """Steps 1-2 of period ``t`` for every replica (in place)."""
    slot = t % pipeline.shape[1]
    for b in range(state.shape[0]):
        _open_replica(state, pipeline, demand, b, t, slot, backorder, limits, volume)


@kernel(inline=True)
def _open_replica(  # pragma: no cover - jit
    state, pipeline, demand, b, t, slot, backorder, limits, volume
):
    """Steps 1-2 of period ``t`` for replica ``b``: arrivals, then customer demand."""
    P = volume.shape[0]
    for i in range(limits.shape[1]):
        accept = 1.0  # the share of what arrives that the storage takes
        storage = limits[_STORAGE, i]
        if storage < np.inf:
            held = 0.0
            arriving = 0.0
            for q in range(P):
                held += state[b, _S.on_hand, i * P + q] * volume[q]
                arriving += pipeline[b, slot, i * P + q] * volume[q]
            room = max(storage - held, 0.0)
            if arriving > room:
                accept = room / arriving
        for q in range(P):
            k = i * P + q
            received = pipeline[b, slot, k]
            pipeline[b, slot, k] = 0.0
            kept = received if accept == 1.0 else received * accept
            opening = state[b, _S.on_hand, k]
            state[b, _S.opening, k] = opening
            state[b, _S.received, k] = received
            state[b, _S.discarded, k] = received - kept
            on_hand = opening + kept
            # max(.., 0) absorbs rounding once a node's pipeline has emptied
            state[b, _S.in_transit, k] = max(state[b, _S.in_transit, k] - received, 0.0)
            # demand is zero at warehouses, so they are left alone
            d = demand[t, b, k]
            state[b, _S.demand, k] = d
            need = d + state[b, _S.customer_backlog, k] if backorder else d
            sold = min(on_hand, need)
            state[b, _S.sold, k] = sold
            state[b, _S.on_hand, k] = on_hand - sold
            if backorder:
                state[b, _S.customer_backlog, k] = need - sold
                state[b, _S.backlog, k] = need - sold + state[b, _S.owed_children, k]
                state[b, _S.lost, k] = 0.0
            else:
                state[b, _S.lost, k] = need - sold


@kernel
def _check(orders, fulfil, limit):  # pragma: no cover - jit
    """``_OK``, or what is wrong: NaN, negative or too large orders (above
    ``limit``), a fulfil fraction outside [0, 1]."""
    B, N = orders.shape
    for b in range(B):
        for i in range(N):
            x = orders[b, i]
            if not (x >= 0.0 and x <= limit):  # NaN fails both
                return _BAD_ORDERS
    for k in range(fulfil.shape[0]):
        if not (fulfil[k] >= 0.0 and fulfil[k] <= 1.0):
            return _BAD_FULFIL
    return _OK


@kernel
def _purchase(prices, i, q):  # pragma: no cover - jit
    """What an order of ``q`` units costs at node ``i``'s unit prices: every
    unit at the price of the last break ``q`` reaches (all units), or each
    unit at the price of its own segment (incremental, marked by a negative
    first quantity); 0 without breaks."""
    J = prices.shape[2]
    if q <= 0.0 or prices[i, 0, 0] == np.inf:
        return 0.0
    if prices[i, 0, 0] < 0.0:  # incremental: first quantity -1 stands for 0
        total = 0.0
        for j in range(J):
            lo = 0.0 if j == 0 else prices[i, 0, j]
            if lo >= q:
                break
            hi = prices[i, 0, j + 1] if j + 1 < J else np.inf
            total += (min(q, hi) - lo) * prices[i, 1, j]
        return total
    j = 0
    while j + 1 < J and prices[i, 0, j + 1] <= q:
        j += 1
    return q * prices[i, 1, j]


@kernel
def _step(  # pragma: no cover - jit
    state,
    pipeline,
    demand,
    orders,
    fulfil,
    parent,
    lead,
    consts,
    limits,
    volume,
    supplier,
    root,
    t,
    horizon,
    backorder,
    led,
    sup,
    cap,
    loss,
    prices,
):
    """Steps 3-4 of period ``t`` (state updated in place), then 1-2 of ``t + 1``.

    ``loss``: the fraction lost of each lane's shipment, ``(T, B, N)``, or
    ``(1, 1, N)`` of zeros where nothing is lost. ``prices``: each node's
    price breaks ``(N, 2, J)`` (quantities, then unit prices; a quantity of
    ``inf`` pads a node with fewer), and ``prices[i, 0, 0] < 0`` where node
    ``i``'s breaks are incremental.

    Writes the period's ledger blocks ``led``, ``sup`` and ``cap`` (allocated
    by the caller: numpy backs large arrays with huge pages, which spares a
    batch of a large catalogue tens of thousands of page faults a period).
    Returns the status; on one other than ``_OK`` nothing has changed.
    """
    status = _check(orders, fulfil, MAX_ORDER)
    B, _, K = state.shape
    P = volume.shape[0]
    N = K // P
    if status != _OK:
        return status
    capacity, regular = supplier[0], supplier[1]
    overtime_cost, backlog_cost = supplier[2], supplier[3]
    M = pipeline.shape[1]
    arrival = np.empty(N, dtype=np.int64)  # pipeline slot of a shipment sent now
    for i in range(N):
        arrival[i] = (t + lead[i]) % M
    opens = t + 1 < horizon
    next_slot = (t + 1) % M
    # per replica and column: what its children ask of it, got from it, still
    # miss; what it owes and ships before and after the volume limits
    requested = np.empty(K)
    shipped = np.empty(K)
    child_orders = np.empty(K)
    owed_children = np.empty(K)
    owed = np.empty(K)
    ship = np.empty(K)
    lost_on_way = np.empty(K)
    lt = t if loss.shape[0] > 1 else 0
    for b in range(B):
        lb = b if loss.shape[1] > 1 else 0
        f = fulfil[b] if fulfil.shape[0] == B else fulfil[0]
        # 3. orders, then shipments from on-hand (proportional rationing)
        for k in range(K):
            requested[k] = 0.0
            shipped[k] = 0.0
            child_orders[k] = 0.0
            owed_children[k] = 0.0
        for i in range(N):
            p = parent[i]
            if p >= 0:
                for q in range(P):
                    k = i * P + q
                    requested[p * P + q] += (
                        state[b, _S.inbound_backlog, k] + orders[b, k]
                    )
        for i in range(N):
            p = parent[i]
            for q in range(P):
                k = i * P + q
                owed[k] = state[b, _S.inbound_backlog, k] + orders[b, k]
                if p >= 0:  # each child gets its parent's fraction
                    pk = p * P + q
                    frac = min(state[b, _S.on_hand, pk] / max(requested[pk], TINY), 1.0)
                    ship[k] = owed[k] * frac
                else:  # the supplier releases to the root
                    ship[k] = owed[k] * f
            # the lane's volume: every product cut in one proportion
            limit = capacity if p < 0 else limits[_TRUCK, i]
            total = 0.0
            if limit < np.inf:
                for q in range(P):
                    total += ship[i * P + q] * volume[q]
            for q in range(P):
                k = i * P + q
                if total > limit:
                    full = ship[k]
                    ship[k] = limit * ((full * volume[q]) / total) / volume[q]
                    cap[b, _CF.capacity_cut, k] = full - ship[k]
                else:
                    cap[b, _CF.capacity_cut, k] = 0.0
                order = orders[b, k]
                if p >= 0:
                    pk = p * P + q
                    shipped[pk] += ship[k]
                    child_orders[pk] += order
                    owed_children[pk] += owed[k] - ship[k]
                led[b, _L.ordered, k] = order
                led[b, _L.inbound, k] = ship[k]
                led[b, _L.inbound_backlog, k] = owed[k] - ship[k]
                state[b, _S.inbound_backlog, k] = owed[k] - ship[k]
                # what is lost on the way never joins the pipeline
                lost_on_way[k] = ship[k] * loss[lt, lb, i]
                pipeline[b, arrival[i], k] += ship[k] - lost_on_way[k]
                state[b, _S.in_transit, k] += ship[k] - lost_on_way[k]
        # 4. costs on end-of-period quantities
        for i in range(N):
            lines = 0  # the products this node ordered share its fixed cost
            for q in range(P):
                if orders[b, i * P + q] > 0.0:
                    lines += 1
            share = limits[_MAJOR, i] / lines if lines > 0 else 0.0
            for q in range(P):
                k = i * P + q
                backlog = state[b, _S.customer_backlog, k] + owed_children[k]
                # max(.., 0): rounding when a node ships its all
                closing = max(state[b, _S.on_hand, k] - shipped[k], 0.0)
                in_transit = state[b, _S.in_transit, k]
                lost = state[b, _S.lost, k]
                holding = closing * consts[_HOLD, k]
                transit = in_transit * consts[_HOLD_TRANSIT, k]
                stockout = (lost + backlog) * consts[_STOCKOUT, k]
                order_cost = share + consts[_FIXED, k] if orders[b, k] > 0.0 else 0.0
                discarded = state[b, _S.discarded, k]
                discard_cost = discarded * consts[_VALUE, k]
                loss_cost = lost_on_way[k] * consts[_VALUE, k]
                purchase = _purchase(prices, i, orders[b, k])
                led[b, _L.opening, k] = state[b, _S.opening, k]
                led[b, _L.received, k] = state[b, _S.received, k]
                led[b, _L.demand, k] = state[b, _S.demand, k] + child_orders[k]
                led[b, _L.sold, k] = state[b, _S.sold, k]
                led[b, _L.lost, k] = lost
                led[b, _L.shipped, k] = shipped[k]
                led[b, _L.backlog, k] = backlog
                led[b, _L.closing, k] = closing
                led[b, _L.in_transit, k] = in_transit
                led[b, _L.holding_cost, k] = holding
                led[b, _L.transit_cost, k] = transit
                led[b, _L.stockout_cost, k] = stockout
                led[b, _L.order_cost, k] = order_cost
                led[b, _L.total_cost, k] = (
                    holding
                    + transit
                    + stockout
                    + order_cost
                    + discard_cost
                    + loss_cost
                    + purchase
                )
                cap[b, _CF.purchase_cost, k] = purchase
                cap[b, _CF.discarded, k] = discarded
                cap[b, _CF.discard_cost, k] = discard_cost
                cap[b, _CF.transit_lost, k] = lost_on_way[k]
                cap[b, _CF.transit_loss_cost, k] = loss_cost
                state[b, _S.on_hand, k] = closing
                state[b, _S.backlog, k] = backlog
                state[b, _S.owed_children, k] = owed_children[k]
        # the supplier's release and backlog, in volume (units with one product)
        released = 0.0
        owes = 0.0
        for q in range(P):
            released += led[b, _L.inbound, root * P + q] * volume[q]
            owes += led[b, _L.inbound_backlog, root * P + q] * volume[q]
        overtime = max(released - regular, 0.0)
        sup[b, _SF.supplier_overtime] = overtime
        sup[b, _SF.supplier_overtime_cost] = overtime * overtime_cost
        sup[b, _SF.supplier_backlog_cost] = owes * backlog_cost
        if opens:  # the next period, while this replica is in cache
            _open_replica(
                state, pipeline, demand, b, t + 1, next_slot, backorder, limits, volume
            )
    return status


def _state_field(k: int) -> property:
    def get(self: Simulation) -> np.ndarray:
        if self._state is None:
            raise RuntimeError(f"Simulation.{STATE_FIELDS[k]} read before reset()")
        return self._state[:, k].copy()

    return property(get, doc=f"``{STATE_FIELDS[k]}``, ``(B, N)``: a copy")


def _price_table(scenario: Scenario) -> np.ndarray:
    """Every node's price breaks ``(N, 2, J)`` for the kernel: quantities
    (padded with ``inf``), then unit prices; an incremental node's first
    quantity is -1 (the kernel reads it as 0)."""
    nodes = scenario.nodes
    J = max([len(nd.price_breaks) for nd in nodes] + [1])
    table = np.full((len(nodes), 2, J), np.inf)
    table[:, 1] = 0.0
    for i, nd in enumerate(nodes):
        for j, (q, price) in enumerate(nd.price_breaks):
            table[i, 0, j], table[i, 1, j] = q, price
        if nd.price_breaks and nd.discount == "incremental":
            table[i, 0, 0] = -1.0
    return table


class Simulation:
    """``B`` replicas of a scenario, stepped together.

    Args:
        scenario: the supply chain.
        batch_size: number of independent replicas ``B``.

    Attributes (valid after :meth:`reset`, shape ``(B, N)`` unless noted; with
    a catalogue of ``P`` products, ``(B, N * P)``, node-major):
        on_hand: units on hand.
        in_transit: units shipped to each node that have not arrived.
        inbound_backlog: units each node ordered that its parent (the supplier
            for the root) has not shipped yet.
        backlog: stores: customer demand waiting (backorder mode);
            warehouses: units owed to children.
        period: the current period (the one awaiting decisions).
        demand, sold, lost, received, opening: this period's values so far.

    Each of these attributes is a copy, taken when read. :attr:`state_array`
    is the live state itself, ``(B, len(STATE_FIELDS), N * P)``, which every step
    updates in place (for readers that copy what they keep).
    """

    on_hand = _state_field(StateField.on_hand)
    in_transit = _state_field(StateField.in_transit)
    inbound_backlog = _state_field(StateField.inbound_backlog)
    backlog = _state_field(StateField.backlog)
    opening = _state_field(StateField.opening)
    received = _state_field(StateField.received)
    demand = _state_field(StateField.demand)
    sold = _state_field(StateField.sold)
    lost = _state_field(StateField.lost)

    def __init__(self, scenario: Scenario | str, batch_size: int = 1) -> None:
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        scenario = get_scenario(scenario)  # a preset name or file, or a Scenario
        self.scenario = scenario
        self.batch_size = int(batch_size)
        n = self.n_nodes = len(scenario.nodes)
        P = self.n_products = scenario.n_products
        self.n_columns = n * P
        self._parent = np.ascontiguousarray(scenario.parent_index, dtype=np.int64)
        self._root = int(scenario.root)
        self._lead = np.ascontiguousarray(scenario.lead_times, dtype=np.int64)
        self._M = int(self._lead.max())
        # per column (node-major): node rate x product multiplier
        volume, value, hold_x, stockout_x, fixed = scenario.product_table
        h = np.array([nd.holding_cost for nd in scenario.nodes], dtype=np.float64)
        stockout = np.array([nd.stockout_cost for nd in scenario.nodes])
        consts = np.zeros((5, n, P))
        consts[_HOLD] = np.outer(h, hold_x)
        consts[_STOCKOUT] = np.outer(stockout, stockout_x)
        consts[_FIXED] = fixed
        if scenario.in_transit_holding:  # at the parent's rate; the supplier's is free
            rate = np.where(self._parent < 0, 0.0, h[np.maximum(self._parent, 0)])
            consts[_HOLD_TRANSIT] = np.outer(rate, hold_x)
        consts[_VALUE] = value
        self._consts = np.ascontiguousarray(consts.reshape(5, n * P))
        self._limits = np.array(
            [
                [nd.storage for nd in scenario.nodes],
                [nd.truck_volume for nd in scenario.nodes],
                [nd.fixed_order_cost for nd in scenario.nodes],
            ],
            dtype=np.float64,
        )
        self._volume = np.ascontiguousarray(volume, dtype=np.float64)
        sup = scenario.supplier
        self._supplier = np.array(
            [sup.capacity, sup.regular_capacity, sup.overtime_cost, sup.backlog_cost],
            dtype=np.float64,
        )
        initial, pipeline = scenario.initial_units
        self._init = initial.reshape(n * P)
        # what arrives in periods 1 .. L - 1: pipeline slots 1 .. L - 1
        self._init_pipeline = np.zeros((self._M, n, P))
        for i, nd in enumerate(scenario.nodes):
            self._init_pipeline[1 : nd.lead_time, i] = pipeline[i]
        self._init_pipeline = self._init_pipeline.reshape(self._M, n * P)
        self._backorder = scenario.shortage == "backorder"
        self._horizon = int(scenario.horizon)
        #: each lane's mean shipping loss, and the fractions of an episode
        self._loss_mean = np.array([nd.shipping_loss for nd in scenario.nodes])
        self._loss = np.zeros((1, 1, n))
        self._prices = _price_table(scenario)
        # the columns that face demand, and each one's process
        self._demand_columns = np.array(
            [i * P + q for i in scenario.store_index for q in range(P)], dtype=np.intp
        )
        self._processes = [
            d
            for i in scenario.store_index
            for d in scenario.store_demand(scenario.node_names[i])
        ]
        # the ledger blocks' shapes: node, supplier and capacity fields
        self._shapes = (
            (self.batch_size, len(NODE_FIELDS), n * P),
            (self.batch_size, len(SUPPLIER_FIELDS)),
            (self.batch_size, len(CAPACITY_FIELDS), n * P),
        )
        self._state: np.ndarray | None = None
        self.period = -1

    # ------------------------------------------------------------------ reset
    def _draw_losses(self, rng, T: int, B: int) -> np.ndarray:
        """The fraction lost of each lane's shipment in each period ``(T, B,
        N)``: beta draws of each node's mean ``shipping_loss`` (concentration
        :data:`LOSS_CONCENTRATION`), after the demand, from the same
        generator(s); ``(1, 1, N)`` zeros where no node loses anything."""
        n = self.n_nodes
        lossy = np.flatnonzero(self._loss_mean > 0)
        if lossy.size == 0:
            return np.zeros((1, 1, n))
        loss = np.zeros((T, B, n))
        for i in lossy:
            m = float(self._loss_mean[i])
            a, b = LOSS_CONCENTRATION * m, LOSS_CONCENTRATION * (1.0 - m)
            if isinstance(rng, np.random.Generator):
                loss[:, :, i] = rng.beta(a, b, size=(T, B))
            else:
                for r_index, r in enumerate(rng):
                    loss[:, r_index, i] = r.beta(a, b, size=T)
        return loss

    def reset(self, rng: np.random.Generator | Sequence[np.random.Generator]) -> None:
        """Start an episode: draw its demand, set initial stock, run 1-2 of period 0.

        Args:
            rng: one generator that draws the whole batch, or one generator per
                replica (replica ``b`` then meets the same demand as a batch of
                one reset with ``rng[b]``).
        """
        B, K, T = self.batch_size, self.n_columns, self.scenario.horizon
        if not isinstance(rng, np.random.Generator) and not hasattr(rng, "__iter__"):
            raise ValueError(
                "reset needs a numpy Generator (or one per replica), got "
                f"{rng!r}; for a seed, pass np.random.default_rng(seed)"
            )
        if isinstance(rng, np.random.Generator):
            rngs = None
        else:
            rngs = list(rng)
            if len(rngs) != B or not all(
                isinstance(r, np.random.Generator) for r in rngs
            ):
                raise ValueError(
                    f"reset needs one numpy Generator or {B} of them (one per "
                    f"replica), got {len(rngs)} items"
                )
        demand = np.zeros((T, B, K))
        cols = self._demand_columns
        # a catalogue: every column of a kind at once; one product, store by
        # store as ever (a catalogue of one draws what its scenario without
        # products draws)
        if self.n_products > 1:
            if rngs is None:
                demand[:, :, cols] = sample_columns(self._processes, rng, T, B)
            else:
                for b, r in enumerate(rngs):
                    demand[:, b, cols] = sample_columns(self._processes, r, T, 1)[:, 0]
        elif rngs is None:
            for i, p in zip(cols, self._processes, strict=True):
                demand[:, :, i] = p.sample(rng, T, B)
        else:
            for b, r in enumerate(rngs):
                for i, p in zip(cols, self._processes, strict=True):
                    demand[:, b, i] = p.sample(r, T, 1)[:, 0]
        self._demand = demand
        self._loss = self._draw_losses(rng if rngs is None else rngs, T, B)
        state = np.zeros((B, len(StateField), K))
        state[:, _S.on_hand] = self._init
        state[:, _S.in_transit] = self._init_pipeline.sum(axis=0)
        self._pipeline = np.repeat(self._init_pipeline[None], B, axis=0)
        _open(
            state,
            self._pipeline,
            demand,
            0,
            self._backorder,
            self._limits,
            self._volume,
        )
        self._state = state
        self.period = 0

    @property
    def state_array(self) -> np.ndarray:
        """Every field of :data:`STATE_FIELDS` stacked, ``(B, len(STATE_FIELDS), N)``:
        the live state, updated in place by every step (do not write to it)."""
        if self._state is None:
            raise RuntimeError("Simulation.state_array read before reset()")
        return self._state

    # ------------------------------------------------------------------- step
    def step(
        self,
        orders: np.ndarray,
        fulfil: np.ndarray | float = 1.0,
        out: Ledger | None = None,
    ) -> Ledger:
        """Steps 3-4 of the current period, then 1-2 of the next.

        Args:
            orders: ``(B, N)`` non-negative order quantities, one per node in
                scenario order (the root's goes to the supplier); ``(B, N *
                P)`` with a catalogue, node-major.
            fulfil: the supplier's fulfil fraction in ``[0, 1]``, a scalar or
                ``(B,)``.
            out: a ledger of an earlier period of this simulation that the
                caller no longer needs: its blocks are overwritten with this
                period's (numpy's ``out=``), which spares a large batch
                allocating them each period. ``None``: new blocks.

        Returns:
            The completed ledger of the period.

        Raises:
            ValueError: wrong shape, NaN, infinite or negative orders, a fulfil
                fraction outside ``[0, 1]``, or an ``out`` of another shape.
            RuntimeError: before :meth:`reset` or after the horizon.
        """
        t = self.period
        if t < 0:
            raise RuntimeError("Simulation.step called before reset()")
        if t >= self._horizon:
            raise RuntimeError(
                f"the episode ended at the horizon ({self._horizon} periods); "
                "call reset()"
            )
        orders = self._as_orders(orders)
        f = self._as_fulfil(fulfil)
        if out is None:  # inline: a step at batch 1 is a few microseconds
            shapes = self._shapes
            nodes, supplier = np.empty(shapes[0]), np.empty(shapes[1])
            capacity = np.empty(shapes[2])
        else:
            nodes, supplier, capacity = self._blocks(out)
        status = _step(
            self._state,
            self._pipeline,
            self._demand,
            orders,
            f,
            self._parent,
            self._lead,
            self._consts,
            self._limits,
            self._volume,
            self._supplier,
            self._root,
            t,
            self._horizon,
            self._backorder,
            nodes,
            supplier,
            capacity,
            self._loss,
            self._prices,
        )
        if status == _BAD_ORDERS:
            self._bad_orders(orders)
        elif status == _BAD_FULFIL:
            self._bad_fulfil(fulfil)
        self.period = t + 1
        return Ledger(
            t,
            self.scenario.node_names,
            nodes,
            supplier,
            capacity,
            self.scenario.product_names,
        )

    def _blocks(self, out: Ledger):
        """``out``'s three ledger blocks, checked to be this simulation's."""
        shapes = self._shapes
        blocks = (
            getattr(out, "nodes", None),
            getattr(out, "supplier", None),
            getattr(out, "capacity", None),
        )
        for block, shape in zip(blocks, shapes, strict=True):
            if (
                type(block) is not np.ndarray
                or block.shape != shape
                or block.dtype != np.float64
                or not block.flags.c_contiguous
                or not block.flags.writeable
            ):
                raise ValueError(
                    "out must be a ledger of this simulation (blocks of shapes "
                    f"{shapes}, writable float64), got {out!r}"
                )
        return blocks

    def _as_orders(self, orders) -> np.ndarray:
        """``orders`` as a C-contiguous, writable float64 ``(B, N)`` array."""
        if (
            type(orders) is not np.ndarray
            or orders.dtype != np.float64
            or not orders.flags.c_contiguous
            or not orders.flags.writeable
        ):
            try:
                orders = np.array(orders, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"orders must be numbers: {exc}") from None
        if orders.shape != (self.batch_size, self.n_columns):
            if self.n_products > 1:
                raise ValueError(
                    f"orders must have shape (batch, nodes x products) = "
                    f"{(self.batch_size, self.n_columns)}, node-major (column "
                    f"i * {self.n_products} + p), got {orders.shape}"
                )
            raise ValueError(
                f"orders must have shape (batch, nodes) = "
                f"{(self.batch_size, self.n_nodes)} in the order "
                f"{list(self.scenario.node_names)}, got {orders.shape}"
            )
        return orders

    def _as_fulfil(self, fulfil) -> np.ndarray:
        """``fulfil`` as a float64 array of 1 or ``B`` fractions (range checked
        in the kernel)."""
        if type(fulfil) is float:
            return np.full(1, fulfil)
        try:
            f = np.asarray(fulfil, dtype=np.float64)
        except (TypeError, ValueError):
            self._bad_fulfil(fulfil)
        if f.ndim == 0:
            return f.reshape(1)
        if f.shape != (self.batch_size,):
            self._bad_fulfil(fulfil)
        return np.ascontiguousarray(f)

    def _bad_fulfil(self, fulfil) -> None:
        raise ValueError(
            f"fulfil must be a fraction in [0, 1], a scalar or shape "
            f"({self.batch_size},), got {fulfil!r}"
        )

    @property
    def pipeline_array(self) -> np.ndarray:
        """What is in transit, by arrival: ``(B, M, N)`` with ``M`` the longest
        lead time; slot ``(period + k) % M`` holds what arrives ``k`` periods
        from now (``0 < k < M``). The live array (do not write to it)."""
        if self._state is None:
            raise RuntimeError("Simulation.pipeline_array read before reset()")
        return self._pipeline

    @property
    def done(self) -> bool:
        """Whether the horizon is reached."""
        return self.period >= self._horizon

    def _bad_orders(self, orders: np.ndarray) -> None:
        bad = ~((orders >= 0) & (orders <= MAX_ORDER))
        b, k = (int(x[0]) for x in np.nonzero(bad))
        P = self.n_products
        where = f"node {self.scenario.node_names[k // P]!r}"
        if P > 1:
            where += f", product {self.scenario.product_names[k % P]!r}"
        raise ValueError(
            f"orders must be finite, >= 0 and at most {MAX_ORDER:g}; replica {b}, "
            f"{where} got {float(orders[b, k])!r}"
        )

    # ------------------------------------------------------------ derived state
    @property
    def inventory_position(self) -> np.ndarray:
        """Local inventory position: on hand + in transit + on order - owed."""
        return self.on_hand + self.in_transit + self.inbound_backlog - self.backlog

    @property
    def echelon_inventory_position(self) -> np.ndarray:
        """Echelon inventory position of each node (its own and everything below it)."""
        ip = self.inventory_position
        if self.n_products == 1:
            return ip @ self.scenario.subtree
        B, N, P = self.batch_size, self.n_nodes, self.n_products
        return np.einsum(
            "bkp,kj->bjp", ip.reshape(B, N, P), self.scenario.subtree
        ).reshape(B, N * P)
