"""What a run is: its phase, PPO settings and options, as typed records.

Everything here is plain data, without Ray: the phase scripts, the pipeline,
loading, the gate and the comparison all read a run through
:class:`RunConfig` (``read_run_config(run)``), never through string keys.

* :data:`PHASES` - the curriculum, one row per phase (what it trains, freezes,
  loads and leaves heuristic, its default budget and PPO changes); the scripts
  ``experiments/phaseN.py`` run a row each.
* :class:`PPOSettings` and :data:`PPO_PRESETS` - PPO hyperparameters and how
  rewards reach the learner (hmarl's defaults and the seeds').
* :class:`RunConfig` - a run's resolved configuration, written to
  ``config.json`` before training starts. It freezes the tuned heuristic
  parameters the run acts with, so re-tuning never changes how an old run is
  evaluated. Runs written before a field existed read with that field's
  historical value; a run whose tuned parameters were not frozen gets an error
  that says how to freeze them (``python -m experiments.config --freeze RUN``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from baselines.tuned import load_tuned
from hmarl_env.registry import agent_names, module_id
from hmarl_env.rewards import reward_scales
from hmarl_env.scenario import Scenario, scenario_from_dict
from hmarl_env.utils.io import read_json, write_json_atomic

__all__ = [
    "ARCHITECTURE",
    "CRITICS",
    "MONITOR_SEED",
    "PHASES",
    "POLICY_HEADS",
    "PPO_PRESETS",
    "PPOSettings",
    "Phase",
    "RUN_DEFAULTS",
    "RunConfig",
    "RunnerSettings",
    "RunningMean",
    "read_run_config",
]

#: the first seed of in-training evaluation episodes (never trained on)
MONITOR_SEED = 2_000_000
REWARD_SCALING = ("none", "period", "return")
#: what a learned module's value function sees (:mod:`experiments.critic`)
CRITICS = ("local", "central")

#: how a learned module's outputs become its action distribution
#: (:mod:`experiments.heads`)
POLICY_HEADS = ("categorical", "ordinal", "normal")


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
            :func:`hmarl_env.rewards.reward_scales`: a period's reward of order
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
        policy_head: how a learned module's outputs become its action
            distribution: ``"categorical"`` (a free logit per action, RLlib's
            default), ``"ordinal"`` or ``"normal"`` (for ordered actions such
            as order quantities: :mod:`experiments.heads`).
        lr_end: the learning rate reached at the end of the run's budget,
            annealed linearly from ``lr`` over the env steps of the run
            (``None``: ``lr`` throughout), so that the policy moves less
            per update as the budget runs out (on Zipkin's lost-sales
            instances it did not lower the cost: README, Against the
            optimum).
        entropy_coeff_end: likewise for the entropy bonus (``None``: constant).
        critic: what each learned module's value function sees: ``"local"``
            (the agent's own observation, RLlib's default PPO module) or
            ``"central"`` (the env's global state beside the own observation;
            the actor still acts on the own observation alone:
            :mod:`experiments.critic`).
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
    critic: str = "local"
    policy_head: str = "categorical"
    lr_end: float | None = None
    entropy_coeff_end: float | None = None

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
            "lr_end",
            "entropy_coeff_end",
        ):
            v = getattr(self, name)
            if v is None and name in (
                "grad_clip",
                "vf_clip_param",
                "lr_end",
                "entropy_coeff_end",
            ):
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
        if self.critic not in CRITICS:
            raise ValueError(
                f"PPOSettings.critic must be one of {list(CRITICS)}, "
                f"got {self.critic!r}"
            )
        if self.policy_head not in POLICY_HEADS:
            raise ValueError(
                f"PPOSettings.policy_head must be one of {list(POLICY_HEADS)}, "
                f"got {self.policy_head!r}"
            )
        if self.critic == "central" and self.vf_share_layers:
            raise ValueError(
                "PPOSettings: a central critic reads the global state, so it cannot "
                "share layers with the actor (vf_share_layers=True)"
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

    def schedule(self, name: str, timesteps: int | None) -> float | list[list[float]]:
        """``lr`` or ``entropy_coeff`` as RLlib takes it: the number, or where
        its ``_end`` is set a linear schedule over ``timesteps`` env steps
        (``[[0, start], [timesteps, end]]``; RLlib holds the end value after)."""
        start, end = getattr(self, name), getattr(self, name + "_end")
        if end is None:
            return start
        if timesteps is None or timesteps < 1:
            raise ValueError(
                f"PPOSettings.{name}_end anneals {name} over the run's budget; "
                f"the config needs that budget in env steps, got {timesteps!r}"
            )
        return [[0, start], [int(timesteps), end]]

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


class RunningMean:
    """The mean reward that centring subtracts (``PPOSettings.reward_centering``):
    an exponential average over training batches with step ``rate``, started
    at the first batch's mean (Naik et al., "Reward Centering", 2024). RLlib's
    learner and the other libraries' recipes keep one per trained policy."""

    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"centring rate must be in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.value: float | None = None

    def update(self, batch_mean: float) -> float:
        """Take in a batch's mean reward; the mean to subtract from that batch."""
        old = self.value
        self.value = batch_mean if old is None else old + self.rate * (batch_mean - old)
        return self.value


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
        timesteps: the default budget, env steps.
        ppo_changes: the phase's own PPO settings over the preset's (phase 4's
            learning rate); options on the command line override both.
    """

    name: str
    train: tuple[str, ...]
    frozen: tuple[str, ...] = ()
    heuristic: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    load: tuple[str, ...] = ()
    timesteps: int = 100_000
    ppo_changes: dict[str, Any] = field(default_factory=dict)

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
ARCHITECTURE = ("hiddens", "activation", "vf_share_layers", "critic", "policy_head")


#: The curriculum: each phase's row (``experiments/phaseN.py`` runs one).
PHASES: dict[str, Phase] = {
    p.name: p
    for p in (
        Phase(
            name="phase1",
            train=("store",),
            heuristic={"warehouse": "tuned", "supplier": "tuned"},
            timesteps=200_000,
        ),
        Phase(
            name="phase2",
            train=("warehouse",),
            frozen=("store",),
            heuristic={"supplier": "tuned"},
            source="phase1",
            load=("store",),
            timesteps=100_000,
        ),
        Phase(
            name="phase3",
            train=("supplier",),
            frozen=("store", "warehouse"),
            source="phase2",
            load=("store", "warehouse"),
            timesteps=50_000,
        ),
        Phase(
            name="phase4",
            train=("store", "warehouse", "supplier"),
            source="phase3",
            load=("store", "warehouse", "supplier"),
            timesteps=100_000,
            ppo_changes={"lr": 1e-4},
        ),
    )
}

#: a run's options beside its PPO settings, with their defaults
RUN_DEFAULTS = {
    "eval_interval": 5,
    "eval_episodes": 100,
    "checkpoint_interval": 5,
    "gate_episodes": 200,
}


def _tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def ppo_from_dict(data: dict[str, Any]) -> PPOSettings:
    """PPO settings from their ``config.json`` form; settings a run made before
    they existed read as the seeds' (every such run used them)."""
    known = {f.name for f in fields(PPOSettings)}
    stray = sorted(set(data) - known)
    if stray:
        raise ValueError(f"unknown PPO settings {stray}")
    return replace(PPO_PRESETS["seeds"], **{k: _tuple(v) for k, v in data.items()})


def phase_from_dict(data: dict[str, Any]) -> Phase:
    """A phase from its ``config.json`` form (older runs lack the budget and
    PPO changes: the table's row gives them)."""
    row = PHASES.get(data.get("name"))
    defaults = (
        {"timesteps": row.timesteps, "ppo_changes": row.ppo_changes} if row else {}
    )
    return Phase(**{**defaults, **{k: _tuple(v) for k, v in data.items()}})


#: what every run's config.json has, whatever hmarl version wrote it
RUN_KEYS = ("phase", "scenario", "seed", "timesteps", "ppo")


@dataclass(frozen=True)
class RunConfig:
    """A run's resolved configuration (``config.json``).

    Attributes:
        phase: what it trains, freezes, loads and leaves heuristic.
        scenario: the supply chain.
        seed: the training seed.
        timesteps: the budget, env steps.
        store_observation: the stores' observation layout.
        ppo_preset: the named PPO settings it started from.
        ppo: its PPO settings.
        runners: how rollouts were collected.
        heuristic_params: the tuned parameters its heuristic modules act with,
            frozen when the run was made (``None``: none of them is tuned).
        source: for a phase that starts from another run: ``run``,
            ``checkpoint`` and ``modules`` it loaded (config.json's ``from``).
        eval_interval, eval_episodes: monitoring evaluations.
        checkpoint_interval: iterations between checkpoints.
        gate_episodes: held-out episodes of the curriculum gate.
        record: what the run records beside (command, creation time, versions,
            and anything a caller adds); written as it is.
    """

    phase: Phase
    scenario: Scenario
    seed: int
    timesteps: int
    ppo: PPOSettings
    store_observation: str = "pipeline"
    ppo_preset: str = "hmarl"
    runners: RunnerSettings = RunnerSettings()
    heuristic_params: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    eval_interval: int = RUN_DEFAULTS["eval_interval"]
    eval_episodes: int = RUN_DEFAULTS["eval_episodes"]
    checkpoint_interval: int = RUN_DEFAULTS["checkpoint_interval"]
    gate_episodes: int = RUN_DEFAULTS["gate_episodes"]
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def learned(self) -> tuple[str, ...]:
        """Module IDs with weights: trained, then frozen."""
        return self.phase.train + self.phase.frozen

    @property
    def options(self) -> dict[str, int]:
        """The run's options of :data:`RUN_DEFAULTS`."""
        return {k: getattr(self, k) for k in RUN_DEFAULTS}

    def uses_tuned(self) -> bool:
        """Whether any heuristic module acts with tuned parameters."""
        modules = {module_id(a) for a in agent_names(self.scenario)}
        return any(
            self.phase.heuristic.get(m, "tuned") == "tuned"
            for m in modules
            if m not in self.learned
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` form."""
        return {
            "phase": asdict(self.phase),
            "scenario": self.scenario.to_dict(),
            "seed": self.seed,
            "timesteps": self.timesteps,
            "store_observation": self.store_observation,
            "ppo_preset": self.ppo_preset,
            "ppo": asdict(self.ppo),
            "runners": asdict(self.runners),
            "heuristic_params": self.heuristic_params,
            "from": self.source,
            "eval": {
                "interval": self.eval_interval,
                "episodes": self.eval_episodes,
                "first_seed": MONITOR_SEED,
            },
            "checkpoint_interval": self.checkpoint_interval,
            "gate_episodes": self.gate_episodes,
            **self.record,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config.json") -> RunConfig:
        """A run's config from its ``config.json`` form; a ``ValueError`` naming
        ``where`` if it is not one hmarl wrote, or if the run's heuristics act
        with tuned parameters it did not freeze."""
        missing = [k for k in RUN_KEYS if not isinstance(data, dict) or k not in data]
        if missing:
            raise ValueError(
                f"{where} lacks {missing}: not a config.json that hmarl wrote (or "
                "one edited by hand)"
            )
        known = {f.name for f in fields(cls)} | {"from", "eval"}
        ev = data.get("eval", {})
        try:
            config = cls(
                phase=phase_from_dict(data["phase"]),
                scenario=scenario_from_dict(data["scenario"]),
                seed=int(data["seed"]),
                timesteps=int(data["timesteps"]),
                ppo=ppo_from_dict(data["ppo"]),
                store_observation=data.get("store_observation", "pipeline"),
                ppo_preset=data.get("ppo_preset") or "seeds",
                runners=RunnerSettings(**data.get("runners", {})),
                heuristic_params=data.get("heuristic_params"),
                source=data.get("from"),
                eval_interval=int(ev.get("interval", RUN_DEFAULTS["eval_interval"])),
                eval_episodes=int(ev.get("episodes", RUN_DEFAULTS["eval_episodes"])),
                checkpoint_interval=int(
                    data.get("checkpoint_interval", RUN_DEFAULTS["checkpoint_interval"])
                ),
                gate_episodes=int(
                    data.get("gate_episodes", RUN_DEFAULTS["gate_episodes"])
                ),
                record={k: v for k, v in data.items() if k not in known},
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(
                f"{where} is not a run config hmarl can read: {exc}"
            ) from None
        if config.heuristic_params is None and config.uses_tuned():
            raise ValueError(
                f"{where}: the run's heuristics act with tuned parameters it did not "
                "freeze (a run made before runs froze them); freeze the current "
                f"ones with: python -m experiments.config --freeze {Path(where).parent}"
            )
        return config


def read_run_config(run: str | Path) -> RunConfig:
    """The configuration of a run folder, with a clear error if it has none."""
    path = Path(run) / "config.json"
    data = read_json(path, f"{str(run)!r} is not an hmarl run folder: no config.json")
    return RunConfig.from_dict(data, str(path))


def freeze(run: str | Path) -> dict[str, Any]:
    """Write the scenario's current tuned parameters into a run's config.json
    (for runs made before runs froze them); returns them."""
    path = Path(run) / "config.json"
    data = json.loads(path.read_text())
    scenario = scenario_from_dict(data["scenario"])
    params = load_tuned(scenario)["params"]
    data["heuristic_params"] = params
    write_json_atomic(path, data)
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check or convert a run's config.")
    parser.add_argument("run", help="a run folder")
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="freeze the scenario's current tuned heuristic parameters into it",
    )
    args = parser.parse_args(argv)
    try:
        if args.freeze:
            print(f"froze {freeze(args.run)} into {args.run}/config.json")
        config = read_run_config(args.run)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in config.to_dict().items() if k != "scenario"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
