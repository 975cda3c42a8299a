"""Resolving a run's configuration from what a command line says.

A new run's :class:`analysis.runs.record.RunConfig` is the phase's row, the
PPO preset with the phase's changes and the single settings named over it,
the scenario (phases 2-4: the source run's, with its heuristics and network
architecture), and the tuned heuristic parameters frozen into it. A resumed
run keeps its record, updated only by the options named again.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from analysis.runs.folder import find_checkpoint
from analysis.runs.loading import check_spaces
from analysis.runs.record import RunConfig, read_run_config, tuned_params
from analysis.runs.settings import (
    ARCHITECTURE,
    CATALOGUE_REPLICAS,
    CATALOGUE_TIMESTEPS,
    PPO_PRESETS,
    Phase,
    ppo_preset,
    share_warehouses,
)
from baselines.catalogue import CATALOGUE_ACTIONS_KEY, heuristic_actions
from experiments.curriculum import find_source_run
from experiments.options import PhaseOptions, run_option_defaults
from hmarl_env import get_scenario
from hmarl_env.family_env import DEFAULT_FAMILY_UNITS
from hmarl_env.observations import default_store_observation, store_observation_name
from hmarl_env.registry import node_agents, role_of_module
from hmarl_env.scenario.family import get_family
from hmarl_env.utils.io import results_dir, write_json_atomic

__all__ = ["new_config", "resumed_config"]


def resumed_config(args: PhaseOptions, phase: Phase, run_dir: Path) -> RunConfig:
    """The config of a run being resumed: its own, with the options named
    again on the command line and a bigger (or smaller) budget recorded."""
    config = read_run_config(run_dir)
    if config.phase.name != phase.name:
        raise ValueError(f"{run_dir} is a {config.phase.name} run, not {phase.name}")
    rewards = config.scenario.rewards
    if (args.reward_mode not in (None, rewards.mode)) or (
        args.system_weight not in (None, rewards.system_weight)
    ):
        raise ValueError(
            f"{run_dir} trains in reward mode {rewards.mode!r} (system weight "
            f"{rewards.system_weight}); a resumed run keeps its reward mode"
        )
    if args.warehouse_modules not in (None, config.phase.warehouse_modules):
        raise ValueError(
            f"{run_dir} maps its warehouses {config.phase.warehouse_modules}; a "
            "resumed run keeps its modules"
        )
    for name, asked in (
        ("store_observation", args.store_observation),
        ("warehouse_observation", args.warehouse_observation),
    ):
        own = getattr(config, name)
        if asked is not None and config.observations[name] != (
            store_observation_name(asked) if name == "store_observation" else asked
        ):
            raise ValueError(
                f"{run_dir} observes the {own!r} layout ({name}); a resumed run "
                "keeps its observations"
            )
    updated = replace(
        config,
        **args.run_options(config.options),
        timesteps=args.timesteps or config.timesteps,
    )
    if updated != config:
        write_json_atomic(run_dir / "config.json", updated.to_dict())
    return updated


def new_config(
    args: PhaseOptions, phase: Phase, extra: dict[str, Any] | None = None
) -> RunConfig:
    """A new run's resolved config; for a phase with a source, what it loads."""
    if args.family:
        return _family_config(args, phase, extra)
    if args.source and not phase.source:
        raise ValueError(
            f"--from in {phase.name} fine-tunes a family run's policy: give "
            "--family (the family, or it pinned to the instance to adapt to, "
            "e.g. lost_sales_family@lead_time=5,mean=5,penalty=9)"
        )
    scenario = get_scenario(args.scenario) if args.scenario else None
    if scenario is None and not phase.source:
        scenario = get_scenario("default")
    if scenario is not None and scenario.products:
        return _catalogue_config(args, phase, scenario, extra)
    preset = ppo_preset(args.ppo_preset) if args.ppo_preset else None
    base = PPO_PRESETS[preset or "hmarl"]
    observation = store_observation_name(
        args.store_observation
        or (default_store_observation(scenario) if scenario else "pipeline")
    )
    layout = args.warehouse_observation or "local"
    how = args.warehouse_modules or "per_node"
    params, source = None, None
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
        # a phase that loads warehouse modules keeps how they were shared
        loads_warehouses = any(
            role_of_module(m).name == "warehouse" for m in phase.load
        )
        how = src.phase.warehouse_modules if loads_warehouses else how
        if (
            loads_warehouses
            and args.warehouse_modules
            and args.warehouse_modules != how
        ):
            raise ValueError(
                f"{phase.name} loads warehouse modules from {str(run)!r}, which "
                f"maps them {how}; the command line asks for "
                f"{args.warehouse_modules}"
            )
        phase = share_warehouses(phase, scenario or src.scenario, how)
        missing = [m for m in phase.load if m not in src.learned]
        if missing:
            raise ValueError(
                f"{phase.name} loads {missing} from {str(run)!r}, which learned "
                f"only {list(src.learned)}"
            )
        ckpt, _ = find_checkpoint(run)
        for name, asked in (
            ("store_observation", args.store_observation and observation),
            ("warehouse_observation", args.warehouse_observation),
        ):
            own = getattr(src, name)
            if asked and asked != own:
                raise ValueError(
                    f"{phase.name} starts from {str(run)!r}, which observes the "
                    f"{own!r} layout ({name}); the command line asks for {asked!r}"
                )
        observation, layout = src.store_observation, src.warehouse_observation
        if scenario is None:
            scenario = src.scenario
        else:
            check_spaces(src.scenario, scenario, observation, layout)
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
    if source is None:
        phase = share_warehouses(phase, scenario, how)
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
        params = tuned_params(
            scenario, phase, f"{args.scenario or scenario.name}{mode}"
        )
    ppo = replace(base, **phase.ppo_changes, **args.ppo)
    if source is not None:
        _same_architecture(phase, source, src_ppo, ppo)
    return RunConfig(
        phase=phase,
        scenario=scenario,
        seed=args.seed,
        timesteps=args.timesteps or phase.timesteps,
        ppo=ppo,
        store_observation=observation,
        warehouse_observation=layout,
        ppo_preset=preset or "hmarl",
        runners=args.runners(),
        heuristic_params=params,
        source=source,
        **args.run_options(run_option_defaults()),
        record=_record(args, extra),
    )


def _catalogue_config(
    args: PhaseOptions, phase: Phase, scenario: Any, extra: dict[str, Any] | None
) -> RunConfig:
    """A new run on a catalogue: phase 1 only (the stores' product-shared
    module learns, :mod:`experiments.catalogue_runner`), the ``catalogue``
    PPO preset unless one is named, sampling in the driver unless the
    command line asks for remote runners."""
    if phase.name != "phase1":
        raise ValueError(
            f"scenario {scenario.name!r} is a catalogue: only phase 1 trains on "
            "a catalogue (the stores' module, one row per product decision); "
            "its warehouse and supplier act by their rule"
        )
    for option, value in (
        ("--store-observation", args.store_observation),
        ("--warehouse-observation", args.warehouse_observation),
        ("--warehouse-modules", args.warehouse_modules),
    ):
        if value is not None:
            raise ValueError(
                f"{option} is not an option on a catalogue (scenario "
                f"{scenario.name!r}): its stores observe one row per product "
                "(hmarl_env.catalogue_roles)"
            )
    preset = ppo_preset(args.ppo_preset) if args.ppo_preset else "catalogue"
    ppo = replace(PPO_PRESETS[preset], **phase.ppo_changes, **args.ppo)
    named = args.runners()
    runners = replace(
        named,
        num_env_runners=(0 if args.num_env_runners is None else named.num_env_runners),
        num_envs_per_env_runner=(
            CATALOGUE_REPLICAS
            if args.num_envs_per_env_runner is None
            else named.num_envs_per_env_runner
        ),
    )
    # each product row carries its share of the product's cost upstream
    # unless the command line names a mode (hmarl_env.catalogue_roles)
    scenario = scenario.with_reward_mode(
        args.reward_mode or "system", args.system_weight
    )
    kinds = {
        phase.heuristic.get(phase.module_of(a), "tuned")
        for a in node_agents(scenario)
        if phase.module_of(a) not in phase.learned
    } | ({"tuned"} if ppo.residual else set())
    # the heuristics' actions, tuned on training seeds, frozen in the run
    params = {
        CATALOGUE_ACTIONS_KEY: {
            k: heuristic_actions(scenario, k).tolist() for k in sorted(kinds)
        }
    }
    return RunConfig(
        phase=phase,
        scenario=scenario,
        seed=args.seed,
        timesteps=args.timesteps or CATALOGUE_TIMESTEPS,
        ppo=ppo,
        ppo_preset=preset,
        runners=runners,
        heuristic_params=params,
        **args.run_options({**run_option_defaults(), "keep_best": 1}),
        record=_record(args, extra),
    )


def _family_config(
    args: PhaseOptions, phase: Phase, extra: dict[str, Any] | None
) -> RunConfig:
    """A phase-1 run on a scenario family: every episode a new instance (each
    replica its own), the learner's rewards scaled per instance; the agents
    it does not train act by their untuned rules (no instance has tuned
    parameters); its ``scenario`` is the family's widest instance."""
    family = get_family(args.family)
    asked = {  # the parser's default scenario is no choice of the user's
        "--scenario": None if args.scenario == "default" else args.scenario,
        "--reward-mode": args.reward_mode,
        "--system-weight": args.system_weight,
        "--warehouse-modules": args.warehouse_modules,
    }
    for option, value in asked.items():
        if value is not None:
            raise ValueError(
                f"{option} is not an option with --family (each instance of "
                f"{family.name!r} brings its own)"
            )
    if phase.source:
        raise ValueError(
            f"--family trains phase 1 only; {phase.name} starts from a "
            f"{phase.source} run"
        )
    for option, name in (
        ("--eval-interval", "eval_interval"),
        ("--gate-episodes", "gate_episodes"),
        ("--keep-best", "keep_best"),
    ):
        if getattr(args, name):
            raise ValueError(
                f"{option}: the monitor and the gate judge one scenario against "
                f"its tuned heuristics; a family run is judged on instances by "
                "benchmarks/generalization.py (leave it 0)"
            )
    # the run's scenario: a pinned family's instance, else the widest
    scenario = family.instance(family.pin or family.corners()[1])
    observation = store_observation_name(  # a single stage's: its exact state
        args.store_observation
        or ("orders" if family.kind == "single_stage" else None)
        or default_store_observation(scenario)
    )
    phase = replace(
        phase,
        heuristic={m: "base_stock" for m in ("warehouse", "supplier")},
    )
    preset = ppo_preset(args.ppo_preset) if args.ppo_preset else "hmarl"
    base, source = PPO_PRESETS[preset], None
    layout = args.warehouse_observation or "local"
    units = DEFAULT_FAMILY_UNITS
    if args.source:  # fine-tuning: the source's modules, layouts and settings
        src, source = _family_source(args, family, phase)
        units = src.family_units
        if args.store_observation and observation != src.store_observation:
            raise ValueError(
                f"--from {source['run']!r} observes the {src.store_observation!r} "
                f"layout; the command line asks for {observation!r}"
            )
        observation, layout = src.store_observation, src.warehouse_observation
        if args.ppo_preset is None:
            base, preset = src.ppo, src.ppo_preset
        base = replace(base, **{k: getattr(src.ppo, k) for k in ARCHITECTURE})
        phase = replace(phase, source="phase1", load=tuple(phase.train))
    ppo = replace(base, **phase.ppo_changes, **args.ppo)
    if source is not None:
        _same_architecture(phase, source, src.ppo, ppo)
    options = args.run_options(run_option_defaults())
    options.update(eval_interval=0, gate_episodes=0, keep_best=0)
    return RunConfig(
        phase=phase,
        scenario=scenario,
        seed=args.seed,
        timesteps=args.timesteps or phase.timesteps,
        ppo=ppo,
        store_observation=observation,
        warehouse_observation=layout,
        ppo_preset=preset,
        runners=args.runners(),
        family=family.name,
        family_units=units,
        source=source,
        **options,
        record=_record(args, extra),
    )


def _same_architecture(phase: Phase, source: dict, src_ppo, ppo) -> None:
    """Refuse settings that would build the modules a phase loads otherwise
    than the run it starts from built them."""
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


def _family_source(
    args: PhaseOptions, family, phase: Phase
) -> tuple[RunConfig, dict[str, Any]]:
    """``--from RUN`` of a family run: the finished phase-1 run of the same
    family whose store module this run fine-tunes, and what it loads."""
    run = Path(args.source)
    src = read_run_config(run)
    base = family.name.split("@")[0]
    if src.family is None or src.family.split("@")[0] != base:
        trained = f"family {src.family!r}" if src.family else f"{src.scenario.name!r}"
        raise ValueError(
            f"--from {str(run)!r}: phase 1 fine-tunes a policy of family "
            f"{base!r} (a finished phase-1 run on it); that run trained on "
            f"{trained}"
        )
    if src.phase.name != "phase1":
        raise ValueError(
            f"--from {str(run)!r} is a {src.phase.name} run; fine-tuning starts "
            "from a phase-1 family run"
        )
    missing = [m for m in phase.train if m not in src.learned]
    if missing:
        raise ValueError(
            f"--from {str(run)!r} learned {list(src.learned)}, not {missing}"
        )
    ckpt, _ = find_checkpoint(run)
    print(f"{phase.name}: fine-tuning {list(phase.train)} from {ckpt}")
    return src, {
        "run": str(run.resolve()),
        "checkpoint": str(ckpt.resolve()),
        "modules": list(phase.train),
    }


def _record(args: PhaseOptions, extra: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "command": " ".join(sys.argv),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        # string hashes order RLlib's agents: experiments.seeding
        "python_hash_seed": os.environ.get("PYTHONHASHSEED"),
        **({"config_file": str(Path(args.config).resolve())} if args.config else {}),
        **(extra or {}),
    }


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("hmarl", "ray", "torch", "numpy", "pettingzoo", "gymnasium"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
