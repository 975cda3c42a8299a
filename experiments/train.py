"""Running a phase: the training loop every phase script shares.

A run writes into its own folder ``<results>/<scenario>__<phase>__<seed>__<time>``:

* ``config.json`` - the resolved config (scenario, phase, PPO and runner
  settings, seed, budget, versions), written before training starts;
* ``checkpoints/<name>/`` - periodic and final ``Algorithm`` checkpoints, each
  saved under a temporary name and renamed when complete, then recorded in
  ``checkpoints/latest`` (replaced atomically), so a crash never leaves a
  half-written checkpoint as the latest;
* ``metrics.csv`` - one row per iteration (rewritten atomically each time);
* ``training_metrics.json`` - the seeds' schema (one entry per iteration);
* ``tensorboard/`` - TensorBoard events;
* ``training_plots.png`` - rewards, service level, stockouts, holding cost;
* ``gate.json`` - the curriculum gate's verdict (:mod:`analysis.gate`).

A phase with a source (phases 2-4) starts from a run of the previous phase
(``--from RUN``, default the newest finished one): it takes that run's
scenario, heuristics and network architecture, and restores the modules it
names, checked weight by weight (:mod:`experiments.curriculum`). Nothing is
written before the modules are loaded, so an incompatible run leaves no folder.

``--resume RUN`` continues an interrupted run from its latest checkpoint: the
iteration count and timesteps carry on, and rows logged after that checkpoint
are dropped before training resumes.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from analysis.compare import swap_roles
from analysis.gate import GATE_FILE, REPORTED, format_gate, gate_run
from analysis.plots import training_plots
from baselines.evaluate import add_reward_mode_arguments, evaluate
from baselines.tuned import load_tuned
from experiments.common import build_config, modules_of
from experiments.config import (
    ARCHITECTURE,
    CRITICS,
    MONITOR_SEED,
    POLICY_HEADS,
    PPO_PRESETS,
    RUN_DEFAULTS,
    Phase,
    RunConfig,
    RunnerSettings,
    read_run_config,
)
from experiments.curriculum import find_source_run, push_weights, restore_modules
from experiments.loading import (
    FINAL,
    assemble_policies,
    check_spaces,
    complete_checkpoints,
    find_checkpoint,
    latest_name,
)
from hmarl_env import get_scenario
from hmarl_env.observations import STORE_OBSERVATIONS
from hmarl_env.registry import ROLES, role_of, role_of_module
from hmarl_env.scenario import Scenario
from hmarl_env.utils.io import (
    check_output_dir,
    results_dir,
    write_atomic,
    write_json_atomic,
)

__all__ = [
    "add_arguments",
    "main_for",
    "parse_phase_args",
    "run_phase",
    "save_checkpoint",
    "start_ray",
]

log = logging.getLogger("hmarl.train")
COLUMNS = (
    "iteration",
    "timesteps",
    "seconds",
    "env_steps_per_s",
    "store_reward",
    "warehouse_reward",
    "supplier_reward",
    "service_level",
    "lost_sales",
    "stockout_periods",
    "holding_cost",
    "eval_store_reward",
    "eval_warehouse_reward",
    "eval_supplier_reward",
    "eval_service_level",
)


def _options(args: PhaseOptions, base: dict[str, int]) -> dict[str, int]:
    """``base`` with the options the command line names."""
    return {
        k: (v if getattr(args, k, None) is None else int(getattr(args, k)))
        for k, v in base.items()
    }


#: learner diagnostics per trained module: column suffix -> RLlib's result key
#: (``learners/<module>/<key>``); RLlib logs each for the iteration's last
#: minibatch (window 1), so they are noisy: read trends, not single rows
LEARNER_KEYS = {
    "policy_loss": "policy_loss",
    "vf_loss": "vf_loss",
    "vf_loss_unclipped": "vf_loss_unclipped",
    "vf_explained_var": "vf_explained_var",
    "entropy": "entropy",
    "kl": "mean_kl_loss",
    "grad_norm": "gradients_default_optimizer_global_norm",
    "lr": "default_optimizer_learning_rate",
}


def columns(trained: tuple[str, ...]) -> tuple[str, ...]:
    """metrics.csv's columns for a phase that trains ``trained`` modules."""
    return COLUMNS + tuple(f"{m}_{k}" for m in trained for k in LEARNER_KEYS)


def add_arguments(parser: argparse.ArgumentParser, phase: Phase | None = None) -> None:
    """The options every phase script takes (and ``--from`` where the phase
    starts from a previous one); ``phase`` None: the pipeline's, where each
    phase has its own budget."""
    budget = f"{phase.timesteps:,}" if phase is not None else "each phase's own"
    parser.add_argument(
        "--timesteps",
        type=int,
        default=None,
        help=f"env steps to train for (default {budget}; with --resume: "
        "the run's own budget unless given)",
    )
    source = phase.source if phase is not None else None
    parser.add_argument(
        "--scenario",
        default=None if source else "default",
        help=(
            f"preset name or scenario file (default: the {source} run's)"
            if source
            else "preset name or scenario file (default %(default)s)"
        ),
    )
    if source:
        parser.add_argument(
            "--from",
            dest="source",
            default=None,
            metavar="RUN",
            help=f"the {source} run to start from (default: the newest finished "
            f"{source} run in the output folder)",
        )
    add_reward_mode_arguments(parser)
    parser.add_argument(
        "--store-observation",
        choices=STORE_OBSERVATIONS,
        default=None,
        help="the stores' observation layout: pipeline (8 features, the "
        "default), seed (the seeds' 7) or orders (on hand, backlog and each "
        "order in the pipeline, for stores ordering quantities); phases 2-4: "
        "the run they start from's",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--num-env-runners",
        type=int,
        default=2,
        help="remote env runners, a CPU each (0: sample in the driver; default "
        "%(default)s: on 2 cores they sample while the driver waits, then the "
        "driver learns)",
    )
    parser.add_argument(
        "--num-envs-per-env-runner",
        type=int,
        default=16,
        help="envs each runner steps at once (default %(default)s)",
    )
    parser.add_argument(
        "--output", default=None, help="folder for run folders (default: results/)"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="join an existing Ray cluster (e.g. 'auto' or host:port)",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue an interrupted run folder from its latest checkpoint",
    )
    parser.add_argument(
        "--eval-interval",
        type=int,
        default=None,
        help="evaluate the greedy policy every N iterations (0: never; default "
        f"{RUN_DEFAULTS['eval_interval']}; with --resume: the run's)",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=None,
        help=f"monitoring episodes of each evaluation (default "
        f"{RUN_DEFAULTS['eval_episodes']}; with --resume: the run's)",
    )
    parser.add_argument(
        "--checkpoint-interval",
        type=int,
        default=None,
        help="checkpoint every N iterations and at the end (0: only at the end; "
        f"default {RUN_DEFAULTS['checkpoint_interval']}; with --resume: the run's)",
    )
    parser.add_argument(
        "--ppo-preset",
        choices=sorted(PPO_PRESETS),
        default=None,
        help="named PPO settings (default: hmarl's; 'seeds': the seeds' PPO "
        "guide; phases 2-4: the preset of the run they start from); the options "
        "below override single settings",
    )
    for name, kind, what in _PPO_OPTIONS:
        parser.add_argument(
            "--" + name.rstrip("_").replace("_", "-"),
            dest=name,
            type=kind,
            default=None,
            help=what,
        )
    parser.add_argument(
        "--gate-episodes",
        type=int,
        default=None,
        help="held-out episodes of the curriculum gate at the end (0: no gate; "
        f"default {RUN_DEFAULTS['gate_episodes']}; with --resume: the run's)",
    )


def _optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _choice(choices: tuple[str, ...]):
    def check(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"must be one of {', '.join(choices)}, got {text!r}"
            )
        return text

    return check


# single PPO settings a command line may override: (field, type, help)
_PPO_OPTIONS = (
    ("train_batch_size", int, "env steps per iteration"),
    ("minibatch_size", int, "SGD minibatch"),
    ("num_epochs", int, "passes over each train batch"),
    ("lr", float, "Adam learning rate (phase 4 defaults to 1e-4)"),
    ("gamma", float, "discount factor"),
    ("lambda_", float, "GAE lambda"),
    ("entropy_coeff", float, "entropy bonus"),
    ("vf_loss_coeff", float, "value loss weight"),
    ("grad_clip", _optional_float, "gradient norm clip ('none': no clip)"),
    ("vf_clip_param", _optional_float, "squared value error clip ('none')"),
    ("reward_scaling", str, "none, period or return (see PPOSettings)"),
    ("reward_centering", float, "step size of the mean reward subtracted (0: none)"),
    ("hiddens", _sizes, "hidden layer sizes, e.g. 64,64"),
    (
        "policy_head",
        _choice(POLICY_HEADS),
        "how the actor's outputs become action probabilities: categorical (a "
        "logit per action), ordinal or normal (for order quantities; "
        "experiments/heads.py); phases 2-4 keep the source run's",
    ),
    (
        "lr_end",
        _optional_float,
        "learning rate at the end of the budget, annealed linearly from --lr "
        "('none': constant)",
    ),
    (
        "entropy_coeff_end",
        _optional_float,
        "entropy bonus at the end of the budget, annealed linearly from "
        "--entropy-coeff ('none': constant)",
    ),
    (
        "critic",
        _choice(CRITICS),
        "what the value functions see: local (the agent's own observation) or "
        "central (the global state beside it; actors stay local); phases 2-4 "
        "keep the critic of the run they start from",
    ),
)


#: every option that sets PPO: the preset and the single settings over it
PPO_OPTION_NAMES = ("ppo_preset", *(name for name, _, _ in _PPO_OPTIONS))


@dataclass(frozen=True)
class PhaseOptions:
    """What a phase's command line says (``None``: not given, so the run's
    recorded value or the default applies); the pipeline passes its own."""

    timesteps: int | None = None
    scenario: str | None = None
    reward_mode: str | None = None
    system_weight: float | None = None
    store_observation: str | None = None
    source: str | None = None
    seed: int = 0
    num_env_runners: int = 2
    num_envs_per_env_runner: int = 16
    output: str | None = None
    address: str | None = None
    resume: str | None = None
    eval_interval: int | None = None
    eval_episodes: int | None = None
    checkpoint_interval: int | None = None
    gate_episodes: int | None = None
    ppo_preset: str | None = None
    ppo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PhaseOptions:
        """The options of a parsed command line (the pipeline's has more)."""
        names = {f.name for f in fields(cls)} - {"ppo"}
        given = vars(args)
        return cls(
            **{k: given[k] for k in names if k in given},
            ppo={
                name: _tuple(given[name])  # a resumed pipeline's lists
                for name, _, _ in _PPO_OPTIONS
                if given.get(name) is not None
            },
        )


def parse_phase_args(
    phase: Phase, argv: list[str] | None, description: str
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser, phase)
    args = parser.parse_args(argv)
    if args.gate_episodes is not None and (
        args.gate_episodes == 1 or args.gate_episodes < 0
    ):
        parser.error("--gate-episodes must be 0 (no gate) or at least 2")
    for name in ("eval_interval", "checkpoint_interval"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more")
    if args.eval_episodes is not None and args.eval_episodes < 1:
        parser.error("--eval-episodes must be at least 1")
    return args


def main_for(phase: Phase, doc: str, argv: list[str] | None = None) -> int:
    """A phase script's ``main``: parse, train, report errors without a traceback."""
    args = parse_phase_args(phase, argv, doc.splitlines()[0])
    try:
        run_phase(phase, PhaseOptions.from_args(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def start_ray(address: str | None) -> bool:
    """Start Ray unless it runs already; True if this call started it.

    Without an address, always a fresh local instance: never a cluster some
    earlier ``ray start`` left recorded on this machine.
    """
    import ray

    if ray.is_initialized():
        return False
    ray.init(
        address=address or "local",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    return True


def _check_cpus(runners: RunnerSettings) -> None:
    """Each remote env runner takes a CPU of the cluster: with fewer, Ray would
    wait for them forever."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 0)
    if runners.num_env_runners > cpus:
        raise ValueError(
            f"--num-env-runners {runners.num_env_runners} needs as many CPUs, the "
            f"Ray cluster has {cpus:g}: use --num-env-runners {int(cpus)} or fewer "
            "(0 samples in the driver)"
        )


# ----------------------------------------------------------------- checkpoints
def save_checkpoint(algo: Any, run_dir: Path, name: str) -> Path:
    """Save, then publish: ``checkpoints/latest`` names only complete checkpoints.

    The checkpoint is written under a hidden name, renamed into place when
    complete, and only then named in ``latest`` (replaced atomically). The
    checkpoint ``latest`` names is never removed: saving under that name (a
    finished run that trains on saves ``final`` again) publishes under
    ``<name>-<iteration>`` instead. A kill at any instant leaves ``latest``
    naming a complete checkpoint.
    """
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    if latest_name(run_dir) == name:
        name = f"{name}-{algo.iteration:06d}"
    tmp = root / f".{name}.partial"
    target = root / name
    _remove(tmp)
    algo.save_to_path(str(tmp.resolve()))
    _remove(target)  # a stale copy that latest does not name
    _rename(tmp, target)
    _point_latest(root, name)
    return target


# the filesystem steps of publishing a checkpoint (a fault test fails each)
def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _rename(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def _point_latest(root: Path, name: str) -> None:
    write_atomic(root / "latest", lambda p: p.write_text(name + "\n"))


# ------------------------------------------------------------------- the run
def _new_run(args: PhaseOptions, config: RunConfig) -> Path:
    stem = f"{config.scenario.name}__{config.phase.name}__{config.seed}"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(args.output) if args.output else results_dir()
    run_dir = root / f"{stem}__{stamp}"
    k = 1
    while run_dir.exists():  # two runs started in the same second
        k += 1
        run_dir = root / f"{stem}__{stamp}-{k}"
    run_dir.mkdir(parents=True)
    write_json_atomic(run_dir / "config.json", config.to_dict())
    return run_dir


def _new_config(args: PhaseOptions, phase: Phase, extra: dict[str, Any]) -> RunConfig:
    """A new run's resolved config; for a phase with a source, what it loads."""
    scenario = get_scenario(args.scenario) if args.scenario else None
    preset = args.ppo_preset
    base = PPO_PRESETS[preset or "hmarl"]
    observation, params, source = args.store_observation or "pipeline", None, None
    if phase.source:
        root = Path(args.output) if args.output else results_dir()
        run = (
            Path(args.source)
            if args.source
            else find_source_run(
                root, phase.source, scenario.name if scenario else None
            )
        )
        src = read_run_config(run)
        if src.phase.name != phase.source:
            raise ValueError(
                f"{str(run)!r} is a {src.phase.name} run; {phase.name} starts "
                f"from a {phase.source} run"
            )
        missing = [m for m in phase.load if m not in src.learned]
        if missing:
            raise ValueError(
                f"{phase.name} loads {missing} from {str(run)!r}, which learned "
                f"only {list(src.learned)}"
            )
        ckpt, _ = find_checkpoint(run)
        if args.store_observation not in (None, src.store_observation):
            raise ValueError(
                f"{phase.name} loads modules from {str(run)!r}, which observe the "
                f"{src.store_observation!r} store layout; the command line asks "
                f"for {args.store_observation!r}"
            )
        observation = src.store_observation
        if scenario is None:
            scenario = src.scenario
        else:
            check_spaces(src.scenario, scenario, observation)
        params = src.heuristic_params
        src_ppo = src.ppo
        if preset is None:  # the settings of the run it starts from
            base, preset = src_ppo, src.ppo_preset
        # the modules it loads keep their architecture
        base = replace(base, **{k: getattr(src_ppo, k) for k in ARCHITECTURE})
        source = {
            "run": str(run.resolve()),
            "checkpoint": str(ckpt.resolve()),
            "modules": list(phase.load),
        }
        print(f"{phase.name}: loading {list(phase.load)} from {ckpt}")
    # the reward mode named on the command line (phases 2-4: else the source's)
    scenario = scenario.with_reward_mode(args.reward_mode, args.system_weight)
    if params is None:  # frozen in the run: re-tuning never changes it
        mode = "".join(
            f" --{k.replace('_', '-')} {v}"
            for k, v in (
                ("reward_mode", args.reward_mode),
                ("system_weight", args.system_weight),
            )
            if v is not None
        )
        params = _tuned_params(
            scenario, phase, f"{args.scenario or scenario.name}{mode}"
        )
    ppo = replace(base, **phase.ppo_changes, **args.ppo)
    if source is not None:
        other = {
            k: (getattr(src_ppo, k), getattr(ppo, k))
            for k in ARCHITECTURE
            if getattr(ppo, k) != getattr(src_ppo, k)
        }
        if other:
            raise ValueError(
                f"{phase.name} loads {list(phase.load)} from {source['run']!r}, "
                "whose modules were built with "
                + ", ".join(f"{k}={a!r}" for k, (a, _) in other.items())
                + "; the command line asks for "
                + ", ".join(f"{k}={b!r}" for k, (_, b) in other.items())
                + " (a phase keeps the architecture of the run it starts from)"
            )
    return RunConfig(
        phase=phase,
        scenario=scenario,
        seed=args.seed,
        timesteps=args.timesteps or phase.timesteps,
        ppo=ppo,
        store_observation=observation,
        ppo_preset=preset or "hmarl",
        runners=RunnerSettings(args.num_env_runners, args.num_envs_per_env_runner),
        heuristic_params=params,
        source=source,
        **_options(args, RUN_DEFAULTS),
        record={
            "command": " ".join(sys.argv),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "versions": _versions(),
            **extra,
        },
    )


def _tuned_params(
    scenario: Scenario, phase: Phase, given: str | None
) -> dict[str, Any] | None:
    """The tuned heuristic parameters a phase's heuristic modules act with, or
    None if none of them is tuned; a clear error (with the command that tunes
    them) if the scenario has none."""
    modules = modules_of(scenario)
    learned = set(phase.train) | set(phase.frozen)
    if all(
        phase.heuristic.get(m, "tuned") != "tuned" for m in modules if m not in learned
    ):
        return None
    try:
        return load_tuned(scenario)["params"]
    except ValueError as exc:
        target = given or scenario.name
        raise ValueError(
            f"{exc}\n(for this run: python -m baselines.tune --scenario {target})"
        ) from None


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("hmarl", "ray", "torch", "numpy", "pettingzoo", "gymnasium"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _load_rows(run_dir: Path, upto: int) -> list[dict[str, Any]]:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["iteration"]) <= upto]
    out = []
    for r in rows:
        row = {k: (float(v) if v not in ("", None) else math.nan) for k, v in r.items()}
        row["iteration"] = int(row["iteration"])
        out.append(row)
    return out


def _write_rows(
    run_dir: Path, rows: list[dict[str, Any]], trained: tuple[str, ...] = ()
) -> None:
    names = columns(trained)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if _isnan(row.get(k)) else row.get(k)) for k in names})
    write_atomic(run_dir / "metrics.csv", lambda p: p.write_text(buf.getvalue()))


def _isnan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _seed_schema(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def col(k: str) -> list[float | None]:
        return [None if _isnan(r.get(k)) else float(r[k]) for r in rows]

    return {
        "episode_rewards": col("store_reward"),
        "episode_service_levels": col("service_level"),
        "episode_stockouts": col("stockout_periods"),
        "episode_holding_costs": col("holding_cost"),
        "timesteps": col("timesteps"),
        "iterations": col("iteration"),
        "note": "one entry per training iteration: the mean over the episodes that "
        "ended in it, per store (reward, holding cost; stockouts are store-periods "
        "with unmet demand)",
    }


def _row_from_result(
    res: dict,
    iteration: int,
    seconds: float,
    steps_this: float,
    scenario: Scenario,
    trained: tuple[str, ...] = (),
) -> dict[str, Any]:
    er = res.get("env_runners", {})
    learners = res.get("learners", {}) or {}
    diagnostics = {
        f"{m}_{col}": float(learners.get(m, {}).get(key, math.nan))
        for m in trained
        for col, key in LEARNER_KEYS.items()
    }
    agent_returns = er.get("agent_episode_returns_mean", {}) or {}
    kpi = er.get("kpi", {}) or {}

    def mean_of(role: str) -> float:
        vals = [float(v) for a, v in agent_returns.items() if role_of(a).name == role]
        return float(np.mean(vals)) if vals else math.nan

    n_stores = len(scenario.store_index)
    return {
        "iteration": iteration,
        "timesteps": float(res.get("num_env_steps_sampled_lifetime", math.nan)),
        "seconds": seconds,
        "env_steps_per_s": steps_this / seconds if seconds > 0 else math.nan,
        **{f"{role}_reward": mean_of(role) for role in ROLES},
        "service_level": float(kpi.get("service_level", math.nan)),
        "lost_sales": float(kpi.get("lost_sales", math.nan)) / n_stores,
        "stockout_periods": float(kpi.get("stockout_periods", math.nan)) / n_stores,
        "holding_cost": float(kpi.get("holding_cost", math.nan)) / n_stores,
        **diagnostics,
    }


def _monitor(algo: Any, config: RunConfig, episodes: int) -> dict[str, float]:
    """Greedy learned modules + the phase's heuristics on monitoring seeds."""
    scenario, phase, observation = (
        config.scenario,
        config.phase,
        config.store_observation,
    )
    policies = assemble_policies(
        scenario,
        learned=set(phase.train) | set(phase.frozen),
        heuristic=phase.heuristic,
        module=algo.get_module,
        heuristic_params=config.heuristic_params,
        store_observation=observation,
    )
    df = evaluate(
        scenario, policies, episodes, seed=MONITOR_SEED, store_observation=observation
    )
    means = df.groupby("role")[["episode_reward", "service_level"]].mean()
    return {
        **{
            f"eval_{role}_reward": float(means.loc[role, "episode_reward"])
            for role in ROLES
            if role in means.index
        },
        "eval_service_level": float(means.loc["store", "service_level"]),
    }


REFERENCES_FILE = "monitor_references.json"


def _monitor_references(
    algo: Any, config: RunConfig, episodes: int
) -> dict[str, dict[str, float]]:
    """On the monitoring episodes, each trained role's reward per agent and
    episode when the heuristics it is judged against act in its place (the
    gate's, the tuned one, and for stores the constant order): the reference
    lines of ``training_plots.png``."""
    scenario, phase, observation = (
        config.scenario,
        config.phase,
        config.store_observation,
    )
    params = config.heuristic_params
    policies = assemble_policies(
        scenario,
        learned=set(phase.frozen),
        heuristic=phase.heuristic,
        module=algo.get_module,
        heuristic_params=params,
        store_observation=observation,
    )
    out: dict[str, dict[str, float]] = {}
    for module in phase.train:
        role = role_of_module(module).name
        out[role] = {}
        for kind in dict.fromkeys((ROLES[role].baseline, "tuned", *REPORTED[role])):
            swapped = swap_roles(policies, scenario, kind, [role], params, observation)
            df = evaluate(
                scenario,
                swapped,
                episodes,
                seed=MONITOR_SEED,
                store_observation=observation,
            )
            out[role][kind] = float(df[df["role"] == role]["episode_reward"].mean())
    return out


def _tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def run_phase(
    phase: Phase, args: PhaseOptions, extra_config: dict | None = None
) -> Path:
    """Train ``phase`` as the options say, then gate it; returns the run folder.

    The phase's own PPO changes (phase 4's learning rate) apply over the
    preset; options given on the command line override both.
    """
    import warnings

    import ray

    # RLlib registers its multi-agent wrapper with gymnasium on every build
    warnings.filterwarnings(
        "ignore", message=".*Overriding environment rllib-multi-agent-env-v0"
    )
    if args.timesteps is not None and args.timesteps < 1:
        raise ValueError(f"--timesteps must be at least 1, got {args.timesteps}")
    check_output_dir(
        Path(args.resume) if args.resume else (args.output or results_dir()),
        "the run folder" if args.resume else "--output",
    )
    resuming = run_dir = None
    if args.resume:
        run_dir = Path(args.resume)
        config = read_run_config(run_dir)
        if config.phase.name != phase.name:
            raise ValueError(
                f"{run_dir} is a {config.phase.name} run, not {phase.name}"
            )
        resuming = run_dir if complete_checkpoints(run_dir) else None
        rewards = config.scenario.rewards
        if (args.reward_mode not in (None, rewards.mode)) or (
            args.system_weight not in (None, rewards.system_weight)
        ):
            raise ValueError(
                f"{run_dir} trains in reward mode {rewards.mode!r} (system weight "
                f"{rewards.system_weight}); a resumed run keeps its reward mode"
            )
        # options named again on the command line, and a bigger (or smaller)
        # budget: the run records them
        updated = replace(
            config,
            **_options(args, config.options),
            timesteps=args.timesteps or config.timesteps,
        )
        if updated != config:
            config = updated
            write_json_atomic(run_dir / "config.json", config.to_dict())
    else:
        config = _new_config(args, phase, extra_config or {})
    phase, ppo, runners, scenario = (
        config.phase,
        config.ppo,
        config.runners,
        config.scenario,
    )
    options, params, target = config.options, config.heuristic_params, config.timesteps
    algo_config = build_config(
        scenario,
        phase,
        ppo,
        runners,
        seed=config.seed,
        store_observation=config.store_observation,
        heuristic_params=params,
        timesteps=target,
    )

    started_ray = start_ray(args.address)
    writer = None
    try:
        _check_cpus(runners)
        algo = algo_config.build_algo()
        if config.source:  # on resume too: a run killed before its first
            # checkpoint has only the source to start from
            source = config.source
            restore_modules(algo, source["checkpoint"], source["modules"])
        if run_dir is None:  # a new run: everything it needs has loaded
            run_dir = _new_run(args, config)
        rows: list[dict[str, Any]] = []
        if resuming is not None:
            ckpt = _restore_newest(algo, run_dir)
            if latest_name(run_dir) != ckpt.name:  # a kill before it was named
                _point_latest(run_dir / "checkpoints", ckpt.name)
            push_weights(algo)  # remote runners must not sample with stale weights
            rows = _load_rows(run_dir, algo.iteration)
            print(
                f"resumed {run_dir.name} from {ckpt.name} at iteration {algo.iteration}"
            )
        timesteps = rows[-1]["timesteps"] if rows else 0.0
        print(
            f"{phase.name}: training {list(phase.train)} on {scenario.name!r} for "
            f"{target:,} env steps -> {run_dir}"
        )
        if options["eval_interval"] and not (run_dir / REFERENCES_FILE).is_file():
            write_json_atomic(
                run_dir / REFERENCES_FILE,
                {
                    "first_seed": MONITOR_SEED,
                    "episodes": options["eval_episodes"],
                    "reward_per_agent": _monitor_references(
                        algo, config, options["eval_episodes"]
                    ),
                },
            )
        if timesteps < target:
            from tensorboardX import SummaryWriter

            writer = SummaryWriter(str(run_dir / "tensorboard"))
        while timesteps < target:
            start = time.perf_counter()
            res = algo.train()
            seconds = time.perf_counter() - start
            iteration = algo.iteration
            new_steps = (
                float(res.get("num_env_steps_sampled_lifetime", 0.0)) - timesteps
            )
            row = _row_from_result(
                res, iteration, seconds, new_steps, scenario, phase.train
            )
            timesteps = row["timesteps"]
            if options["eval_interval"] and iteration % options["eval_interval"] == 0:
                row.update(_monitor(algo, config, options["eval_episodes"]))
            rows.append(row)
            for k, v in row.items():
                if k != "iteration" and not _isnan(v):
                    writer.add_scalar(k, v, int(timesteps))
            writer.flush()
            _print_row(row, phase)
            _write_rows(run_dir, rows, phase.train)
            write_json_atomic(run_dir / "training_metrics.json", _seed_schema(rows))
            done = timesteps >= target
            if done or (
                options["checkpoint_interval"]
                and iteration % options["checkpoint_interval"] == 0
            ):
                save_checkpoint(
                    algo, run_dir, FINAL if done else f"iter_{iteration:06d}"
                )
        if writer is None:  # nothing to do: the outputs stay as they are
            print(f"{run_dir.name} had already reached {target:,} env steps")
        else:
            training_plots(run_dir)
        algo.stop()
    finally:
        if writer is not None:
            writer.close()
        if started_ray:
            ray.shutdown()
    if options["gate_episodes"] and (
        writer is not None or not (run_dir / GATE_FILE).is_file()
    ):
        verdict = gate_run(run_dir, options["gate_episodes"])
        print(format_gate(verdict))
    print(f"done: {run_dir}")
    return run_dir


def _fmt(x: Any, spec: str) -> str:
    """``x`` formatted, or ``-`` of the same width where it is missing (no
    episode ended in the iteration)."""
    width = spec.split(".")[0].rstrip(",")
    return format("-", ">" + width) if _isnan(x) else format(x, spec)


def _restore_newest(algo: Any, run_dir: Path) -> Path:
    """Restore the newest checkpoint of ``run_dir`` that loads: the one
    ``latest`` names, else (with a warning naming what failed) the next
    complete one back. Loading a checkpoint unpickles it: trust its source."""
    candidates = complete_checkpoints(run_dir)
    named = latest_name(run_dir)
    candidates.sort(key=lambda p: p.name != named)  # latest first, then newest
    for ckpt in candidates:
        try:
            algo.restore_from_path(str(ckpt.resolve()))
            return ckpt
        except Exception as exc:  # pickle, torch and RLlib errors alike
            log.warning(
                "checkpoint %s could not be restored (%s: %s); trying the one before",
                ckpt,
                type(exc).__name__,
                str(exc)[:200],
            )
            print(f"warning: skipped damaged checkpoint {ckpt}", file=sys.stderr)
    raise ValueError(f"no checkpoint of {run_dir} could be restored")


def _print_row(row: dict[str, Any], phase: Phase) -> None:
    roles = [r for r in ROLES if r in phase.train]
    parts = [
        f"iter {int(row['iteration']):>4}",
        f"{int(row['timesteps']):>9,} steps",
        *(f"{r} reward {_fmt(row[f'{r}_reward'], '9.1f')}" for r in roles),
        f"SL {_fmt(row['service_level'], '.3f')}",
        f"lost {_fmt(row['lost_sales'], '7.1f')}",
        f"holding {_fmt(row['holding_cost'], '8.1f')}",
        "EV "
        + " ".join(_fmt(row.get(f"{m}_vf_explained_var"), ".2f") for m in phase.train),
        f"{_fmt(row['env_steps_per_s'], '6,.0f')} steps/s",
    ]
    evals = [r for r in roles if not _isnan(row.get(f"eval_{r}_reward"))]
    if evals:
        parts.append(
            "eval " + " ".join(f"{row[f'eval_{r}_reward']:.1f}" for r in evals)
        )
    print(" | ".join(parts), flush=True)
