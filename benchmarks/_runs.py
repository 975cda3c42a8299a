"""Reading pipeline folders and runs for the quality benchmarks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from baselines.evaluate import evaluate
from hmarl_env.seeding import HELD_OUT_SEED


def pipeline_run(folder: Path, phase: str) -> Path:
    """A pipeline's run of ``phase`` (its runs live inside its folder, wherever
    the folder has moved since)."""
    runs = sorted(p for p in Path(folder).glob(f"*__{phase}__*") if p.is_dir())
    if not runs:
        raise ValueError(f"{folder}: {phase} has not run")
    return runs[-1]


def system_cost(scenario, policies, episodes: int) -> np.ndarray:
    """The chain's ledger cost (every agent's total cost) per held-out episode."""
    df = evaluate(scenario, policies, episodes, seed=HELD_OUT_SEED)
    return df.groupby("episode")["total_cost"].sum().to_numpy()


def last_diagnostic(run: Path, column: str, last: int = 5) -> float:
    """A metrics.csv column's mean over the run's last iterations (RLlib logs
    learner diagnostics for an iteration's last minibatch: single rows are noisy)."""
    with (Path(run) / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))[-last:]
    values = [float(r[column]) for r in rows if r.get(column) not in ("", None)]
    return float(np.mean(values)) if values else float("nan")
