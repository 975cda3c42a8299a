"""Scenario families: reproducible instances from seeds, their context, bad
specifications refused by name, and the env that plays a new instance every
episode."""

from __future__ import annotations

import numpy as np
import pytest

from hmarl_env.family_env import FamilyEnv
from hmarl_env.observations import demand_scales, inventory_scales
from hmarl_env.scenario.family import (
    DEFAULT_CHAIN,
    LOST_SALES,
    Between,
    Family,
    get_family,
)


def test_a_family_samples_reproducibly_within_its_ranges():
    draws = [LOST_SALES.draw(seed) for seed in range(200)]
    assert draws[7] == LOST_SALES.draw(7)
    assert LOST_SALES.sample(7) == LOST_SALES.sample(7)
    assert len({tuple(d.values()) for d in draws}) == 200
    L = {d["lead_time"] for d in draws}
    assert L == {1.0, 2.0, 3.0, 4.0}
    assert all(4.0 <= d["penalty"] <= 39.0 and 3.0 <= d["mean"] <= 8.0 for d in draws)
    assert all(d["fixed"] == 0.0 for d in draws)  # not varied: the default
    sc = LOST_SALES.sample(11)
    d = LOST_SALES.draw(11)
    (store,) = sc.nodes
    assert store.lead_time == d["lead_time"] + 1  # Zipkin's L + 1
    assert store.stockout_cost == d["penalty"] and store.demand.mean == d["mean"]
    # one action space for all: the largest instance's K (mean 8: 17)
    assert {LOST_SALES.sample(s).actions.store_max_order for s in range(20)} == {17}


def test_a_log_range_draws_as_often_from_each_factor_of_its_span():
    fam = Family("log", "single_stage", {"penalty": Between(4.0, 36.0, log=True)})
    p = np.array([fam.draw(s)["penalty"] for s in range(4000)])
    assert p.min() >= 4.0 and p.max() <= 36.0
    # 4-12 and 12-36 are each a factor of 3: half the draws each
    assert abs((p < 12.0).mean() - 0.5) < 0.03
    lin = Family("lin", "single_stage", {"penalty": Between(4.0, 36.0)})
    q = np.array([lin.draw(s)["penalty"] for s in range(4000)])
    assert abs((q < 12.0).mean() - 0.25) < 0.03
    # the lost-sales family draws its penalties so: 4-8 in about 30%
    d = np.array([LOST_SALES.draw(s)["penalty"] for s in range(4000)])
    assert abs((d < 8.0).mean() - np.log(2) / np.log(39 / 4)) < 0.03
    # as a file's table writes it
    assert Family(
        "f", "single_stage", {"penalty": {"low": 4, "high": 9, "log": True}}
    ).params["penalty"] == Between(4.0, 9.0, True)


def test_a_list_of_choices_draws_only_them():
    fam = Family("few", "single_stage", {"penalty": [4, 39], "lead_time": [2]})
    seen = {fam.draw(s)["penalty"] for s in range(50)}
    assert seen == {4.0, 39.0}
    assert fam.context(fam.draw(0))[0] == 0.5  # lead_time: one value


def test_the_context_is_each_varied_parameter_scaled_to_its_range():
    d = DEFAULT_CHAIN.draw(5)
    ctx = DEFAULT_CHAIN.context(d)
    assert DEFAULT_CHAIN.varied == tuple(sorted(DEFAULT_CHAIN.params))
    for k, name in enumerate(DEFAULT_CHAIN.varied):
        r = DEFAULT_CHAIN.params[name]
        assert ctx[k] == pytest.approx((d[name] - r.low) / (r.high - r.low))
    sc = DEFAULT_CHAIN.sample(5)
    stores = [n for n in sc.nodes if n.is_store]
    assert all(n.demand.mean == pytest.approx(100 * d["demand_scale"]) for n in stores)
    assert all(n.lead_time == d["store_lead_time"] for n in stores)
    assert sc.nodes[2].lead_time == d["warehouse_lead_time"]
    assert sc.supplier.capacity == pytest.approx(600 * d["demand_scale"])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"penalty": Between(9, 4)}, r"penalty is an empty range \(low 9"),
        ({"penalty": []}, "penalty has no choices"),
        ({"penalty": Between(-1, 4)}, r"penalty must be > 0 \(the scenario's bound\)"),
        ({"mean": [0, 5]}, "mean must be > 0"),
        ({"lead_time": Between(0, 3)}, "lead_time must be >= 1"),
        ({"lead_time": [1.5]}, "lead_time takes whole numbers"),
        ({"penalty": {"low": 4}}, "penalty must be a range"),
        ({"penalty": [4, float("nan")]}, "penalty must hold finite numbers"),
        ({"holding": [1.0]}, "'holding' is not a parameter of single_stage"),
        ({"lead_time": Between(1, 4, log=True)}, "lead_time cannot be drawn on a log"),
        ({"fixed": Between(0, 4, log=True)}, "fixed cannot be drawn on a log"),
        ({"penalty": Between(4, 9, log="yes")}, "penalty's log must be true or false"),
    ],
)
def test_bad_family_specifications_are_refused_naming_the_field(params, message):
    with pytest.raises(ValueError, match=message):
        Family("bad", "single_stage", params)


def test_a_range_no_scenario_accepts_and_unknown_names_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        Family("bad", "serial", {})
    with pytest.raises(ValueError, match="unknown family 'nope'"):
        get_family("nope")
    with pytest.raises(ValueError, match="shortage must be"):
        Family("bad", "single_stage", {}, shortage="lost")
    # a store lead time the default chain refuses, named with its end
    with pytest.raises(ValueError, match="the high end of its ranges makes no valid"):
        Family("bad", "default_chain", {"store_holding": Between(0.1, 1e300)})


def test_the_family_env_plays_the_instance_of_each_seed():
    from pettingzoo.test import parallel_api_test

    import hmarl_env

    env = FamilyEnv("lost_sales_family", store_observation="orders")
    parallel_api_test(env, num_cycles=120)
    # room for L = 6: on hand, backlog, 1 + 6 orders; 3 context
    assert env.observation_space("store_1").shape == (12,)
    assert env.action_space("store_1").n == 18
    obs, infos = env.reset(seed=21)
    params = infos["store_1"]["family_params"]
    assert params == LOST_SALES.draw(21)
    np.testing.assert_array_equal(obs["store_1"][-3:], LOST_SALES.context(params))
    instance = LOST_SALES.sample(21)
    plain = hmarl_env.parallel_env(instance, store_observation="orders")
    p_obs, _ = plain.reset(seed=21)
    width = p_obs["store_1"].shape[0]
    # every quantity per mean demand: on hand and backlog, shown by the
    # instance's env per inventory scale, times (L + 1) periods of review
    ratio = inventory_scales(instance)[0] / demand_scales(instance)[0]
    assert ratio == pytest.approx(instance.nodes[0].lead_time + 1)
    want = p_obs["store_1"] * np.array([ratio, ratio] + [1.0] * (width - 2))
    np.testing.assert_allclose(obs["store_1"][:width], want, rtol=1e-6)
    assert not obs["store_1"][width:-3].any()  # padding
    as_is = FamilyEnv(LOST_SALES, "orders", units="scenario")
    np.testing.assert_array_equal(
        as_is.reset(seed=21)[0]["store_1"][:width], p_obs["store_1"]
    )
    # the bounds hold the longest lead time's stock: 10 inventory scales
    assert env.observation_space("store_1").high[0] == pytest.approx(10 * 8)
    with pytest.raises(ValueError, match="family units must be one of"):
        FamilyEnv(LOST_SALES, "orders", units="cases")
    rng = np.random.default_rng(0)
    for _ in range(30):
        acts = {"store_1": int(rng.integers(18)), "supplier_1": 0}
        _, r, _, _, _ = env.step(acts)
        _, pr, _, _, _ = plain.step(acts)
        assert r == pr
    again, _ = env.reset(seed=21)
    np.testing.assert_array_equal(again["store_1"], obs["store_1"])


def test_scaled_rewards_divide_by_the_instance_scale_and_keep_the_ledger():
    from hmarl_env.rewards import reward_scales

    env = FamilyEnv(DEFAULT_CHAIN, scale_rewards=True)
    env.reset(seed=4)
    scales = reward_scales(env.scenario)
    acts = dict.fromkeys(env.agents, 1)
    _, r, _, _, infos = env.step(acts)
    for a in env.possible_agents:
        assert r[a] == pytest.approx(infos[a]["unscaled_reward"] / scales[a])
    assert env.state().shape == env._roles.state_space.shape
    with pytest.raises(ValueError, match="family must be a Family"):
        FamilyEnv(3)


def test_a_shared_largest_order_below_an_instances_own_is_refused():
    from hmarl_env.scenario import single_stage

    assert single_stage(1, 9.0, max_order=30).actions.store_max_order == 30
    with pytest.raises(ValueError, match=r"max_order must be at least 11 \(the"):
        single_stage(1, 9.0, max_order=10)


def test_family_rollout_plays_what_family_envs_play():
    """Each replica of a FamilyRollout plays, two episodes in a row, what a
    FamilyEnv drawing from the same generator plays: the same instances,
    observations (padded, with the context) and scaled rewards."""
    from hmarl_env.family_env import FamilyRollout

    B = 3
    rollout = FamilyRollout(LOST_SALES, B, store_observation="orders")
    envs = [FamilyEnv(LOST_SALES, "orders", scale_rewards=True) for _ in range(B)]
    for b, env in enumerate(envs):
        env._rng = np.random.default_rng([5, b])
    rngs = [np.random.default_rng([5, b]) for b in range(B)]
    acting = np.random.default_rng(0)
    agents = rollout.agents
    assert agents == envs[0].possible_agents
    for _ in range(2):
        rollout.reset(rngs)
        obs = [env.reset()[0] for env in envs]
        assert [dict(env.params) for env in envs] == rollout.params
        assert len({tuple(p.values()) for p in rollout.params}) == B
        for _ in range(rollout.horizon):
            both = rollout.observe()
            for b in range(B):
                for a in agents:
                    np.testing.assert_array_equal(
                        both[b, rollout.roles.slices[a]], obs[b][a]
                    )
            actions = np.stack(
                [
                    [acting.integers(envs[0].action_space(a).n) for a in agents]
                    for _ in range(B)
                ]
            )
            period = rollout.step(actions)
            for b, env in enumerate(envs):
                o, r, _, _, _ = env.step(
                    dict(zip(agents, actions[b].tolist(), strict=True))
                )
                obs[b] = o
                assert period.rewards[b].tolist() == pytest.approx(
                    [r[a] for a in agents], rel=1e-12
                )
        assert rollout.done and all(not env.agents for env in envs)


def test_a_pinned_family_draws_its_instance_with_the_familys_layout_and_context():
    """Fine-tuning's env: one instance, possibly outside the ranges, seen
    through the family's layout and context; its name reads back."""
    pinned = get_family("lost_sales_family@lead_time=5,mean=5,penalty=9")
    assert pinned == LOST_SALES.at({"penalty": 9, "lead_time": 5, "mean": 5})
    assert get_family(pinned.name) == pinned
    assert pinned.params == LOST_SALES.params and pinned.room == LOST_SALES.room
    assert {tuple(pinned.draw(s).values()) for s in range(20)} == {(5.0, 9.0, 5.0, 0.0)}
    sc = pinned.sample(3)
    assert sc.nodes[0].lead_time == 6 and sc.name == pinned.scenario_name
    assert sc.actions.store_max_order == 17  # the family's actions
    # L = 5 lies beyond the range 1-4: the context extrapolates
    ctx = pinned.context(pinned.draw(0))
    np.testing.assert_allclose(ctx, [4 / 3, 2 / 5, 4 / 7], rtol=1e-6)
    assert pinned.values_of(sc)["lead_time"] == 5.0
    with pytest.raises(ValueError, match="lead_time 5 is not one"):
        LOST_SALES.values_of(sc)
    assert LOST_SALES.values_of(sc, within=False) == pinned.draw(0)
    fam, one = FamilyEnv(LOST_SALES, "orders"), FamilyEnv(pinned, "orders")
    assert (
        one.observation_space("store_1").shape == fam.observation_space("store_1").shape
    )
    obs, infos = one.reset(seed=4)
    assert infos["store_1"]["family_params"] == pinned.draw(4)
    np.testing.assert_allclose(obs["store_1"][-3:], ctx)
    # the room no drawn instance fills: L 5-6's orders for the family
    # (positions 7, 8), L 6's for the instance pinned to L 5
    assert fam.layout.unfilled == {"store_1": (7, 8), "supplier_1": ()}
    assert one.layout.unfilled == {"store_1": (8,), "supplier_1": ()}
    for seed in range(40):
        drawn, _ = fam.reset(seed=seed)
        assert not drawn["store_1"][[7, 8]].any()
        filled, _ = one.reset(seed=seed)
        assert not filled["store_1"][8]
    # a family without room fills every position
    assert not any(FamilyEnv(DEFAULT_CHAIN).layout.unfilled.values())


@pytest.mark.parametrize(
    "name, message",
    [
        ("lost_sales_family@lead_time=5", r"names every parameter it varies; \['mean'"),
        ("lost_sales_family@lead_time=5,mean=x,penalty=9", "'mean=x' is not one"),
        (
            "lost_sales_family@lead_time=0,mean=5,penalty=9",
            "pin lead_time must be >= 1",
        ),
        ("lost_sales_family@size=1,lead_time=2,mean=5,penalty=9", "pin names 'size'"),
        ("nope@lead_time=2", "unknown family 'nope'"),
    ],
)
def test_bad_pinned_families_are_refused_naming_the_value(name, message):
    with pytest.raises(ValueError, match=message):
        get_family(name)


def test_a_pinned_instance_wider_than_the_familys_room_is_refused():
    with pytest.raises(ValueError, match="makes room for .*'lead_time': 6"):
        FamilyEnv("lost_sales_family@lead_time=7,mean=5,penalty=9", "orders")
    with pytest.raises(ValueError, match="room names 'size'"):
        Family("bad", "single_stage", {"penalty": Between(4, 9)}, room={"size": 2})


def test_a_default_chain_instance_reads_back_its_parameters():
    """What a family policy needs to act on a chain of the family (a test
    chain of benchmarks/chain_family.py, from its scenario file): the drawn
    parameters, to 1e-9; a chain that differs elsewhere is refused."""
    import dataclasses
    import json

    from hmarl_env.scenario.files import scenario_from_dict

    for seed in range(20):
        drawn = DEFAULT_CHAIN.draw(seed)
        sc = DEFAULT_CHAIN.sample(seed).replace(name="test_chain")
        # as a scenario file holds it
        back = scenario_from_dict(json.loads(json.dumps(sc.to_dict())))
        read = DEFAULT_CHAIN.values_of(back)
        assert read.keys() == drawn.keys()
        for k in drawn:
            assert read[k] == pytest.approx(drawn[k], rel=1e-9)
    sup = dataclasses.replace(sc.supplier, capacity=sc.supplier.capacity + 1)
    with pytest.raises(ValueError, match="differs from its instance elsewhere"):
        DEFAULT_CHAIN.values_of(sc.replace(supplier=sup))
    with pytest.raises(ValueError, match="not an instance of the default chain"):
        DEFAULT_CHAIN.values_of(LOST_SALES.sample(0))
    far = DEFAULT_CHAIN.at({**DEFAULT_CHAIN.draw(0), "warehouse_lead_time": 9})
    with pytest.raises(ValueError, match="warehouse_lead_time 9 is not one"):
        DEFAULT_CHAIN.values_of(far.sample(0))
    assert (
        DEFAULT_CHAIN.values_of(far.sample(0), within=False)["warehouse_lead_time"] == 9
    )


def test_a_single_stage_penalty_enters_the_context_as_its_critical_ratio():
    """p / (p + h) with h = 1, scaled over the range's: the cheap end of
    4-39 spreads as wide as the dear end."""
    ratio = [
        LOST_SALES.context({"lead_time": 2, "mean": 5, "penalty": p})[2]
        for p in (4, 9, 39)
    ]
    lo, hi = 4 / 5, 39 / 40
    np.testing.assert_allclose(ratio, [0.0, (9 / 10 - lo) / (hi - lo), 1.0], rtol=1e-6)
    assert LOST_SALES.sample(0).nodes[0].holding_cost == 1.0  # what the ratio assumes
    # the default chain's parameters enter as they are
    d = DEFAULT_CHAIN.draw(0)
    r = DEFAULT_CHAIN.params["store_stockout"]
    k = DEFAULT_CHAIN.varied.index("store_stockout")
    assert DEFAULT_CHAIN.context(d)[k] == pytest.approx(
        (d["store_stockout"] - r.low) / (r.high - r.low)
    )
