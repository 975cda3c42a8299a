"""Sweeps on Ray: training seeds and settings of one phase as Ray Tune trials.

How to run:
    python experiments/sweep.py phase1 --seeds 0 1 2            # three seeds
    python experiments/sweep.py phase1 --seeds 0 1 --grid lr=1e-3,3e-4
    python experiments/sweep.py phase1 --seeds 0 1 2 --address auto   # a cluster
    hmarl sweep phase1 --seeds 0 1 2 --timesteps 100000

Each trial is one normal run (``experiments/train.py``): its own run folder
under ``--output`` (default ``results/``), its config recording the sweep
(``sweep``: the trial's name, seed and settings, and the Ray node it ran on:
its IP address and ID).
Trials run concurrently as the cluster's CPUs allow, each taking one CPU
plus one per remote env runner (``--num-env-runners``, default 0 in a sweep:
every trial samples in its own process). Every other option is a phase
option (``--help``) and applies to every trial; ``--grid NAME=V1,V2`` sweeps
one PPO setting over values (several ``--grid`` make their product).

Resumable: run the same command again and each trial finds its run folder
by its name; a finished one is kept, an interrupted one resumes from its
latest checkpoint, a missing one starts.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if __name__ == "__main__":  # string hashes fixed before anything else runs
    from experiments.seeding import fix_hash_seed

    fix_hash_seed()

from analysis.runs.folder import is_finished  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from analysis.runs.settings import PHASES, PPOSettings  # noqa: E402
from experiments.options import _PARSERS, PhaseOptions, add_arguments  # noqa: E402
from experiments.train import run_phase, start_ray  # noqa: E402
from hmarl_env.utils.io import check_output_dir, results_dir  # noqa: E402

__all__ = ["main", "trials"]

_PPO = {f.name: f for f in fields(PPOSettings)}


def _grid(text: str) -> tuple[str, list[str]]:
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if name == "lambda":
        name = "lambda_"
    if not sep or name not in _PPO or not values:
        raise argparse.ArgumentTypeError(
            f"--grid takes a PPO setting and its values, e.g. lr=1e-3,3e-4; got "
            f"{text!r} (settings: {', '.join(_PPO)})"
        )
    return name, [v.strip() for v in values.split(";" if ";" in values else ",")]


def trials(seeds: list[int], grid: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """One trial per seed and combination of the grid's values: its name (a
    run folder's stem says it), seed and PPO settings."""
    names = [name for name, _ in grid]
    out = []
    for values in itertools.product(*(v for _, v in grid)):
        ppo = dict(zip(names, values, strict=True))
        label = "_".join(f"{k.rstrip('_')}{v}" for k, v in ppo.items())
        for seed in seeds:
            name = f"seed{seed}" + (f"_{label}" if label else "")
            out.append({"name": name, "seed": seed, "ppo": ppo})
    return out


def _run_folder(root: Path, phase: str, name: str) -> Path | None:
    """The run folder a trial made in an earlier sweep, if any."""
    for config in sorted(root.glob(f"*__{phase}__*/config.json")):
        try:
            if (
                read_run_config(config.parent).record.get("sweep", {}).get("trial")
                == name
            ):
                return config.parent
        except ValueError:
            continue
    return None


def _train(trial: dict[str, Any], base: PhaseOptions, phase: str, root: Path) -> str:
    """A Tune trial: one phase run, resumed or kept if an earlier sweep made it."""
    import ray

    done = _run_folder(root, phase, trial["name"])
    if done is not None and is_finished(done):
        return str(done)
    options = replace(
        base,
        seed=trial["seed"],
        ppo={**base.ppo, **trial["ppo"]},
        output=str(root),
        resume=str(done) if done is not None else None,
    )
    where = {
        "trial": trial["name"],
        "seed": trial["seed"],
        "ppo": trial["ppo"],
        "node": ray.util.get_node_ip_address(),
        "node_id": ray.get_runtime_context().get_node_id(),  # nodes of one host
        "address": ray.get_runtime_context().gcs_address,
    }
    run = run_phase(PHASES[phase], options, extra_config={"sweep": where})
    return str(run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=list(PHASES), help="the phase to train")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="training seeds"
    )
    parser.add_argument(
        "--grid",
        type=_grid,
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a PPO setting and the values to sweep it over (repeatable)",
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=0,
        help="trials at once at most (0: as the cluster's CPUs allow)",
    )
    given = sys.argv[1:] if argv is None else argv
    add_arguments(parser, PHASES[next((a for a in given if a in PHASES), "phase1")])
    parser.set_defaults(num_env_runners=0)
    args = parser.parse_args(argv)
    if args.resume:
        parser.error("--resume: run the same sweep again; each trial resumes")
    if min(args.seeds) < 0:
        parser.error("--seeds must be 0 or more")
    try:
        grid = []
        for name, values in args.grid:
            parse = _grid_parser(name)
            grid.append((name, [parse(v) for v in values]))
        root = Path(args.output) if args.output else results_dir()
        check_output_dir(root, "--output")
        root = root.resolve()
        base = PhaseOptions.from_args(args)
        return _sweep(args, base, trials(args.seeds, grid), root)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _grid_parser(name: str):
    meta = _PPO[name].metadata
    if "choices" in meta:
        return str
    return meta.get("parse", _PARSERS[str(_PPO[name].type)])


def _sweep(
    args: argparse.Namespace, base: PhaseOptions, todo: list[dict], root: Path
) -> int:
    import ray
    from ray import tune

    started = start_ray(args.address)
    try:
        cpus = 1 + (base.num_env_runners or 0)
        phase = args.phase

        def trainable(config: dict[str, Any]) -> None:
            tune.report({"run": _train(config["trial"], base, phase, root)})

        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": cpus}),
            param_space={"trial": tune.grid_search(todo)},
            tune_config=tune.TuneConfig(max_concurrent_trials=args.max_concurrent),
            run_config=tune.RunConfig(
                name=f"sweep_{phase}",
                storage_path=str(root / ".tune"),
                verbose=0,
            ),
        )
        grid = tuner.fit()
        failed = [r for r in grid if r.error is not None]
        for result in grid:
            if result.error is None:
                print(f"{result.config['trial']['name']}: {result.metrics['run']}")
        for result in failed:
            print(
                f"{result.config['trial']['name']} failed: {result.error}",
                file=sys.stderr,
            )
        return 3 if failed else 0
    finally:
        if started:
            ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
