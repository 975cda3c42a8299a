"""``hmarl <command>``: one entry point for everything hmarl runs.

How to run (after ``pip install -e .``)::

    hmarl train phase1 --seed 1        # a phase of the curriculum (phase1..phase4)
    hmarl pipeline                     # validate, phases 1-4, compare, gated
    hmarl sweep phase1 --seeds 0 1 2   # seeds and settings as Ray Tune trials
    hmarl evaluate --policy tuned      # baselines on held-out episodes
    hmarl tune --scenario my.toml      # heuristics for a scenario
    hmarl catalogue --scenario catalogue_500  # a catalogue's heuristics
    hmarl compare --run RUN            # a learned run against the baselines
    hmarl gate RUN                     # the curriculum gate of a run
    hmarl validate --scenario default  # the env's pre-training checks
    hmarl solve lost_sales_L2_p9       # exact optima of single-stage instances
    hmarl serial                       # a serial chain's optimum (Example 6.1)
    hmarl simulate ...                 # the core under a fixed policy
    hmarl freeze RUN                   # freeze tuned parameters into an old run
    hmarl config RUN                   # a run's resolved config as JSON

Each command is the ``main`` of its module (``hmarl train phase1`` is
``python experiments/phase1.py``, ``hmarl evaluate`` is ``python -m
baselines.evaluate``); ``hmarl <command> --help`` lists its options.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from analysis.runs.record import describe, freeze
from analysis.runs.settings import PHASES
from experiments.seeding import fix_hash_seed

__all__ = ["COMMANDS", "main"]

#: command -> (module whose ``main(argv)`` runs it, what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("experiments.train", "train one phase: hmarl train phase1 [options]"),
    "pipeline": ("experiments.pipeline", "validate, phases 1-4 and compare, gated"),
    "sweep": ("experiments.sweep", "seeds and settings of a phase as Ray Tune trials"),
    "evaluate": ("baselines.evaluate", "evaluate baselines on held-out episodes"),
    "tune": ("baselines.tune", "tune the heuristics of a scenario"),
    "catalogue": (
        "baselines.catalogue",
        "tune and compare a product catalogue's heuristics",
    ),
    "compare": ("analysis.compare", "compare learned runs with the baselines"),
    "gate": ("analysis.gate", "the curriculum gate of a run"),
    "validate": ("hmarl_env.validate", "the env's pre-training checks"),
    "solve": ("baselines.optimal", "exact optima of single-stage instances"),
    "serial": ("baselines.serial", "the exact optimum of a serial chain"),
    "simulate": ("baselines.simulate", "simulate the core under a fixed policy"),
    "freeze": ("analysis.runs.record", "freeze tuned parameters into an old run"),
    "config": ("analysis.runs.record", "print a run's resolved config"),
}


def _usage() -> str:
    lines = ["usage: hmarl <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {what}" for name, (_, what) in COMMANDS.items()]
    lines += ["", "hmarl <command> --help: the command's options"]
    return "\n".join(lines)


def _train(argv: list[str]) -> int:
    # imported when used: RLlib's import takes seconds, which the other
    # commands need not wait for
    main_for = importlib.import_module("experiments.train").main_for
    if not argv or argv[0] not in PHASES:
        print(
            f"usage: hmarl train {{{','.join(PHASES)}}} [options]\n"
            f"error: name the phase to train, one of {list(PHASES)}",
            file=sys.stderr,
        )
        return 2
    script = importlib.import_module(f"experiments.{argv[0]}")
    return main_for(PHASES[argv[0]], script.__doc__, argv[1:])


def _run_record(command: str) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        if len(argv) != 1 or argv[0].startswith("-"):
            print(f"usage: hmarl {command} RUN", file=sys.stderr)
            return 2
        try:
            if command == "freeze":
                print(f"froze {freeze(argv[0])} into {argv[0]}/config.json")
            print(describe(argv[0]))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0

    return run


def main(argv: list[str] | None = None) -> int:
    """Run ``hmarl <command> [options]``; returns the exit status."""
    as_program = argv is None  # the console script, not a call from Python
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"{_usage()}\n\nerror: unknown command {command!r}", file=sys.stderr)
        return 2
    if as_program and command in ("train", "pipeline", "sweep"):  # seeding.py
        fix_hash_seed()
    if command == "train":
        return _train(rest)
    if command in ("freeze", "config"):
        return _run_record(command)(rest)
    module = importlib.import_module(COMMANDS[command][0])
    prog, sys.argv[0] = sys.argv[0], f"hmarl {command}"
    try:
        return int(module.main(rest) or 0)
    except BrokenPipeError:  # the output piped into a reader that stopped
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - closed at exit
        return 0
    finally:
        sys.argv[0] = prog


if __name__ == "__main__":
    sys.exit(main())
