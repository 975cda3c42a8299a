"""Ledger invariants over random valid scenarios and random orders (hypothesis)."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmarl_env import Scenario, Simulation
from hmarl_env.demand import (
    MertonJumpDiffusion,
    NegativeBinomial,
    Normal,
    Poisson,
    Seasonal,
    Trace,
)
from hmarl_env.ledger import NODE_FIELDS, SUPPLIER_FIELDS
from hmarl_env.scenario import Node, Supplier
from hmarl_env.scenario.products import Product

demands = st.one_of(
    st.builds(Poisson, st.floats(0.5, 30)),
    st.builds(Normal, st.floats(1, 30), st.floats(0, 15)),
    st.floats(1, 30).map(lambda m: NegativeBinomial(m, math.sqrt(m) * 1.5)),
    st.builds(lambda m: Seasonal(Poisson(m)), st.floats(1, 30)),
    st.builds(
        lambda m, v: MertonJumpDiffusion(m, volatility=v),
        st.floats(1, 30),
        st.floats(0, 0.3),
    ),
    st.lists(st.floats(0, 40), min_size=1, max_size=8).map(
        lambda v: Trace(tuple(v), wrap=True)
    ),
)
costs = st.floats(0, 5)


@st.composite
def scenarios(draw) -> Scenario:
    n_wh = draw(st.integers(0, 3))
    n_st = draw(st.integers(1 if n_wh == 0 else max(1, n_wh), 4)) if n_wh else 1
    wh = [f"warehouse_{k + 1}" for k in range(n_wh)]
    wh_parent = {wh[0]: None} if wh else {}
    for k in range(1, n_wh):
        wh_parent[wh[k]] = wh[draw(st.integers(0, k - 1))]
    childless = [w for w in wh if w not in wh_parent.values()]
    stores = [f"store_{k + 1}" for k in range(max(n_st, len(childless)))]
    st_parent = {}
    for k, s in enumerate(stores):
        if not wh:
            st_parent[s] = None
        elif k < len(childless):
            st_parent[s] = childless[k]
        else:
            st_parent[s] = draw(st.sampled_from(wh))

    def node(name, parent, demand=None):
        return Node(
            name,
            parent=parent,
            lead_time=draw(st.integers(1, 4)),
            holding_cost=draw(costs),
            stockout_cost=draw(costs),
            fixed_order_cost=draw(st.sampled_from([0.0, 1.5])),
            initial_inventory=draw(st.floats(0, 60)),
            demand=demand,
            shipping_loss=draw(st.sampled_from([0.0, 0.0, 0.1, 0.6])),
            price_breaks=draw(st.sampled_from([(), ((0, 1.0), (15, 0.8))])),
            discount=draw(st.sampled_from(["all_units", "incremental"])),
        )

    nodes = [node(s, p, draw(demands)) for s, p in st_parent.items()]
    nodes += [node(w, p) for w, p in wh_parent.items()]
    if draw(st.booleans()):
        nodes.reverse()  # stores need not come first
    cap = draw(st.sampled_from([math.inf, 10.0, 40.0]))
    return Scenario(
        name="random",
        nodes=tuple(nodes),
        supplier=Supplier(
            capacity=cap,
            regular_capacity=draw(st.floats(1, 50)),
            overtime_cost=draw(costs),
            backlog_cost=draw(costs),
        ),
        horizon=draw(st.integers(1, 12)),
        shortage=draw(st.sampled_from(["lost_sales", "backorder"])),
        in_transit_holding=draw(st.booleans()),
    )


def run(sc: Scenario, batch: int, seed: int, order_seed: int):
    sim = Simulation(sc, batch_size=batch)
    sim.reset(np.random.default_rng(seed))
    rng = np.random.default_rng(order_seed)
    n = len(sc.nodes)
    ledgers = []
    while not sim.done:
        orders = rng.exponential(20.0, size=(batch, n)) * (rng.random((batch, n)) < 0.7)
        fulfil = rng.choice([1.0, 0.8, 0.0, rng.random()])
        ledgers.append(sim.step(orders, fulfil=fulfil))
    return sim, ledgers


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=scenarios(), batch=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_ledger_balances_and_nothing_is_created_or_destroyed(sc, batch, seed):
    sim, ledgers = run(sc, batch, seed, seed + 1)
    initial = sum(n.initial_inventory for n in sc.nodes)
    released = np.zeros(batch)
    sold = np.zeros(batch)
    lost_on_way = np.zeros(batch)
    root = sc.root
    parent = sc.parent_index
    for led in ledgers:
        scale = 1.0 + max(float(np.abs(getattr(led, f)).max()) for f in NODE_FIELDS)
        for name in NODE_FIELDS + SUPPLIER_FIELDS:
            value = getattr(led, name)
            assert not np.isnan(value).any(), name
            assert (value >= 0).all(), (name, value)
        # per node: closing = opening + received - shipped - sold
        assert led.balance_error() <= 1e-9 * scale
        # each node ships exactly what its children receive as inbound
        for j in range(len(sc.nodes)):
            kids = parent == j
            if kids.any():
                np.testing.assert_allclose(
                    led.inbound[:, kids].sum(axis=1),
                    led.shipped[:, j],
                    atol=1e-9 * scale,
                )
        # stores: demand is sold, lost or waits
        s = sc.store_index
        if sc.shortage == "lost_sales":
            np.testing.assert_allclose(
                led.sold[:, s] + led.lost[:, s], led.demand[:, s], atol=1e-9 * scale
            )
        # system-wide: released + initial = sold + lost on the way + on hand
        # + in transit
        released += led.inbound[:, root]
        sold += led.sold.sum(axis=1)
        lost_on_way += led.transit_lost.sum(axis=1)
        assert (led.transit_lost <= led.inbound + 1e-9 * scale).all()
        stock = led.closing.sum(axis=1) + led.in_transit.sum(axis=1)
        np.testing.assert_allclose(
            released + initial,
            sold + lost_on_way + stock,
            atol=1e-8 * scale,
            rtol=1e-12,
        )
        np.testing.assert_allclose(
            led.total_cost,
            led.holding_cost
            + led.transit_cost
            + led.stockout_cost
            + led.order_cost
            + led.transit_loss_cost
            + led.purchase_cost,
        )


@settings(max_examples=40, deadline=None)
@given(sc=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_trajectory(sc, seed):
    _, first = run(sc, 2, seed, 7)
    _, second = run(sc, 2, seed, 7)
    for a, b in zip(first, second, strict=True):
        for name in NODE_FIELDS + SUPPLIER_FIELDS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


# ------------------------------------------------------------------ catalogues
limits = st.sampled_from([math.inf, 3.0, 12.0, 40.0])


@st.composite
def catalogues(draw) -> Scenario:
    """A random chain (as :func:`scenarios`) stocking 1-4 products under
    random storage, truck and supplier volumes."""
    base = draw(scenarios())
    n_products = draw(st.integers(1, 4))
    volumes = [draw(st.sampled_from([0.5, 1.0, 2.5])) for _ in range(n_products)]
    largest = max(volumes)
    stores = [n.name for n in base.nodes if n.is_store]
    products = tuple(
        Product(
            f"p{q}",
            {s: draw(demands) for s in stores},
            volume=volumes[q],
            value=draw(costs),
            holding_cost=draw(st.floats(0, 2)),
            stockout_cost=draw(st.floats(0, 2)),
            fixed_order_cost=draw(st.sampled_from([0.0, 0.7])),
            initial_inventory={n.name: draw(st.floats(0, 4)) for n in base.nodes},
            initial_pipeline={n.name: draw(st.floats(0, 2)) for n in base.nodes},
        )
        for q in range(n_products)
    )

    def held(name):
        return sum(p.initial_inventory[name] * p.volume for p in products)

    nodes = tuple(
        Node(
            n.name,
            parent=n.parent,
            lead_time=n.lead_time,
            holding_cost=n.holding_cost,
            stockout_cost=n.stockout_cost,
            fixed_order_cost=n.fixed_order_cost,
            storage=max(draw(limits), held(n.name), largest),
            truck_volume=max(draw(limits), largest),
        )
        for n in base.nodes
    )
    supplier = base.supplier
    if supplier.capacity < largest:
        supplier = Supplier(capacity=largest)
    return base.replace(nodes=nodes, products=products, supplier=supplier)


def _volume(sc, x):
    """``(B, N * P)`` units -> ``(B, N)`` volume."""
    B = x.shape[0]
    vol = sc.product_table[0]
    return (x.reshape(B, len(sc.nodes), len(vol)) * vol).sum(axis=2)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=catalogues(), batch=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_catalogue_conserves_every_product_and_keeps_every_capacity(sc, batch, seed):
    sim = Simulation(sc, batch_size=batch)
    sim.reset(np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    N, P = len(sc.nodes), sc.n_products
    initial, pipe = sc.initial_units
    lead = sc.lead_times[:, None]
    # on hand plus what is in transit at the start, per product
    start = (initial + pipe * np.maximum(lead - 1, 0)).sum(axis=0)
    released = np.zeros((batch, P))
    gone = np.zeros((batch, P))  # sold or discarded
    storage = np.array([n.storage for n in sc.nodes])
    truck = np.array([n.truck_volume for n in sc.nodes])
    parent, root = sc.parent_index, sc.root
    while not sim.done:
        orders = rng.exponential(8.0, size=(batch, N * P)) * (
            rng.random((batch, N * P)) < 0.7
        )
        led = sim.step(orders, fulfil=rng.choice([1.0, 0.8, rng.random()]))
        scale = 1.0 + float(np.abs(led.nodes).max())
        for block in (led.nodes, led.supplier, led.capacity):
            assert not np.isnan(block).any() and (block >= 0).all()
        assert led.balance_error() <= 1e-9 * scale
        np.testing.assert_allclose(
            led.total_cost,
            led.holding_cost
            + led.transit_cost
            + led.stockout_cost
            + led.order_cost
            + led.discard_cost,
        )
        # each capacity holds: storage after arrivals, trucks, the supplier
        assert (_volume(sc, led.closing) <= storage + 1e-9 * scale).all()
        lanes = _volume(sc, led.inbound)
        assert (lanes[:, parent >= 0] <= truck[parent >= 0] + 1e-9 * scale).all()
        assert (lanes[:, root] <= sc.supplier.capacity + 1e-9 * scale).all()
        # per product: what a parent ships its children receive as inbound
        shipped, inbound = led.by_product("shipped"), led.by_product("inbound")
        for j in range(N):
            kids = parent == j
            if kids.any():
                np.testing.assert_allclose(
                    inbound[:, kids].sum(axis=1), shipped[:, j], atol=1e-9 * scale
                )
        # per product over the chain: released + start = gone + on hand + in transit
        released += inbound[:, root]
        gone += led.by_product("sold").sum(axis=1) + led.by_product("discarded").sum(
            axis=1
        )
        stock = led.by_product("closing").sum(axis=1) + led.by_product(
            "in_transit"
        ).sum(axis=1)
        np.testing.assert_allclose(released + start, gone + stock, atol=1e-8 * scale)


def test_shipping_loss_by_hand():
    """A store 1 period from an uncapacitated supplier that loses a fraction
    of every shipment: what arrives is what was shipped less the fraction
    drawn for that period, the loss costs the product's value (1), and the
    demand is what the same seed draws without losses."""
    import pytest

    base = Node(
        "store_1",
        parent=None,
        lead_time=1,
        holding_cost=0.5,
        stockout_cost=2.0,
        initial_inventory=10.0,
        demand=Poisson(4.0),
    )
    plain = Scenario(name="plain", nodes=(base,), horizon=6)
    lossy = plain.replace(nodes=(Node(**{**base.__dict__, "shipping_loss": 0.25}),))
    a, b = Simulation(plain, 2), Simulation(lossy, 2)
    a.reset(np.random.default_rng(5))
    b.reset(np.random.default_rng(5))
    np.testing.assert_array_equal(a._demand, b._demand)  # drawn first, unchanged
    fractions = b._loss[:, :, 0]
    assert fractions.shape == (6, 2) and 0 < fractions.mean() < 0.6
    assert a._loss.shape == (1, 1, 1) and not a._loss.any()
    for t in range(5):
        led = b.step(np.full((2, 1), 8.0))
        np.testing.assert_allclose(led.transit_lost[:, 0], 8.0 * fractions[t])
        np.testing.assert_allclose(led.transit_loss_cost[:, 0], 8.0 * fractions[t])
        assert led.total_cost[:, 0] == pytest.approx(
            led.holding_cost[:, 0] + led.stockout_cost[:, 0] + 8.0 * fractions[t]
        )
        # what arrives at the start of t + 1 is the shipment less its loss
        np.testing.assert_allclose(
            b.state_array[:, 5, 0],
            8.0 * (1.0 - fractions[t]),  # received
        )


def test_a_shipping_loss_outside_0_1_is_refused_naming_the_field():
    import pytest

    for bad in (1.0, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match=r"nodes\[store_1\].shipping_loss must"):
            Node("store_1", None, 1, 1.0, demand=Poisson(1.0), shipping_loss=bad)


def _priced(discount: str) -> Scenario:
    node = Node(
        "store_1",
        parent=None,
        lead_time=1,
        holding_cost=0.0,
        stockout_cost=0.0,
        initial_inventory=100.0,
        demand=Poisson(1.0),
        price_breaks=((0, 2.0), (10, 1.5), (20, 1.2)),
        discount=discount,
    )
    return Scenario(name="priced", nodes=(node,), horizon=5)


def test_quantity_discounts_by_hand():
    """Breaks at 0, 10, 20 units priced 2, 1.5, 1.2. All units: 8 cost 16,
    10 cost 15, 25 cost 30. Incremental: 8 cost 16, 10 cost 20, 25 cost
    10 x 2 + 10 x 1.5 + 5 x 1.2 = 41. No order costs nothing."""
    for discount, want in (
        ("all_units", [16, 15, 30, 0]),
        ("incremental", [16, 20, 41, 0]),
    ):
        sim = Simulation(_priced(discount), 1)
        sim.reset(np.random.default_rng(0))
        for q, cost in zip((8.0, 10.0, 25.0, 0.0), want, strict=True):
            led = sim.step(np.array([[q]]))
            assert led.purchase_cost[0, 0] == cost, (discount, q)
            assert led.total_cost[0, 0] == cost  # no other cost in this chain


def test_price_breaks_survive_a_file_and_bad_schedules_are_named():
    import pytest

    from hmarl_env.scenario import scenario_from_dict

    sc = _priced("incremental")
    again = scenario_from_dict(sc.to_dict())
    assert again.nodes[0].price_breaks == ((0.0, 2.0), (10.0, 1.5), (20.0, 1.2))
    assert again.nodes[0].discount == "incremental"
    base = dict(parent=None, lead_time=1, holding_cost=1.0, demand=Poisson(1.0))
    for breaks, message in (
        (((0, 2.0), (10, 2.5)), "the prices must decrease"),
        (((0, 2.0), (0, 1.5)), "the quantities must increase"),
        (((5, 2.0),), r"price_breaks\[0\] must start from quantity 0"),
        (((0, -1.0),), "must be >= 0"),
        (((0, 2.0, 3.0),), r"price_breaks\[0\] must be a \[quantity, price\] pair"),
    ):
        with pytest.raises(ValueError, match=message):
            Node("store_1", price_breaks=breaks, **base)
    with pytest.raises(ValueError, match="discount must be one of"):
        Node("store_1", price_breaks=((0, 1.0),), discount="bulk", **base)
