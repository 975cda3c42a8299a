"""The registry is complete and tells the truth: every role's reward terms,
weights, actions and heuristic exist where the registry says, every reward
weight is used, and no field of a role goes unread."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from baselines.policies import HEURISTICS
from hmarl_env.registry import ROLES, Role
from hmarl_env.rewards import NODE_TABLE, NODE_TERMS, SUPPLIER_TABLE
from hmarl_env.scenario import Actions, Rewards

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("role", ROLES.values(), ids=lambda r: r.name)
def test_every_reward_term_has_its_column_and_its_weight(role: Role):
    table = NODE_TABLE if role.is_node else SUPPLIER_TABLE
    weights = {f.name for f in dataclasses.fields(role.weights(Rewards()))}
    for column, weight, sign in role.reward_terms:
        assert column in table, f"{role.name}: no column {column!r} in its table"
        assert weight in weights, f"{role.name}: no weight {weight!r}"
        assert sign in (1.0, -1.0)


@pytest.mark.parametrize("role", ROLES.values(), ids=lambda r: r.name)
def test_every_weight_of_a_role_is_used_by_a_term(role: Role):
    weights = {f.name for f in dataclasses.fields(role.weights(Rewards()))}
    used = {weight for _, weight, _ in role.reward_terms}
    # excess_cover_days is the target above which excess inventory counts
    assert weights - used <= {"excess_cover_days"}


def test_every_node_reward_term_is_a_term_of_a_node_role():
    terms = {c for r in ROLES.values() if r.is_node for c, _, _ in r.reward_terms}
    assert terms == set(NODE_TERMS)


@pytest.mark.parametrize("role", ROLES.values(), ids=lambda r: r.name)
def test_every_role_has_actions_a_heuristic_and_features(role: Role):
    assert role.action_values in {f.name for f in dataclasses.fields(Actions)}
    assert role.name in HEURISTICS
    assert role.baseline in ("rule_based", "base_stock", "tuned")


def test_no_heuristic_without_a_role():
    assert set(HEURISTICS) == set(ROLES)


def test_no_field_of_a_role_goes_unread():
    code = "\n".join(
        p.read_text()
        for package in ("hmarl_env", "baselines", "analysis", "experiments")
        for p in (ROOT / package).rglob("*.py")
        if p.name != "registry.py"
    )
    registry = (ROOT / "hmarl_env" / "registry.py").read_text()
    for f in dataclasses.fields(Role):
        # read by other modules, or by the registry's own functions
        reads = re.findall(rf"\.{f.name}\b", code + registry.split("def module_of")[1])
        assert reads, f"Role.{f.name} is never read"


def test_warehouses_of_a_level_can_share_a_module():
    from analysis.runs.settings import PHASES, share_warehouses
    from hmarl_env import get_scenario
    from hmarl_env.registry import agent_modules
    from hmarl_env.scenario import network

    sc = network(6, 2)  # a central warehouse over two regions of three stores
    per_node = agent_modules(sc)
    assert [per_node[f"warehouse_{k}"] for k in (1, 2, 3)] == [
        "warehouse",
        "warehouse_2",
        "warehouse_3",
    ]
    shared = agent_modules(sc, "per_level")
    assert [shared[f"warehouse_{k}"] for k in (1, 2, 3)] == [
        "warehouse",
        "warehouse_2",
        "warehouse_2",
    ]
    assert shared["store_4"] == "store" and shared["supplier_1"] == "supplier"
    # phases that learn warehouses train every level's module; heuristic
    # warehouses keep one module each (a heuristic acts for one node)
    assert share_warehouses(PHASES["phase1"], sc, "per_level").modules == {}
    p4 = share_warehouses(PHASES["phase4"], sc, "per_level")
    assert sorted(p4.train) == ["store", "supplier", "warehouse", "warehouse_2"]
    assert p4.module_of("warehouse_3") == "warehouse_2"
    assert share_warehouses(PHASES["phase4"], sc, "per_node").train == (
        "store",
        "warehouse",
        "supplier",
    )
    with pytest.raises(ValueError, match="warehouse_modules must be one of"):
        agent_modules(get_scenario("default"), "per_role")


def test_a_shared_module_needs_one_shape():
    from analysis.runs.settings import PHASES, share_warehouses
    from experiments.common import modules_of
    from hmarl_env.scenario import network

    sc = network(5, 2)  # regions of three and two stores: six and five inputs
    phase = share_warehouses(PHASES["phase2"], sc, "per_level")
    with pytest.raises(ValueError, match="share module 'warehouse_2' but observe"):
        modules_of(sc, phase.module_of)
