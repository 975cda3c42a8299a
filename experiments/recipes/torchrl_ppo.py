"""TorchRL PPO on the full env, agents grouped by role: the stores learn.

How to run (``pip install -c constraints.txt -e ".[torchrl]"`` first):
    python -m experiments.recipes.torchrl_ppo --frames 200000

The recipe, in a few lines::

    from torchrl.envs import PettingZooWrapper
    from hmarl_env import parallel_env

    env = PettingZooWrapper(
        env=parallel_env("default"),
        group_map={"store": ["store_1", "store_2"], "warehouse": ["warehouse_1"],
                   "supplier": ["supplier_1"]},
        categorical_actions=True,
    )
    # env.rollout(...) gives ("store", "observation") of shape (T, 2, 8), ...

The ``store`` group acts with one network shared by its agents (TorchRL's
``MultiAgentMLP`` with ``share_params=True``), trained with ``ClipPPOLoss`` and
GAE on the group's rewards; ``warehouse`` and ``supplier`` act with the tuned
heuristics of :mod:`baselines`, wrapped as TensorDict modules. PPO's settings
are RLlib phase 1's (:mod:`experiments.recipes._learning`): 2,048 env steps per
update, minibatches of 512 store decisions, learning rate 1e-3, squared value
error, standardised advantages, and the store rewards divided by the store's
scale and centred by a running mean before GAE. :func:`store_policy` turns the
trained network into a policy of the :mod:`baselines` interface for the
evaluator.
"""

from __future__ import annotations

import sys
import time
import warnings
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
from hmarl_env.registry import role_of
from hmarl_env.scenario import Scenario
from hmarl_env.utils.stats import RunningMean
from hmarl_env.wrappers import WithoutInfos

__all__ = ["groups_by_role", "make_env", "store_policy", "train"]


def groups_by_role(agents: list[str]) -> dict[str, list[str]]:
    """``store_1, store_2, warehouse_1, supplier_1`` -> groups ``store``,
    ``warehouse``, ``supplier``."""
    groups: dict[str, list[str]] = {}
    for agent in agents:
        groups.setdefault(role_of(agent).name, []).append(agent)
    return groups


def make_env(scenario: Scenario, seed: int = 0):
    """The full env as a TorchRL env, one group per role."""
    from torchrl.envs import PettingZooWrapper

    base = parallel_env(scenario)
    env = PettingZooWrapper(
        env=WithoutInfos(base),  # the ledger reports: 68 tensors a step, unread
        group_map=groups_by_role(base.possible_agents),
        categorical_actions=True,
        use_mask=False,
        seed=seed,
    )
    if len({base.observation_space(a).shape for a in env.group_map["store"]}) != 1:
        raise ValueError(
            f"the stores of scenario {scenario.name!r} observe vectors of different "
            "sizes, so one network cannot act for all of them"
        )
    return env


class _Heuristic:
    """A :mod:`baselines` policy over a group's observations ``(..., n, dim)``."""

    def __init__(self, policies: list[Any]) -> None:
        self.policies = policies

    def __call__(self, obs):
        import torch

        x = obs.detach().cpu().numpy()
        flat = x.reshape(-1, x.shape[-2], x.shape[-1])
        actions = np.stack(
            [p(flat[:, k]) for k, p in enumerate(self.policies)], axis=-1
        )
        return torch.as_tensor(actions.reshape(x.shape[:-1]), dtype=torch.int64)


def _modules(env: Any, scenario: Scenario, heuristics: str):
    from tensordict.nn import TensorDictModule
    from torch import nn
    from torch.distributions import Categorical
    from torchrl.modules import MultiAgentMLP, ProbabilisticActor

    stores = env.group_map["store"]
    obs_dim = env.observation_spec["store", "observation"].shape[-1]
    n_actions = int(env.full_action_spec["store", "action"].space.n)
    mlp = {
        "depth": len(HMARL.hiddens),
        "num_cells": list(HMARL.hiddens),
        "activation_class": nn.Tanh,
    }
    actor_net = MultiAgentMLP(
        n_agent_inputs=obs_dim,
        n_agent_outputs=n_actions,
        n_agents=len(stores),
        centralised=False,
        share_params=True,
        **mlp,
    )
    actor = ProbabilisticActor(
        TensorDictModule(
            actor_net,
            in_keys=[("store", "observation")],
            out_keys=[("store", "logits")],
        ),
        in_keys={"logits": ("store", "logits")},
        out_keys=[("store", "action")],
        distribution_class=Categorical,
        return_log_prob=True,
        log_prob_key=("store", "sample_log_prob"),
    )
    critic = TensorDictModule(
        MultiAgentMLP(
            n_agent_inputs=obs_dim,
            n_agent_outputs=1,
            n_agents=len(stores),
            centralised=False,
            share_params=True,
            **mlp,
        ),
        in_keys=[("store", "observation")],
        out_keys=[("store", "state_value")],
    )
    rules = make_policies(scenario, heuristics)
    others = [
        TensorDictModule(
            _Heuristic([rules[a] for a in agents]),
            in_keys=[(group, "observation")],
            out_keys=[(group, "action")],
        )
        for group, agents in env.group_map.items()
        if group != "store"
    ]
    return actor, actor_net, critic, others


def train(
    scenario: Scenario | str = "default",
    frames: int = 200_000,
    seed: int = 0,
    frames_per_batch: int = HMARL.train_batch_size,
    heuristics: str = "tuned",
    epochs: int = HMARL.num_epochs,
):
    """Train the store group with PPO for ``frames`` env steps; returns the
    actor network."""
    import torch
    from tensordict.nn import TensorDictSequential

    try:
        from torchrl.collectors import Collector  # torchrl >= 0.12
    except ImportError:
        from torchrl.collectors import SyncDataCollector as Collector
    from torchrl.data import LazyTensorStorage, ReplayBuffer
    from torchrl.data.replay_buffers.samplers import SamplerWithoutReplacement
    from torchrl.objectives import ClipPPOLoss, ValueEstimators

    scenario = get_scenario(scenario)
    torch.manual_seed(seed)
    env = make_env(scenario, seed)
    actor, actor_net, critic, others = _modules(env, scenario, heuristics)
    collector = Collector(
        env,
        TensorDictSequential(actor, *others),
        frames_per_batch=frames_per_batch,
        total_frames=frames,
    )
    loss = ClipPPOLoss(
        actor_network=actor,
        critic_network=critic,
        clip_epsilon=HMARL.clip_param,
        entropy_coeff=HMARL.entropy_coeff,
        critic_coeff=HMARL.vf_loss_coeff,
        loss_critic_type="l2",
        normalize_advantage=True,
    )
    loss.set_keys(
        reward=("store", "reward"),
        action=("store", "action"),
        sample_log_prob=("store", "sample_log_prob"),
        value=("store", "state_value"),
        done=("store", "done"),
        terminated=("store", "terminated"),
    )
    loss.make_value_estimator(
        ValueEstimators.GAE, gamma=HMARL.gamma, lmbda=HMARL.lambda_
    )
    optimiser = torch.optim.Adam(loss.parameters(), lr=HMARL.lr)
    # a buffer item is one env step of every store: minibatches of 512 decisions
    minibatch = max(HMARL.minibatch_size // len(env.group_map["store"]), 1)
    buffer = ReplayBuffer(
        storage=LazyTensorStorage(frames_per_batch),
        sampler=SamplerWithoutReplacement(),
        batch_size=minibatch,
    )
    scale = store_reward_scale(scenario)
    centre = RunningMean(HMARL.reward_centering)
    reward_key = ("next", "store", "reward")
    warnings.filterwarnings("ignore", message=POOLED_ADVANTAGES)
    for batch in collector:
        reward = batch.get(reward_key) / scale
        batch.set(reward_key, reward - centre.update(float(reward.mean())))
        with torch.no_grad():
            loss.value_estimator(
                batch,
                params=loss.critic_network_params,
                target_params=loss.target_critic_network_params,
            )
        buffer.extend(batch.reshape(-1))
        for _ in range(epochs):
            for _ in range(max(frames_per_batch // minibatch, 1)):
                terms = loss(buffer.sample())
                total = (
                    terms["loss_objective"]
                    + terms["loss_critic"]
                    + terms["loss_entropy"]
                )
                optimiser.zero_grad()
                total.backward()
                torch.nn.utils.clip_grad_norm_(loss.parameters(), HMARL.grad_clip)
                optimiser.step()
        collector.update_policy_weights_()
    collector.shutdown()
    env.close()
    return actor_net


def store_policy(actor_net: Any):
    """The trained store network as a policy: observations ``(B, dim)`` ->
    greedy actions ``(B,)``. Its parameters are shared by the store agents, so
    each observation is scored in the first agent's slot."""
    import torch

    n_agents = actor_net.n_agents

    def policy(obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs, np.float32))
        x = x[:, None, :].expand(-1, n_agents, -1)
        with torch.no_grad():
            logits = actor_net(x)[:, 0]
        return logits.argmax(dim=-1).numpy().astype(np.int64)

    policy.role = "store"
    return policy


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__, frames=True)
    parser.add_argument(
        "--output", default=None, help="folder for the store network (store_actor.pt)"
    )
    args = parser.parse_args(argv)
    try:
        scenario = get_scenario(args.scenario)
        threads = set_threads(args.threads)
        start = time.perf_counter()
        net = train(scenario, args.frames, args.seed)
        seconds = time.perf_counter() - start
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"trained {args.frames:,} env steps in {seconds:.0f} s ({threads} torch "
        f"thread{'s' if threads > 1 else ''})"
    )
    if args.output:
        import torch

        Path(args.output).mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), Path(args.output) / "store_actor.pt")
    print(report(scenario, store_policy(net), args.episodes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
