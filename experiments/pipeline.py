"""The one-command pipeline: validate, phase 1, compare, phases 2-4, gated.

How to run:
    python experiments/pipeline.py                         # default scenario, budgets
    python experiments/pipeline.py --timesteps 20000       # every phase 20,000 steps
    python experiments/pipeline.py --force                 # go on past a failed gate
    python experiments/pipeline.py --resume results/default__pipeline__0__<time>

Steps, in order: the env's validation (:mod:`hmarl_env.validate`); phase 1; the
comparison of phase 1 with the baselines (:mod:`analysis.compare`); phases 2,
3 and 4, each starting from the run before it. Every phase ends with the
curriculum gate (:mod:`analysis.gate`); at a failed gate the pipeline stops
with the reason, unless ``--force``. Everything lands in one folder
``<output>/<scenario>__pipeline__<seed>__<time>/``: the phase runs, and
``pipeline.json`` (each step's status, run, seconds and verdict, rewritten
atomically after every step). ``--resume`` continues an interrupted pipeline:
finished steps are skipped and an interrupted phase resumes from its latest
checkpoint. A summary of every phase is printed at the end.

Every phase option (``--timesteps``, ``--num-env-runners``, ``--lr``, ...)
applies to each phase; without ``--timesteps`` each phase has its own default
budget (phase 1: 800,000 env steps, 2: 400,000, 3: 200,000, 4: 400,000).

Exit status: 0 when every step ran and every gate passed (or ``--force``), 2
for bad input (an unknown scenario, a folder that is not a pipeline), 3 when
the pipeline stopped (a failed gate, or an env that failed validation).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if __name__ == "__main__":  # string hashes fixed before anything else runs
    from experiments.seeding import fix_hash_seed

    fix_hash_seed()

from analysis.compare import compare_runs, write_comparison  # noqa: E402
from analysis.compare import format_summary as format_comparison  # noqa: E402
from analysis.gate import GATE_FILE, format_gate, outcome  # noqa: E402
from analysis.runs.folder import is_finished  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from analysis.runs.settings import PHASES  # noqa: E402
from experiments.options import (  # noqa: E402
    PPO_OPTION_NAMES,
    PhaseOptions,
    add_arguments,
    parse_with_config,
)
from experiments.run_folder import RunLock, new_run_folder  # noqa: E402
from experiments.train import run_phase, start_ray  # noqa: E402
from hmarl_env import SupplyChainEnv, get_scenario  # noqa: E402
from hmarl_env.observations import default_store_observation  # noqa: E402
from hmarl_env.utils.io import (  # noqa: E402
    check_output_dir,
    read_json,
    results_dir,
    write_json_atomic,
)
from hmarl_env.validate import run_checks  # noqa: E402

#: the pipeline's steps: validation, then each phase of the curriculum, each
#: phase whose row says so followed by the comparison with the baselines
STEPS = (
    "validate",
    *(
        s
        for p in PHASES.values()
        for s in ((p.name, "compare") if p.compare else (p.name,))
    ),
)
STATE_FILE = "pipeline.json"
EXIT_STOPPED = 3


class Stop(Exception):
    """The pipeline stops here; the message says why."""


#: options that belong to the pipeline folder: a resumed pipeline keeps them
KEPT = (
    "scenario",
    "reward_mode",
    "system_weight",
    "seed",
    "timesteps",
    "num_env_runners",
    "num_envs_per_env_runner",
    "env_runner",
    "num_learners",
    "num_gpus_per_learner",
    "eval_interval",
    "eval_episodes",
    "checkpoint_interval",
    "gate_episodes",
    "compare_episodes",
    "warehouse_modules",
    "store_observation",
    "warehouse_observation",
    "phase_options",
    *PPO_OPTION_NAMES,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="--resume takes a pipeline folder and keeps its options (scenario, "
        "budgets, PPO settings); --output is where new pipeline folders go.",
    )
    add_arguments(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="go on to the next phase when a gate fails",
    )
    parser.add_argument(
        "--compare-episodes",
        type=int,
        default=200,
        help="held-out episodes of phase 1's comparison (default %(default)s)",
    )
    return parser


def _load(folder: Path) -> dict[str, Any]:
    path = folder / STATE_FILE
    state = read_json(
        path, f"{str(folder)!r} is not a pipeline folder: no {STATE_FILE}"
    )
    missing = [k for k in ("scenario", "seed", "options", "steps") if k not in state]
    if missing:
        raise ValueError(f"{path} lacks {missing}: not a record hmarl wrote")
    return state


def _new(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    scenario = get_scenario(args.scenario)
    root = Path(args.output) if args.output else results_dir()
    folder = new_run_folder(root, f"{scenario.name}__pipeline__{args.seed}")
    state = {
        "scenario": args.scenario,
        "seed": args.seed,
        "options": {k: getattr(args, k) for k in KEPT},
        "command": " ".join(sys.argv),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "steps": {},
    }
    write_json_atomic(folder / STATE_FILE, state)
    return folder, state


def _run_of(folder: Path, phase: str) -> Path | None:
    """The pipeline's run of ``phase`` (a pipeline folder holds one per phase)."""
    runs = sorted(p for p in folder.glob(f"*__{phase}__*") if p.is_dir())
    return runs[-1] if runs else None


def _finished(run: Path) -> bool:
    return is_finished(run) and (run / GATE_FILE).is_file()


def _validate(state: dict[str, Any]) -> dict[str, Any]:
    """The env's checks, in the observation layouts the phases will use."""
    scenario = get_scenario(state["scenario"])
    options = state["options"]
    env = SupplyChainEnv(
        scenario,
        store_observation=options.get("store_observation")
        or default_store_observation(scenario),
        warehouse_observation=options.get("warehouse_observation") or "local",
    )
    results = run_checks(env)
    for ok, message in results:
        print(f"  {'PASS' if ok else 'FAIL'}: {message}")
    failed = [m for ok, m in results if not ok]
    if failed:
        raise Stop(f"the env failed validation: {failed}")
    return {"status": "passed", "checks": len(results)}


def _phase(
    name: str, folder: Path, args: argparse.Namespace, previous: Path | None
) -> dict[str, Any]:
    phase = PHASES[name]
    run = _run_of(folder, name)
    if run is None or not _finished(run):
        budget = (getattr(args, "phase_options", None) or {}).get(name, {})
        options = replace(
            PhaseOptions.from_args(args),
            timesteps=budget.get("timesteps", args.timesteps),
            output=str(folder),
            resume=str(run) if run is not None else None,
            source=str(previous) if previous is not None else None,
            # the scenario comes with the source run
            scenario=None if phase.source else args.scenario,
        )
        run = run_phase(phase, options)
        skipped = False
    else:
        print(f"  {run.name} is finished")
        skipped = True
    verdict = json.loads((run / GATE_FILE).read_text())
    config = read_run_config(run)
    return {
        "skipped": skipped,
        "status": "passed" if verdict["passed"] else "gate failed",
        "run": str(run),
        "trained": list(config.phase.train),
        "timesteps": config.timesteps,
        "gate": {role: _gate_row(e) for role, e in verdict["roles"].items()},
        "verdict": format_gate(verdict),
    }


def _gate_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One role's gate, as the pipeline's record keeps it."""
    g = entry[entry["against"]]
    cost = g["system_cost"]
    return {
        "passed": entry["passed"],
        "outcome": outcome(g),
        "against": entry["against"],
        "learned": g["ppo"],
        "heuristic": g["baseline"],
        "difference": g["difference"],
        "difference_ci95": g["difference_ci95"],
        "system_passed": entry.get("system_passed"),
        "system_cost": {
            "learned": cost["ppo"],
            "heuristic": cost["baseline"],
            "difference": cost["difference"],
            "difference_ci95": cost["difference_ci95"],
        },
    }


def _compare(run: Path, episodes: int) -> dict[str, Any]:
    output = run / "comparison"
    summary = output / "comparison_summary.json"
    skipped = summary.is_file()
    if not skipped:
        result = compare_runs([run], episodes)
        write_comparison(result, output)
        print(format_comparison(result["summary"]))
    return {"skipped": skipped, "status": "done", "output": str(output)}


def run_pipeline(args: argparse.Namespace) -> tuple[Path, dict[str, Any], int]:
    """Run (or resume) the pipeline; returns its folder, state and exit code."""
    if args.resume:
        folder = Path(args.resume)
        state = _load(folder)
        for key, value in state["options"].items():
            setattr(args, key, value)
    else:
        folder, state = _new(args)
    steps = state["steps"]
    with RunLock(folder):  # one pipeline writes into a pipeline folder
        return _run_steps(folder, state, steps, args)


def _run_steps(
    folder: Path, state: dict[str, Any], steps: dict[str, Any], args: argparse.Namespace
) -> tuple[Path, dict[str, Any], int]:
    import ray

    print(f"pipeline -> {folder}")
    started_ray = start_ray(args.address)
    code = 0
    try:
        previous: Path | None = None
        failed: str | None = None  # the last phase whose gate failed
        for step in STEPS:
            if step in PHASES and failed is not None:
                if not args.force:
                    raise Stop(
                        f"{failed}'s gate failed, so the pipeline stops before "
                        f"{step}:\n{steps[failed]['verdict']}\nTo go on anyway: "
                        f"python experiments/pipeline.py --resume {folder} --force"
                    )
                print(f"{failed}'s gate failed; going on (--force)")
                failed = None
            print(f"== {step}", flush=True)
            start = time.perf_counter()
            if step == "validate":
                result = _validate(state)
            elif step == "compare":
                result = _compare(previous, args.compare_episodes)
            else:
                result = _phase(step, folder, args, previous)
                previous = Path(result["run"])
            if result.pop("skipped", False) and step in steps:
                result["seconds"] = steps[step]["seconds"]  # done before: its time
            else:
                result["seconds"] = round(time.perf_counter() - start, 1)
            steps[step] = result
            write_json_atomic(folder / STATE_FILE, state)
            if result["status"] == "gate failed":
                failed = step  # phase 1's comparison still runs before stopping
        if failed is not None and not args.force:
            raise Stop(f"{failed}'s gate failed:\n{steps[failed]['verdict']}")
    except Stop as stop:
        print(f"\nSTOPPED: {stop}", file=sys.stderr)
        code = EXIT_STOPPED
    finally:
        if started_ray:
            ray.shutdown()
    state["finished"] = code == 0
    write_json_atomic(folder / STATE_FILE, state)
    print()
    print(format_summary(state))
    return folder, state, code


def format_summary(state: dict[str, Any]) -> str:
    lines = [f"pipeline summary ({state['scenario']}, seed {state['seed']})"]
    for step in STEPS:
        s = state["steps"].get(step)
        if s is None:
            lines.append(f"{step:<9} not run")
            continue
        head = f"{step:<9} {s['status']:<12} {s['seconds']:>8.1f} s"
        if "run" in s:
            head += f"  {', '.join(s['trained'])}; {s['timesteps']:,} env steps"
        lines.append(head)
        if "verdict" in s:
            lines.extend("          " + line for line in s["verdict"].splitlines())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parse_with_config(parser, argv)
    if args.resume and args.config:
        parser.error("--config: a resumed pipeline keeps the options it started with")
    for table, options in args.phase_options.items():
        if table not in PHASES:
            parser.error(f"run config file: [{table}] is no phase of {list(PHASES)}")
        stray = sorted(set(options) - {"timesteps"})
        if stray:
            parser.error(
                f"run config file: [{table}] may set timesteps only, not {stray}"
            )
    if args.resume:
        given = [
            f"--{k.replace('_', '-')}"
            for k in KEPT
            if k != "phase_options" and getattr(args, k) != parser.get_default(k)
        ]
        if given:
            parser.error(
                f"{', '.join(given)}: a resumed pipeline keeps the options it "
                "started with"
            )
    if args.gate_episodes is not None and args.gate_episodes < 2:
        parser.error("--gate-episodes must be at least 2 in the pipeline")
    if args.compare_episodes < 2:
        parser.error("--compare-episodes must be at least 2")
    try:
        if not args.resume:
            check_output_dir(args.output or results_dir(), "--output")
        _, _, code = run_pipeline(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
