"""Centralised training, decentralised execution: a critic that sees the chain.

With ``PPOSettings.critic == "central"`` (``--critic central``) every learned
module is a :class:`CentralCriticModule`: its actor acts on the agent's own
observation, exactly as a local module does, while its value function reads
the env's global state (:meth:`hmarl_env.SupplyChainEnv.state`: every node's
stock, pipeline, backlog, forecast and service level, and the time elapsed)
beside that observation. This is MAPPO's *agent-specific global state* (Yu et
al., "The Surprising Effectiveness of PPO in Cooperative Multi-Agent Games",
2022): the state says what happens in the whole chain, the own observation
says whose return is being predicted (the two stores share a module but not,
in the local reward mode, a reward).

RLlib sees each agent's observation as ``{"obs": own, "state": global}``
(:class:`CentralStateEnv`), so the global state travels through RLlib's
episodes and batches into the learner, where generalised advantage estimation
calls :meth:`CentralCriticModule.compute_values`. Env runners build the module
inference-only (actor alone); a checkpoint's actor acts on the own observation
alone, so evaluation (:func:`analysis.runs.loading.load_policies`) needs neither
the critic nor the state.

One critic per module rather than one shared by all: each module's returns
are its own (the learner scales every module's rewards by that module's scale,
and in the local and mixed modes the rewards differ by role), a frozen module
keeps its critic untouched, and a module restored across phases brings its
critic with it, checked weight by weight like the actor
(:func:`experiments.curriculum.restore_modules`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from torch import nn

from analysis.runs.loading import OWN_KEY, STATE_KEY
from experiments.heads import apply_head, head_outputs

__all__ = ["OWN", "STATE", "CentralCriticModule", "CentralStateEnv", "paired_space"]

#: keys of the observation RLlib sees with a central critic
OWN, STATE = OWN_KEY, STATE_KEY

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "linear": nn.Identity}


def paired_space(own: gym.spaces.Box, state: gym.spaces.Box) -> gym.spaces.Dict:
    """The observation space RLlib sees: the agent's own and the global state."""
    return gym.spaces.Dict({OWN: own, STATE: state})


class CentralStateEnv(ParallelPettingZooEnv):
    """RLlib's view of a PettingZoo env whose every observation is paired with
    the env's global state, ``{"obs": own, "state": env.state()}``, taken after
    the step (or reset) that produced the observation."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.observation_space = gym.spaces.Dict(
            {
                aid: paired_space(env.observation_space(aid), env.state_space)
                for aid in self._agent_ids
            }
        )

    def _pair(self, obs: dict[str, Any]) -> dict[str, dict[str, Any]]:
        state = self.par_env.state()
        return {a: {OWN: o, STATE: state} for a, o in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = super().reset(seed=seed, options=options)
        return self._pair(obs), info

    def step(self, action_dict: dict[str, Any]):
        obs, rewards, terminateds, truncateds, infos = super().step(action_dict)
        return self._pair(obs), rewards, terminateds, truncateds, infos


def _mlp(inputs: int, hiddens: list[int], outputs: int, activation: str) -> nn.Module:
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
        )
    layers: list[nn.Module] = []
    for width in hiddens:
        layers += [nn.Linear(inputs, width), _ACTIVATIONS[activation]()]
        inputs = width
    layers.append(nn.Linear(inputs, outputs))
    return nn.Sequential(*layers)


class CentralCriticModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """PPO's actor over the own observation, value function over the global
    state and the own observation (``pi`` and ``vf``, separate networks of the
    same hidden sizes; torch's default initialisation, as RLlib's default
    PPO module).

    Observation space: :func:`paired_space`. ``model_config``: ``hiddens``
    (list of widths), ``activation`` and ``policy_head``
    (:mod:`experiments.heads`; default categorical).
    """

    def setup(self) -> None:
        space = self.observation_space
        if not (isinstance(space, gym.spaces.Dict) and set(space) == {OWN, STATE}):
            raise ValueError(
                "a central critic needs observations {'obs': own, 'state': global}, "
                f"got {space}"
            )
        hiddens = list(self.model_config.get("hiddens", [64, 64]))
        activation = self.model_config.get("activation", "tanh")
        own, state = space[OWN].shape[0], space[STATE].shape[0]
        self.head = self.model_config.get("policy_head", "categorical")
        n = int(self.action_space.n)
        self.pi = _mlp(own, hiddens, head_outputs(self.head, n), activation)
        # removed again by TorchRLModule when the module is inference-only
        self.vf = _mlp(state + own, hiddens, 1, activation)

    # ------------------------------------------------------------- acting
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Action logits from the own observation. ``batch[OBS]`` is either the
        paired observation RLlib collects or the own observation alone (how a
        loaded checkpoint acts)."""
        obs = batch[Columns.OBS]
        own = obs[OWN] if isinstance(obs, dict) else obs
        return apply_head(
            self.head,
            {Columns.ACTION_DIST_INPUTS: self.pi(own)},
            int(self.action_space.n),
        )

    # ---------------------------------------------------------- the critic
    @staticmethod
    def critic_input(batch: dict[str, Any]) -> torch.Tensor:
        """What the value function reads: ``[global state, own observation]``."""
        obs = batch[Columns.OBS]
        return torch.cat([obs[STATE], obs[OWN]], dim=-1)

    def compute_values(
        self, batch: dict[str, Any], embeddings: Any = None
    ) -> torch.Tensor:
        return self.vf(self.critic_input(batch)).squeeze(-1)

    def get_non_inference_attributes(self) -> list[str]:
        return ["vf"]
