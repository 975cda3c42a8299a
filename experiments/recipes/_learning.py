"""hmarl's learning settings for other libraries' PPO: the numbers phase 1 uses.

Every recipe trains the stores' shared policy with RLlib's phase-1 settings
for loops that step one env at a time (:data:`HMARL`,
``PPO_PRESETS["small_batches"]``: hmarl's preset with the learner it had with
RLlib's PettingZoo runner, which learns in a quarter of the env steps of the
batched runner's defaults): learning rate 1e-3, 2,048 env steps
per update, minibatches of 512 store decisions, 10 epochs, discount 0.99, GAE
lambda 0.95, clip 0.2, entropy 0.01, value weight 0.5, gradient norm 0.5, no
value clip, two tanh layers of 64; and the rewards reach the learner as they
reach RLlib's: divided by the store's scale from the scenario
(:func:`store_reward_scale`) and centred by a running mean over training
batches (:class:`hmarl_env.utils.stats.RunningMean`). Without them a recipe
learns nothing on its budget (the critic cannot follow returns in the hundreds).
"""

from __future__ import annotations

import os

from analysis.runs.settings import PPO_PRESETS, PPOSettings
from hmarl_env.scenario import Scenario

__all__ = ["HMARL", "POOLED_ADVANTAGES", "set_threads", "store_reward_scale"]

#: TorchRL warns when advantages of several agents are standardised together;
#: the stores' are, on purpose, as RLlib standardises a module's whole batch
POOLED_ADVANTAGES = "You requested advantage normalization"

#: the settings every recipe takes its numbers from
HMARL: PPOSettings = PPO_PRESETS["small_batches"]


def store_reward_scale(scenario: Scenario, ppo: PPOSettings = HMARL) -> float:
    """What the learner divides a store's reward by (RLlib's store module's)."""
    return ppo.learner_reward_scales(scenario)["store"]


def set_threads(threads: int) -> int:
    """Give torch (and OpenMP, for libraries started after this) ``threads``
    threads; returns it. One is right for these small networks, which learn
    between single env steps: torch's default, a thread per core, makes its
    threads wait on each other and on the env for every small matrix."""
    import torch

    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    return threads
