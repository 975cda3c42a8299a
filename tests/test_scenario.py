"""Scenarios: presets, files, and clear errors for every bad field."""

import dataclasses
import math

import pytest

from hmarl_env import PRESETS, Scenario, get_scenario, load_scenario
from hmarl_env.demand import Normal, Poisson
from hmarl_env.scenario import (
    Actions,
    Node,
    RewardWeights,
    Supplier,
    SupplierRewardWeights,
    scenario_from_dict,
)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_and_round_trip_through_dicts(name):
    sc = get_scenario(name)
    assert isinstance(sc, Scenario) and sc.name == name
    assert scenario_from_dict(sc.to_dict()) == sc


def test_default_follows_the_seeds_worked_example():
    sc = get_scenario("default")
    assert sc.node_names == ("store_1", "store_2", "warehouse_1")
    store = sc.node("store_1")
    # a store holding 620 units pays 45.2 a day in the reference design's example
    assert 620 * store.holding_cost == pytest.approx(45.2, abs=0.1)
    assert store.demand.mean == 100
    assert sc.rewards.store.excess_cover_days == 5
    assert sc.actions.warehouse_order_lots == (0, 500, 1000, 1500)
    assert sc.actions.store_order_multipliers == (0, 0.5, 1.0, 1.5)
    assert sc.shortage == "lost_sales"


def test_topology_arrays():
    sc = get_scenario("four_stores")
    assert sc.root == 4 and list(sc.store_index) == [0, 1, 2, 3]
    assert list(sc.parent_index) == [4, 4, 4, 4, -1]
    assert sc.mean_demand[4] == pytest.approx(400)
    serial = get_scenario("serial")
    assert serial.subtree.tolist() == [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    assert serial.supplier_lead_time == 2


def test_overrides_and_unknown_names():
    assert get_scenario("default", horizon=30).horizon == 30
    with pytest.raises(ValueError, match=r"unknown scenario 'nope'.*'default'"):
        get_scenario("nope")
    with pytest.raises(ValueError, match="unknown scenario fields"):
        get_scenario("default", horizn=30)


def test_load_toml_yaml_and_json(tmp_path):
    (tmp_path / "a.toml").write_text(
        'extends = "default"\nhorizon = 30\n[supplier]\ncapacity = 900.0\n'
        "[rewards.store]\nservice_level = 20.0\n"
    )
    sc = load_scenario(tmp_path / "a.toml")
    assert sc.name == "a" and sc.horizon == 30 and sc.supplier.capacity == 900
    assert sc.rewards.store.service_level == 20 and sc.rewards.store.holding_cost == 0.1
    assert sc.supplier.regular_capacity == 300  # the rest of the preset stays
    (tmp_path / "b.yaml").write_text(
        "name: tiny\nnodes:\n"
        "  - {name: store_1, parent: null, lead_time: 1, holding_cost: 1.0,\n"
        "     demand: {kind: poisson, mean: 4}}\n"
    )
    tiny = get_scenario(tmp_path / "b.yaml")
    assert tiny.node_names == ("store_1",) and tiny.node("store_1").demand == Poisson(4)
    (tmp_path / "c.json").write_text('{"extends": "serial", "shortage": "lost_sales"}')
    assert load_scenario(tmp_path / "c.json").shortage == "lost_sales"


def test_trace_demand_from_csv(tmp_path):
    (tmp_path / "d.csv").write_text("store_1,store_2\n1,2\n3,4\n")
    (tmp_path / "s.toml").write_text(
        'extends = "default"\n'
        "[[nodes]]\nname = 'store_1'\nparent = 'warehouse_1'\nlead_time = 1\n"
        "holding_cost = 0.1\n"
        "demand = {kind = 'trace', path = 'd.csv', column = 'store_2'}\n"
        "[[nodes]]\nname = 'warehouse_1'\nlead_time = 2\nholding_cost = 0.05\n"
    )
    # two rows for a horizon of 100: refused, unless the series may wrap
    with pytest.raises(
        ValueError,
        match=r"nodes\[store_1\].demand: the trace .*d.csv"
        r":store_2 has 2 periods, fewer than the horizon of 100",
    ):
        load_scenario(tmp_path / "s.toml")
    text = (
        (tmp_path / "s.toml")
        .read_text()
        .replace("column = 'store_2'}", "column = 'store_2', wrap = true}")
    )
    (tmp_path / "s.toml").write_text(text)
    sc = load_scenario(tmp_path / "s.toml")
    assert sc.node("store_1").demand.values == (2.0, 4.0)
    assert sc.node("store_1").demand.wrap


def test_a_trace_with_random_starts_draws_a_window_per_episode():
    import numpy as np

    from hmarl_env.demand import Trace

    trace = Trace(tuple(float(v) for v in range(50)), random_start=True)
    draws = trace.sample(np.random.default_rng(0), 10, 4)
    starts = draws[0]
    assert len(set(starts)) > 1 and (starts <= 40).all()  # every window fits
    assert (np.diff(draws, axis=0) == 1).all()  # consecutive periods
    again = trace.sample(np.random.default_rng(0), 10, 4)
    assert (again == draws).all()  # the episode's generator decides
    assert Trace((1.0, 2.0)).to_dict() == {
        "kind": "trace",
        "values": [1.0, 2.0],
        "source": "",
    }


def node(**kw):
    base = dict(
        name="store_1", parent=None, lead_time=1, holding_cost=1.0, demand=Normal(5, 1)
    )
    return Node(**{**base, **kw})


BAD = [
    (lambda: node(name="shop_1"), "Node.name"),
    (lambda: node(lead_time=0), "nodes[store_1].lead_time"),
    (lambda: node(lead_time=1.5), "nodes[store_1].lead_time"),
    (lambda: node(holding_cost=-1), "nodes[store_1].holding_cost"),
    (lambda: node(holding_cost=math.nan), "nodes[store_1].holding_cost"),
    (lambda: node(stockout_cost="x"), "nodes[store_1].stockout_cost"),
    (lambda: node(initial_inventory=math.inf), "nodes[store_1].initial_inventory"),
    (
        lambda: Scenario("x", (node(demand=None),)),
        "nodes[store_1].demand is required",
    ),
    (lambda: node(storage=0.0), "nodes[store_1].storage"),
    (lambda: node(truck_volume=-1.0), "nodes[store_1].truck_volume"),
    (lambda: node(name="warehouse_1", demand=Poisson(3)), "nodes[warehouse_1].demand"),
    (lambda: Poisson(0), "Poisson.mean"),
    (lambda: Normal(5, -1), "Normal.std"),
    (lambda: Supplier(capacity=0), "supplier.capacity"),
    (lambda: Supplier(overtime_cost=-2), "supplier.overtime_cost"),
    (lambda: RewardWeights(service_level=math.nan), "rewards.service_level"),
    (lambda: SupplierRewardWeights(backlog=-1), "rewards.supplier.backlog"),
    (lambda: Actions(store_order_multipliers=(1.0,)), "store_order_multipliers"),
    (lambda: Actions(warehouse_order_lots=(0, -5)), "warehouse_order_lots[1]"),
    (
        lambda: Actions(supplier_fulfil_fractions=(1.0, 1.2)),
        "supplier_fulfil_fractions[1]",
    ),
    (lambda: get_scenario("default", horizon=0), "scenario.horizon"),
    (lambda: get_scenario("default", shortage="lost"), "scenario.shortage"),
    (lambda: get_scenario("default", in_transit_holding="yes"), "in_transit_holding"),
    (lambda: get_scenario("default", forecast_smoothing=0), "forecast_smoothing"),
    (lambda: get_scenario("default", nodes=()), "scenario.nodes must not be empty"),
    (lambda: get_scenario("default", name=""), "scenario.name"),
]


@pytest.mark.parametrize("make, field", BAD, ids=[f for _, f in BAD])
def test_bad_values_name_the_field(make, field):
    with pytest.raises(ValueError) as err:
        make()
    assert field in str(err.value)


def test_bad_networks_are_explained():
    sc = get_scenario("default")
    s1, s2, wh = sc.nodes
    with pytest.raises(ValueError, match="duplicate names"):
        sc.replace(nodes=(s1, s1, wh))
    with pytest.raises(ValueError, match="exactly one root"):
        sc.replace(nodes=(dataclasses.replace(s1, parent=None), s2, wh))
    with pytest.raises(ValueError, match="parent 'warehouse_9' is not a node"):
        sc.replace(nodes=(dataclasses.replace(s1, parent="warehouse_9"), s2, wh))
    with pytest.raises(ValueError, match="warehouse with no children"):
        sc.replace(
            nodes=(
                dataclasses.replace(s1, parent="warehouse_2"),
                s2,
                wh,
                Node("warehouse_2", parent="warehouse_1", lead_time=1, holding_cost=0),
                Node("warehouse_3", parent="warehouse_1", lead_time=1, holding_cost=0),
            )
        )
    with pytest.raises(ValueError, match="form a cycle"):
        sc.replace(
            nodes=(
                s1,
                s2,
                wh,
                Node("warehouse_2", parent="warehouse_3", lead_time=1, holding_cost=0),
                Node("warehouse_3", parent="warehouse_2", lead_time=1, holding_cost=0),
            )
        )
    with pytest.raises(ValueError, match="is a store but has children"):
        sc.replace(nodes=(dataclasses.replace(s1, parent="store_2"), s2, wh))


def test_bad_files_are_explained(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("horizon = [")
    with pytest.raises(ValueError, match="could not be parsed"):
        load_scenario(bad)
    bad.write_text('extends = "default"\nhorizon = 10\nhorizn = 3\n')
    with pytest.raises(ValueError, match=r"unknown keys \['horizn'\]"):
        load_scenario(bad)
    bad.write_text('extends = "defualt"\n')
    with pytest.raises(ValueError, match="not a preset"):
        load_scenario(bad)
    bad.write_text('extends = "default"\n[supplier]\ncapcity = 3.0\n')
    with pytest.raises(ValueError, match=r"supplier: unknown keys \['capcity'\]"):
        load_scenario(bad)
    bad.write_text(
        "[[nodes]]\nname='store_1'\nlead_time=1\nholding_cost=1.0\n"
        "demand={kind='gamma', mean=3}\n"
    )
    with pytest.raises(
        ValueError, match=r"nodes\[store_1\].demand.kind must be one of"
    ):
        load_scenario(bad)
    bad.write_text(
        "[[nodes]]\nname='store_1'\nlead_time=1\nholding_cost=1.0\n"
        "demand={kind='poisson', mean=3, std=2}\n"
    )
    with pytest.raises(ValueError, match=r"unknown keys for kind 'poisson': \['std'\]"):
        load_scenario(bad)
    other = tmp_path / "x.txt"
    other.write_text("")
    with pytest.raises(ValueError, match="use .toml"):
        load_scenario(other)


def test_a_file_without_a_name_is_named_by_its_safe_stem(tmp_path):
    from hmarl_env import get_scenario

    path = tmp_path / "my chain (v2).toml"
    path.write_text('extends = "default"\n')
    assert get_scenario(path).name == "my_chain__v2_"


@pytest.mark.parametrize(
    "suffix, text",
    [
        (".yaml", "extends: default\nhorizon: 30\nhorizon: 40\n"),
        (".json", '{"extends": "default", "horizon": 30, "horizon": 40}'),
    ],
)
def test_a_key_given_twice_is_an_error(tmp_path, suffix, text):
    from hmarl_env import get_scenario

    path = tmp_path / f"twice{suffix}"
    path.write_text(text)
    with pytest.raises(ValueError, match="'horizon' is given twice"):
        get_scenario(path)


def test_extends_must_name_one_preset(tmp_path):
    from hmarl_env import get_scenario

    path = tmp_path / "list.toml"
    path.write_text('extends = ["default", "serial"]\n')
    with pytest.raises(ValueError, match="extends must be the name of one preset"):
        get_scenario(path)


def test_a_simulation_takes_a_preset_name():
    from hmarl_env import Simulation

    assert Simulation("default", batch_size=2).scenario.name == "default"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"horizon": 10**12}, "horizon must be at most 100,000"),
        ({"holding_cost": 1e308}, "holding_cost must be at most 1e\\+09"),
        ({"demand": {"kind": "poisson", "mean": 1e20}}, "mean must be at most"),
        (
            {"demand": {"kind": "merton", "initial": 100.0, "drift": 10.0}},
            "can reach .* units a period within the 100-period horizon",
        ),
        ({"capacity": 1e300}, "capacity must be a number > 0 and at most"),
    ],
)
def test_numbers_that_would_overflow_name_the_field_and_bound(change, message):
    from hmarl_env.scenario import scenario_from_dict

    data = get_scenario("default").to_dict()
    if "horizon" in change:
        data["horizon"] = change["horizon"]
    elif "capacity" in change:
        data["supplier"]["capacity"] = change["capacity"]
    else:
        key, value = next(iter(change.items()))
        data["nodes"][0][key] = value
    with pytest.raises(ValueError, match=message):
        scenario_from_dict(data)


def test_a_merton_drift_that_stays_representable_is_accepted():
    from hmarl_env.demand import MertonJumpDiffusion
    from hmarl_env.scenario import scenario_from_dict

    data = get_scenario("default").to_dict()
    data["nodes"][0]["demand"] = {"kind": "merton", "initial": 100.0, "drift": 0.01}
    sc = scenario_from_dict(data)
    assert isinstance(sc.nodes[0].demand, MertonJumpDiffusion)


def test_orders_too_large_for_the_ledger_are_refused_before_anything_moves():
    import numpy as np

    from hmarl_env import Simulation

    sim = Simulation("default", batch_size=1)
    sim.reset(np.random.default_rng(0))
    before = sim.state_array.copy()
    with pytest.raises(ValueError, match="at most 1e\\+12; replica 0, node 'store_1'"):
        sim.step(np.array([[1e308, 0.0, 0.0]]))
    np.testing.assert_array_equal(sim.state_array, before)
