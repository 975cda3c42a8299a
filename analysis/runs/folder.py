"""The layout of a run folder, and what can be read of it without Ray.

A run writes into its own folder ``<results>/<scenario>__<phase>__<seed>__<time>``
(:mod:`experiments.run_folder` writes it)::

    config.json              the resolved config (analysis.runs.record)
    checkpoints/latest       the name of the newest complete checkpoint
    checkpoints/<name>/      Algorithm.save_to_path(); its modules are under
                             learner_group/learner/rl_module/<module id>/
    metrics.csv              one row per iteration
    training_metrics.json    the HMARL reference design's schema of the same
    monitor_references.json  the heuristics' rewards on the monitoring episodes
    tensorboard/             TensorBoard events
    training_plots.png       rewards, service level, lost sales, holding cost
    gate.json                the curriculum gate's verdict (analysis.gate)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.runs.record import RunConfig, read_run_config

__all__ = [
    "FINAL",
    "METRICS_FILE",
    "MODULES_SUBDIR",
    "complete_checkpoints",
    "find_checkpoint",
    "is_finished",
    "latest_name",
    "newest_run",
    "read_metrics",
    "training_cost",
]

#: where a checkpoint keeps its modules, one folder per module ID
MODULES_SUBDIR = Path("learner_group") / "learner" / "rl_module"
#: one row per iteration
METRICS_FILE = "metrics.csv"
#: the name of a run's last checkpoint, saved when it reaches its budget
FINAL = "final"


def latest_name(run: str | Path) -> str | None:
    """The checkpoint ``<run>/checkpoints/latest`` names, or None; a
    ``ValueError`` if it names anything but a folder of that ``checkpoints/``
    (a path elsewhere would load another run's checkpoint)."""
    latest = Path(run) / "checkpoints" / "latest"
    if not latest.is_file():
        return None
    name = latest.read_text().strip()
    if not name or name in (".", "..") or Path(name).name != name:
        raise ValueError(
            f"{latest} names {name!r}, which is not a checkpoint inside "
            f"{latest.parent}: a run's latest checkpoint is one of its own"
        )
    return name


def is_finished(run: str | Path) -> bool:
    """Whether a run reached its budget: its latest checkpoint is a final one
    (``final``, or ``final-<iteration>`` when a finished run trained on)."""
    name = latest_name(run)
    return name is not None and (name == FINAL or name.startswith(FINAL + "-"))


def complete_checkpoints(run: str | Path) -> list[Path]:
    """A run's complete checkpoints, newest first (finals, then by iteration)."""

    def order(p: Path) -> tuple[int, int]:
        digits = p.name.rsplit("-", 1)[-1].rsplit("_", 1)[-1]
        number = int(digits) if digits.isdigit() else 0
        return (p.name.startswith(FINAL), number)

    root = Path(run) / "checkpoints"
    found = [
        p
        for p in (root.iterdir() if root.is_dir() else [])
        if p.is_dir() and not p.name.startswith(".") and (p / MODULES_SUBDIR).is_dir()
    ]
    return sorted(found, key=order, reverse=True)


def find_checkpoint(path: str | Path) -> tuple[Path, Path | None]:
    """(checkpoint folder, run folder or None) for a run folder or a checkpoint.

    A run folder resolves to its newest complete checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"checkpoint path {str(path)!r} does not exist")
    if (path / "config.json").is_file():  # a run folder
        name = latest_name(path)
        if name is None:
            raise ValueError(
                f"run {str(path)!r} has no complete checkpoint yet "
                "(checkpoints/latest is missing)"
            )
        ckpt = path / "checkpoints" / name
        run = path
    else:
        ckpt = path
        parent = path.parent.parent
        run = parent if (parent / "config.json").is_file() else None
    if not (ckpt / MODULES_SUBDIR).is_dir():
        raise ValueError(
            f"{str(ckpt)!r} is not a complete RLlib checkpoint: no {MODULES_SUBDIR}/ "
            "inside (interrupted while saving, or not a checkpoint)"
        )
    return ckpt, run


def read_metrics(run_dir: str | Path, upto: int | None = None) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.csv`` (up to iteration ``upto``), numbers
    as floats (missing ones NaN) and the iteration an int; [] without one."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        rows = [
            r for r in csv.DictReader(fh) if upto is None or int(r["iteration"]) <= upto
        ]
    out = []
    for r in rows:
        row = {k: (float(v) if v not in ("", None) else math.nan) for k, v in r.items()}
        row["iteration"] = int(row["iteration"])
        out.append(row)
    return out


def _iteration_of(checkpoint: Path) -> int | None:
    """The iteration a checkpoint folder saved (``iter_000300``: 300), or
    None for one named otherwise (``final``: the run's last)."""
    name = Path(checkpoint).name
    if name.startswith("iter_") and name[5:].isdigit():
        return int(name[5:])
    return None


def training_cost(
    run_dir: str | Path, checkpoint: str | Path | None = None
) -> dict[str, float]:
    """What a run's policy cost to train: its env steps and the seconds its
    iterations took (``metrics.csv``; the monitor's evaluations included), up
    to ``checkpoint`` (one of its checkpoint folders; default: its last
    iteration), plus, for a run that started from another's modules, what
    that run cost up to the checkpoint it started from, and so on back
    (``sources``: the runs counted, newest first). A source folder that no
    longer exists ends the walk, noted in ``missing_source``."""
    run: Path | None = Path(run_dir)
    upto = _iteration_of(checkpoint) if checkpoint is not None else None
    steps = seconds = 0.0
    sources: list[str] = []
    out: dict[str, Any] = {}
    while run is not None:
        rows = read_metrics(run, upto)
        if not rows:
            raise ValueError(f"{str(run)!r} has no {METRICS_FILE}: not a trained run")
        steps += float(rows[-1]["timesteps"])
        seconds += float(sum(r["seconds"] for r in rows))
        sources.append(str(run))
        source = read_run_config(run).source
        if not source:
            break
        run, upto = Path(source["run"]), _iteration_of(source["checkpoint"])
        if not (run / "config.json").is_file():
            out["missing_source"] = str(run)
            break
    return {"env_steps": steps, "seconds": seconds, "sources": sources, **out}


def newest_run(
    roots: list[str | Path], match: Callable[[RunConfig], bool]
) -> Path | None:
    """The newest finished run folder directly under any of ``roots`` whose
    config ``match`` accepts (by its record's creation time), or None; folders
    whose config cannot be read are passed over."""
    found = []
    for config_path in (c for root in roots for c in Path(root).glob("*/config.json")):
        run = config_path.parent
        try:
            config = read_run_config(run)
            if not match(config):
                continue
        except ValueError:
            continue
        if is_finished(run):
            found.append((config.record.get("created", ""), run.name, run))
    return max(found)[2] if found else None
