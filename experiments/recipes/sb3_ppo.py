"""Stable-Baselines3 PPO through SuperSuit: the stores' shared policy.

How to run (``pip install -e ".[sb3]"`` first):
    python -m experiments.recipes.sb3_ppo --timesteps 100000 --output results/sb3

The recipe, in a few lines::

    import supersuit as ss
    from stable_baselines3 import PPO
    from baselines.policies import make_policies
    from hmarl_env import parallel_env
    from hmarl_env.wrappers import StoresOnlyEnv

    base = parallel_env("default")
    env = StoresOnlyEnv(base, make_policies(base.scenario, "tuned"))
    vec = ss.pettingzoo_env_to_vec_env_v1(env)  # one vector slot per store
    vec = ss.concat_vec_envs_v1(vec, 4, num_cpus=0, base_class="stable_baselines3")
    model = PPO("MlpPolicy", vec).learn(100_000)

Every store is one slot of SB3's vector env, so one network acts for all of
them (parameter sharing, as the seeds trained it). The warehouse and supplier
follow the tuned heuristics inside :class:`~hmarl_env.wrappers.StoresOnlyEnv`.
PPO's settings are the seeds' (learning rate 3e-4, 2,048 steps per update,
minibatch 64, 10 epochs, two tanh layers of 64). :class:`SB3Policy` turns the
model into a policy of the :mod:`baselines` interface for the evaluator.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from baselines.policies import make_policies
from experiments.recipes._report import recipe_parser, report
from hmarl_env import get_scenario, parallel_env
from hmarl_env.scenario import Scenario
from hmarl_env.wrappers import StoresOnlyEnv

__all__ = ["SB3Policy", "make_vec_env", "train"]


class SB3Policy:
    """A Stable-Baselines3 model as a policy: observations ``(B, dim)`` ->
    greedy actions ``(B,)``."""

    role = "store"

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        actions, _ = self.model.predict(np.asarray(obs, np.float32), deterministic=True)
        return np.asarray(actions, dtype=np.int64).reshape(len(obs))


def make_vec_env(scenario: Scenario, copies: int = 4, heuristics: str = "tuned"):
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
    return ss.concat_vec_envs_v1(
        vec, copies, num_cpus=0, base_class="stable_baselines3"
    )


def train(
    scenario: Scenario | str = "default",
    timesteps: int = 100_000,
    seed: int = 0,
    copies: int = 4,
    **ppo: Any,
):
    """Train SB3 PPO on the stores; returns the model."""
    import torch
    from stable_baselines3 import PPO

    scenario = get_scenario(scenario)
    vec = make_vec_env(scenario, copies)
    # SuperSuit's SB3 wrapper has no VecEnv.seed, which SB3 calls: seed the envs
    # here (copy k gets seed + k) and let SB3 seed only its own generators
    vec.venv.reset(seed=seed)
    vec.seed = lambda seed=None: None
    settings = {
        "learning_rate": 3e-4,
        "n_steps": 2048 // (copies * len(scenario.store_index)) or 1,
        "batch_size": 64,
        "n_epochs": 10,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "ent_coef": 0.01,
        "vf_coef": 0.5,
        "max_grad_norm": 0.5,
        "policy_kwargs": {"net_arch": [64, 64], "activation_fn": torch.nn.Tanh},
        **ppo,
    }
    model = PPO("MlpPolicy", vec, seed=seed, verbose=0, device="cpu", **settings)
    model.learn(total_timesteps=timesteps)
    vec.close()
    return model


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__)
    parser.add_argument(
        "--timesteps", type=int, default=100_000, help="store-steps to train for"
    )
    parser.add_argument("--output", default=None, help="folder for model.zip")
    args = parser.parse_args(argv)
    try:
        scenario = get_scenario(args.scenario)
        model = train(scenario, args.timesteps, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        model.save(str(Path(args.output) / "model.zip"))
    print(report(scenario, SB3Policy(model), args.episodes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
