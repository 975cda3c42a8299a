"""The simulation core: theory, determinism and bad input."""

import numpy as np
import pytest

from baselines import echelon_base_stock_orders
from hmarl_env import Simulation, get_scenario

OPTIMAL_LEVELS = np.array([6.51, 12.01, 22.70])
OPTIMAL_COST = 47.67  # Snyder & Shen, Example 6.1


def test_serial_chain_reproduces_the_textbook_optimum():
    """Echelon base-stock at the optimal levels costs 47.67 per period (within 1%).

    400 replicas x 1,400 periods after a 100-period warm-up: the standard error
    of the mean is about 0.03, so 1% (0.48) is some 15 standard errors wide.
    """
    sc = get_scenario("serial", horizon=1500)
    sim = Simulation(sc, batch_size=400)
    sim.reset(np.random.default_rng(2024))
    per_replica = np.zeros(sim.batch_size)
    while not sim.done:
        orders = echelon_base_stock_orders(
            sim.echelon_inventory_position, OPTIMAL_LEVELS
        )
        led = sim.step(orders)
        if led.period >= 100:
            per_replica += led.total_cost.sum(axis=1)
    per_replica /= sc.horizon - 100
    mean = per_replica.mean()
    stderr = per_replica.std(ddof=1) / np.sqrt(per_replica.size)
    assert stderr < 0.1
    assert abs(mean - OPTIMAL_COST) / OPTIMAL_COST < 0.01, (mean, stderr)


def test_same_seed_same_trajectory_and_other_seed_differs():
    sc = get_scenario("default", horizon=30)

    def run(seed):
        sim = Simulation(sc, batch_size=3)
        sim.reset(np.random.default_rng(seed))
        rng = np.random.default_rng(99)
        out = []
        while not sim.done:
            led = sim.step(rng.uniform(0, 150, size=(3, 3)))
            out.append(led.total_cost.copy())
        return np.array(out)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_one_generator_per_replica_matches_a_batch_of_one():
    sc = get_scenario("seasonal", horizon=20)
    seeds = [11, 12, 13]
    batch = Simulation(sc, batch_size=3)
    batch.reset([np.random.default_rng(s) for s in seeds])
    singles = [Simulation(sc) for _ in seeds]
    for sim, s in zip(singles, seeds, strict=True):
        sim.reset(np.random.default_rng(s))
    orders = np.full((3, 3), 80.0)
    while not batch.done:
        led = batch.step(orders)
        for b, sim in enumerate(singles):
            one = sim.step(orders[b : b + 1])
            np.testing.assert_allclose(one.total_cost[0], led.total_cost[b])
            np.testing.assert_allclose(one.demand[0], led.demand[b])


def test_demand_does_not_depend_on_orders():
    """Common random numbers: two policies reset with one seed meet one demand."""
    sc = get_scenario("default", horizon=15)
    demands = []
    for level in (0.0, 500.0):
        sim = Simulation(sc, batch_size=2)
        sim.reset(np.random.default_rng(5))
        seen = []
        while not sim.done:
            seen.append(sim.step(np.full((2, 3), level)).demand[:, :2])
        demands.append(np.array(seen))
    np.testing.assert_array_equal(*demands)


def test_echelon_position_counts_everything_below_and_on_order():
    sim = Simulation(get_scenario("serial"), batch_size=1)
    sim.reset(np.random.default_rng(0))
    sim.step(np.array([[3.0, 4.0, 5.0]]))
    ip = sim.inventory_position
    np.testing.assert_allclose(
        sim.echelon_inventory_position[0], [ip[0, 0], ip[0, 0] + ip[0, 1], ip[0].sum()]
    )


@pytest.mark.parametrize(
    "orders, message",
    [
        (np.full((1, 3), np.nan), "finite, >= 0 and at most"),
        (np.array([[1.0, -1.0, 0.0]]), "node 'store_2' got -1.0"),
        (np.array([[1.0, 0.0, np.inf]]), "node 'warehouse_1' got inf"),
        (np.zeros((1, 2)), "shape (batch, nodes) = (1, 3)"),
        (np.zeros((2, 3)), "shape (batch, nodes)"),
        (np.zeros(3), "shape (batch, nodes)"),
        ([["a", "b", "c"]], "could not convert"),
    ],
)
def test_bad_orders_are_refused_clearly(orders, message):
    sim = Simulation(get_scenario("default"))
    sim.reset(np.random.default_rng(0))
    with pytest.raises(ValueError, match=None) as err:
        sim.step(orders)
    assert message in str(err.value)


@pytest.mark.parametrize("fulfil", [1.5, -0.1, np.nan, np.array([0.5, 0.5]), "all"])
def test_bad_fulfil_is_refused(fulfil):
    sim = Simulation(get_scenario("default"))
    sim.reset(np.random.default_rng(0))
    with pytest.raises(ValueError, match="fulfil"):
        sim.step(np.zeros((1, 3)), fulfil=fulfil)


def test_step_before_reset_and_after_horizon():
    sim = Simulation(get_scenario("default", horizon=2))
    with pytest.raises(RuntimeError, match="before reset"):
        sim.step(np.zeros((1, 3)))
    with pytest.raises(RuntimeError, match=r"Simulation.on_hand read before reset"):
        sim.on_hand  # noqa: B018
    with pytest.raises(RuntimeError, match=r"state_array read before reset"):
        sim.state_array  # noqa: B018
    sim.reset(np.random.default_rng(0))
    sim.step(np.zeros((1, 3)))
    sim.step(np.zeros((1, 3)))
    assert sim.done
    with pytest.raises(RuntimeError, match="horizon"):
        sim.step(np.zeros((1, 3)))


@pytest.mark.parametrize("batch", [0, -3, 2.5, True, "4"])
def test_bad_batch_size(batch):
    with pytest.raises(ValueError, match="batch_size"):
        Simulation(get_scenario("default"), batch_size=batch)


def test_bad_generators_at_reset():
    sim = Simulation(get_scenario("default"), batch_size=2)
    with pytest.raises(ValueError, match="one numpy Generator or 2"):
        sim.reset([np.random.default_rng(0)])
    with pytest.raises(ValueError, match="one numpy Generator or 2"):
        sim.reset([1, 2])


@pytest.mark.parametrize(
    "orders, fulfil",
    [
        (np.array([[10.0, np.nan, 5.0]]), 1.0),
        (np.array([[10.0, 20.0, -5.0]]), 1.0),
        (np.array([[10.0, 20.0, 5.0]]), 1.5),
        (np.array([[10.0, 20.0, 5.0]]), np.array([np.nan])),
    ],
)
def test_a_refused_step_changes_nothing(orders, fulfil):
    """The kernel checks its input before it touches the state or the pipeline."""
    sc = get_scenario("default")
    good = np.array([[10.0, 20.0, 30.0]])
    sim, twin = Simulation(sc), Simulation(sc)
    for s in (sim, twin):
        s.reset(np.random.default_rng(4))
        s.step(good)
    before = sim.state_array.copy()
    with pytest.raises(ValueError):
        sim.step(orders, fulfil)
    assert sim.period == 1
    np.testing.assert_array_equal(sim.state_array, before)
    for _ in range(3):  # the pipeline too: later arrivals are the twin's
        a, b = sim.step(good), twin.step(good)
        np.testing.assert_array_equal(a.nodes, b.nodes)
        np.testing.assert_array_equal(a.supplier, b.supplier)


def test_state_attributes_are_copies_and_ledgers_are_never_rewritten():
    sim = Simulation(get_scenario("default"), batch_size=2)
    sim.reset(np.random.default_rng(0))
    on_hand = sim.on_hand
    kept = on_hand.copy()
    led = sim.step(np.full((2, 3), 50.0))
    first = led.nodes.copy()
    for _ in range(5):
        sim.step(np.full((2, 3), 80.0))
    np.testing.assert_array_equal(on_hand, kept)
    np.testing.assert_array_equal(led.nodes, first)
    on_hand[:] = -1.0  # writing to a copy leaves the simulation alone
    assert (sim.on_hand >= 0).all()


def test_ledger_fields_round_trip_and_pickle():
    import pickle

    from hmarl_env.ledger import NODE_FIELDS, SUPPLIER_FIELDS, Ledger

    sim = Simulation(get_scenario("four_stores"), batch_size=3)
    sim.reset(np.random.default_rng(1))
    led = sim.step(np.full((3, sim.n_nodes), 40.0))
    fields = {f: getattr(led, f) for f in (*NODE_FIELDS, *SUPPLIER_FIELDS)}
    assert all(fields[f].shape == (3, sim.n_nodes) for f in NODE_FIELDS)
    assert all(fields[f].shape == (3,) for f in SUPPLIER_FIELDS)
    again = Ledger.from_fields(led.period, led.node_names, **fields)
    np.testing.assert_array_equal(again.nodes, led.nodes)
    np.testing.assert_array_equal(again.supplier, led.supplier)
    back = pickle.loads(pickle.dumps(led))
    assert back.period == led.period and back.node_names == led.node_names
    np.testing.assert_array_equal(back.nodes, led.nodes)
    leaky = led.replace(closing=led.closing + 1.0)
    assert leaky.balance_error() == pytest.approx(1.0)
    assert led.balance_error() < 1e-9  # the original is left as it was
    with pytest.raises(ValueError, match=r"missing \['total_cost'\]"):
        Ledger.from_fields(
            0, led.node_names, **{f: v for f, v in fields.items() if f != "total_cost"}
        )
    with pytest.raises(ValueError, match="unknown ledger fields"):
        led.replace(profit=led.closing)


def test_step_writes_into_a_ledger_given_as_out():
    """out= overwrites an earlier ledger's blocks with the same figures a new
    ledger would hold; a ledger of another shape is refused."""
    from hmarl_env.ledger import Ledger

    runs = []
    for reuse in (False, True):
        sim = Simulation("catalogue_50", batch_size=2)
        sim.reset(np.random.default_rng(0))
        led, seen = None, []
        while not sim.done:
            led = sim.step(np.full((2, sim.n_columns), 3.0), out=led if reuse else None)
            seen.append((led.period, led.nodes.copy(), led.capacity.copy()))
        runs.append(seen)
    for (p, a, c), (q, b, d) in zip(*runs, strict=True):
        assert p == q
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(c, d)
    sim = Simulation("default", batch_size=2)
    sim.reset(np.random.default_rng(0))
    other = Simulation("default", batch_size=3)
    other.reset(np.random.default_rng(0))
    with pytest.raises(ValueError, match="out must be a ledger of this simulation"):
        sim.step(np.zeros((2, 3)), out=other.step(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="out must be a ledger"):
        sim.step(np.zeros((2, 3)), out="ledger")
    assert isinstance(sim.step(np.zeros((2, 3))), Ledger)
