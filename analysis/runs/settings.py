"""What a run is made of: PPO settings, runner settings and the curriculum's
phases, as typed records without Ray.

* :class:`PPOSettings` and :data:`PPO_PRESETS` - PPO hyperparameters and how
  rewards reach the learner: hmarl's defaults, and the PPO guide of the HMARL
  reference design (``reference``; the old name ``seeds`` is an alias).
* :class:`RunnerSettings` - how rollouts are collected.
* :data:`PHASES` - the curriculum, one row per phase (what it trains,
  freezes, loads and leaves heuristic, its default budget and PPO changes);
  ``experiments/phaseN.py`` and the pipeline's steps run its rows.

Each setting is one typed field with one default and its help text in the
field's metadata (:func:`setting`): the command line of every phase script is
generated from these fields (:mod:`experiments.options`), so a setting is
added in exactly one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from hmarl_env.registry import (
    WAREHOUSE_MODULES,
    agent_modules,
    agents_of,
    module_id,
)
from hmarl_env.rewards import reward_scales
from hmarl_env.scenario import Scenario
from hmarl_env.utils.names import resolve

__all__ = [
    "ARCHITECTURE",
    "CRITICS",
    "ENV_RUNNERS",
    "MONITOR_SEED",
    "PHASES",
    "share_warehouses",
    "POLICY_HEADS",
    "ACTING",
    "PPO_PRESETS",
    "PPO_PRESET_ALIASES",
    "PPOSettings",
    "Phase",
    "REWARD_SCALING",
    "RunnerSettings",
    "ppo_preset",
    "setting",
]

#: the first seed of in-training evaluation episodes (never trained on)
MONITOR_SEED = 2_000_000
#: what the learner divides rewards by (:attr:`PPOSettings.reward_scaling`)
REWARD_SCALING = ("none", "period", "return")
#: how env runners sample (:attr:`RunnerSettings.env_runner`)
ENV_RUNNERS = ("batched", "pettingzoo")
#: what a learned module's value function sees (:mod:`experiments.critic`)
CRITICS = ("local", "central")
#: how a learned module's outputs become its action distribution
#: (:mod:`experiments.heads`)
POLICY_HEADS = ("categorical", "ordinal", "normal")
#: how a learned module acts when it is judged
#: (:class:`analysis.runs.loading.ModulePolicy`, :attr:`PPOSettings.acting`)
ACTING = ("greedy", "mean", "sampled")


def setting(default: Any, help: str, **cli: Any) -> Any:
    """A settings field: its default and its help text, which the generated
    command line shows; ``cli`` may give ``choices`` or a ``parse`` function
    for the command line's text (else the field's type parses it)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyperparameters and how rewards reach the learner.

    The defaults are hmarl's (``PPO_PRESETS["hmarl"]``, chosen by
    ``benchmarks/ppo_search.py``). Each field's help text
    (``python experiments/phase1.py --help``) says what it does.
    """

    lr: float = setting(1e-3, "Adam learning rate (phase 4 defaults to 1e-4)")
    gamma: float = setting(0.99, "discount factor")
    lambda_: float = setting(0.95, "GAE lambda")
    clip_param: float = setting(0.2, "PPO clip epsilon")
    entropy_coeff: float = setting(0.01, "entropy bonus")
    vf_loss_coeff: float = setting(0.5, "value loss weight")
    grad_clip: float | None = setting(
        0.5,
        "gradient global-norm clip, shared by the policy and value losses of a "
        "module ('none': no clip)",
    )
    vf_clip_param: float | None = setting(
        None,
        "RLlib clips the *squared* value error at this ('none': no clip); with "
        "unscaled returns in the hundreds a clip of 10 leaves the critic almost "
        "no gradient, so it only makes sense with reward scaling",
    )
    reward_scaling: str = setting(
        "return",
        "what the learner divides each module's rewards by (the env, metrics "
        "and evaluations keep the scenario's units): none; period (the role's "
        "reward scale, a period's reward of order one); return (that times "
        "min(horizon, 1 / (1 - gamma)): a discounted return of order one)",
        choices=REWARD_SCALING,
    )
    reward_centering: float = setting(
        0.1,
        "step size of the running mean reward the learner subtracts (after "
        "scaling) before computing advantages (0: none)",
    )
    minibatch_size: int = setting(2048, "SGD minibatch")
    num_epochs: int = setting(5, "passes over each train batch")
    train_batch_size: int = setting(4096, "env steps per training iteration")
    hiddens: tuple[int, ...] = setting(
        (64, 64), "hidden layer sizes of the policy and value networks, e.g. 64,64"
    )
    activation: str = setting("tanh", "activation of the hidden layers")
    vf_share_layers: bool = setting(
        False,
        "whether policy and value share layers (set explicitly: a restored "
        "module with another setting would load non-strictly)",
    )
    critic: str = setting(
        "local",
        "what the value functions see: local (the agent's own observation) or "
        "central (the global state beside it; actors stay local); phases 2-4 "
        "keep the critic of the run they start from",
        choices=CRITICS,
    )
    policy_head: str = setting(
        "categorical",
        "how the actor's outputs become action probabilities: categorical (a "
        "logit per action), ordinal or normal (for order quantities: "
        "experiments/heads.py); phases 2-4 keep the source run's",
        choices=POLICY_HEADS,
    )
    acting: str = setting(
        "greedy",
        "how the learned modules act whenever the run is judged (monitor, "
        "gate, comparison, benchmarks): greedy (the most probable action), mean "
        "(the policy's mean action, rounded: for ordered actions such as order "
        "quantities) or sampled",
        choices=ACTING,
    )
    residual: int = setting(
        0,
        "on a catalogue: the stores' module acts in offsets of -residual.."
        "+residual safety-factor steps around the tuned capacity-aware "
        "heuristic's level of each product, which it also observes "
        "(experiments/catalogue_runner.py; 0: it picks the safety factor "
        "itself)",
    )
    lr_end: float | None = setting(
        None,
        "learning rate at the end of the budget, annealed linearly from lr "
        "over the run's env steps ('none': constant)",
    )
    entropy_coeff_end: float | None = setting(
        None,
        "entropy bonus at the end of the budget, annealed linearly from "
        "entropy_coeff ('none': constant)",
    )

    def __post_init__(self) -> None:
        optional = ("grad_clip", "vf_clip_param", "lr_end", "entropy_coeff_end")
        for name in (
            "lr",
            "gamma",
            "lambda_",
            "clip_param",
            "entropy_coeff",
            "vf_loss_coeff",
            "reward_centering",
            *optional,
        ):
            v = getattr(self, name)
            if v is None and name in optional:
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
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(
                    f"PPOSettings.{f.name} must be one of {list(choices)}, "
                    f"got {getattr(self, f.name)!r}"
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

    def check_minibatch(self, rows_per_step: int, module: str) -> None:
        """Refuse a minibatch larger than the rows one train batch gives a
        learned module (``rows_per_step`` per env step: its agents, times the
        products of a catalogue)."""
        rows = self.train_batch_size * rows_per_step
        if self.minibatch_size > rows:
            raise ValueError(
                f"PPOSettings.minibatch_size ({self.minibatch_size:,}) exceeds the "
                f"{rows:,} rows a train batch gives module {module!r} "
                f"(train_batch_size {self.train_batch_size:,} env steps x "
                f"{rows_per_step:,} decisions each)"
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

    def learner_reward_scales(
        self, scenario: Scenario, module_of: Any = module_id, per_instance=False
    ) -> dict[str, float]:
        """Module ID -> what the learner divides that module's rewards by (the
        mean of its agents' reward scales; ``module_of``: agent -> module ID,
        the registry's unless a phase maps them otherwise). ``per_instance``:
        the rewards arrive divided by their instance's scales already (a
        family's env), so only the horizon factor is left."""
        if self.reward_scaling == "none":
            return {}
        per_agent = reward_scales(scenario)
        if per_instance:
            per_agent = dict.fromkeys(per_agent, 1.0)
        horizon = 1.0
        if self.reward_scaling == "return":
            horizon = min(float(scenario.horizon), 1.0 / (1.0 - self.gamma))
        groups: dict[str, list[float]] = {}
        for agent, scale in per_agent.items():
            groups.setdefault(module_of(agent), []).append(scale)
        return {m: float(np.mean(v)) * horizon for m, v in groups.items()}


#: Named PPO settings. ``hmarl``: the defaults, chosen by
#: ``benchmarks/ppo_search.py`` (tables in ``benchmarks/ppo_search.md`` and,
#: with the batched env runner, ``benchmarks/ppo_search_batched.md``): train
#: batches of 4,096 env steps, minibatches of 2,048, 5 epochs, for budgets
#: four times those of ``small_batches``.
#: ``small_batches``: the same with the learner of the PettingZoo runner's
#: time (2,048 env steps, minibatches of 512, 10 epochs: eight times the SGD
#: steps per env step), for loops where env steps are dear (RLlib's PettingZoo
#: runner, the recipes for other libraries); it learns as much in a quarter
#: of the env steps.
#: ``reference``: the HMARL reference design's PPO guide (lr 3e-4, minibatch
#: 64, unscaled rewards and RLlib's value clip of 10).
PPO_PRESETS: dict[str, PPOSettings] = {
    "hmarl": PPOSettings(),
    "small_batches": PPOSettings(
        train_batch_size=2048, minibatch_size=512, num_epochs=10
    ),
    "reference": PPOSettings(
        lr=3e-4,
        train_batch_size=2048,
        num_epochs=10,
        grad_clip=0.5,
        vf_clip_param=10.0,
        reward_scaling="none",
        reward_centering=0.0,
        minibatch_size=64,
    ),
    "catalogue": PPOSettings(
        lr=1e-3,
        lr_end=1e-4,
        entropy_coeff=0.0,
        train_batch_size=200,
        minibatch_size=4096,
        num_epochs=4,
        policy_head="normal",
        acting="mean",
    ),
}
#: a catalogue run's replicas (``num_envs_per_env_runner``) and budget in env
#: steps (replica periods) unless the command line names them: the
#: ``catalogue`` preset's train batch is two episodes of 100 periods, every
#: period a row per store and product
CATALOGUE_REPLICAS = 2
CATALOGUE_TIMESTEPS = 30_000
#: older names of presets, still accepted (runs recorded them)
PPO_PRESET_ALIASES = {"seeds": "reference"}


def ppo_preset(name: str) -> str:
    """A preset's name, its alias resolved; a clear error for an unknown one."""
    return resolve(name, sorted(PPO_PRESETS), PPO_PRESET_ALIASES, "the PPO preset")


#: each env runner's rollout settings unless named: (remote env runners,
#: replicas or envs per runner), its fastest whole iterations of phase 1 on 2
#: cores (``benchmarks/training_throughput.py --grid``, docs/speed.md)
RUNNER_DEFAULTS = {"batched": (0, 64), "pettingzoo": (2, 16)}


@dataclass(frozen=True)
class RunnerSettings:
    """How rollouts are collected. ``num_env_runners`` and
    ``num_envs_per_env_runner`` left ``None`` take the env runner's
    :data:`RUNNER_DEFAULTS`."""

    num_env_runners: int | None = setting(
        None,
        "remote env runners, a CPU each (0: sample in the driver, which then "
        "learns with every core; on 2 cores two runners sample while the "
        "driver waits, then the driver learns)",
        default_text="default 0 with the batched env runner, 2 with pettingzoo",
    )
    num_envs_per_env_runner: int | None = setting(
        None,
        "envs each runner steps at once (the batched runner's replicas)",
        default_text="default 64 with the batched env runner, 16 with pettingzoo",
    )
    env_runner: str = setting(
        "batched",
        "how a runner samples: batched (every replica in one step of hmarl's "
        "batched core, each module acting once on all its rows: "
        "experiments/batched_runner.py) or pettingzoo (RLlib's multi-agent "
        "runner over the PettingZoo env, one env and agent at a time)",
        choices=ENV_RUNNERS,
    )

    num_learners: int = setting(
        0,
        "learner processes (0: the driver learns; n > 0: n remote learners, a "
        "CPU or GPU each, splitting every train batch, as RLlib's data-parallel "
        "learners do on a cluster)",
    )
    num_gpus_per_learner: float = setting(
        0.0,
        "GPUs per learner (1: learn on a GPU, in the driver when num_learners "
        "is 0); refused before anything runs where the cluster has none",
    )

    def __post_init__(self) -> None:
        g = self.num_gpus_per_learner
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 <= g:
            raise ValueError(
                f"RunnerSettings.num_gpus_per_learner must be a number >= 0, got {g!r}"
            )
        if self.env_runner not in ENV_RUNNERS:
            raise ValueError(
                f"RunnerSettings.env_runner must be one of {list(ENV_RUNNERS)}, "
                f"got {self.env_runner!r}"
            )
        runners, envs = RUNNER_DEFAULTS[self.env_runner]
        if self.num_env_runners is None:
            object.__setattr__(self, "num_env_runners", runners)
        if self.num_envs_per_env_runner is None:
            object.__setattr__(self, "num_envs_per_env_runner", envs)
        for f in fields(self):
            if f.name in ("env_runner", "num_gpus_per_learner"):
                continue
            v = getattr(self, f.name)
            low = 1 if f.name == "num_envs_per_env_runner" else 0
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(
                    f"RunnerSettings.{f.name} must be an integer >= {low}, got {v!r}"
                )


@dataclass
class Phase:
    """What a phase trains, freezes, loads and leaves heuristic.

    Attributes:
        name: ``phase1`` .. ``phase4``.
        train: module IDs PPO updates.
        frozen: module IDs loaded from the previous phase's run and not updated.
        heuristic: module ID -> baselines policy set (``reference``,
            ``base_stock``, ``tuned``) for modules that follow a rule.
        source: the phase whose run this one starts from (``None``: from scratch).
        load: module IDs restored from that run: every frozen one, and trained
            ones that continue from it (phase 4's fine-tuning).
        timesteps: the default budget, env steps.
        ppo_changes: the phase's own PPO settings over the preset's (phase 4's
            learning rate); options on the command line override both.
        compare: whether the pipeline compares this phase's run with the
            baselines right after it (phase 1).
        warehouse_modules: ``per_node`` (each warehouse its own module) or
            ``per_level`` (the warehouses of a level share one, once the
            phase learns them: :func:`share_warehouses`).
        modules: agent -> module ID where it is not the registry's
            (:func:`hmarl_env.registry.module_id`): the mapping a run records.
    """

    name: str
    train: tuple[str, ...]
    frozen: tuple[str, ...] = ()
    heuristic: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    load: tuple[str, ...] = ()
    timesteps: int = 100_000
    ppo_changes: dict[str, Any] = field(default_factory=dict)
    compare: bool = False
    warehouse_modules: str = "per_node"
    modules: dict[str, str] = field(default_factory=dict)

    def module_of(self, agent: str) -> str:
        """The module ID ``agent`` acts with in this phase."""
        return self.modules.get(agent) or module_id(agent)

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

    @property
    def learned(self) -> tuple[str, ...]:
        """Module IDs with weights: trained, then frozen."""
        return self.train + self.frozen


def share_warehouses(phase: Phase, scenario: Any, how: str) -> Phase:
    """The phase for ``scenario`` with its warehouses' modules as ``how``
    says (:data:`hmarl_env.registry.WAREHOUSE_MODULES`).

    ``per_level``: where the phase learns warehouses (its rows name the
    ``warehouse`` module), the warehouses of each level of the tree act with
    one module, and ``warehouse`` in the rows stands for every level's; the
    mapping is recorded in ``modules``. Where warehouses follow heuristics they
    keep a module each (a heuristic acts for one node)."""
    if how not in WAREHOUSE_MODULES:
        raise ValueError(
            f"warehouse_modules must be one of {list(WAREHOUSE_MODULES)}, got {how!r}"
        )
    if how == "per_node" or "warehouse" not in phase.learned:
        return replace(phase, warehouse_modules=how, modules={})
    mapping = agent_modules(scenario, how)
    levels = list(dict.fromkeys(mapping[a] for a in agents_of(scenario)["warehouse"]))

    def expand(ids: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(x for m in ids for x in (levels if m == "warehouse" else [m]))

    changed = {a: m for a, m in mapping.items() if m != module_id(a)}
    return replace(
        phase,
        train=expand(phase.train),
        frozen=expand(phase.frozen),
        load=expand(phase.load),
        warehouse_modules=how,
        modules=changed,
    )


#: PPOSettings fields that shape a module's weights: a phase that loads modules
#: takes them from the run it loads from.
ARCHITECTURE = (
    "hiddens",
    "activation",
    "vf_share_layers",
    "critic",
    "policy_head",
    "residual",
)


#: The curriculum: each phase's row (``experiments/phaseN.py`` runs one).
PHASES: dict[str, Phase] = {
    p.name: p
    for p in (
        Phase(
            name="phase1",
            train=("store",),
            heuristic={"warehouse": "tuned", "supplier": "tuned"},
            timesteps=800_000,
            compare=True,
        ),
        Phase(
            name="phase2",
            train=("warehouse",),
            frozen=("store",),
            heuristic={"supplier": "tuned"},
            source="phase1",
            load=("store",),
            timesteps=400_000,
        ),
        Phase(
            name="phase3",
            train=("supplier",),
            frozen=("store", "warehouse"),
            source="phase2",
            load=("store", "warehouse"),
            timesteps=200_000,
        ),
        Phase(
            name="phase4",
            train=("store", "warehouse", "supplier"),
            source="phase3",
            load=("store", "warehouse", "supplier"),
            timesteps=400_000,
            ppo_changes={"lr": 1e-4},
        ),
    )
}
