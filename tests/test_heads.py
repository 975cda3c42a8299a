"""Policy heads (experiments/heads.py): the ordinal map from the actor's
outputs to action logits, and the modules and configs that use it."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModuleSpec  # noqa: E402

import hmarl_env  # noqa: E402
from experiments.critic import CentralCriticModule, paired_space  # noqa: E402
from experiments.heads import (  # noqa: E402
    LOGIT_FLOOR,
    MIN_SCALE,
    NormalPPOModule,
    OrdinalPPOModule,
    normal_logits,
    ordinal_logits,
)
from hmarl_env import get_scenario  # noqa: E402


def test_ordinal_logits_follow_the_definition():
    z = torch.tensor([[0.3, -1.2, 2.0, 0.7]], dtype=torch.float64)
    s = torch.sigmoid(z)[0].tolist()
    want = [
        sum(math.log(s[j]) for j in range(a + 1))
        + sum(math.log(1 - s[j]) for j in range(a + 1, 4))
        for a in range(4)
    ]
    np.testing.assert_allclose(ordinal_logits(z)[0].numpy(), want, rtol=1e-12)


def test_ordinal_outputs_at_zero_are_uniform_and_move_along_the_order():
    n = 6
    p = torch.softmax(ordinal_logits(torch.zeros(n)), -1)
    np.testing.assert_allclose(p.numpy(), np.full(n, 1 / n), rtol=1e-6)
    # raising every z_j shifts probability to larger actions: the mean order
    # rises monotonically, which a free logit per action does not guarantee
    means = []
    for shift in (-2.0, -1.0, 0.0, 1.0, 2.0):
        q = torch.softmax(ordinal_logits(torch.full((n,), shift)), -1)
        means.append(float(q @ torch.arange(n, dtype=q.dtype)))
    assert all(a < b for a, b in itertools.pairwise(means))
    # large outputs below k and small above: a point mass on k
    k = 3
    z = torch.tensor([20.0] * (k + 1) + [-20.0] * (n - k - 1))
    assert float(torch.softmax(ordinal_logits(z), -1)[k]) > 0.999


def test_the_normal_head_is_a_discretised_normal_whose_mode_is_nearest_mu():
    n = 12
    z = torch.zeros(2)
    p = torch.softmax(normal_logits(z, n), -1)
    assert float(p.max() / p.min()) < 6  # broad at the start
    assert float(p @ torch.arange(n, dtype=p.dtype)) == pytest.approx(5.5)
    for z0 in np.linspace(-0.9, 0.9, 13):
        mu = 5.5 * (1 + z0)
        logits = normal_logits(torch.tensor([z0, -1.0]), n)
        assert int(logits.argmax()) == min(range(n), key=lambda a: abs(a - mu))
    # sharp: nearly all mass on the action nearest mu; never below MIN_SCALE
    sharp = torch.softmax(normal_logits(torch.tensor([0.1, -10.0]), n), -1)
    assert int(sharp.argmax()) == 6 and float(sharp[6]) > 0.99
    logits = normal_logits(torch.tensor([0.0, -100.0]), n)
    assert float(logits[6]) == pytest.approx(-0.5 * (0.5 / MIN_SCALE) ** 2)
    # however sharp, no action's probability is zero: the KL stays finite
    p = torch.softmax(logits, -1)
    assert float(p.min()) > 0
    q = torch.softmax(normal_logits(torch.tensor([-0.5, -100.0]), n), -1)
    assert math.isfinite(float((q * (q.log() - p.log())).sum()))
    assert float(logits.max() - logits.min()) == pytest.approx(LOGIT_FLOOR)


def _spaces(observation="orders"):
    env = hmarl_env.parallel_env(
        get_scenario("lost_sales_L2_p4"), store_observation=observation
    )
    return env.observation_space("store_1"), env.action_space("store_1"), env


def test_the_ordinal_module_is_the_default_one_with_ordinal_logits():
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    obs_space, act_space, _ = _spaces()
    kw = dict(
        observation_space=obs_space,
        action_space=act_space,
        model_config=DefaultModelConfig(fcnet_hiddens=[16, 16]),
    )
    torch.manual_seed(0)
    ordinal = RLModuleSpec(module_class=OrdinalPPOModule, **kw).build()
    plain = RLModuleSpec(module_class=DefaultPPOTorchRLModule, **kw).build()
    # the same weights: a state moves between the two without loss
    plain.set_state(ordinal.get_state())
    x = torch.as_tensor(np.stack([obs_space.sample() for _ in range(5)]))
    batch = {Columns.OBS: x}
    with torch.no_grad():
        raw = plain.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
        for forward in (
            ordinal.forward_inference,
            ordinal.forward_exploration,
            ordinal.forward_train,
        ):
            got = forward(batch)[Columns.ACTION_DIST_INPUTS]
            torch.testing.assert_close(got, ordinal_logits(raw))
    assert raw.shape == (5, act_space.n)


def test_the_normal_module_outputs_two_numbers_and_a_logit_per_action():
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    obs_space, act_space, _ = _spaces()
    module = RLModuleSpec(
        module_class=NormalPPOModule,
        observation_space=obs_space,
        action_space=act_space,
        model_config=DefaultModelConfig(fcnet_hiddens=[16, 16]),
    ).build()
    assert module.pi.net.mlp[-1].out_features == 2
    x = torch.as_tensor(np.stack([obs_space.sample() for _ in range(3)]))
    with torch.no_grad():
        logits = module.forward_inference({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS]
        z = module.pi(module.encoder({Columns.OBS: x})["encoder_out"]["actor"])
    assert logits.shape == (3, act_space.n)
    torch.testing.assert_close(logits, normal_logits(z, act_space.n))


def test_a_central_critic_applies_the_head_its_config_names():
    _, act_space, env = _spaces(observation="pipeline")
    own = env.observation_space("store_1")
    space = paired_space(own, env.state_space)

    def build(head):
        torch.manual_seed(1)
        return RLModuleSpec(
            module_class=CentralCriticModule,
            observation_space=space,
            action_space=act_space,
            model_config={"hiddens": [8], "policy_head": head},
        ).build()

    plain, ordinal, normal = build("categorical"), build("ordinal"), build("normal")
    x = {Columns.OBS: torch.as_tensor(np.stack([own.sample() for _ in range(4)]))}
    with torch.no_grad():
        raw = plain.forward_inference(x)[Columns.ACTION_DIST_INPUTS]
        got = ordinal.forward_inference(x)[Columns.ACTION_DIST_INPUTS]
        two = normal.forward_inference(x)[Columns.ACTION_DIST_INPUTS]
        z = normal.pi(x[Columns.OBS])
    torch.testing.assert_close(got, ordinal_logits(raw))
    assert z.shape == (4, 2)
    torch.testing.assert_close(two, normal_logits(z, act_space.n))


def test_the_config_picks_the_module_of_the_head():
    from analysis.runs.settings import Phase, PPOSettings
    from experiments.common import build_config

    sc = get_scenario("lost_sales_L2_p4")
    phase = Phase("phase1", ("store",))

    def store_spec(ppo):
        cfg = build_config(sc, phase, ppo, store_observation="orders")
        return cfg.rl_module_spec.rl_module_specs["store"]

    assert store_spec(PPOSettings(policy_head="ordinal")).module_class is (
        OrdinalPPOModule
    )
    assert store_spec(PPOSettings(policy_head="normal")).module_class is (
        NormalPPOModule
    )
    assert store_spec(PPOSettings()).module_class not in (
        OrdinalPPOModule,
        NormalPPOModule,
    )
    central = store_spec(PPOSettings(policy_head="ordinal", critic="central"))
    assert central.model_config["policy_head"] == "ordinal"


def test_a_bad_head_is_refused():
    from analysis.runs.settings import PPOSettings

    with pytest.raises(ValueError, match=r"policy_head must be one of"):
        PPOSettings(policy_head="gaussian")
