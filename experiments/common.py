"""The one builder of every RLlib config in hmarl (Ray 2.60, new API stack).

Every phase script is a thin layer over :func:`build_config`: which roles
train, which are loaded and frozen, which stay heuristic. This module also
holds the pieces they share: env registration, the policy mapping, the
heuristic RLModule that wraps :mod:`baselines`, the KPI callback, and the PPO
settings with their named presets (hmarl's defaults and the seeds'). Every
config trains with :class:`experiments.learner.HmarlPPOLearner`, which scales
(and centres) each module's rewards for its critic as the settings say.

Roles and module IDs: ``store_*`` -> ``store`` (one shared policy),
``warehouse_1`` -> ``warehouse``, other warehouses ``warehouse_<k>`` keep their
own ID (their observations differ), ``supplier_1`` -> ``supplier``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

import hmarl_env
from baselines.policies import make_policies
from experiments.learner import CENTER_RATE_KEY, REWARD_SCALES_KEY, HmarlPPOLearner
from hmarl_env.roles import reward_scales
from hmarl_env.scenario import Scenario, scenario_from_dict

__all__ = [
    "ENV_NAME",
    "HeuristicRLModule",
    "KPICallback",
    "PPOSettings",
    "PPO_PRESETS",
    "build_config",
    "env_creator",
    "module_id",
    "policy_mapping_fn",
]

ENV_NAME = "hmarl_supply_chain"


# ----------------------------------------------------------------------- env
def env_creator(env_config: Mapping[str, Any]) -> ParallelPettingZooEnv:
    """RLlib's view of :class:`hmarl_env.SupplyChainEnv`.

    ``env_config``: ``scenario`` (a scenario dict, as ``Scenario.to_dict`` gives),
    ``store_observation``.
    """
    scenario = scenario_from_dict(env_config["scenario"])
    env = hmarl_env.parallel_env(
        scenario, store_observation=env_config.get("store_observation", "pipeline")
    )
    return ParallelPettingZooEnv(env)


def module_id(agent_id: str) -> str:
    """The RLModule an agent acts with."""
    if agent_id.startswith("store_"):
        return "store"
    if agent_id == "warehouse_1":
        return "warehouse"
    if agent_id.startswith("supplier_"):
        return "supplier"
    return agent_id


def policy_mapping_fn(agent_id: str, episode: Any = None, **kwargs: Any) -> str:
    return module_id(agent_id)


def modules_of(scenario: Scenario) -> dict[str, str]:
    """Module ID -> the first agent that uses it (its spaces define the module's)."""
    out: dict[str, str] = {}
    for agent in hmarl_env.parallel_env(scenario).possible_agents:
        out.setdefault(module_id(agent), agent)
    return out


# ------------------------------------------------------------------ heuristics
class HeuristicRLModule(RLModule):
    """An RLModule that acts with a :mod:`baselines` policy and never learns.

    ``model_config``: ``scenario`` (a scenario dict), ``agent`` (whose policy),
    ``kind`` (``seed``, ``base_stock`` or ``tuned``) and optional ``params``.
    It has no weights; keep it out of ``policies_to_train``.
    """

    def setup(self) -> None:
        cfg = self.model_config
        scenario = scenario_from_dict(cfg["scenario"])
        self.policy = make_policies(scenario, cfg["kind"], cfg.get("params"))[
            cfg["agent"]
        ]

    def _forward_inference(self, batch: dict, **kwargs: Any) -> dict:
        obs = batch[Columns.OBS]
        if hasattr(obs, "detach"):  # a torch tensor
            obs = obs.detach().cpu().numpy()
        return {Columns.ACTIONS: self.policy(np.asarray(obs))}

    def _forward_exploration(self, batch: dict, **kwargs: Any) -> dict:
        return self._forward_inference(batch, **kwargs)

    def _forward_train(self, batch: dict, **kwargs: Any) -> dict:
        raise NotImplementedError(
            f"the heuristic module of {self.model_config['agent']!r} cannot be "
            "trained; keep it out of policies_to_train"
        )

    def get_state(self, *args: Any, **kwargs: Any) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass


# ------------------------------------------------------------------ callback
KPI_KEYS = ("service_level", "lost_sales", "stockout_periods", "holding_cost")


class KPICallback(RLlibCallback):
    """Logs the stores' ledger KPIs of every finished episode as RLlib metrics
    (``env_runners/kpi/<name>``): mean service level per store-period, lost
    units, store-periods with a stockout, holding cost (stores, per episode)."""

    def on_episode_end(
        self, *, episode, prev_episode_chunks=None, metrics_logger=None, **kwargs: Any
    ) -> None:
        if metrics_logger is None:
            return
        for key, value in episode_kpis([*(prev_episode_chunks or []), episode]).items():
            metrics_logger.log_value(("kpi", key), value, reduce="mean", window=100)


def episode_kpis(chunks: Iterable[Any]) -> dict[str, float]:
    """Store KPIs of one episode from its chunks' infos (the reset report is
    superseded by period 0's ledger row)."""
    rows: dict[tuple[str, float], dict] = {}
    for chunk in chunks:
        for agent, infos in chunk.get_infos().items():
            if not agent.startswith("store_"):
                continue
            for info in infos:
                if info:
                    rows[(agent, info["period"])] = info
    if not rows:
        return {}
    values = list(rows.values())
    return {
        "service_level": float(np.mean([r["service_level"] for r in values])),
        "lost_sales": float(sum(r["lost_sales"] for r in values)),
        "stockout_periods": float(
            sum(r["lost_sales"] + r["backlog"] > 0 for r in values)
        ),
        "holding_cost": float(sum(r["holding_cost"] for r in values)),
    }


# ------------------------------------------------------------------ settings
REWARD_SCALING = ("none", "period", "return")


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyperparameters and how rewards reach the learner.

    The defaults are hmarl's (``PPO_PRESETS["hmarl"]``, chosen by
    ``benchmarks/ppo_search.py``); ``PPO_PRESETS["seeds"]`` holds the seeds'.

    Attributes:
        lr: Adam learning rate.
        gamma: discount factor.
        lambda_: GAE lambda.
        clip_param: PPO clip epsilon.
        entropy_coeff: entropy bonus.
        vf_loss_coeff: value loss weight.
        grad_clip: gradient global-norm clip, shared by the policy and value
            losses of a module (``None``: no clip).
        vf_clip_param: RLlib clips the *squared* value error at this (``None``:
            no clip). It only makes sense together with ``reward_scaling``: with
            unscaled returns in the hundreds the seeds' 10 leaves the critic
            almost no gradient.
        reward_scaling: what the learner divides each module's rewards by (the
            env, metrics and evaluations keep the scenario's units):
            ``"none"`` (the seeds'), ``"period"`` (the role's reward scale,
            :func:`hmarl_env.roles.reward_scales`: a period's reward of order
            one) or ``"return"`` (that times the effective horizon
            ``min(horizon, 1 / (1 - gamma))``: a discounted return of order one).
        reward_centering: step size of the running mean reward the learner
            subtracts (after scaling) before computing advantages; 0: none
            (:class:`experiments.learner.ScaleRewards`).
        minibatch_size: SGD minibatch.
        num_epochs: passes over each train batch.
        train_batch_size: env steps per training iteration.
        hiddens: hidden layer sizes of the policy and value networks.
        activation: their activation.
        vf_share_layers: whether policy and value share layers (set explicitly:
            a restored module with another setting would load non-strictly).
    """

    lr: float = 1e-3
    gamma: float = 0.99
    lambda_: float = 0.95
    clip_param: float = 0.2
    entropy_coeff: float = 0.01
    vf_loss_coeff: float = 0.5
    grad_clip: float | None = 0.5
    vf_clip_param: float | None = None
    reward_scaling: str = "return"
    reward_centering: float = 0.1
    minibatch_size: int = 512
    num_epochs: int = 10
    train_batch_size: int = 2048
    hiddens: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    vf_share_layers: bool = False

    def __post_init__(self) -> None:
        for name in (
            "lr",
            "gamma",
            "lambda_",
            "clip_param",
            "entropy_coeff",
            "vf_loss_coeff",
            "grad_clip",
            "vf_clip_param",
            "reward_centering",
        ):
            v = getattr(self, name)
            if v is None and name in ("grad_clip", "vf_clip_param"):
                continue
            if not (
                isinstance(v, (int, float))
                and not isinstance(v, bool)
                and math.isfinite(v)
                and v >= 0
            ):
                raise ValueError(
                    f"PPOSettings.{name} must be a finite number >= 0, got {v!r}"
                )
        if not 0 <= self.gamma < 1:
            raise ValueError(f"PPOSettings.gamma must be in [0, 1), got {self.gamma!r}")
        if self.reward_centering > 1:
            raise ValueError(
                "PPOSettings.reward_centering must be in [0, 1], got "
                f"{self.reward_centering!r}"
            )
        if self.reward_scaling not in REWARD_SCALING:
            raise ValueError(
                f"PPOSettings.reward_scaling must be one of {list(REWARD_SCALING)}, "
                f"got {self.reward_scaling!r}"
            )
        for name in ("minibatch_size", "num_epochs", "train_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(
                    f"PPOSettings.{name} must be an integer >= 1, got {v!r}"
                )
        if self.minibatch_size > self.train_batch_size:
            raise ValueError(
                f"PPOSettings.minibatch_size ({self.minibatch_size}) must not exceed "
                f"train_batch_size ({self.train_batch_size})"
            )

    def learner_reward_scales(self, scenario: Scenario) -> dict[str, float]:
        """Module ID -> what the learner divides that module's rewards by (the
        mean of its agents' reward scales)."""
        if self.reward_scaling == "none":
            return {}
        per_agent = reward_scales(scenario)
        horizon = 1.0
        if self.reward_scaling == "return":
            horizon = min(float(scenario.horizon), 1.0 / (1.0 - self.gamma))
        groups: dict[str, list[float]] = {}
        for agent, scale in per_agent.items():
            groups.setdefault(module_id(agent), []).append(scale)
        return {m: float(np.mean(v)) * horizon for m, v in groups.items()}


#: Named PPO settings. ``hmarl``: the defaults, chosen by
#: ``benchmarks/ppo_search.py`` (table in ``benchmarks/ppo_search.md``).
#: ``seeds``: the seeds' PPO guide (lr 3e-4, minibatch 64, unscaled rewards and
#: RLlib's value clip of 10).
PPO_PRESETS: dict[str, PPOSettings] = {
    "hmarl": PPOSettings(),
    "seeds": PPOSettings(
        lr=3e-4,
        grad_clip=0.5,
        vf_clip_param=10.0,
        reward_scaling="none",
        reward_centering=0.0,
        minibatch_size=64,
    ),
}


@dataclass(frozen=True)
class RunnerSettings:
    """How rollouts are collected."""

    num_env_runners: int = 0
    num_envs_per_env_runner: int = 1


@dataclass
class Phase:
    """What a phase trains, freezes, loads and leaves heuristic.

    Attributes:
        name: ``phase1`` .. ``phase4``.
        train: module IDs PPO updates.
        frozen: module IDs loaded from the previous phase's run and not updated.
        heuristic: module ID -> baselines policy set (``seed``, ``base_stock``,
            ``tuned``) for modules that follow a rule.
        source: the phase whose run this one starts from (``None``: from scratch).
        load: module IDs restored from that run: every frozen one, and trained
            ones that continue from it (phase 4's fine-tuning).
    """

    name: str
    train: tuple[str, ...]
    frozen: tuple[str, ...] = ()
    heuristic: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    load: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.train, self.frozen, self.load = (
            tuple(self.train),
            tuple(self.frozen),
            tuple(self.load),
        )
        both = set(self.train) & set(self.frozen)
        if both:
            raise ValueError(f"phase {self.name}: {sorted(both)} both train and frozen")
        unloaded = [m for m in self.frozen if m not in self.load]
        if unloaded:
            raise ValueError(
                f"phase {self.name}: frozen modules {unloaded} are not loaded from "
                "a previous run (they would stay at their random weights)"
            )
        stray = [m for m in self.load if m not in self.train + self.frozen]
        if stray:
            raise ValueError(
                f"phase {self.name}: loads {stray}, which it neither trains nor freezes"
            )
        if self.load and not self.source:
            raise ValueError(
                f"phase {self.name} loads {list(self.load)} but has no source"
            )


#: PPOSettings fields that shape a module's weights: a phase that loads modules
#: takes them from the run it loads from.
ARCHITECTURE = ("hiddens", "activation", "vf_share_layers")


def build_config(
    scenario: Scenario,
    phase: Phase,
    ppo: PPOSettings = PPOSettings(),
    runners: RunnerSettings = RunnerSettings(),
    seed: int = 0,
    store_observation: str = "pipeline",
    heuristic_params: Mapping[str, Any] | None = None,
) -> PPOConfig:
    """The PPO config of a phase.

    Every module that is neither trained nor frozen acts with its heuristic
    (``phase.heuristic``, tuned by default). Learned modules are PPO's default
    MLP with the seeds' sizes.
    """
    modules = modules_of(scenario)
    unknown = sorted(set(phase.train) | set(phase.frozen) | set(phase.heuristic))
    unknown = [m for m in unknown if m not in modules]
    if unknown:
        raise ValueError(
            f"phase {phase.name}: no agent uses modules {unknown}; modules "
            f"of scenario {scenario.name!r}: {sorted(modules)}"
        )
    if not phase.train:
        raise ValueError(
            f"phase {phase.name} trains nothing (RLlib cannot train an "
            "empty set of modules)"
        )
    # registered on every build: Ray forgets registrations when it shuts down
    register_env(ENV_NAME, env_creator)
    env = hmarl_env.parallel_env(scenario, store_observation=store_observation)
    scenario_dict = scenario.to_dict()
    specs: dict[str, RLModuleSpec] = {}
    learned_config = DefaultModelConfig(
        fcnet_hiddens=list(ppo.hiddens),
        fcnet_activation=ppo.activation,
        vf_share_layers=ppo.vf_share_layers,
    )
    for mid, agent in modules.items():
        spaces = {
            "observation_space": env.observation_space(agent),
            "action_space": env.action_space(agent),
        }
        if mid in phase.train or mid in phase.frozen:
            specs[mid] = RLModuleSpec(model_config=learned_config, **spaces)
        else:
            kind = phase.heuristic.get(mid, "tuned")
            specs[mid] = RLModuleSpec(
                module_class=HeuristicRLModule,
                model_config={
                    "scenario": scenario_dict,
                    "agent": agent,
                    "kind": kind,
                    "params": dict(heuristic_params or {}) or None,
                },
                **spaces,
            )
    config = (
        PPOConfig()
        .environment(
            ENV_NAME,
            env_config={
                "scenario": scenario_dict,
                "store_observation": store_observation,
            },
        )
        .framework("torch")
        .env_runners(
            num_env_runners=runners.num_env_runners,
            num_envs_per_env_runner=runners.num_envs_per_env_runner,
        )
        .multi_agent(
            policies=set(modules),
            policy_mapping_fn=policy_mapping_fn,
            policies_to_train=list(phase.train),
        )
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .training(
            lr=ppo.lr,
            gamma=ppo.gamma,
            lambda_=ppo.lambda_,
            clip_param=ppo.clip_param,
            entropy_coeff=ppo.entropy_coeff,
            vf_loss_coeff=ppo.vf_loss_coeff,
            grad_clip=ppo.grad_clip,
            vf_clip_param=(
                math.inf if ppo.vf_clip_param is None else ppo.vf_clip_param
            ),
            learner_class=HmarlPPOLearner,
            learner_config_dict={
                REWARD_SCALES_KEY: ppo.learner_reward_scales(scenario),
                CENTER_RATE_KEY: ppo.reward_centering,
            },
            minibatch_size=ppo.minibatch_size,
            num_epochs=ppo.num_epochs,
            train_batch_size_per_learner=ppo.train_batch_size,
        )
        .callbacks(KPICallback)
        .debugging(seed=seed)
    )
    return config
