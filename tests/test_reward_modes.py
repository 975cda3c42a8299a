"""Reward modes: local (the reference design's), system (minus the chain's
ledger cost) and mixed, all from the ledger."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, seed_test

import hmarl_env
from hmarl_env import get_scenario
from hmarl_env.registry import SUPPLIER
from hmarl_env.scenario import scenario_from_dict


def _scenario(preset: str = "default", **rewards):
    sc = get_scenario(preset)
    return sc.replace(rewards=dataclasses.replace(sc.rewards, **rewards))


def _episode(scenario, seed: int = 11):
    """Every step's rewards and infos, and the env's ledgers, under seeded
    random actions (the same for every scenario of the same shape)."""
    env = hmarl_env.parallel_env(scenario)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    steps = []
    while env.agents:
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        _, rewards, _, _, infos = env.step(actions)
        steps.append((rewards, infos))
    return steps, env.history


@pytest.mark.parametrize("preset", ["default", "serial", "backorder"])
def test_the_system_reward_is_minus_the_ledgers_costs_by_hand(preset):
    steps, ledgers = _episode(_scenario(preset, mode="system"))
    total = 0.0
    for (rewards, infos), led in zip(steps, ledgers, strict=True):
        # by hand, from the ledger's own rows: holding, transit holding,
        # stockout and order costs of every node; backlog and overtime costs
        # of the supplier
        cost = float(
            (
                led.holding_cost + led.transit_cost + led.stockout_cost + led.order_cost
            ).sum()
            + led.supplier_backlog_cost.sum()
            + led.supplier_overtime_cost.sum()
        )
        for agent, r in rewards.items():
            assert r == pytest.approx(-cost, rel=1e-12, abs=1e-9), agent
            assert infos[agent]["system_reward"] == r
        total += cost
    assert total > 0  # the episode had costs to count


def test_local_mode_is_the_seeds_rewards_and_reports_the_system_reward():
    local, _ = _episode(_scenario(mode="local"))
    system, _ = _episode(_scenario(mode="system"))
    for (rl, il), (rs, isys) in zip(local, system, strict=True):
        for agent in rl:
            assert rl[agent] == il[agent]["local_reward"]
            assert il[agent]["system_reward"] == rs[agent]
            assert isys[agent]["local_reward"] == rl[agent]


@pytest.mark.parametrize("weight, same_as", [(0.0, "local"), (1.0, "system")])
def test_mixed_at_its_ends_is_local_or_system_exactly(weight, same_as):
    mixed, _ = _episode(_scenario(mode="mixed", system_weight=weight))
    other, _ = _episode(_scenario(mode=same_as))
    for (rm, _), (ro, _) in zip(mixed, other, strict=True):
        assert rm == ro  # exactly, every agent, every period


def test_mixed_weighs_the_two_parts():
    steps, _ = _episode(_scenario(mode="mixed", system_weight=0.25))
    for rewards, infos in steps:
        for agent, r in rewards.items():
            i = infos[agent]
            expected = 0.75 * i["local_reward"] + 0.25 * i["system_reward"]
            assert r == pytest.approx(expected, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize(
    "rewards, message",
    [
        ({"mode": "global"}, "rewards.mode must be one of"),
        ({"mode": "mixed", "system_weight": 1.5}, r"system_weight must be .* \[0, 1\]"),
        ({"mode": "mixed", "system_weight": -0.1}, r"system_weight must be"),
        ({"system_weight": "half"}, r"system_weight must be"),
        ({"weight": 0.5}, r"rewards: unknown keys \['weight'\]"),
    ],
)
def test_bad_modes_and_weights_are_refused_by_name(rewards, message):
    with pytest.raises(ValueError, match=message):
        scenario_from_dict({"extends": "default", "rewards": rewards})


@pytest.mark.parametrize(
    "rewards", [{"mode": "system"}, {"mode": "mixed", "system_weight": 0.3}]
)
def test_pettingzoo_suites_pass_in_every_mode(rewards):
    sc = scenario_from_dict({"extends": "default", "rewards": rewards})
    parallel_api_test(hmarl_env.parallel_env(sc), num_cycles=120)
    seed_test(lambda: hmarl_env.env(sc), num_cycles=120)


def test_the_supplier_gets_the_system_reward_too():
    steps, _ = _episode(_scenario(mode="system"))
    rewards, _ = steps[-1]
    assert len(set(rewards.values())) == 1 and SUPPLIER in rewards


def test_on_the_hierarchy_preset_a_smoothing_supplier_lowers_the_chains_cost():
    """The supplier's choice matters there (before any training): spreading
    releases beats always fulfilling on the system's ledger cost, paired on
    held-out episodes, with the stores and warehouse as tuned."""
    from baselines.evaluate import evaluate
    from baselines.policies import make_policies
    from hmarl_env.seeding import HELD_OUT_SEED
    from hmarl_env.utils.stats import mean_ci

    sc = get_scenario("hierarchy")
    assert sc.rewards.mode == "system"

    def cost(kind):
        df = evaluate(sc, make_policies(sc, kind), 200, seed=HELD_OUT_SEED)
        return df.groupby("episode")["total_cost"].sum().to_numpy()

    diff, half = mean_ci(cost("smoothing") - cost("tuned"))
    assert diff + half < 0, (diff, half)
