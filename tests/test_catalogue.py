"""Catalogues: the product model, its capacities, files, env and heuristics."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import hmarl_env
from baselines.catalogue import (
    BaseStock,
    evaluate_catalogue,
    priced_levels,
    tune_capacity_prices,
    tune_per_product,
)
from hmarl_env import PRESETS, Simulation, get_scenario, load_scenario
from hmarl_env.catalogue_roles import CATALOGUE_FEATURES
from hmarl_env.demand import Poisson, Trace
from hmarl_env.ledger import CAPACITY_FIELDS, NODE_FIELDS, SUPPLIER_FIELDS
from hmarl_env.scenario import Node, Scenario, Supplier, scenario_from_dict
from hmarl_env.scenario.catalogue import SAFETY_FACTORS
from hmarl_env.scenario.products import Product

ROOT = Path(__file__).resolve().parent.parent


def as_catalogue(sc: Scenario) -> Scenario:
    """The same chain, its one product given as a catalogue of one."""
    product = Product(
        "product",
        {n.name: n.demand for n in sc.nodes if n.is_store},
        initial_inventory={n.name: n.initial_inventory for n in sc.nodes},
        initial_pipeline={n.name: n.initial_pipeline for n in sc.nodes},
    )
    nodes = tuple(
        dataclasses.replace(n, demand=None, initial_inventory=0.0, initial_pipeline=0.0)
        for n in sc.nodes
    )
    return sc.replace(nodes=nodes, products=(product,))


@pytest.mark.parametrize("preset", [*PRESETS, "serial_N3", "lost_sales_L4_p39"])
def test_a_catalogue_of_one_is_the_single_product_chain_bit_for_bit(preset):
    plain = get_scenario(preset)
    one = as_catalogue(plain)
    ledgers = []
    for sc in (plain, one):
        sim = Simulation(sc, batch_size=3)
        sim.reset(np.random.default_rng(11))
        rng = np.random.default_rng(5)
        run = []
        while not sim.done:
            orders = rng.exponential(80.0, (3, len(sc.nodes))) * (
                rng.random((3, len(sc.nodes))) < 0.7
            )
            run.append(sim.step(orders, rng.choice([1.0, 0.8, 0.0])))
        ledgers.append(run)
    for a, b in zip(*ledgers, strict=True):
        np.testing.assert_array_equal(a.nodes, b.nodes)
        np.testing.assert_array_equal(a.supplier, b.supplier)
        assert not b.capacity.any()


# ----------------------------------------------------------- capacity rules
def hand_instance() -> Scenario:
    """Two products through one warehouse and one store, every capacity tight:
    the store's truck (12), its storage (10), the supplier's volume (30)."""
    products = (
        Product(
            "a",
            {"store_1": Trace((4.0,), wrap=True)},
            volume=1.0,
            value=2.0,
            initial_inventory={"store_1": 5.0, "warehouse_1": 10.0},
        ),
        Product(
            "b",
            {"store_1": Trace((2.0,), wrap=True)},
            volume=3.0,
            value=5.0,
            fixed_order_cost=1.0,
            initial_inventory={"store_1": 1.0, "warehouse_1": 10.0},
        ),
    )
    nodes = (
        Node("warehouse_1", None, 1, 0.5, fixed_order_cost=4.0, storage=60.0),
        Node(
            "store_1",
            "warehouse_1",
            1,
            1.0,
            stockout_cost=3.0,
            storage=10.0,
            truck_volume=12.0,
        ),
    )
    return Scenario(
        "hand", nodes, supplier=Supplier(capacity=30.0), horizon=3, products=products
    )


#: every non-zero field of each (node, product) in periods 0 and 1, worked by
#: hand in the order of the core's timeline
HAND = {
    0: {
        ("warehouse_1", "a"): dict(
            opening=10, demand=6, ordered=20, inbound=7.5, shipped=3,
            inbound_backlog=12.5, backlog=3, closing=7, in_transit=7.5,
            holding_cost=3.5, order_cost=2, total_cost=5.5, capacity_cut=12.5,
        ),
        ("warehouse_1", "b"): dict(
            opening=10, demand=6, ordered=20, inbound=7.5, shipped=3,
            inbound_backlog=12.5, backlog=3, closing=7, in_transit=7.5,
            holding_cost=3.5, order_cost=3, total_cost=6.5, capacity_cut=12.5,
        ),
        ("store_1", "a"): dict(
            opening=5, demand=4, sold=4, ordered=6, inbound=3, inbound_backlog=3,
            closing=1, in_transit=3, holding_cost=1, total_cost=1, capacity_cut=3,
        ),
        ("store_1", "b"): dict(
            opening=1, demand=2, sold=1, lost=1, ordered=6, inbound=3,
            inbound_backlog=3, in_transit=3, stockout_cost=3, order_cost=1,
            total_cost=4, capacity_cut=3,
        ),
    },
    1: {
        ("warehouse_1", "a"): dict(
            opening=7, received=7.5, inbound=7.5, shipped=3, inbound_backlog=5,
            closing=11.5, in_transit=7.5, holding_cost=5.75, total_cost=5.75,
            capacity_cut=5,
        ),
        ("warehouse_1", "b"): dict(
            opening=7, received=7.5, inbound=7.5, shipped=3, inbound_backlog=5,
            closing=11.5, in_transit=7.5, holding_cost=5.75, total_cost=5.75,
            capacity_cut=5,
        ),
        ("store_1", "a"): dict(
            opening=1, received=3, demand=4, sold=3.25, lost=0.75, inbound=3,
            in_transit=3, stockout_cost=2.25, total_cost=3.75, discarded=0.75,
            discard_cost=1.5,
        ),
        ("store_1", "b"): dict(
            received=3, demand=2, sold=2, inbound=3, closing=0.25, in_transit=3,
            holding_cost=0.25, total_cost=4.0, discarded=0.75, discard_cost=3.75,
        ),
    },
}  # fmt: skip


def test_every_capacity_rule_on_a_hand_worked_instance():
    sim = Simulation(hand_instance())
    sim.reset(np.random.default_rng(0))
    orders = [np.array([[20.0, 20.0, 6.0, 6.0]]), np.zeros((1, 4))]
    for t, o in enumerate(orders):
        led = sim.step(o)
        for (node, product), expected in HAND[t].items():
            row = led.row(node, 0, product)
            for field in (*NODE_FIELDS, *CAPACITY_FIELDS):
                assert row[field] == pytest.approx(expected.get(field, 0.0)), (
                    t,
                    node,
                    product,
                    field,
                )
        # the supplier released 30 of volume a period: no overtime, no costs
        assert led.supplier.tolist() == [[0.0, 0.0, 0.0]]
        assert led.balance_error() < 1e-12


def test_storage_is_never_exceeded_and_discards_are_costed():
    sc = hand_instance()
    sim = Simulation(sc, batch_size=4)
    sim.reset(np.random.default_rng(0))
    volume = sc.product_table[0]
    while not sim.done:
        led = sim.step(np.full((4, 4), 30.0))
        held = (led.by_product("closing") * volume).sum(axis=2)
        assert (held <= [60.0, 10.0]).all()
        np.testing.assert_allclose(
            led.discard_cost, led.discarded * np.tile(sc.product_table[1], 2)
        )


# -------------------------------------------------------------------- files
PRODUCTS_CSV = """name,volume,value,kind,mean,initial_inventory.store_1
milk,1.2,3.5,poisson,4,8
bread,0.5,2.0,poisson,6,10
"""


def write_chain(tmp_path, products_csv=PRODUCTS_CSV, extra=""):
    (tmp_path / "products.csv").write_text(products_csv)
    (tmp_path / "chain.toml").write_text(
        f"""name = "shop"
[[nodes]]
name = "warehouse_1"
lead_time = 2
holding_cost = 0.5
storage = 100.0
[[nodes]]
name = "store_1"
parent = "warehouse_1"
lead_time = 1
holding_cost = 1.0
stockout_cost = 4.0
storage = 30.0
truck_volume = 10.0
[[nodes]]
name = "store_2"
parent = "warehouse_1"
lead_time = 1
holding_cost = 1.0
stockout_cost = 4.0
[products]
table = "products.csv"
{extra}"""
    )
    return tmp_path / "chain.toml"


def test_a_catalogue_loads_from_csv_files_and_round_trips(tmp_path):
    sc = load_scenario(write_chain(tmp_path))
    assert sc.product_names == ("milk", "bread")
    milk = sc.products[0]
    assert milk.volume == 1.2 and milk.value == 3.5
    assert milk.demand == {"store_1": Poisson(4.0), "store_2": Poisson(4.0)}
    assert milk.initial_inventory == {"store_1": 8.0}
    assert scenario_from_dict(sc.to_dict()) == sc
    env = hmarl_env.parallel_env(sc)
    obs, _ = env.reset(seed=0)
    assert obs["store_1"].shape == (2, len(CATALOGUE_FEATURES))


def test_per_store_demand_and_traces_per_product(tmp_path):
    (tmp_path / "demand.csv").write_text(
        "product,store,kind,mean,std\nmilk,store_2,normal,9,2\n"
    )
    series = [5.0, 0.0, 7.0, 2.0]
    (tmp_path / "traces.csv").write_text(
        "store_1:bread\n" + "\n".join(str(v) for v in series) + "\n"
    )
    path = write_chain(
        tmp_path,
        extra='demand = "demand.csv"\ntraces = "traces.csv"\ntraces_wrap = true\n',
    )
    sc = load_scenario(path).replace(horizon=4)
    assert sc.products[0].demand["store_2"].mean == 9.0
    sim = Simulation(sc)
    sim.reset(np.random.default_rng(3))
    seen = []
    while not sim.done:
        seen.append(sim.demand[0, 1 * 2 + 1])  # store_1 (node 1), bread
        sim.step(np.zeros((1, 6)))
    assert seen == series


@pytest.mark.parametrize(
    "csv_text, named",
    [
        ("name,value\nmilk,2\n", "no column 'volume'"),
        ("name,volume,kind,mean\nmilk,-1,poisson,4\n", "products[milk].volume"),
        ("name,volume\nmilk,1\n", "product 'milk': no demand at"),
        (
            "name,volume,kind,mean\nmilk,1,poisson,4\nmilk,2,poisson,1\n",
            "line 3, product 'milk', column 'name': a duplicate of line 2",
        ),
        (
            "name,volume,kind,mean\nmilk,1,poisson,x\n",
            "line 2, product 'milk', column 'mean': 'x' is not a number",
        ),
        (
            "name,volume,kind,mean\nmilk,20,poisson,4\n",
            "nodes[store_1].truck_volume is 10, less than one unit of the largest "
            "product ('milk', volume 20)",
        ),
    ],
)
def test_bad_catalogue_files_are_refused_with_product_and_column(
    tmp_path, csv_text, named
):
    with pytest.raises(ValueError) as err:
        load_scenario(write_chain(tmp_path, csv_text))
    assert named in str(err.value)


def test_initial_stock_beyond_storage_is_refused():
    sc = hand_instance()
    big = dataclasses.replace(sc.products[1], initial_inventory={"store_1": 4.0})
    with pytest.raises(ValueError, match=r"nodes\[store_1\].*more than its storage 10"):
        sc.replace(products=(sc.products[0], big))


# ---------------------------------------------------------------------- env
@pytest.mark.parametrize("preset", ["catalogue_50", "catalogue_500", "catalogue_2000"])
def test_the_catalogue_env_passes_pettingzoo_tests(preset):
    parallel_api_test(hmarl_env.parallel_env(preset), num_cycles=150)
    parallel_seed_test(lambda: hmarl_env.parallel_env(preset))


def test_catalogue_env_spaces_infos_and_actions():
    env = hmarl_env.parallel_env("catalogue_50")
    assert env.possible_agents == ["store_1", "store_2", "warehouse_1", "supplier_1"]
    obs, infos = env.reset(seed=4)
    assert obs["store_1"].shape == (50, len(CATALOGUE_FEATURES))
    assert env.action_space("store_1").shape == (50,)
    assert env.state().shape == (50, 3 * len(CATALOGUE_FEATURES))
    assert all(set(i) == set(infos["store_1"]) for i in infos.values())
    # the presets' actions are safety factors: action 3 is z = -0.75
    z = env.scenario.actions.catalogue_safety
    assert z == SAFETY_FACTORS and z[3] == -0.75
    assert env.action_space("store_1").nvec[0] == len(z)
    acts = {a: np.full(50, 3) for a in env.agents[:3]}
    sim = env._sim
    position = sim.inventory_position.reshape(3, 50)
    level = env.scenario.safety_levels(-0.75)
    _, rewards, _, _, infos = env.step({**acts, "supplier_1": 0})
    np.testing.assert_allclose(
        infos["store_1"]["ordered"], np.maximum(level[0] - position[0], 0)
    )
    assert infos["store_1"]["total_cost"].shape == (50,)
    assert rewards["store_1"] == pytest.approx(-infos["store_1"]["total_cost"].sum())
    with pytest.raises(ValueError, match=r"store_2's action for product 'sku_0007'"):
        bad = np.zeros(50, dtype=int)
        bad[6] = len(z)
        env.step({**acts, "store_2": bad, "supplier_1": 0})


def test_a_catalogue_without_safety_factors_acts_in_periods_of_cover():
    sc = get_scenario("catalogue_50")
    sc = sc.replace(actions=dataclasses.replace(sc.actions, catalogue_safety=None))
    env = hmarl_env.parallel_env(sc)
    env.reset(seed=4)
    assert env.action_space("store_1").nvec[0] == len(sc.actions.catalogue_cover)
    position = env._sim.inventory_position.reshape(3, 50)
    acts = {a: np.full(50, 3) for a in env.agents[:3]}  # cover: 3 periods
    _, _, _, _, infos = env.step({**acts, "supplier_1": 0})
    level = 3 * sc.product_mean_demand
    np.testing.assert_allclose(
        infos["store_1"]["ordered"], np.maximum(level[0] - position[0], 0)
    )
    with pytest.raises(ValueError, match="catalogue_safety must increase"):
        dataclasses.replace(sc.actions, catalogue_safety=(0.0, 1.0, 1.0))


def test_product_rewards_split_the_nodes_cost_and_charge_discards_by_volume():
    from hmarl_env.catalogue_roles import CatalogueRoles

    sc = get_scenario("catalogue_50")
    roles = CatalogueRoles(sc, 4)
    sim = Simulation(sc, batch_size=4)
    sim.reset([np.random.default_rng(s) for s in range(4)])
    roles.reset(sim)
    top = np.full((4, 3, 50), len(SAFETY_FACTORS) - 1)  # overfill: discards
    seen = 0.0
    while not sim.done:
        orders, fulfil = roles.decode(sim, top, np.zeros(4, dtype=int))
        ledger = sim.step(orders, fulfil)
        roles.update(sim, ledger)
        own = roles.product_rewards(ledger)
        np.testing.assert_allclose(
            own.sum(axis=2), -ledger.node_total("total_cost"), rtol=1e-9, atol=1e-9
        )
        discard = ledger.node_total("discard_cost")
        seen += discard.sum()
        # a product that brought nothing in pays no share of the write-off
        nothing = ledger.by_product("received") == 0
        kept = ledger.by_product("total_cost") - ledger.by_product("discard_cost")
        np.testing.assert_allclose(-own[nothing], kept[nothing], atol=1e-9)
    assert seen > 0
    # in system mode each store's product carries its share of the same
    # product's cost upstream: the stores' rows add up to every node's cost
    system = CatalogueRoles(sc.with_reward_mode("system"), 4)
    rows = system.product_rewards(ledger)
    np.testing.assert_allclose(
        rows[:, sc.store_index].sum(axis=(1, 2)),
        -ledger.node_total("total_cost").sum(axis=1),
    )
    warehouse = own[:, sc.warehouse_index[0]]  # (B, P)
    mu = sc.product_mean_demand
    store = sc.store_index[0]
    np.testing.assert_allclose(
        rows[:, store] - own[:, store], warehouse * mu[store] / mu[sc.root], atol=1e-9
    )
    features = roles.node_features(sim)
    assert features.shape == (4, 3, 50, len(CATALOGUE_FEATURES))
    assert (features >= 0).all() and (features <= 10).all()


# --------------------------------------------------------------- heuristics
def test_per_product_tuning_and_the_capacity_price():
    sc = get_scenario("catalogue_50")
    tuning = tune_per_product(sc, episodes=2)
    assert tuning.z.shape == (3, 50)
    assert len(np.unique(tuning.z[0])) > 1  # products differ
    naive = BaseStock(tuning.levels(sc))
    prices, table = tune_capacity_prices(sc, tuning, episodes=2)
    priced = BaseStock(priced_levels(sc, tuning, prices))
    a = evaluate_catalogue(sc, naive, 8, seed=100)["total_cost"].mean()
    b = evaluate_catalogue(sc, priced, 8, seed=100)["total_cost"].mean()
    assert b < a  # pricing storage pays where capacities bind
    assert (prices[sc.store_index] > 0).all()


def test_uncapacitated_products_are_independent():
    """Without capacities, a product's ledger does not depend on the others'
    orders: the premise of tuning every product in one run."""
    sc = get_scenario("catalogue_50")
    from baselines.catalogue import uncapacitated

    free = uncapacitated(sc)
    runs = []
    for scale in (1.0, 3.0):
        sim = Simulation(free, 2)
        sim.reset(np.random.default_rng(1))
        rng = np.random.default_rng(2)
        costs = []
        while not sim.done:
            o = rng.exponential(5.0, (2, 150))
            o.reshape(2, 3, 50)[:, :, 1:] *= scale  # every product but the first
            costs.append(sim.step(o).by_product("total_cost")[:, :, 0])
        runs.append(np.array(costs))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert math.isinf(free.supplier.capacity)


def test_infos_of_the_supplier_have_the_same_keys():
    env = hmarl_env.parallel_env("catalogue_50")
    env.reset(seed=0)
    acts = {a: env.action_space(a).sample() for a in env.agents}
    *_, infos = env.step(acts)
    for key in SUPPLIER_FIELDS:
        assert isinstance(infos["supplier_1"][key], float)
    assert not infos["supplier_1"]["total_cost"].any()


# ------------------------------------------------------------------ example
EXAMPLE = ROOT / "examples" / "catalogue"


def test_the_catalogue_example_loads_plays_and_is_the_one_the_docs_print(capsys):
    from baselines.catalogue import main as catalogue
    from hmarl_env.validate import main as validate

    path = str(EXAMPLE / "shop.toml")
    assert validate(["--scenario", path, "--steps", "5"]) == 0
    assert catalogue(["--scenario", path, "--episodes", "4"]) == 0
    printed = capsys.readouterr().out
    assert "shop: 4 products" in printed and "capacity_priced" in printed
    sc = load_scenario(EXAMPLE / "shop.toml")
    assert sc.product_names == ("milk", "bread", "coffee", "olive_oil")
    assert sc.products[0].demand["store_2"].mean == 25.0  # from demand.csv
    env = hmarl_env.parallel_env(sc)
    env.reset(seed=0)
    while env.agents:
        env.step({a: env.action_space(a).sample() for a in env.agents})
    page = (ROOT / "docs" / "catalogue.md").read_text()
    for name in ("shop.toml", "products.csv", "demand.csv"):
        assert (EXAMPLE / name).read_text().strip() in page, name


def test_ss_orders_up_to_S_only_at_or_below_s_and_tunes_per_product():
    from baselines.catalogue import SS, tune_ss_per_product

    sc = get_scenario("catalogue_50")
    sim = Simulation(sc, 2)
    sim.reset(np.random.default_rng(0))
    position = sim.inventory_position.reshape(2, 3, 50)
    s, S = position[0] + 1.0, position[0] + 5.0
    s[:, :10] = position[0, :, :10] - 1.0  # the first ten products sit above s
    orders = SS(s, S)(sim).reshape(2, 3, 50)
    assert (orders[0, :, :10] == 0).all()
    np.testing.assert_allclose(orders[0, :, 10:], 5.0)
    np.testing.assert_array_equal(SS(S, S)(sim), BaseStock(S)(sim))
    with pytest.raises(ValueError, match="s <= S"):
        SS(S, s)
    tuning = tune_per_product(sc, episodes=2)
    low, high = tune_ss_per_product(sc, tuning, episodes=2)
    assert (high >= low).all() and (high > low).any()


def test_hmarls_commands_on_a_catalogue_check_it_or_say_what_to_use(capsys):
    from analysis.runs.settings import PHASES
    from baselines.tune import main as tune_main
    from experiments.options import PhaseOptions
    from experiments.resolve import new_config
    from hmarl_env.validate import main as validate_main

    assert validate_main(["--scenario", "catalogue_50", "--steps", "12"]) == 0
    assert "its env is ready" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        tune_main(["--scenario", "catalogue_50"])
    assert "hmarl catalogue --scenario catalogue_50" in capsys.readouterr().err
    config = new_config(PhaseOptions(scenario="catalogue_50"), PHASES["phase1"])
    assert config.ppo_preset == "catalogue" and config.runners.num_env_runners == 0
    with pytest.raises(ValueError, match="only phase 1 trains on a catalogue"):
        new_config(PhaseOptions(scenario="catalogue_50"), PHASES["phase3"])


def test_residual_rows_and_offsets_around_a_reference():
    from hmarl_env.catalogue_roles import CatalogueRoles, offset_actions, with_reference

    roles = CatalogueRoles(get_scenario("catalogue_50"))
    spaces = roles.row_spaces(residual=2)
    assert spaces["observation_space"].shape == (len(CATALOGUE_FEATURES) + 1,)
    assert spaces["action_space"].n == 5
    assert roles.row_spaces()["action_space"].n == len(SAFETY_FACTORS)
    rows = np.zeros((3, 4, len(CATALOGUE_FEATURES)), np.float32)
    reference = np.array([0, 1, 11, 22])
    out = with_reference(rows, reference, 23)
    assert out.shape == (3, 4, len(CATALOGUE_FEATURES) + 1)
    np.testing.assert_allclose(out[0, :, -1], reference / 22)
    # offset 2 is the reference itself; the ends stay inside the grid
    np.testing.assert_array_equal(
        offset_actions(np.full(4, 2), reference, 2, 23), reference
    )
    np.testing.assert_array_equal(
        offset_actions(np.array([0, 0, 4, 4]), reference, 2, 23), [0, 0, 13, 22]
    )
