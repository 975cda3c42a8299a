"""BenchMARL IPPO on the stores, as a BenchMARL task of their own.

How to run (``pip install -e ".[benchmarl]"`` first):
    python -m experiments.recipes.benchmarl_ippo --frames 120000

The recipe, in a few lines::

    from benchmarl.algorithms import IppoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig
    from experiments.recipes.benchmarl_ippo import StoresTask

    experiment = Experiment(
        task=StoresTask("default"),
        algorithm_config=IppoConfig.get_from_yaml(),
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=0,
        config=ExperimentConfig.get_from_yaml(),
    )
    experiment.run()

:class:`StoresTask` is a BenchMARL ``TaskClass`` over
:class:`~hmarl_env.wrappers.StoresOnlyEnv` in TorchRL's ``PettingZooWrapper``:
one group, ``store``, whose agents share one policy (BenchMARL's
``share_policy_params``); the warehouse and supplier follow the tuned
heuristics inside the env. :func:`store_policy` turns the experiment's policy
into one of the :mod:`baselines` interface for the evaluator.
"""

from __future__ import annotations

import sys
import tempfile
from typing import Any

import numpy as np

from baselines.policies import make_policies
from experiments.recipes._report import recipe_parser, report
from hmarl_env import get_scenario, parallel_env
from hmarl_env.scenario import Scenario
from hmarl_env.wrappers import StoresOnlyEnv

try:
    from benchmarl.environments.common import TaskClass
except ImportError as exc:  # an optional extra
    raise ImportError(
        'the BenchMARL recipe needs BenchMARL: pip install -e ".[benchmarl]"'
    ) from exc

__all__ = ["StoresTask", "run", "store_policy"]


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
                env=env,
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


def run(
    scenario: str = "default",
    frames: int = 120_000,
    seed: int = 0,
    frames_per_batch: int = 6_000,
    minibatch_iters: int = 45,
    envs: int = 10,
    folder: str | None = None,
):
    """Train IPPO on the stores; returns the finished BenchMARL experiment."""
    from benchmarl.algorithms import IppoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig
    from torch import nn

    get_scenario(scenario)  # a clear error for a bad name, before BenchMARL
    config = ExperimentConfig.get_from_yaml()
    config.max_n_frames = frames
    config.on_policy_collected_frames_per_batch = frames_per_batch
    config.on_policy_n_envs_per_worker = envs
    config.on_policy_n_minibatch_iters = minibatch_iters
    config.on_policy_minibatch_size = min(400, frames_per_batch)
    config.lr = 3e-4
    config.gamma = 0.99
    config.evaluation = False
    config.render = False
    config.loggers = ["csv"]
    config.save_folder = folder or tempfile.mkdtemp(prefix="hmarl_benchmarl_")
    config.checkpoint_at_end = False
    model = MlpConfig(
        num_cells=[64, 64], activation_class=nn.Tanh, layer_class=nn.Linear
    )
    experiment = Experiment(
        task=StoresTask(scenario),
        algorithm_config=IppoConfig.get_from_yaml(),
        model_config=model,
        critic_model_config=model,
        seed=seed,
        config=config,
    )
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
    parser = recipe_parser(__doc__)
    parser.add_argument("--frames", type=int, default=120_000, help="env steps")
    parser.add_argument("--output", default=None, help="BenchMARL's save folder")
    args = parser.parse_args(argv)
    try:
        scenario: Scenario = get_scenario(args.scenario)
        experiment = run(args.scenario, args.frames, args.seed, folder=args.output)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(scenario, store_policy(experiment), args.episodes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
