"""Reading pipeline folders and runs for the quality benchmarks."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from analysis.runs.folder import newest_run, read_metrics
from baselines.evaluate import evaluate
from baselines.optimal import instance_of, solve_instance
from baselines.policies import make_policies
from hmarl_env.registry import SUPPLIER
from hmarl_env.seeding import HELD_OUT_SEED


def pipeline_run(folder: Path, phase: str) -> Path:
    """A pipeline's run of ``phase`` (its runs live inside its folder, wherever
    the folder has moved since)."""
    runs = sorted(p for p in Path(folder).glob(f"*__{phase}__*") if p.is_dir())
    if not runs:
        raise ValueError(f"{folder}: {phase} has not run")
    return runs[-1]


def checkpoints(run: Path) -> list[tuple[float, Path]]:
    """A run's checkpoints with the env steps each had trained, in order."""
    steps = {int(r["iteration"]): float(r["timesteps"]) for r in read_metrics(run)}
    out = []
    for ckpt in sorted((run / "checkpoints").glob("iter_*")):
        iteration = int(ckpt.name.split("_")[1])
        if iteration in steps:
            out.append((steps[iteration], ckpt))
    final = run / "checkpoints" / "final"
    if final.is_dir() and steps:
        out.append((steps[max(steps)], final))
    return out


def system_cost(scenario, policies, episodes: int) -> np.ndarray:
    """The chain's ledger cost (every agent's total cost) per held-out episode."""
    df = evaluate(scenario, policies, episodes, seed=HELD_OUT_SEED)
    return df.groupby("episode")["total_cost"].sum().to_numpy()


def per_period_cost(
    scenario, policies, episodes: int, horizon: int, seed: int = HELD_OUT_SEED
) -> np.ndarray:
    """A single-stage store's ledger cost per period, per episode of
    ``horizon`` periods (held-out episodes unless ``seed`` names others; the
    'orders' layout its policies act on)."""
    df = evaluate(
        scenario.replace(horizon=horizon),
        policies,
        episodes,
        seed=seed,
        store_observation="orders",
    )
    return df[df["agent"] == "store_1"]["total_cost"].to_numpy() / horizon


def solved_costs(
    scenario, episodes: int, horizon: int, seed: int = HELD_OUT_SEED, solved=None
):
    """A single-stage instance's exact solutions
    (:func:`baselines.optimal.solve_instance`, or ``solved`` if given) and,
    simulated on the held-out episodes (or those from ``seed``), the cost per
    period of its optimal and best base-stock policies: ``(solved,
    {"optimal": .., "base_stock": ..})``."""
    solved = solve_instance(scenario) if solved is None else solved
    solver, optimal = solved["optimal"]
    wide, base = solved["base_stock"]
    supplier = make_policies(scenario, "base_stock")[SUPPLIER]
    sims = {
        "optimal": per_period_cost(
            scenario,
            {"store_1": solver.policy(optimal), SUPPLIER: supplier},
            episodes,
            horizon,
            seed,
        ),
        "base_stock": per_period_cost(
            wide.scenario,
            {"store_1": wide.policy(base), SUPPLIER: supplier},
            episodes,
            horizon,
            seed,
        ),
    }
    return solved, sims


def last_diagnostic(run: Path, column: str, last: int = 5) -> float:
    """A metrics.csv column's mean over the run's last iterations (RLlib logs
    learner diagnostics for an iteration's last minibatch: single rows are noisy)."""
    with (Path(run) / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))[-last:]
    values = [float(r[column]) for r in rows if r.get(column) not in ("", None)]
    return float(np.mean(values)) if values else float("nan")


def single_stage_run(roots: list[Path], scenario, covers: bool) -> Path | None:
    """The newest finished phase-1 run under ``roots`` on ``scenario``'s
    instance (the same dynamics and costs: its name, rewards or horizon may
    differ), observing the 'orders' layout and ordering quantities or, with
    ``covers``, periods of cover (``actions.store_lot_cover``)."""

    def dynamics(sc):  # the instance, whatever the scenario is called
        return dataclasses.replace(instance_of(sc), name="")

    target = dynamics(scenario)
    return newest_run(
        roots,
        lambda config: (
            config.phase.name == "phase1"
            and config.store_observation == "orders"
            and (config.scenario.actions.store_lot_cover is not None) == covers
            and dynamics(config.scenario) == target
        ),
    )
