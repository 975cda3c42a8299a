"""Policy heads: how a learned module turns its actor's outputs into a
distribution over the agent's discrete actions.

``PPOSettings.policy_head``:

- ``"categorical"`` (RLlib's default): one free logit per action. Nothing ties
  action ``a`` to ``a + 1``; for order quantities the policy ends spread over
  neighbouring quantities and its most probable one can jump between favoured
  neighbours (a learned ``lost_sales_L4_p39`` store ordered 4 or 6 where the
  optimum orders 5). Acting by the policy's mean order
  (:class:`analysis.runs.loading.ModulePolicy`, ``acting="mean"``) is the
  remedy hmarl's results use.
- ``"ordinal"``: the ordinal parameterisation of Tang & Agrawal ("Discretizing
  continuous action space for on-policy optimization", AAAI 2020). The actor
  outputs ``z_0..z_{n-1}``; with ``s_j = sigmoid(z_j)`` action ``a`` has logit
  ``sum_{j<=a} log s_j + sum_{j>a} log(1 - s_j)``, so neighbouring actions share
  all but one term and the distribution moves along the order axis as a whole.
  The same network and weights as the categorical head; only the map from
  outputs to logits differs. At initialisation (``z`` near 0) it is uniform.
- ``"normal"``: a normal distribution over the order axis, discretised. The
  actor outputs two numbers, a location ``mu`` and a log-scale, and action
  ``a`` has logit ``-(a - mu)^2 / (2 sigma^2)``: unimodal and symmetric about
  ``mu``, so its most probable action is the one nearest ``mu``. ``mu`` starts
  at the middle of the range and ``sigma`` at a quarter of it (broad: with 12
  actions the least likely has a fifth of the most likely's probability).
  This is the Gaussian order quantity of continuous-action inventory RL, made
  exact on the integer actions.

Every head is still a categorical distribution over the same actions, so
RLlib's sampling, log-probabilities, entropy and KL apply unchanged. What each
did on Zipkin's instances: docs/results.md ("What did not help").

The head is part of a module's architecture: a run records it in its PPO
settings and phases 2-4 keep the source run's.

A module of a family run (:mod:`hmarl_env.family_env`) starts with zero
first-layer weights on the observation positions no instance of the family
fills (``model_config["unfilled_inputs"]``: the room its layout makes for lead
times beyond the family's range). Those inputs are zero throughout training,
so their weights get no gradient and would keep their random initial values:
a policy then acting on, or fine-tuned on, an instance that fills them would
start from noise. Zero, they start the policy where the family's edge left
it. On the instances the family draws, the module computes the same as with
random weights there, at initialisation and at every later step.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
    DefaultPPOTorchRLModule,
)
from ray.rllib.core.columns import Columns
from ray.rllib.core.models.base import ENCODER_OUT
from ray.rllib.core.models.torch.encoder import TorchActorCriticEncoder
from torch import nn
from torch.nn import functional as F

__all__ = [
    "CategoricalPPOModule",
    "NormalPPOModule",
    "OrdinalPPOModule",
    "actor_logits",
    "apply_head",
    "head_outputs",
    "normal_logits",
    "ordinal_logits",
    "zero_inputs",
]

#: the normal head's smallest scale, in actions
MIN_SCALE = 0.05

#: how far below the most probable action's logit the normal head's logits
#: go: e^-30 (about 1e-13) keeps every action's probability above zero in
#: float32, so the KL between successive policies stays finite (RLlib adapts
#: its KL coefficient to it: one infinite KL would inflate the coefficient)
LOGIT_FLOOR = 30.0


def ordinal_logits(z: torch.Tensor) -> torch.Tensor:
    """The ordinal head's action logits from the actor's outputs ``(..., n)``:
    ``logit_a = sum_{j<=a} log sigmoid(z_j) + sum_{j>a} log sigmoid(-z_j)``."""
    up = torch.cumsum(F.logsigmoid(z), dim=-1)
    down = F.logsigmoid(-z)
    after = down.sum(dim=-1, keepdim=True) - torch.cumsum(down, dim=-1)
    return up + after


def normal_logits(z: torch.Tensor, n: int) -> torch.Tensor:
    """The normal head's logits over actions ``0..n-1`` from the actor's two
    outputs ``(..., 2)``: ``mu = (n - 1) / 2 * (1 + z_0)``, ``sigma =
    max(n / 4 * exp(z_1), MIN_SCALE)``, ``logit_a = -(a - mu)^2 / (2 sigma^2)``,
    at most :data:`LOGIT_FLOOR` below the largest."""
    half = (n - 1) / 2.0
    mu = half * (1.0 + z[..., :1])
    sigma = torch.clamp(n / 4.0 * torch.exp(z[..., 1:2]), min=MIN_SCALE)
    a = torch.arange(n, dtype=z.dtype, device=z.device)
    logits = -0.5 * ((a - mu) / sigma) ** 2
    top = logits.max(dim=-1, keepdim=True).values.detach()
    return torch.maximum(logits, top - LOGIT_FLOOR)


def head_outputs(head: str, n: int) -> int:
    """How many numbers the actor outputs for ``n`` actions under ``head``."""
    return 2 if head == "normal" else n


def apply_head(head: str, outputs: dict[str, Any], n: int) -> dict[str, Any]:
    """``outputs`` with its action distribution inputs passed through ``head``
    (``n``: the number of actions)."""
    if Columns.ACTION_DIST_INPUTS in outputs:
        z = outputs[Columns.ACTION_DIST_INPUTS]
        if head == "ordinal":
            outputs[Columns.ACTION_DIST_INPUTS] = ordinal_logits(z)
        elif head == "normal":
            outputs[Columns.ACTION_DIST_INPUTS] = normal_logits(z, n)
    return outputs


def zero_inputs(module: Any, positions: Any) -> None:
    """Set to zero the weights of the observation ``positions`` in each first
    layer of ``module``'s encoder (the actor's and the critic's, or the shared
    one). A clear error for a position the observation does not have."""
    positions = [int(p) for p in positions]
    if not positions:
        return
    width = int(module.observation_space.shape[0])
    bad = [p for p in positions if not 0 <= p < width]
    if bad:
        raise ValueError(
            f"unfilled_inputs {bad} lie outside the module's observation "
            f"(width {width})"
        )
    encoder = module.encoder
    branches = [
        getattr(encoder, name, None)
        for name in ("actor_encoder", "critic_encoder", "encoder")
    ]
    firsts = [
        next(m for m in branch.modules() if isinstance(m, nn.Linear))
        for branch in branches
        if isinstance(branch, nn.Module)
    ]
    if not firsts or any(f.in_features != width for f in firsts):
        raise ValueError(
            "unfilled_inputs: no first layer reading the observation found in "
            f"the module's encoder ({type(encoder).__name__})"
        )
    with torch.no_grad():
        for first in firsts:
            first.weight[:, positions] = 0.0


class _HeadPPOModule(DefaultPPOTorchRLModule):
    """RLlib's default PPO module (same encoder and value head) with another
    policy head: its last layer outputs :func:`head_outputs` numbers, which
    :func:`apply_head` turns into the categorical logits RLlib samples from;
    the weights of ``model_config["unfilled_inputs"]`` start at zero
    (:func:`zero_inputs`)."""

    HEAD = "categorical"

    def setup(self) -> None:
        super().setup()
        zero_inputs(self, self.model_config.get("unfilled_inputs", ()))
        n = int(self.action_space.n)
        width = head_outputs(self.HEAD, n)
        if width != n:  # a last layer of the head's width
            layers = self.pi.net.mlp
            last = layers[-1]
            layers[-1] = nn.Linear(last.in_features, width, bias=last.bias is not None)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out = super()._forward(batch, **kwargs)
        return apply_head(self.HEAD, out, int(self.action_space.n))

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out = super()._forward_train(batch, **kwargs)
        return apply_head(self.HEAD, out, int(self.action_space.n))


class CategoricalPPOModule(_HeadPPOModule):
    """RLlib's default PPO module (categorical head, the same weights), for
    the family runs whose unfilled inputs start at zero."""


class OrdinalPPOModule(_HeadPPOModule):
    """The default PPO module with the ordinal head (same weights)."""

    HEAD = "ordinal"


class NormalPPOModule(_HeadPPOModule):
    """The default PPO module with the discretised normal head (its actor's
    last layer has two outputs)."""

    HEAD = "normal"


#: the module class of each head with a local critic (RLlib's own default
#: module for the categorical head, except where inputs start at zero)
MODULES = {"ordinal": OrdinalPPOModule, "normal": NormalPPOModule}
ZEROED_MODULES = {**MODULES, "categorical": CategoricalPPOModule}


#: forward passes that run an actor-critic encoder, then the policy head
_ACTOR_CRITIC_FORWARDS = (DefaultPPOTorchRLModule._forward, _HeadPPOModule._forward)


def actor_logits(module, obs: torch.Tensor) -> torch.Tensor:
    """The action distribution inputs of ``module``'s forward pass on
    ``obs``. RLlib's default PPO module (and hmarl's heads on it) runs the
    critic's encoder in that pass too, whose output acting does not use (the
    driver's own runner holds the whole module, not RLlib's inference-only
    one): with separate, stateless actor and critic encoders only the actor's
    runs here, the same layers and weights; any other module runs its
    exploration forward pass (``tests/test_batched_runner.py`` compares the
    two)."""
    encoder = getattr(module, "encoder", None)
    if (
        type(module)._forward in _ACTOR_CRITIC_FORWARDS
        and type(encoder) is TorchActorCriticEncoder
        and not encoder.config.shared
    ):
        z = module.pi(encoder.actor_encoder({Columns.OBS: obs})[ENCODER_OUT])
        head = getattr(module, "HEAD", "categorical")
        out = apply_head(head, {Columns.ACTION_DIST_INPUTS: z}, module.action_space.n)
        return out[Columns.ACTION_DIST_INPUTS]
    out = module._forward_exploration({Columns.OBS: obs})
    return out[Columns.ACTION_DIST_INPUTS]
