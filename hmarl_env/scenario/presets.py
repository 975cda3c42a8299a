"""The preset scenarios, loadable by name (:func:`preset`).

* ``default`` - two stores under one warehouse, the HMARL reference design's
  worked example.
* ``serial`` - the textbook serial chain of Snyder & Shen, Example 6.1
  (backorders, N(5, 1) demand, echelon base-stock optimum 47.67 per period).
* ``four_stores`` - the default with four stores of different demand.
* ``backorder`` - the default with backlogged instead of lost sales.
* ``seasonal`` - the default with a weekly demand pattern.
* ``hierarchy`` - the default rewarded by the system's cost, with costly
  overtime and a supplier that may smooth its releases.
* ``serial_N2``, ``serial_N3``, ``serial_N4`` - serial chains of 2 to 4
  stages whose every node orders whole units (:func:`serial_instance`).
* ``catalogue_50``, ``catalogue_500``, ``catalogue_2000`` - two stores
  under one warehouse stocking that many products under shared storage,
  trucks and supplier volume (:func:`catalogue`).
* ``lost_sales_L<L>_p<p>`` (and ``backorder_L<L>_p<p>``, optionally
  ``_mean<m>``) - one store ordering whole units from an uncapacitated
  supplier, Zipkin's (2008) single-stage instances (:func:`single_stage`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from hmarl_env.demand import (
    NegativeBinomial,
    Normal,
    Poisson,
    Seasonal,
    _check_finite,
)
from hmarl_env.scenario.catalogue import SAFETY_FACTORS, generate_products
from hmarl_env.scenario.types import (
    Actions,
    Node,
    Rewards,
    Scenario,
    ShortageMode,
    Supplier,
)

__all__ = [
    "CATALOGUE_SIZES",
    "PRESETS",
    "SERIAL_INSTANCES",
    "catalogue",
    "preset",
    "serial_instance",
    "single_stage",
]


#: the default chain's store fields but the demand (``four_stores`` too)
_DEFAULT_STORE = dict(
    lead_time=2,
    holding_cost=0.073,
    stockout_cost=1.0,
    initial_inventory=300.0,
    parent="warehouse_1",
)


def default() -> Scenario:
    """Two stores under one warehouse: the HMARL reference design's worked example.

    Stores sell about 100 units a day (normal, std 20 and 30), hold
    stock at 0.073 per unit-day (a store holding 620 units pays 45.2 a day, as
    in the reference design) and lose unmet demand at 1.0 per unit. The warehouse is 2
    days from the stores, holds at 0.03 and pays 0.5 per unit-day it owes a store.
    The supplier is 4 days from the warehouse and releases at most 600 units a
    day (three days of total demand), 300 of them without overtime, so the
    warehouse's lots of 500 / 1000 / 1500 units take one to three days to
    release and the supplier's choice to delay or release matters.
    """
    store = _DEFAULT_STORE
    return Scenario(
        name="default",
        nodes=(
            Node("store_1", demand=Normal(100.0, 20.0), **store),
            Node("store_2", demand=Normal(100.0, 30.0), **store),
            Node(
                "warehouse_1",
                parent=None,
                lead_time=4,
                holding_cost=0.03,
                stockout_cost=0.5,
                initial_inventory=1200.0,
            ),
        ),
        supplier=Supplier(
            capacity=600.0,
            regular_capacity=300.0,
            overtime_cost=0.05,
            backlog_cost=0.02,
        ),
        horizon=100,
    )


def serial() -> Scenario:
    """The textbook serial chain: Snyder & Shen, Fundamentals of Supply Chain
    Theory, Example 6.1.

    Three stages (store <- warehouse_1 <- warehouse_2), backorders, demand
    N(5, 1), lead times 1, 1, 2 from the store up, local holding costs 7, 4, 2,
    stockout cost 37.12 per unit backlogged per period, in-transit stock held at
    the shipper's rate. Echelon base-stock levels 6.51, 12.01, 22.70 are optimal
    with expected cost 47.67 per period. Initial stock is the optimal local
    levels.
    """
    return Scenario(
        name="serial",
        nodes=(
            Node(
                "store_1",
                parent="warehouse_1",
                lead_time=1,
                holding_cost=7.0,
                stockout_cost=37.12,
                initial_inventory=6.51,
                demand=Normal(5.0, 1.0),
            ),
            Node(
                "warehouse_1",
                parent="warehouse_2",
                lead_time=1,
                holding_cost=4.0,
                initial_inventory=12.01 - 6.51,
            ),
            Node(
                "warehouse_2",
                parent=None,
                lead_time=2,
                holding_cost=2.0,
                initial_inventory=22.70 - 12.01,
            ),
        ),
        horizon=1000,
        shortage="backorder",
        in_transit_holding=True,
        actions=Actions(warehouse_order_lots=(0.0, 5.0, 10.0, 15.0)),
    )


#: serial instances with every node ordering whole units, by stage count:
#: local holding costs and lead times from the store up, the store's
#: stockout cost per unit backlogged and period, the demand per period
#: the serial instances' order adjustments ``-k .. k`` (``order_offsets``)
SERIAL_OFFSETS = 3
SERIAL_INSTANCES: dict[int, dict[str, Any]] = {
    2: {
        "holding": (3.0, 1.0),
        "lead_times": (1, 2),
        "stockout": 19.0,
        "demand": Poisson(5.0),
    },
    3: {
        "holding": (7.0, 4.0, 2.0),
        "lead_times": (1, 1, 2),
        "stockout": 37.12,
        "demand": Normal(5.0, 1.0),
    },  # Snyder & Shen, Example 6.1
    4: {
        "holding": (4.0, 3.0, 2.0, 1.0),
        "lead_times": (1, 1, 1, 2),
        "stockout": 39.0,
        "demand": Poisson(5.0),
    },
}


def serial_instance(stages: int) -> Scenario:
    """A serial chain of ``stages`` stages (``serial_N2``, ``serial_N3`` =
    Example 6.1, ``serial_N4``): ``store_1`` <- ``warehouse_1`` <- ... <-
    ``warehouse_<stages - 1>`` (the root), backorders, in-transit stock held
    at the shipper's rate, an uncapacitated supplier, and every node ordering
    whole units within ``0..K``: ``K`` is twice the demand's 1 - 1e-6
    quantile, so that an echelon base-stock policy, which orders what the
    stage below ordered (in steady state, a period's demand), is never cut.
    A node's action adjusts the demand just served below it by ``-3 .. 3``
    units (``actions.order_offsets``): echelon base-stock orders that demand
    in steady state (offset 0), and a policy acting at random orders it on
    average, where one ordering ``0..K`` at random floods every stage above
    the store with orders it owes and never drains, and nothing it does
    changes the cost any more. Episodes of 100 periods for training (the
    benchmarks evaluate longer ones). Each node starts with its lead time's
    mean demand on hand (the store one period more).
    ``baselines.serial.solve_scenario`` gives the optimum."""
    from scipy import stats

    if stages not in SERIAL_INSTANCES:
        raise ValueError(
            f"serial instances have {sorted(SERIAL_INSTANCES)} stages, got {stages!r}"
        )
    spec = SERIAL_INSTANCES[stages]
    demand = spec["demand"]
    if isinstance(demand, Poisson):
        top = float(stats.poisson.isf(1e-6, demand.mean))
    else:
        top = float(stats.norm.isf(1e-6, demand.mean, demand.std))
    K = int(2 * math.ceil(top))
    nodes = []
    names = ["store_1", *(f"warehouse_{j}" for j in range(1, stages))]
    for j, name in enumerate(names):
        lead = spec["lead_times"][j]
        nodes.append(
            Node(
                name,
                parent=names[j + 1] if j + 1 < stages else None,
                lead_time=lead,
                holding_cost=spec["holding"][j],
                stockout_cost=spec["stockout"] if j == 0 else 0.0,
                initial_inventory=float(demand.mean) * (lead + (j == 0)),
                demand=demand if j == 0 else None,
            )
        )
    return Scenario(
        name=f"serial_N{stages}",
        nodes=tuple(nodes),
        horizon=100,
        shortage="backorder",
        in_transit_holding=True,
        actions=Actions(
            store_max_order=K, warehouse_max_order=K, order_offsets=SERIAL_OFFSETS
        ),
    )


def four_stores() -> Scenario:
    """The default network with four stores of different size and variability."""
    base = default()
    store = _DEFAULT_STORE
    return base.replace(
        name="four_stores",
        nodes=(
            Node("store_1", demand=NegativeBinomial(100.0, 20.0), **store),
            Node("store_2", demand=NegativeBinomial(100.0, 30.0), **store),
            Node("store_3", demand=Poisson(60.0), **store),
            Node("store_4", demand=NegativeBinomial(140.0, 45.0), **store),
            dataclasses.replace(base.nodes[2], initial_inventory=2400.0),
        ),
        supplier=Supplier(
            capacity=1200.0,
            regular_capacity=600.0,
            overtime_cost=0.05,
            backlog_cost=0.02,
        ),
        actions=Actions(warehouse_order_lots=(0.0, 1000.0, 2000.0, 3000.0)),
    )


def backorder() -> Scenario:
    """The default with store shortages backlogged rather than lost."""
    return default().replace(name="backorder", shortage="backorder")


def seasonal() -> Scenario:
    """The default with a weekly pattern (weekend peak) on both stores' demand."""
    base = default()
    pattern = (0.8, 0.9, 0.9, 1.0, 1.1, 1.3, 1.0)
    nodes = tuple(
        dataclasses.replace(n, demand=Seasonal(n.demand, pattern)) if n.is_store else n
        for n in base.nodes
    )
    return base.replace(name="seasonal", nodes=nodes)


def hierarchy() -> Scenario:
    """The default network trained on the system's cost, with a supplier whose
    choice matters: the curriculum's scenario for system-aware learning.

    Every agent receives the system reward (minus the chain's ledger cost of
    the period, ``rewards.mode = "system"``). Overtime costs 0.2 per unit
    released above the regular 300 a day (four times the default's), and the
    supplier may release all, three quarters, half, a quarter or none of what
    it owes: releasing a lot at once costs overtime, spreading it out delays
    the warehouse and risks the stores' sales (production smoothing). On
    held-out seeds a smoothing supplier lowers the all-heuristic chain's cost
    (``baselines.policies.SmoothingSupplier``; docs/training.md, "Curriculum").
    """
    base = default()
    return base.replace(
        name="hierarchy",
        supplier=dataclasses.replace(base.supplier, overtime_cost=0.2),
        actions=dataclasses.replace(
            base.actions, supplier_fulfil_fractions=(1.0, 0.75, 0.5, 0.25, 0.0)
        ),
        rewards=dataclasses.replace(base.rewards, mode="system"),
    )


#: the warehouse's cost per order in ``warehouse_fixed_cost``: its economic
#: order quantity ``sqrt(2 F d / h)`` is 1,000 units, five days of demand
WAREHOUSE_FIXED_COST = 75.0


def warehouse_fixed_cost() -> Scenario:
    """The default network where the warehouse pays for each order: lot
    sizing at the warehouse, with no known optimum.

    The warehouse pays 75 per period in which it orders (its economic order
    quantity, ``sqrt(2 * 75 * 200 / 0.03)``, is 1,000 units: five days of the
    200 it serves a day) and orders by periods of cover that a planner sizes
    (``actions.warehouse_lot_cover``): action ``c`` orders what brings its
    inventory position less the three days of demand until the order
    arrives up to ``c`` days of demand, ``c`` = 0..16, within 3,000 units.
    So (s, S) at whole days is a policy of these actions (the tuned
    heuristic warehouse, :class:`baselines.policies.SSWarehouse`), and a
    learned warehouse chooses when to order and how far ahead while the
    planner nets its position. Every agent receives the system reward (minus
    the chain's ledger cost), so a warehouse is judged by what its lots cost
    the chain.
    """
    base = default()
    nodes = tuple(
        n
        if n.is_store
        else dataclasses.replace(n, fixed_order_cost=WAREHOUSE_FIXED_COST)
        for n in base.nodes
    )
    return base.replace(
        name="warehouse_fixed_cost",
        nodes=nodes,
        actions=dataclasses.replace(
            base.actions,
            warehouse_max_order=3000,
            warehouse_lot_cover=tuple(float(c) for c in range(17)),
        ),
        rewards=dataclasses.replace(base.rewards, mode="system"),
    )


#: ``lost_sales_L<L>_p<p>`` (``backorder_..``), optionally ``_K<k>`` (a fixed
#: order cost), ``_mean<m>`` and ``_cover`` (orders by periods of cover): a
#: single-stage instance by name (:func:`single_stage`)
_SINGLE_STAGE = re.compile(
    r"(lost_sales|backorder)_L([0-9]+)_p([0-9]+(?:\.[0-9]+)?)"
    r"(?:_K([0-9]+(?:\.[0-9]+)?))?"
    r"(?:_mean([0-9]+(?:\.[0-9]+)?))?"
    r"(_cover)?"
)


def single_stage(
    lead_time: int,
    penalty: float,
    mean: float = 5.0,
    shortage: ShortageMode = "lost_sales",
    horizon: int = 100,
    fixed: float = 0.0,
    cover: bool = False,
    max_order: int | None = None,
) -> Scenario:
    """One store ordering whole units from an uncapacitated supplier: the
    single-stage system of inventory theory, in Zipkin's (2008) conventions.

    Zipkin, "Old and new methods for lost-sales inventory systems", Operations
    Research 56(5): Poisson demand (``mean`` per period), holding cost 1 per
    unit on hand at the end of a period, ``penalty`` per unit of demand lost
    (``shortage="lost_sales"``) or per unit backlogged at the end of a period
    (``"backorder"``), no ordering cost. In each of his periods the order
    placed ``L`` periods ago arrives, a new order is placed, demand occurs and
    costs are charged on what is left.

    Mapping to hmarl's timeline (arrivals, demand, then orders and costs, see
    :mod:`hmarl_env.core`): hmarl's store decides at the end of period ``t``,
    after its demand, which is Zipkin's decision at the start of ``t + 1``
    (nothing happens in between). His order arrives ``L`` periods after it is
    placed, before that period's demand; hmarl's arrives ``lead_time`` periods
    after ``t``, i.e. ``lead_time - 1`` periods after his start of ``t + 1``:
    so the store's ``lead_time`` is ``L + 1``, and ``L`` demands fall between
    an order and its arrival in both. hmarl's ledger cost of period ``t + 1``
    (holding on its closing stock, penalty on its lost or backlogged units) is
    his cost of that period; the supplier costs nothing. Long-run average
    ledger cost per period is therefore his average cost.

    Actions are order quantities ``0 .. K`` (``actions.store_max_order``),
    with lost sales ``K = ceil(2 * mean) + 1`` (11 for mean 5): a store
    ordering at random orders about the mean demand, so stock does not pile
    up while a learner explores, and the optimal policy never needs more (the
    exact solver, :mod:`baselines.optimal`, checks that this bound does not
    bind; a base-stock policy would order more after a period of demand above
    ``K``). With backorders the optimum is base-stock, which reorders each
    period's demand: ``K`` is then one above the demand's ``1 - 1e-6``
    quantile (20 for mean 5).
    An episode (``horizon`` periods, 100 by default; evaluate with a longer
    one for steady-state averages) starts near the steady state: ``mean``
    units arrive in each of the first ``L`` periods and the store holds what
    brings its inventory position to the backorder base-stock level (the ``p /
    (p + 1)`` quantile of ``L + 1`` periods' demand). Every agent is rewarded
    by the system's cost (``rewards.mode = "system"``), here the store's own,
    charged in expectation over each period's demand
    (``rewards.expected_store_costs``: the same expected return as the ledger
    cost, without the demand draw's noise, which a penalty of 39 per lost unit
    makes the larger part of a period's cost; the ledger and every evaluation
    keep the realised costs). Replace ``rewards`` for the realised cost.

    A fixed order cost (``fixed``, per period in which the store orders:
    Scarf's setup cost ``K``) makes ordering in lots pay; the optimum is then
    an (s, S) policy with backorders (:mod:`baselines.fixed_cost`) and comes
    from the dynamic program for both (:mod:`baselines.optimal`). Such an
    instance orders up to ``K = ceil(2 * EOQ) + q`` units, the economic order
    quantity ``sqrt(2 fixed mean / h)`` twice over plus the demand's ``1 -
    1e-6`` quantile ``q``: an (s, S) policy orders ``S - s`` plus what a
    period's demand took below ``s``, and ``S - s`` stays near the EOQ (the
    solvers check that the bound does not bind).

    With ``cover`` (the name's ``_cover``) the store acts in periods of
    cover that a planner sizes (``actions.store_lot_cover``, the hybrid of a
    learned timing and a lot planner's netting): covers ``k / mean`` for
    ``k = 0 .. K``, so action ``k > 0`` orders what brings the inventory
    position up to ``k`` units above the mean demand until the order
    arrives (an order-up-to level one unit apart, capped at ``K``) and
    action 0 orders nothing unless a backlog is owed at arrival: every
    (s, S) policy is a policy of these actions, and a learner chooses only
    when to order and up to where.

    ``max_order`` replaces that ``K`` (instances of a family share the
    largest one's, :mod:`hmarl_env.scenario.family`); it must not be below it.

    Loadable by name: ``lost_sales_L4_p39`` (``L = 4``, ``p = 39``, mean 5),
    ``backorder_L2_p9_mean10``, ``backorder_L0_p9_K64_mean10`` (a fixed cost
    of 64: Zheng & Federgruen's table), ``backorder_L1_p9_K50_cover``.
    """
    from scipy import stats

    if isinstance(lead_time, bool) or not isinstance(lead_time, int) or lead_time < 0:
        raise ValueError(
            f"single_stage.lead_time must be an integer >= 0 (Zipkin's L: the "
            f"demands between an order and its arrival), got {lead_time!r}"
        )
    _check_finite("single_stage", "penalty", penalty, strict=True)
    _check_finite("single_stage", "mean", mean, strict=True)
    if shortage not in ("lost_sales", "backorder"):
        raise ValueError(
            f"single_stage.shortage must be 'lost_sales' or 'backorder', got "
            f"{shortage!r}"
        )
    _check_finite("single_stage", "fixed", fixed)
    if fixed > 0:  # (s, S): S - s near the EOQ, plus a period's demand
        eoq = math.sqrt(2 * fixed * mean)
        K = math.ceil(2 * eoq) + int(stats.poisson.isf(1e-6, mean))
    elif shortage == "lost_sales":
        K = math.ceil(2 * mean) + 1
    else:  # the optimum is base-stock, whose order is the last demand
        K = int(stats.poisson.isf(1e-6, mean)) + 1
    if max_order is not None:
        if isinstance(max_order, bool) or not isinstance(max_order, int):
            raise ValueError(
                f"single_stage.max_order must be a whole number, got {max_order!r}"
            )
        if max_order < K:
            raise ValueError(
                f"single_stage.max_order must be at least {K} (the instance's "
                f"own largest order), got {max_order}"
            )
        K = max_order
    level = float(stats.poisson.ppf(penalty / (penalty + 1.0), mean * (lead_time + 1)))
    pipeline = mean * lead_time
    name = (
        f"{shortage}_L{lead_time}_p{penalty:g}"
        + (f"_K{fixed:g}" if fixed > 0 else "")
        + ("" if mean == 5.0 else f"_mean{mean:g}")
        + ("_cover" if cover else "")
    )
    covers = tuple(k / float(mean) for k in range(K + 1)) if cover else None
    return Scenario(
        name=name,
        nodes=(
            Node(
                "store_1",
                parent=None,
                lead_time=lead_time + 1,
                holding_cost=1.0,
                stockout_cost=float(penalty),
                fixed_order_cost=float(fixed),
                initial_inventory=max(level - pipeline, mean),
                initial_pipeline=float(mean),
                demand=Poisson(float(mean)),
            ),
        ),
        horizon=horizon,
        shortage=shortage,
        actions=Actions(store_max_order=K, store_lot_cover=covers),
        rewards=Rewards(mode="system", expected_store_costs=True),
    )


#: the catalogue presets' sizes: ``catalogue_<n>`` (the field's scales)
CATALOGUE_SIZES = (50, 500, 2000)
#: the catalogue presets' capacities: storage in periods of the mean demand
#: volume a node serves; trucks and the supplier's release, the mean demand
#: volume per period plus this many standard deviations of it
CATALOGUE_CAPACITY = {"store": 3.5, "warehouse": 2.7, "truck": 1.0, "supplier": 1.0}


def catalogue(n_products: int, seed: int = 2026) -> Scenario:
    """Two stores under one warehouse stocking ``n_products`` products that
    share storage, trucks and the supplier's release volume (lost sales, 100
    periods, as MABIM's benchmarks).

    Products come from :func:`~hmarl_env.scenario.catalogue.generate_products`
    (seeded, documented there): heavy-tailed means, slow and fast movers,
    different variabilities, volumes and values. Costs are fractions of a
    product's value: stores hold at 0.001 of it a period and lose 0.2 of it a
    unit short (the margin; critical ratio 0.995), the warehouse holds at
    0.0005 and pays 0.01 a unit-period it owes a store. Stores are 2 periods
    from the warehouse, the warehouse 4 from the supplier.

    Capacities (:data:`CATALOGUE_CAPACITY`), from the mean demand volume per
    period ``V`` (a store's, or the chain's for the warehouse and the
    supplier) and its standard deviation ``sd`` (products independent): each
    store stores ``3.5 V`` and its truck carries ``V + sd`` a period; the
    warehouse stores ``2.7 V``; the supplier releases ``V + sd`` a period.
    Aggregate volume varies less as products are added, so trucks and the
    supplier are set by its spread, storage by its mean.

    The tuned per-product base-stock policy, run with capacities ignored,
    needs more than each (95th percentile of the volume it needs over the
    capacity, 32 held-out episodes, ``benchmarks/catalogue_heuristics.py``):

    ==============  =============  ===========  =================  ========
    preset          store storage  store truck  warehouse storage  supplier
    ==============  =============  ===========  =================  ========
    catalogue_50    +17%, +15%     +16%, +16%   +23%               +15%
    catalogue_500   +13%, +14%     +6%, +6%     +13%               +4%
    catalogue_2000  +10%, +10%     +3%, +3%     +10%               +2%
    ==============  =============  ===========  =================  ========
    """
    stores = ("store_1", "store_2")
    lead = {"store_1": 2, "store_2": 2, "warehouse_1": 4}
    products = generate_products(n_products, stores, seed, lead_times=lead)
    volume = {s: sum(p.volume * p.demand[s].mean for p in products) for s in stores}
    spread = {
        s: math.sqrt(sum((p.volume * p.demand[s].std) ** 2 for p in products))
        for s in stores
    }
    total = sum(volume.values())
    total_spread = math.sqrt(sum(x**2 for x in spread.values()))
    c = CATALOGUE_CAPACITY
    store = dict(
        lead_time=2, holding_cost=0.001, stockout_cost=0.2, parent="warehouse_1"
    )
    return Scenario(
        name=f"catalogue_{n_products}",
        nodes=(
            *(
                Node(
                    s,
                    storage=round(c["store"] * volume[s], 2),
                    truck_volume=round(volume[s] + c["truck"] * spread[s], 2),
                    **store,
                )
                for s in stores
            ),
            Node(
                "warehouse_1",
                parent=None,
                lead_time=4,
                holding_cost=0.0005,
                stockout_cost=0.01,
                storage=round(c["warehouse"] * total, 2),
            ),
        ),
        supplier=Supplier(capacity=round(total + c["supplier"] * total_spread, 2)),
        horizon=100,
        products=products,
        actions=Actions(catalogue_safety=SAFETY_FACTORS),
    )


PRESETS = {
    "default": default,
    "serial": serial,
    "four_stores": four_stores,
    "backorder": backorder,
    "seasonal": seasonal,
    "hierarchy": hierarchy,
    "warehouse_fixed_cost": warehouse_fixed_cost,
}


def preset(name: str) -> Scenario | None:
    """The preset, single-stage or serial instance called ``name``, or None."""
    if name in PRESETS:
        return PRESETS[name]()
    sized = re.fullmatch(r"catalogue_([0-9]+)", name)
    if sized is not None and int(sized.group(1)) in CATALOGUE_SIZES:
        return catalogue(int(sized.group(1)))
    serial = re.fullmatch(r"serial_N([0-9]+)", name)
    if serial is not None and int(serial.group(1)) in SERIAL_INSTANCES:
        return serial_instance(int(serial.group(1)))
    m = _SINGLE_STAGE.fullmatch(name)
    if m is None:
        return None
    shortage, L, p, fixed, mean, cover = m.groups()
    return single_stage(
        int(L),
        float(p),
        float(mean or 5.0),
        shortage,
        fixed=float(fixed or 0.0),
        cover=cover is not None,
    )
