"""The command line of the phase scripts and the pipeline, generated from the
settings' fields.

Every option is a field: :class:`PhaseOptions` for what a command line says
about a run, :class:`analysis.runs.settings.PPOSettings` for each PPO setting,
:class:`analysis.runs.settings.RunnerSettings` and the options of
:class:`analysis.runs.record.RunConfig` for their defaults and help. An option
given is a value; an option not given is ``None`` here, so the run's recorded
value (on ``--resume``) or the field's one default applies.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from analysis.runs.record import RUN_OPTIONS, RunConfig, as_tuple
from analysis.runs.settings import (
    PPO_PRESET_ALIASES,
    PPO_PRESETS,
    Phase,
    PPOSettings,
    RunnerSettings,
    setting,
)
from baselines.evaluate import add_reward_mode_arguments
from hmarl_env.observations import (
    STORE_OBSERVATION_ALIASES,
    STORE_OBSERVATIONS,
    WAREHOUSE_OBSERVATIONS,
)
from hmarl_env.registry import WAREHOUSE_MODULES
from hmarl_env.utils.io import read_text_file

__all__ = [
    "PPO_OPTION_NAMES",
    "PhaseOptions",
    "add_arguments",
    "parse_phase_args",
]

#: every PPO option: the preset and each setting over it
PPO_OPTION_NAMES = ("ppo_preset", *(f.name for f in fields(PPOSettings)))
RUNNER_OPTIONS = tuple(f.name for f in fields(RunnerSettings))


def _from(cls: type, name: str) -> Any:
    """A field whose help and default live in another settings class."""
    return field(default=None, metadata={"from": cls, "name": name})


@dataclass(frozen=True)
class PhaseOptions:
    """What a phase's command line says (``None``: not given, so the run's
    recorded value or the default applies); the pipeline passes its own."""

    timesteps: int | None = setting(
        None,
        "env steps to train for (default: the phase's budget; with --resume: "
        "the run's own budget unless given); rounded up to whole iterations",
    )
    scenario: str | None = setting(
        None,
        "preset name or scenario file (default: default; phases 2-4: the "
        "scenario of the run they start from)",
    )
    family: str | None = setting(
        None,
        "phase 1: train on a scenario family instead, a new instance every "
        "episode, its rewards scaled per instance (lost_sales_family, "
        "default_chain_family: hmarl_env.scenario.family), or one instance "
        "with the family's layout and context (lost_sales_family@lead_time=5,"
        "mean=5,penalty=9: with --from, fine-tuning a family policy on it); "
        "evaluate with benchmarks/generalization.py",
    )
    reward_mode: str | None = None  # baselines.evaluate.add_reward_mode_arguments
    system_weight: float | None = None
    store_observation: str | None = setting(
        None,
        "the stores' observation layout: pipeline (8 features, the default), "
        "reference (the HMARL reference design's 7; alias seed) or orders (on "
        "hand, backlog and each order in the pipeline, for stores ordering "
        "quantities); phases 2-4: the run they start from's",
        choices=STORE_OBSERVATIONS + tuple(STORE_OBSERVATION_ALIASES),
    )
    warehouse_observation: str | None = setting(
        None,
        "the warehouses' observation layout: local (their own stock, the "
        "demand below them, the default) or echelon (their echelon inventory "
        "and position, what Clark and Scarf's optimal policy acts on; heuristic "
        "warehouses then act by echelon base-stock); phases 2-4: the run they "
        "start from's",
        choices=WAREHOUSE_OBSERVATIONS,
    )
    warehouse_modules: str | None = setting(
        None,
        "how learned warehouses map to modules: per_node (each its own, the "
        "default) or per_level (the warehouses of each level of the tree share "
        "one, as stores do); phases that load warehouse modules keep the run "
        "they start from's",
        choices=WAREHOUSE_MODULES,
    )
    source: str | None = setting(
        None,
        "the run to start from (default: the newest finished run of the "
        "previous phase in the output folder); phase 1 with --family: a "
        "finished phase-1 run of that family, whose store policy it fine-tunes",
        flag="--from",
        metavar="RUN",
    )
    seed: int = setting(0, "the training seed")
    num_env_runners: int | None = _from(RunnerSettings, "num_env_runners")
    num_envs_per_env_runner: int | None = _from(
        RunnerSettings, "num_envs_per_env_runner"
    )
    env_runner: str | None = _from(RunnerSettings, "env_runner")
    num_learners: int | None = _from(RunnerSettings, "num_learners")
    num_gpus_per_learner: float | None = _from(RunnerSettings, "num_gpus_per_learner")
    output: str | None = setting(None, "folder for run folders (default: results/)")
    address: str | None = setting(
        None, "join an existing Ray cluster (e.g. 'auto' or host:port)"
    )
    resume: str | None = setting(
        None,
        "continue an interrupted run folder from its latest checkpoint",
        metavar="RUN",
    )
    eval_interval: int | None = _from(RunConfig, "eval_interval")
    eval_episodes: int | None = _from(RunConfig, "eval_episodes")
    checkpoint_interval: int | None = _from(RunConfig, "checkpoint_interval")
    gate_episodes: int | None = _from(RunConfig, "gate_episodes")
    keep_best: int | None = _from(RunConfig, "keep_best")
    ppo_preset: str | None = setting(
        None,
        "named PPO settings: hmarl (the default), small_batches (hmarl's "
        "settings with 8x the SGD steps per env step, for a quarter of the "
        "budget: with --env-runner pettingzoo) or reference (the HMARL "
        "reference design's PPO guide; alias seeds); phases 2-4: the preset of "
        "the run they start from; the single settings below override it",
        choices=tuple(sorted(PPO_PRESETS)) + tuple(PPO_PRESET_ALIASES),
    )
    config: str | None = setting(
        None,
        "a TOML file of options, each by its name (train_batch_size = 4096 or "
        "train-batch-size = 4096; tables such as [ppo] only group them; the "
        "pipeline's [phase1] .. [phase4] hold a phase's timesteps); the "
        "command line overrides it, and the run records it",
        metavar="FILE",
    )
    ppo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PhaseOptions:
        """The options of a parsed command line (the pipeline's has more)."""
        names = {f.name for f in fields(cls)} - {"ppo"}
        given = vars(args)
        return cls(
            **{k: given[k] for k in names if k in given},
            ppo={
                f.name: as_tuple(given[f.name])  # a resumed pipeline's lists
                for f in fields(PPOSettings)
                if given.get(f.name) is not None
            },
        )

    def runners(self) -> RunnerSettings:
        """The runner settings these options name, the defaults elsewhere."""
        return RunnerSettings(
            **{
                k: getattr(self, k)
                for k in RUNNER_OPTIONS
                if getattr(self, k) is not None
            }
        )

    def run_options(self, base: dict[str, int]) -> dict[str, int]:
        """``base`` (a run's options) with those these options name."""
        return {
            k: (v if getattr(self, k, None) is None else int(getattr(self, k)))
            for k, v in base.items()
        }


def run_option_defaults() -> dict[str, int]:
    """The run options' defaults (:data:`analysis.runs.record.RUN_OPTIONS`)."""
    return {f.name: f.default for f in fields(RunConfig) if f.name in RUN_OPTIONS}


def _optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def _choice(choices: tuple[str, ...]):
    def check(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"must be one of {', '.join(choices)}, got {text!r}"
            )
        return text

    return check


#: how the command line's text becomes a field's value, by the field's type
_PARSERS = {
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": _optional_float,
    "str": str,
    "str | None": str,
    "bool": _bool,
    "tuple[int, ...]": _sizes,
}


def _add(
    parser: argparse.ArgumentParser,
    f: Any,
    default_text: str | None,
    keep_default: bool = True,
    default: Any = MISSING,
) -> None:
    """One option from a settings field (``keep_default`` False: the option
    is None unless given, as PPO settings are over their preset)."""
    meta = dict(f.metadata)
    if "from" in meta:  # help and default from the settings class that owns it
        owner = next(g for g in fields(meta["from"]) if g.name == meta["name"])
        meta = {**owner.metadata, **{k: v for k, v in meta.items() if k != "from"}}
        shown = owner.metadata.get("default_text", f"default {owner.default}")
        default_text = f"{shown}; with --resume: the run's"
    flag = meta.get("flag", "--" + f.name.rstrip("_").replace("_", "-"))
    help_text = meta["help"]
    if default_text:
        help_text += f" ({default_text})"
    kwargs: dict[str, Any] = {"dest": f.name, "help": help_text}
    if "choices" in meta:
        kwargs["type"] = _choice(meta["choices"])
        kwargs["metavar"] = "{" + ",".join(meta["choices"]) + "}"
    else:
        kwargs["type"] = meta.get("parse", _PARSERS[str(f.type)])
    kwargs["metavar"] = meta.get("metavar", kwargs.get("metavar"))
    if kwargs["metavar"] is None:
        kwargs["metavar"] = flag[2:].upper().replace("-", "_")
    keep = keep_default and f.default is not MISSING
    kwargs["default"] = f.default if keep else None
    if default is not MISSING:
        kwargs["default"] = default
    parser.add_argument(flag, **kwargs)


def add_arguments(parser: argparse.ArgumentParser, phase: Phase | None = None) -> None:
    """The options every phase script takes (``--from`` only where the phase
    starts from a previous one); ``phase`` None: the pipeline's, where each
    phase has its own budget and source."""
    for f in fields(PhaseOptions):
        if f.name in ("ppo", "reward_mode", "system_weight"):
            continue
        if f.name == "source" and phase is None:
            continue
        if f.name == "family" and (phase is None or phase.source):
            continue  # phase 1 alone trains on a family
        default_text, default = None, MISSING
        if f.name == "timesteps" and phase is not None:
            default_text = f"default {phase.timesteps:,}"
        if f.name == "scenario" and (phase is None or not phase.source):
            default = "default"  # phases 2-4 take the source run's
        _add(parser, f, default_text, default=default)
    add_reward_mode_arguments(parser)
    group = parser.add_argument_group(
        "PPO settings",
        "each overrides the preset's value (PPOSettings in analysis/runs/settings.py)",
    )
    for f in fields(PPOSettings):
        shown = f.default
        if isinstance(shown, tuple):
            shown = ",".join(map(str, shown))
        _add(group, f, f"hmarl's: {shown}", keep_default=False)


def parse_with_config(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> argparse.Namespace:
    """Parse ``argv``; with ``--config FILE``, the file's options are the
    defaults and the command line overrides them. A key no option has is
    refused with the closest option named. Tables (``[ppo]``, ``[runners]``)
    only group keys; ``[phase1]`` .. ``[phase4]`` hold a pipeline's options
    for one phase (``timesteps``), kept as ``phase_options``."""
    import difflib
    import tomllib

    first = parser.parse_args(argv)
    first.phase_options = {}
    path = getattr(first, "config", None)
    if path is None:
        return first
    try:
        data = tomllib.loads(read_text_file(path, "run config file"))
    except tomllib.TOMLDecodeError as exc:
        parser.error(f"run config file {path!r} is not TOML: {exc}")
    except ValueError as exc:
        parser.error(str(exc))
    known = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    values: dict[str, Any] = {}
    phases: dict[str, dict[str, Any]] = {}

    def take(key: str, value: Any, where: str) -> None:
        dest = key.replace("-", "_")
        if dest == "lambda":
            dest = "lambda_"
        if dest not in known:
            close = difflib.get_close_matches(dest, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            parser.error(
                f"run config file {path!r}: unknown option {where}{key!r}{hint}"
            )
        action = known[dest]
        if isinstance(value, list) and action.type is not None:
            value = ",".join(map(str, value))  # e.g. hiddens = [64, 64]
        if action.type is not None and not isinstance(value, bool):
            try:
                value = action.type(str(value))
            except (argparse.ArgumentTypeError, ValueError) as exc:
                parser.error(f"run config file {path!r}: {where}{key}: {exc}")
        values[dest] = value

    for key, value in data.items():
        if isinstance(value, dict) and key.startswith("phase") and key[5:].isdigit():
            phases[key] = dict(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                take(k, v, f"[{key}] ")
        else:
            take(key, value, "")
    parser.set_defaults(**values)
    args = parser.parse_args(argv)
    args.phase_options = phases
    return args


def parse_phase_args(
    phase: Phase, argv: list[str] | None, description: str
) -> argparse.Namespace:
    """A phase script's parsed command line; bad values are refused with the
    option named before anything runs."""
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser, phase)
    args = parse_with_config(parser, argv)
    if getattr(args, "phase_options", None):
        parser.error(
            f"[{', '.join(args.phase_options)}] tables are for the pipeline; a "
            "phase script's run config file holds its options at the top"
        )
    if args.gate_episodes is not None and (
        args.gate_episodes == 1 or args.gate_episodes < 0
    ):
        parser.error("--gate-episodes must be 0 (no gate) or at least 2")
    for name in ("eval_interval", "checkpoint_interval", "num_env_runners"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more")
    if args.eval_episodes is not None and args.eval_episodes < 1:
        parser.error("--eval-episodes must be at least 1")
    if args.num_envs_per_env_runner is not None and args.num_envs_per_env_runner < 1:
        parser.error("--num-envs-per-env-runner must be at least 1")
    return args
