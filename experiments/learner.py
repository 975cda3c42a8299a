"""hmarl's PPO learner: rewards reach the critic at the scenario's scale.

The env, the ledger, RLlib's episode metrics and every evaluation stay in the
scenario's own units. Only the learner sees scaled rewards: a connector piece
divides each module's rewards by that module's scale right before RLlib's
generalised advantage estimation, so value targets (and the critic's errors)
are of order one whatever the scenario's currency.

Why this matters: RLlib's PPO clips the *squared* value error at
``vf_clip_param``. With rewards of about 9 per store-period and discounted
returns in the hundreds, nearly every sample's error was clipped: the critic
got no gradient, its explained variance stayed at zero and the policy learned
from Monte-Carlo noise. Advantages are standardised per batch either way, so
scaling changes what the critic can learn, not the policy gradient's size.

The scales come from :func:`hmarl_env.roles.reward_scales` (per role, derived
from the scenario's reward weights and costs); ``learner_config_dict
["reward_scales"]`` maps module ID to scale (missing modules: 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.learner.general_advantage_estimation import (
    GeneralAdvantageEstimation,
)
from ray.rllib.core.columns import Columns

from hmarl_env.utils.stats import RunningMean

__all__ = ["CENTER_RATE_KEY", "REWARD_SCALES_KEY", "HmarlPPOLearner", "ScaleRewards"]

#: keys of ``learner_config_dict``: module ID -> reward scale, and the step
#: size of the running mean that centres rewards (0: no centering)
REWARD_SCALES_KEY = "reward_scales"
CENTER_RATE_KEY = "reward_center_rate"


class ScaleRewards(ConnectorV2):
    """Divides each module's rewards in the train batch by its scale and, with
    ``center_rate > 0``, subtracts a running mean of the scaled rewards.

    Centering (Naik et al., "Reward Centering", 2024): with a discount close
    to one a value is mostly ``mean reward / (1 - gamma)``, a level the critic
    must track to a fraction of a percent before it explains anything about
    the state. Subtracting the mean reward leaves it the state-dependent part;
    advantages are unchanged in expectation. The mean is an exponential average
    over training iterations (step ``center_rate``), started at the first
    batch's mean (RLlib does not checkpoint learner connectors: a resumed run
    starts it again from its first batch).
    """

    def __init__(
        self,
        input_observation_space: Any = None,
        input_action_space: Any = None,
        *,
        scales: dict[str, float],
        center_rate: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(input_observation_space, input_action_space, **kwargs)
        bad = {m: s for m, s in scales.items() if not (np.isfinite(s) and s > 0)}
        if bad:
            raise ValueError(f"reward scales must be finite and > 0, got {bad}")
        if not 0.0 <= center_rate <= 1.0:
            raise ValueError(f"center_rate must be in [0, 1], got {center_rate!r}")
        self.scales = dict(scales)
        self.center_rate = float(center_rate)
        self._centres: dict[str, RunningMean] = {}

    @property
    def means(self) -> dict[str, float]:
        """Module ID -> the running mean reward it subtracts now."""
        return {m: c.value for m, c in self._centres.items()}

    def __call__(self, *, rl_module: Any, batch: dict, episodes: Any, **kwargs: Any):
        for mid, module_batch in batch.items():
            if Columns.REWARDS not in module_batch:
                continue
            # a tensor here (RLlib converts the batch before GAE)
            rewards = module_batch[Columns.REWARDS] / self.scales.get(mid, 1.0)
            if self.center_rate > 0:
                # the loss mask hides the bootstrap step RLlib appends (reward 0)
                mask = module_batch.get(Columns.LOSS_MASK)
                kept = rewards[mask] if mask is not None else rewards
                centre = self._centres.setdefault(mid, RunningMean(self.center_rate))
                rewards = rewards - centre.update(float(kept.mean()))
                if mask is not None:
                    rewards = rewards * mask
            module_batch[Columns.REWARDS] = rewards
        return batch


class HmarlPPOLearner(PPOTorchLearner):
    """RLlib's torch PPO learner with :class:`ScaleRewards` before GAE."""

    def build(self) -> None:
        super().build()
        cfg = self.config.learner_config_dict
        scales = dict(cfg.get(REWARD_SCALES_KEY) or {})
        rate = float(cfg.get(CENTER_RATE_KEY) or 0.0)
        if (scales or rate) and self._learner_connector is not None:
            self._learner_connector.insert_before(
                GeneralAdvantageEstimation,
                ScaleRewards(scales=scales, center_rate=rate),
            )
