"""The role registry, the named observation features and the reward formula."""

from __future__ import annotations

import numpy as np
import pytest

import hmarl_env
from hmarl_env import get_scenario
from hmarl_env.core import StateField
from hmarl_env.observations import inventory_scales
from hmarl_env.registry import (
    ROLES,
    SUPPLIER,
    StoreFeature,
    SupplierFeature,
    WarehouseFeature,
    agent_names,
    module_id,
    role_of,
    role_of_module,
)
from hmarl_env.rewards import (
    NODE_TABLE,
    reward_weights,
    role_reward,
    table_rewards,
)
from hmarl_env.roles import Roles
from hmarl_env.rollout import Rollout
from hmarl_env.scenario import PRESETS

# ------------------------------------------------------------------ registry


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_registry_lists_the_envs_agents_in_its_order(preset):
    env = hmarl_env.parallel_env(preset)
    assert list(agent_names(env.scenario)) == env.possible_agents
    sc = env.scenario
    for agent in env.possible_agents:
        role = role_of(agent)
        assert agent.startswith(role.prefix + "_")
        serves = (
            float(sc.mean_demand[sc.node_names.index(agent)]) if role.is_node else None
        )
        # what each action means: the field's values, or quantities or covers
        choices = sc.actions.choices(role.action_values, serves)
        assert env.action_space(agent).n == len(choices)


def test_module_ids_come_from_the_registry():
    assert module_id("store_1") == module_id("store_7") == "store"
    assert module_id("warehouse_1") == "warehouse"
    assert module_id("warehouse_2") == "warehouse_2"  # its own module
    assert module_id(SUPPLIER) == "supplier"
    assert role_of_module("warehouse_2") is ROLES["warehouse"]
    assert role_of_module("store") is ROLES["store"]


@pytest.mark.parametrize("name", ["shop_1", "store", "store_x", "", "supplier"])
def test_an_unknown_agent_name_is_refused_with_the_naming_rule(name):
    with pytest.raises(ValueError, match="agents are named"):
        role_of(name)


# ------------------------------------------------------- named observations


def _one_step(preset: str = "default"):
    sc = get_scenario(preset)
    rollout = Rollout(sc, 4)
    rollout.reset([np.random.default_rng(s) for s in range(4)])
    rng = np.random.default_rng(0)
    roles = rollout.roles
    for _ in range(5):
        rollout.step(
            np.stack([rng.integers(0, roles.n_actions(a), 4) for a in roles.agents], 1)
        )
    return sc, rollout


def test_feature_indices_name_what_the_columns_hold():
    sc, rollout = _one_step()
    obs, roles = rollout.observe(), rollout.roles
    state = rollout.sim.state_array
    inv = inventory_scales(sc)
    S = StateField
    for agent, i in roles.node_of.items():
        mine = obs[:, roles.slices[agent]]
        expected_inventory = np.minimum(state[:, S.on_hand, i] / inv[i], 10)
        pipeline = (state[:, S.in_transit, i] + state[:, S.inbound_backlog, i]) / inv[i]
        if role_of(agent) is ROLES["store"]:
            F = StoreFeature
            assert np.allclose(mine[:, F.inventory], expected_inventory, rtol=1e-6)
            assert np.allclose(
                mine[:, F.inbound_pipeline], np.minimum(pipeline, 10), rtol=1e-6
            )
            forecast = roles.trackers[:, 0, i] / sc.mean_demand[i]
            assert np.allclose(mine[:, F.forecast], forecast, rtol=1e-6)
        else:
            F = WarehouseFeature
            assert np.allclose(mine[:, F.inventory], expected_inventory, rtol=1e-6)
            assert np.allclose(
                mine[:, F.inbound_pipeline], np.minimum(pipeline, 10), rtol=1e-6
            )
            children = np.flatnonzero(sc.parent_index == i)
            for k, c in enumerate(children):
                child = np.minimum(state[:, S.on_hand, c] / inv[c], 10)
                assert np.allclose(mine[:, F.child_inventory + k], child, rtol=1e-6)
            assert mine.shape[1] == F.child_inventory + len(children) + 1
    sup = obs[:, roles.slices[SUPPLIER]]
    r = sc.root
    owed = state[:, S.inbound_backlog, r] / inv[r]
    assert np.allclose(sup[:, SupplierFeature.backlog], np.minimum(owed, 10), rtol=1e-6)
    assert sup.shape[1] == len(SupplierFeature)


def test_the_seed_layout_stops_before_the_pipeline_feature():
    roles = Roles(get_scenario("default"), 1, "seed")
    assert roles.observation_spaces["store_1"].shape == (StoreFeature.inbound_pipeline,)


# ----------------------------------------------------------------- rewards


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_kernel_scores_as_the_formula_says(preset):
    sc, rollout = _one_step(preset)
    rng = np.random.default_rng(1)
    table = rng.uniform(0, 50, size=(64, rollout.roles._rewards.width))
    assert np.allclose(
        rollout.roles.score(table), table_rewards(sc, table), rtol=1e-12, atol=1e-9
    )


def test_the_weights_are_each_terms_sign_times_its_weight():
    sc = get_scenario("default")
    W = reward_weights(sc)
    n = len(sc.nodes)
    w = sc.rewards.store
    store = 0  # store_1 is node 0
    k = NODE_TABLE.index
    assert W[k("service_level") * n + store, store] == w.service_level
    assert W[k("holding_cost") * n + store, store] == -w.holding_cost
    assert W[k("stockout_penalty") * n + store, store] == -w.stockout_penalty
    assert W[k("excess_inventory") * n + store, store] == -w.excess_inventory
    # nothing else of the table counts toward store_1's reward
    assert np.count_nonzero(W[:, store]) == 4
    assert np.count_nonzero(W[:, n]) == len(ROLES["supplier"].reward_terms)


def test_a_whole_episodes_rewards_are_the_formula_over_its_infos():
    env = hmarl_env.parallel_env("default")
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    while env.agents:
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        _, rewards, _, _, infos = env.step(actions)
        for agent, r in rewards.items():
            role = role_of(agent)
            expected = role_reward(
                role, role.weights(env.scenario.rewards), infos[agent]
            )
            assert r == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_a_step_takes_one_column_per_agent():
    _, rollout = _one_step()
    with pytest.raises(ValueError, match=r"shape \(B, 4\), one column per agent"):
        rollout.step(np.zeros((4, 3), dtype=np.int64))


def test_rewards_come_in_agent_order_whatever_the_node_order():
    """A scenario listing its warehouse before its stores: the rollout still
    gives each agent its own reward (the env's dict and the evaluator read it)."""
    sc = get_scenario("default")
    nodes = (sc.nodes[2], sc.nodes[0], sc.nodes[1])
    flipped = sc.replace(nodes=nodes)
    env, ref = hmarl_env.parallel_env(flipped), hmarl_env.parallel_env(sc)
    assert env.possible_agents == ref.possible_agents
    env.reset(seed=5)
    ref.reset(seed=5)
    rng = np.random.default_rng(5)
    for _ in range(20):
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        _, r1, _, _, i1 = env.step(actions)
        _, r2, _, _, i2 = ref.step(actions)
        assert r1 == pytest.approx(r2)
        for agent in i1:  # the system's cost sums the nodes in another order
            a, b = dict(i1[agent]), dict(i2[agent])
            assert a.pop("system_reward") == pytest.approx(b.pop("system_reward"))
            assert a == b
