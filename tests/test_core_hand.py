"""A tiny deterministic instance whose ledger was worked out by hand.

Two stores under one warehouse; constant demand 10 and 30 (traces); store lead
time 2, warehouse lead time 1; initial stock 15 / 30 / 20; lost sales. The
warehouse runs short in periods 0 and 2 and rations proportionally; the
supplier (capacity 80, 50 without overtime) runs short in period 3.

Orders per period (store_1, store_2, warehouse_1):
    0: (10, 30,   0)   1: (10, 30, 60)   2: (10, 30, 0)   3: (0, 0, 100)
    4: (0, 0, 0)

Period 0: stores sell 10 and 30 (store_1 keeps 5). The warehouse owes 40 and
holds 20: it ships half of each order (5, 15) and owes 20.
Period 1: nothing arrives; store_1 sells its 5 and loses 5, store_2 loses 30.
Warehouse owes 15 + 45 = 60, holds 0. It orders 60; the supplier releases 60
(10 above regular capacity).
Period 2: stores receive 5 and 15, the warehouse 60. Stores sell 5 and 15 and
lose 5 and 15. The warehouse owes 25 + 75 = 100 and holds 60: it ships 60% (15,
45) and owes 40.
Period 3: nothing arrives; stores lose 10 and 30. The warehouse orders 100: the
supplier releases its capacity, 80 (30 overtime), and owes 20.
Period 4: stores receive 15 and 45, the warehouse 80. Stores sell 10 and 30
(keep 5 and 15). The warehouse ships what it owes (10, 30) and keeps 40; the
supplier releases the 20 it owed.
"""

import numpy as np
import pytest

from hmarl_env import Scenario, Simulation
from hmarl_env.demand import Trace
from hmarl_env.scenario import Node, Supplier

ORDERS = [(10, 30, 0), (10, 30, 60), (10, 30, 0), (0, 0, 100), (0, 0, 0)]

# field: per period, (store_1, store_2, warehouse_1)
EXPECTED = {
    "opening": [(15, 30, 20), (5, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)],
    "received": [(0, 0, 0), (0, 0, 0), (5, 15, 60), (0, 0, 0), (15, 45, 80)],
    "demand": [(10, 30, 40), (10, 30, 40), (10, 30, 40), (10, 30, 0), (10, 30, 0)],
    "sold": [(10, 30, 0), (5, 0, 0), (5, 15, 0), (0, 0, 0), (10, 30, 0)],
    "lost": [(0, 0, 0), (5, 30, 0), (5, 15, 0), (10, 30, 0), (0, 0, 0)],
    "ordered": ORDERS,
    "inbound": [(5, 15, 0), (0, 0, 60), (15, 45, 0), (0, 0, 80), (10, 30, 20)],
    "shipped": [(0, 0, 20), (0, 0, 0), (0, 0, 60), (0, 0, 0), (0, 0, 40)],
    "inbound_backlog": [(5, 15, 0), (15, 45, 0), (10, 30, 0), (10, 30, 20), (0, 0, 0)],
    "backlog": [(0, 0, 20), (0, 0, 60), (0, 0, 40), (0, 0, 40), (0, 0, 0)],
    "closing": [(5, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (5, 15, 40)],
    "in_transit": [(5, 15, 0), (5, 15, 60), (15, 45, 0), (15, 45, 80), (10, 30, 20)],
    # holding 1.0 at stores, 0.5 at the warehouse
    "holding_cost": [(5, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (5, 15, 20)],
    # 2.0 per unit lost at stores, 0.1 per unit owed by the warehouse
    "stockout_cost": [(0, 0, 2), (10, 60, 6), (10, 30, 4), (20, 60, 4), (0, 0, 0)],
    # fixed cost 3 per warehouse order
    "order_cost": [(0, 0, 0), (0, 0, 3), (0, 0, 0), (0, 0, 3), (0, 0, 0)],
    "transit_cost": [(0, 0, 0)] * 5,
}
SUPPLIER = {
    "supplier_overtime": [0, 10, 0, 30, 0],
    "supplier_overtime_cost": [0, 10, 0, 30, 0],
    "supplier_backlog_cost": [0, 0, 0, 10, 0],
}


def hand_scenario() -> Scenario:
    store = dict(parent="warehouse_1", lead_time=2, holding_cost=1.0, stockout_cost=2.0)
    return Scenario(
        name="hand",
        nodes=(
            Node(
                "store_1",
                initial_inventory=15,
                demand=Trace((10.0,), wrap=True),
                **store,
            ),
            Node(
                "store_2",
                initial_inventory=30,
                demand=Trace((30.0,), wrap=True),
                **store,
            ),
            Node(
                "warehouse_1",
                parent=None,
                lead_time=1,
                holding_cost=0.5,
                stockout_cost=0.1,
                fixed_order_cost=3.0,
                initial_inventory=20,
            ),
        ),
        supplier=Supplier(
            capacity=80, regular_capacity=50, overtime_cost=1.0, backlog_cost=0.5
        ),
        horizon=5,
    )


@pytest.fixture(scope="module")
def ledgers():
    sim = Simulation(hand_scenario(), batch_size=1)
    sim.reset(np.random.default_rng(0))
    out = [sim.step(np.array([o], dtype=float)) for o in ORDERS]
    assert sim.done
    return out


@pytest.mark.parametrize("field", sorted(EXPECTED))
def test_node_fields_match_hand_computation(ledgers, field):
    got = np.array([getattr(led, field)[0] for led in ledgers])
    np.testing.assert_allclose(
        got, np.array(EXPECTED[field], dtype=float), atol=1e-12, err_msg=field
    )


@pytest.mark.parametrize("field", sorted(SUPPLIER))
def test_supplier_fields_match_hand_computation(ledgers, field):
    got = np.array([getattr(led, field)[0] for led in ledgers])
    np.testing.assert_allclose(got, SUPPLIER[field], atol=1e-12, err_msg=field)


def test_total_cost_is_the_sum_of_its_parts(ledgers):
    for led in ledgers:
        parts = led.holding_cost + led.transit_cost + led.stockout_cost + led.order_cost
        np.testing.assert_allclose(led.total_cost, parts)


def test_row_reports_one_node(ledgers):
    row = ledgers[2].row("store_2")
    assert row["period"] == 2 and row["sold"] == 15 and row["lost"] == 15
    assert row["inbound"] == 45


def test_backorder_mode_serves_backlog_first():
    sc = hand_scenario().replace(shortage="backorder")
    sim = Simulation(sc)
    sim.reset(np.random.default_rng(0))
    sim.step(np.array([[10.0, 30.0, 0.0]]))
    # period 1: store_1 had 5, demand 10 -> 5 waiting; store_2 0 -> 30 waiting
    np.testing.assert_allclose(sim.backlog[0, :2], [5, 30])
    led = sim.step(np.array([[10.0, 30.0, 60.0]]))
    np.testing.assert_allclose(
        led.stockout_cost[0, :2], [10, 60]
    )  # 2.0 per unit waiting
    # period 2: arrivals 5 and 15 serve the backlog before new demand
    np.testing.assert_allclose(sim.sold[0, :2], [5, 15])
    np.testing.assert_allclose(sim.backlog[0, :2], [10, 45])
    assert (sim.lost == 0).all()


def test_supplier_fulfil_fraction_and_delay():
    sim = Simulation(hand_scenario())
    sim.reset(np.random.default_rng(0))
    led = sim.step(np.array([[0.0, 0.0, 50.0]]), fulfil=0.8)
    assert led.inbound[0, 2] == pytest.approx(40) and led.inbound_backlog[0, 2] == 10
    led = sim.step(np.array([[0.0, 0.0, 0.0]]), fulfil=0.0)  # delay
    assert led.inbound[0, 2] == 0 and led.inbound_backlog[0, 2] == 10
    led = sim.step(np.array([[0.0, 0.0, 0.0]]), fulfil=np.array([1.0]))
    assert led.inbound[0, 2] == 10 and led.inbound_backlog[0, 2] == 0
