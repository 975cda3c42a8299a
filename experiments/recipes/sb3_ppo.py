"""Stable-Baselines3 PPO through SuperSuit: the stores' shared policy.

How to run (``pip install -c constraints.txt -e ".[sb3]"`` first):
    python -m experiments.recipes.sb3_ppo --timesteps 400000 --output results/sb3

The recipe, in a few lines (what :func:`make_vec_env` and :func:`train` do)::

    import supersuit as ss
    import torch
    from stable_baselines3 import PPO
    from baselines.policies import make_policies
    from hmarl_env import parallel_env
    from hmarl_env.wrappers import StoresOnlyEnv
    from experiments.recipes.sb3_ppo import StoreRewards, ppo_settings

    torch.set_num_threads(1)
    base = parallel_env("default")
    env = StoresOnlyEnv(base, make_policies(base.scenario, "tuned"))
    vec = ss.pettingzoo_env_to_vec_env_v1(env)  # one vector slot per store
    vec = ss.concat_vec_envs_v1(vec, 4, num_cpus=0, base_class="stable_baselines3")
    vec = StoreRewards(vec, base.scenario)  # scaled rewards, seeding, truncation
    model = PPO("MlpPolicy", vec, seed=0, **ppo_settings(copies=4))
    model.learn(400_000)  # store decisions: 200,000 env steps of two stores

Every store is one slot of SB3's vector env, so one network acts for all of
them (parameter sharing, as the reference design trained it). The warehouse and supplier
follow the tuned heuristics inside :class:`~hmarl_env.wrappers.StoresOnlyEnv`.
PPO's settings are RLlib phase 1's (:mod:`experiments.recipes._learning`):
:class:`StoreRewards` divides the rewards by the store's scale and tells SB3
that an episode's end is a time limit (so it bootstraps the last value, as
RLlib does), and :class:`CentredRolloutBuffer` subtracts the running mean
reward before GAE. SuperSuit's vector env lacks the ``seed`` method SB3 calls
for ``PPO(..., seed=...)``; :class:`StoreRewards` supplies it (copy ``k`` of
the env is reset with ``seed + k``). SB3 collects ``n_steps`` steps in every
slot per update: :func:`ppo_settings` sets it so that an update sees 2,048 env
steps, and ``learn(N)`` then runs N rounded up to whole updates.
:class:`SB3Policy` turns the model into a policy of the :mod:`baselines`
interface for the evaluator.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from baselines.policies import make_policies
from experiments.recipes._learning import HMARL, set_threads, store_reward_scale
from experiments.recipes._report import recipe_parser, report
from hmarl_env import get_scenario, parallel_env
from hmarl_env.scenario import Scenario
from hmarl_env.utils.stats import RunningMean
from hmarl_env.wrappers import StoresOnlyEnv

try:
    from stable_baselines3.common.buffers import RolloutBuffer
    from stable_baselines3.common.vec_env import VecEnvWrapper
except ImportError as exc:  # an optional extra
    raise ImportError(
        'the SB3 recipe needs Stable-Baselines3 and SuperSuit: pip install -e ".[sb3]"'
    ) from exc

__all__ = [
    "CentredRolloutBuffer",
    "SB3Policy",
    "StoreRewards",
    "make_vec_env",
    "ppo_settings",
    "train",
]


class SB3Policy:
    """A Stable-Baselines3 model as a policy: observations ``(B, dim)`` ->
    greedy actions ``(B,)``."""

    role = "store"

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        actions, _ = self.model.predict(np.asarray(obs, np.float32), deterministic=True)
        return np.asarray(actions, dtype=np.int64).reshape(len(obs))


class StoreRewards(VecEnvWrapper):
    """SuperSuit's SB3 vector env as hmarl's phase 1 trains it.

    * rewards divided by the store's learner scale (``scale``, default from
      the scenario: :func:`experiments.recipes._learning.store_reward_scale`);
    * every episode end marked ``TimeLimit.truncated`` (hmarl's episodes end
      only at the horizon), so SB3 bootstraps the value of the last
      observation instead of treating the horizon as the end of the world;
    * ``seed(s)``, which SB3 calls and SuperSuit lacks: env copy ``k`` is reset
      with seed ``s + k``.
    """

    def __init__(self, venv: Any, scenario: Scenario, scale: float | None = None):
        super().__init__(venv)
        self.scale = float(scale or store_reward_scale(scenario))

    def seed(self, seed: int | None = None) -> list[int | None]:
        if seed is not None:
            self.venv.venv.reset(seed=seed)  # SuperSuit's ConcatVecEnv
        return [seed]

    def reset(self) -> np.ndarray:
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for k in np.flatnonzero(dones):
            infos[k]["TimeLimit.truncated"] = True
        return obs, rewards / self.scale, dones, infos


class CentredRolloutBuffer(RolloutBuffer):
    """SB3's rollout buffer with the running mean reward subtracted before GAE
    (``centre_rate``: ``PPOSettings.reward_centering``). The mean is taken over
    the steps that do not end an episode: SB3 adds the bootstrapped value to
    those rewards."""

    def __init__(self, *args: Any, centre_rate: float = HMARL.reward_centering, **kw):
        super().__init__(*args, **kw)
        self.centre = RunningMean(centre_rate)

    def compute_returns_and_advantage(self, last_values: Any, dones: np.ndarray):
        ends = np.empty(self.rewards.shape, dtype=bool)
        ends[:-1] = self.episode_starts[1:] > 0
        ends[-1] = np.asarray(dones) > 0
        if self.centre.rate > 0 and not ends.all():
            self.rewards -= self.centre.update(float(self.rewards[~ends].mean()))
        super().compute_returns_and_advantage(last_values, dones)


def make_vec_env(
    scenario: Scenario, copies: int = 4, heuristics: str = "tuned"
) -> StoreRewards:
    """SB3's vector env: ``copies`` envs, each store a slot."""
    import supersuit as ss

    env = StoresOnlyEnv(parallel_env(scenario), make_policies(scenario, heuristics))
    if not env.shares_spaces:
        raise ValueError(
            f"the stores of scenario {scenario.name!r} have different observation or "
            "action spaces (other lead times?), so one SB3 network cannot act for "
            "all of them"
        )
    vec = ss.pettingzoo_env_to_vec_env_v1(env)
    vec = ss.concat_vec_envs_v1(vec, copies, num_cpus=0, base_class="stable_baselines3")
    return StoreRewards(vec, scenario)


def ppo_settings(copies: int = 4, **changes: Any) -> dict:
    """SB3 PPO's keyword arguments with phase 1's settings (``changes`` override)
    for a vector env of ``copies`` envs: an update every 2,048 env steps
    (``n_steps`` per copy), minibatches of 512 store decisions."""
    import torch

    return {
        "learning_rate": HMARL.lr,
        "n_steps": max(HMARL.train_batch_size // copies, 1),
        "batch_size": HMARL.minibatch_size,
        "n_epochs": HMARL.num_epochs,
        "gamma": HMARL.gamma,
        "gae_lambda": HMARL.lambda_,
        "clip_range": HMARL.clip_param,
        "ent_coef": HMARL.entropy_coeff,
        "vf_coef": HMARL.vf_loss_coeff,
        "max_grad_norm": HMARL.grad_clip,
        "rollout_buffer_class": CentredRolloutBuffer,
        "rollout_buffer_kwargs": {"centre_rate": HMARL.reward_centering},
        "policy_kwargs": {
            "net_arch": list(HMARL.hiddens),
            "activation_fn": torch.nn.Tanh,
        },
        "device": "cpu",
        **changes,
    }


def train(
    scenario: Scenario | str = "default",
    timesteps: int = 400_000,
    seed: int = 0,
    copies: int = 4,
    **changes: Any,
):
    """Train SB3 PPO on the stores for ``timesteps`` store decisions; returns
    the model."""
    from stable_baselines3 import PPO

    scenario = get_scenario(scenario)
    vec = make_vec_env(scenario, copies)
    settings = ppo_settings(copies, **changes)
    model = PPO("MlpPolicy", vec, seed=seed, verbose=0, **settings)
    model.learn(total_timesteps=timesteps)
    vec.close()
    return model


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__)
    parser.add_argument(
        "--timesteps",
        type=int,
        default=400_000,
        help="store decisions to train for (default %(default)s: 200,000 env "
        "steps of two stores, phase 1's budget)",
    )
    parser.add_argument("--output", default=None, help="folder for model.zip")
    args = parser.parse_args(argv)
    try:
        scenario = get_scenario(args.scenario)
        threads = set_threads(args.threads)
        start = time.perf_counter()
        model = train(scenario, args.timesteps, args.seed)
        seconds = time.perf_counter() - start
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"trained {model.num_timesteps:,} store decisions in {seconds:.0f} s "
        f"({threads} torch thread{'s' if threads > 1 else ''})"
    )
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        model.save(str(Path(args.output) / "model.zip"))
    print(report(scenario, SB3Policy(model), args.episodes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
