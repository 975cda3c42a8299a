"""What a training run reports while it trains: one metrics row per
iteration from RLlib's results (rewards, KPIs, learner diagnostics), the
monitoring evaluations on seeds it never trains on, and the line it prints.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analysis.catalogue import (
    catalogue_monitor,
    catalogue_references,
)
from analysis.compare import swap_roles
from analysis.gate import REPORTED
from analysis.runs.loading import assemble_policies, catalogue_policies
from analysis.runs.record import RunConfig
from analysis.runs.settings import MONITOR_SEED, Phase
from baselines.evaluate import evaluate
from experiments.run_folder import LEARNER_KEYS, is_missing
from hmarl_env.registry import ROLES, role_of, role_of_module
from hmarl_env.scenario import Scenario

__all__ = [
    "REFERENCES_FILE",
    "Progress",
    "format_row",
    "monitor",
    "monitor_references",
    "row_from_result",
]

#: the heuristics' rewards on the monitoring episodes (training_plots' lines)
REFERENCES_FILE = "monitor_references.json"


def row_from_result(
    res: dict,
    iteration: int,
    seconds: float,
    steps_this: float,
    scenario: Scenario,
    trained: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One ``metrics.csv`` row from RLlib's result of an iteration: rewards per
    agent and episode, the stores' KPIs per store, learner diagnostics."""
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
        "service_level": float(
            kpi.get("service_level", kpi.get("fill_rate", math.nan))
        ),
        "lost_sales": float(kpi.get("lost_sales", math.nan)) / n_stores,
        "stockout_periods": float(kpi.get("stockout_periods", math.nan)) / n_stores,
        "holding_cost": float(kpi.get("holding_cost", math.nan)) / n_stores,
        **diagnostics,
    }


def monitor(algo: Any, config: RunConfig, episodes: int) -> dict[str, float]:
    """The learned modules (acting as the run records, ``ppo.acting``) and the
    phase's heuristics on monitoring seeds."""
    scenario, phase, layouts = config.scenario, config.phase, config.observations
    if scenario.products:
        nodes = catalogue_policies(config, scenario, algo.get_module, None)
        return catalogue_monitor(scenario, nodes, episodes, MONITOR_SEED)
    policies = assemble_policies(
        scenario,
        learned=set(phase.learned),
        heuristic=phase.heuristic,
        module=algo.get_module,
        heuristic_params=config.heuristic_params,
        acting=config.ppo.acting,
        module_of=phase.module_of,
        **layouts,
    )
    df = evaluate(scenario, policies, episodes, seed=MONITOR_SEED, **layouts)
    means = df.groupby("role")[["episode_reward", "service_level"]].mean()
    return {
        **{
            f"eval_{role}_reward": float(means.loc[role, "episode_reward"])
            for role in ROLES
            if role in means.index
        },
        "eval_service_level": float(means.loc["store", "service_level"]),
    }


def monitor_references(
    algo: Any, config: RunConfig, episodes: int
) -> dict[str, dict[str, float]]:
    """On the monitoring episodes, each trained role's reward per agent and
    episode when the heuristics it is judged against act in its place (the
    gate's, the tuned one, and for stores the constant order): the reference
    lines of ``training_plots.png``."""
    scenario, phase, layouts = config.scenario, config.phase, config.observations
    params = config.heuristic_params
    if scenario.products:
        nodes = catalogue_policies(config, scenario, algo.get_module, None)
        return {"store": catalogue_references(scenario, nodes, episodes, MONITOR_SEED)}
    policies = assemble_policies(
        scenario,
        learned=set(phase.frozen),
        heuristic=phase.heuristic,
        module=algo.get_module,
        heuristic_params=params,
        acting=config.ppo.acting,
        module_of=phase.module_of,
        **layouts,
    )
    out: dict[str, dict[str, float]] = {}
    for module in phase.train:
        role = role_of_module(module).name
        out[role] = {}
        for kind in dict.fromkeys((ROLES[role].baseline, "tuned", *REPORTED[role])):
            swapped = swap_roles(policies, scenario, kind, [role], params, **layouts)
            df = evaluate(scenario, swapped, episodes, seed=MONITOR_SEED, **layouts)
            out[role][kind] = float(df[df["role"] == role]["episode_reward"].mean())
    return out


def _fmt(x: Any, spec: str) -> str:
    """``x`` formatted, or ``-`` of the same width where it is missing (no
    episode ended in the iteration)."""
    width = spec.split(".")[0].rstrip(",")
    return format("-", ">" + width) if is_missing(x) else format(x, spec)


#: what the printed line carries forward from the last iteration in which an
#: episode ended (RLlib reports them only for iterations that end one)
SMOOTHED = (
    "store_reward",
    "warehouse_reward",
    "supplier_reward",
    "service_level",
    "lost_sales",
    "holding_cost",
)


class Progress:
    """The printed line of each iteration: the KPIs of the last completed
    episodes (never a dash once one has ended), learner diagnostics, speed,
    and how far the run is through its budget with an ETA."""

    def __init__(self, phase: Phase, target: int, done_steps: float = 0.0) -> None:
        self.phase, self.target = phase, target
        self.last: dict[str, float] = {}
        self.start_steps = done_steps
        self.seconds = 0.0

    def line(self, row: dict[str, Any]) -> str:
        for key in SMOOTHED:
            if not is_missing(row.get(key)):
                self.last[key] = row[key]
        shown = {**row, **{k: self.last.get(k, math.nan) for k in SMOOTHED}}
        self.seconds += row.get("seconds") or 0.0
        steps = row["timesteps"]
        done = steps - self.start_steps
        rate = done / self.seconds if self.seconds > 0 else math.nan
        left = max(self.target - steps, 0.0)
        eta = left / rate if rate == rate and rate > 0 else math.nan
        text = format_row(shown, self.phase)
        share = min(steps / self.target, 1.0) if self.target else 1.0
        return f"{text} | {share:4.0%} ETA {_duration(eta)}"


def _duration(seconds: float) -> str:
    if is_missing(seconds):
        return "-"
    seconds = int(round(seconds))
    minutes, s = divmod(seconds, 60)
    return f"{minutes}m{s:02d}s" if minutes else f"{s}s"


def format_row(row: dict[str, Any], phase: Phase) -> str:
    """The line a training run prints after an iteration."""
    roles = [r for r in ROLES if r in phase.train]
    parts = [
        f"iter {int(row['iteration']):>4}",
        f"{int(row['timesteps']):>9,} steps",
        *(f"{r} reward {_fmt(row[f'{r}_reward'], '9.1f')}" for r in roles),
        f"SL {_fmt(row['service_level'], '.3f')}",
        f"lost sales {_fmt(row['lost_sales'], '7.1f')}",
        f"holding {_fmt(row['holding_cost'], '8.1f')}",
        "EV "  # the critics' explained variance, named where there are several
        + " ".join(
            (f"{m} " if len(phase.train) > 1 else "")
            + _fmt(row.get(f"{m}_vf_explained_var"), ".2f")
            for m in phase.train
        ),
        f"{_fmt(row['env_steps_per_s'], '6,.0f')} steps/s",
    ]
    evals = [r for r in roles if not is_missing(row.get(f"eval_{r}_reward"))]
    if evals:
        parts.append(
            "eval " + " ".join(f"{row[f'eval_{r}_reward']:.1f}" for r in evals)
        )
    return " | ".join(parts)
