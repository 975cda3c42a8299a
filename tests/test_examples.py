"""Every scenario file of examples/ loads, passes the env's checks and plays
an episode; the README shows a whole one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hmarl_env
from hmarl_env import get_scenario
from hmarl_env.validate import run_checks

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_example_loads_validates_and_plays(path):
    scenario = get_scenario(path)
    failed = [m for ok, m in run_checks(hmarl_env.SupplyChainEnv(scenario)) if not ok]
    assert not failed
    env = hmarl_env.parallel_env(scenario)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    while env.agents:
        env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})


def test_the_two_stores_example_is_the_default_chain_written_out():
    """Every field of examples/two_stores.toml as the default preset has it,
    but its name and store 2's demand (Poisson, to show a second kind)."""
    example = get_scenario(ROOT / "examples" / "two_stores.toml")
    default = get_scenario("default")
    nodes = list(default.nodes)
    nodes[1] = example.nodes[1]
    assert example.replace(name="default") == default.replace(nodes=tuple(nodes))


def test_the_network_generator_makes_the_tree_it_says():
    from hmarl_env.scenario import network

    sc = network(50, 5, demand={"kind": "poisson", "mean": {"low": 40, "high": 160}})
    assert len(sc.nodes) == 56 and sc.root == sc.node_names.index("warehouse_1")
    parents = {n.name: n.parent for n in sc.nodes}
    assert parents["warehouse_1"] is None
    assert {parents[f"warehouse_{r}"] for r in range(2, 7)} == {"warehouse_1"}
    assert parents["store_1"] == "warehouse_2" and parents["store_50"] == "warehouse_6"
    assert [parents[f"store_{k}"] for k in range(1, 51)].count("warehouse_3") == 10
    means = [float(n.demand.mean) for n in sc.nodes if n.is_store]
    assert all(40 <= m <= 160 for m in means) and len(set(means)) == 50
    again = network(50, 5, demand={"kind": "poisson", "mean": {"low": 40, "high": 160}})
    assert again == sc  # drawn from the network's seed
    store = sc.node("store_1")
    assert store.initial_inventory == pytest.approx(3 * store.demand.mean, abs=1e-3)
    assert sc.supplier.capacity == pytest.approx(1.5 * sum(means), rel=1e-9)
    flat = network(3)  # no regions: every store under the central warehouse
    assert {n.parent for n in flat.nodes if n.is_store} == {"warehouse_1"}


def test_the_fifty_store_example_is_the_generators_chain():
    from hmarl_env.scenario import network

    example = get_scenario(ROOT / "examples" / "fifty_stores.toml")
    assert len(example.nodes) == 56
    made = network(
        50,
        5,
        demand={"kind": "poisson", "mean": {"low": 40.0, "high": 160.0}},
        store={"lead_time": 2, "holding_cost": 0.073, "stockout_cost": 1.0},
        region={"lead_time": 2, "holding_cost": 0.05},
        central={"lead_time": 4, "holding_cost": 0.03},
        name="fifty_stores",
    )
    assert example.nodes == made.nodes


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"stores": 3, "regions": 4}, "must not exceed network.stores"),
        ({"stores": 0}, "network.stores must be an integer >= 1"),
        ({"stores": 2, "demand": {"kind": "poisson", "mean": [1.0]}}, "lists 1 means"),
        ({"stores": 2, "stors": 1}, "unknown keys \\['stors'\\]"),
        ({"stores": 2, "store": {"parent": "x"}}, "network.store.parent is set"),
        ({"stores": 2, "store": {"lead_time": 0}}, "lead_time must be an integer"),
    ],
)
def test_a_bad_network_is_refused_with_the_field_named(spec, message):
    from hmarl_env.scenario import scenario_from_dict

    with pytest.raises(ValueError, match=message):
        scenario_from_dict({"name": "n", "network": spec})
    with pytest.raises(ValueError, match="either nodes or a network"):
        scenario_from_dict({"name": "n", "network": spec, "nodes": []})


def test_the_serial_example_is_the_serial_preset_written_out():
    example = get_scenario(ROOT / "examples" / "serial_chain.toml")
    assert example.replace(name="serial") == get_scenario("serial")


def test_the_csv_example_reads_its_demand_from_the_file():
    sc = get_scenario(ROOT / "examples" / "csv_demand.toml")
    rows = (ROOT / "examples" / "demand.csv").read_text().splitlines()[1:]
    first = [float(r.split(",")[1]) for r in rows]
    assert list(sc.node("store_1").demand.values) == first


def test_warehouse_lots_in_periods_scale_with_the_demand_each_serves():
    from hmarl_env.scenario import network

    sc = network(50, 5)  # 100 a store: regions serve 1,000, the centre 5,000
    env = hmarl_env.parallel_env(sc)
    assert env.action_space("warehouse_1").n == 4
    central = sc.actions.choices("warehouse_order_lots", sc.mean_demand[sc.root])
    region = sc.actions.choices(
        "warehouse_order_lots", sc.mean_demand[sc.node_names.index("warehouse_2")]
    )
    assert central == (0.0, 12_500.0, 25_000.0, 37_500.0)
    assert region == (0.0, 2_500.0, 5_000.0, 7_500.0)
    # the (s, S) heuristic orders in its own warehouse's lots
    from baselines.policies import make_policies

    policies = make_policies(sc, "rule_based")
    assert policies["warehouse_2"].lots == region
    assert policies["warehouse_1"].lots == central
    # and the env decodes them: a region ordering its largest lot orders 7,500
    env.reset(seed=0)
    actions = {a: 0 for a in env.agents}
    actions["warehouse_2"] = 3
    _, _, _, _, infos = env.step(actions)
    assert infos["warehouse_2"]["ordered"] == 7_500.0
