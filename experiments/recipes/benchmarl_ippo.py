"""BenchMARL IPPO on the stores, as a BenchMARL task of their own.

How to run (``pip install -c constraints.txt -e ".[benchmarl]"`` first):
    python -m experiments.recipes.benchmarl_ippo --frames 200000

The recipe, in a few lines (what :func:`run` does)::

    import torch
    from benchmarl.experiment import Experiment
    from experiments.recipes.benchmarl_ippo import (
        StoresTask, algorithm_config, experiment_config, model_config,
    )

    torch.set_num_threads(1)
    experiment = Experiment(
        task=StoresTask("default"),
        algorithm_config=algorithm_config("default"),  # hmarl's rewards for IPPO
        model_config=model_config(),
        critic_model_config=model_config(),
        seed=0,
        config=experiment_config(200_000, "results/benchmarl"),  # csv logs there
    )
    experiment.run()

:class:`StoresTask` is a BenchMARL ``TaskClass`` over
:class:`~hmarl_env.wrappers.StoresOnlyEnv` in TorchRL's ``PettingZooWrapper``:
one group, ``store``, whose agents share one policy (BenchMARL's
``share_policy_params``); the warehouse and supplier follow the tuned
heuristics inside the env. PPO's settings are RLlib phase 1's
(:mod:`experiments.recipes._learning`): :class:`HmarlIppoConfig` is BenchMARL's
IPPO with the store rewards divided by the store's scale and centred by a
running mean before GAE, and standardised advantages; :func:`experiment_config`
sets 2,048 env steps per update, minibatches of 512 store decisions, 10
epochs, learning rate 1e-3, gradient norm 0.5, and logs to csv files in the
folder it is given (BenchMARL's defaults also log to wandb, which its extra
does not install, and write into the current directory). :func:`store_policy`
turns the experiment's policy into one of the :mod:`baselines` interface for
the evaluator.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from baselines.policies import make_policies
from experiments.recipes._learning import (
    HMARL,
    POOLED_ADVANTAGES,
    set_threads,
    store_reward_scale,
)
from experiments.recipes._report import recipe_parser, report
from hmarl_env import get_scenario, parallel_env
from hmarl_env.scenario import Scenario
from hmarl_env.utils.io import results_dir
from hmarl_env.utils.stats import RunningMean
from hmarl_env.wrappers import StoresOnlyEnv, WithoutInfos

try:
    from benchmarl.algorithms import Ippo, IppoConfig
    from benchmarl.algorithms.common import Algorithm
    from benchmarl.environments.common import TaskClass
except ImportError as exc:  # an optional extra
    raise ImportError(
        'the BenchMARL recipe needs BenchMARL: pip install -e ".[benchmarl]"'
    ) from exc

__all__ = [
    "HmarlIppo",
    "HmarlIppoConfig",
    "StoresTask",
    "algorithm_config",
    "experiment_config",
    "model_config",
    "run",
    "store_policy",
]


class StoresTask(TaskClass):
    """The stores of an hmarl scenario as a BenchMARL task.

    ``StoresTask(scenario, heuristics="tuned")``: ``scenario`` a preset name
    or file; ``heuristics`` the baselines set the warehouse and supplier
    follow.
    """

    def __init__(self, scenario: str = "default", heuristics: str = "tuned"):
        super().__init__(
            name="STORES", config={"scenario": scenario, "heuristics": heuristics}
        )

    def get_env_fun(self, num_envs, continuous_actions, seed, device):
        from torchrl.envs import PettingZooWrapper

        scenario = get_scenario(self.config["scenario"])
        heuristics = self.config["heuristics"]

        def make():
            env = StoresOnlyEnv(
                parallel_env(scenario), make_policies(scenario, heuristics)
            )
            return PettingZooWrapper(
                env=WithoutInfos(env),  # the ledger reports: unread, and slow
                group_map={"store": list(env.possible_agents)},
                categorical_actions=True,
                use_mask=False,
                seed=seed,
                device=device,
            )

        return make

    def supports_continuous_actions(self) -> bool:
        return False

    def supports_discrete_actions(self) -> bool:
        return True

    def has_render(self, env) -> bool:
        return False

    def max_steps(self, env) -> int:
        return get_scenario(self.config["scenario"]).horizon

    def group_map(self, env):
        return env.group_map

    def _only(self, env, key: str):
        spec = env.observation_spec.clone()
        for group in self.group_map(env):
            for k in list(spec[group].keys()):
                if k != key:
                    del spec[group][k]
            if spec[group].is_empty():
                del spec[group]
        return None if spec.is_empty() else spec

    def observation_spec(self, env):
        return self._only(env, "observation")

    def info_spec(self, env):
        return self._only(env, "info")

    def state_spec(self, env):
        return None

    def action_mask_spec(self, env):
        return None

    def action_spec(self, env):
        return env.full_action_spec

    @staticmethod
    def env_name() -> str:
        return "hmarl"


class HmarlIppo(Ippo):
    """BenchMARL's IPPO with hmarl's rewards for the critic: each group's
    rewards divided by ``reward_scale`` and centred by a running mean (step
    ``reward_centering``) before GAE, and advantages standardised per
    minibatch, as RLlib's phase 1 learns."""

    def __init__(self, reward_scale: float, reward_centering: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.reward_scale = float(reward_scale)
        self.centres: dict[str, RunningMean] = {}
        self.reward_centering = float(reward_centering)

    def _get_loss(self, group: str, policy_for_loss: Any, continuous: bool):
        loss, flag = super()._get_loss(group, policy_for_loss, continuous)
        loss.normalize_advantage = True
        return loss, flag

    def process_batch(self, group: str, batch: Any) -> Any:
        key = ("next", group, "reward")
        reward = batch.get(key) / self.reward_scale
        centre = self.centres.setdefault(group, RunningMean(self.reward_centering))
        if centre.rate > 0:
            reward = reward - centre.update(float(reward.mean()))
        batch.set(key, reward)
        return super().process_batch(group, batch)


@dataclass
class HmarlIppoConfig(IppoConfig):
    """:class:`HmarlIppo`'s configuration: IPPO's and the reward scale and
    centring step."""

    reward_scale: float = 1.0
    reward_centering: float = 0.0

    @staticmethod
    def associated_class() -> type[Algorithm]:
        return HmarlIppo


def algorithm_config(scenario: str = "default") -> HmarlIppoConfig:
    """IPPO with RLlib phase 1's settings and the scenario's store reward scale."""
    return HmarlIppoConfig(
        share_param_critic=True,
        clip_epsilon=HMARL.clip_param,
        entropy_coef=HMARL.entropy_coeff,
        critic_coef=HMARL.vf_loss_coeff,
        loss_critic_type="l2",
        lmbda=HMARL.lambda_,
        scale_mapping="biased_softplus_1.0",
        use_tanh_normal=True,
        minibatch_advantage=False,
        reward_scale=store_reward_scale(get_scenario(scenario)),
        reward_centering=HMARL.reward_centering,
    )


def model_config():
    """Two tanh layers of 64, for the policy and for the critic."""
    from benchmarl.models.mlp import MlpConfig
    from torch import nn

    return MlpConfig(
        num_cells=list(HMARL.hiddens), activation_class=nn.Tanh, layer_class=nn.Linear
    )


def experiment_config(
    frames: int,
    folder: str | Path,
    frames_per_batch: int = HMARL.train_batch_size,
    envs: int = 8,
    stores: int = 2,
):
    """BenchMARL's experiment settings with phase 1's numbers: ``frames`` env
    steps, an update every ``frames_per_batch`` (collected by ``envs`` envs
    stepped in turn), minibatches of 512 decisions of ``stores`` stores, 10
    epochs; csv logs (no wandb) under ``folder``, created if missing."""
    from benchmarl.experiment import ExperimentConfig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    minibatch = min(max(HMARL.minibatch_size // stores, 1), frames_per_batch)
    config = ExperimentConfig.get_from_yaml()
    config.max_n_frames = frames
    config.on_policy_collected_frames_per_batch = frames_per_batch
    config.on_policy_n_envs_per_worker = envs
    config.on_policy_minibatch_size = minibatch
    config.on_policy_n_minibatch_iters = HMARL.num_epochs * max(
        frames_per_batch // minibatch, 1
    )
    config.lr = HMARL.lr
    config.gamma = HMARL.gamma
    config.clip_grad_norm = True
    config.clip_grad_val = HMARL.grad_clip
    config.evaluation = False
    config.render = False
    config.loggers = ["csv"]
    config.save_folder = str(folder)
    config.checkpoint_at_end = False
    return config


def run(
    scenario: str = "default",
    frames: int = 200_000,
    seed: int = 0,
    folder: str | Path | None = None,
    **settings: Any,
):
    """Train IPPO on the stores; returns the finished BenchMARL experiment
    (``folder``: BenchMARL's save folder, default ``results/benchmarl``;
    ``settings``: :func:`experiment_config`'s)."""
    from benchmarl.experiment import Experiment

    sc = get_scenario(scenario)  # a clear error for a bad name, before BenchMARL
    experiment = Experiment(
        task=StoresTask(scenario),
        algorithm_config=algorithm_config(scenario),
        model_config=model_config(),
        critic_model_config=model_config(),
        seed=seed,
        config=experiment_config(
            frames,
            folder or results_dir() / "benchmarl",
            stores=len(sc.store_index),
            **settings,
        ),
    )
    warnings.filterwarnings("ignore", message=POOLED_ADVANTAGES)
    experiment.run()
    return experiment


def store_policy(experiment: Any):
    """The experiment's store policy: observations ``(B, dim)`` -> greedy
    actions ``(B,)``; each observation is scored in the first store's slot
    (the stores share parameters)."""
    import torch
    from tensordict import TensorDict
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    n_agents = len(experiment.group_map["store"])
    policy = experiment.policy

    def act(obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs, np.float32))
        td = TensorDict(
            {
                "store": TensorDict(
                    {"observation": x[:, None].expand(-1, n_agents, -1)},
                    batch_size=[len(x), n_agents],
                )
            },
            batch_size=[len(x)],
        )
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            out = policy(td)
        return out["store", "action"][:, 0].numpy().astype(np.int64)

    act.role = "store"
    return act


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__, frames=True)
    parser.add_argument(
        "--output",
        default=None,
        help="BenchMARL's save folder (default: results/benchmarl)",
    )
    args = parser.parse_args(argv)
    try:
        scenario: Scenario = get_scenario(args.scenario)
        threads = set_threads(args.threads)
        start = time.perf_counter()
        experiment = run(args.scenario, args.frames, args.seed, folder=args.output)
        seconds = time.perf_counter() - start
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"trained {experiment.total_frames:,} env steps in {seconds:.0f} s "
        f"({threads} torch thread{'s' if threads > 1 else ''})"
    )
    print(report(scenario, store_policy(experiment), args.episodes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
