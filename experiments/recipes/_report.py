"""What every recipe prints: its stores against the heuristics, same episodes."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.compare import swap_roles
from baselines.evaluate import evaluate
from baselines.policies import make_policies
from hmarl_env.registry import role_of
from hmarl_env.scenario import Scenario
from hmarl_env.seeding import HELD_OUT_SEED
from hmarl_env.utils.stats import mean_ci

__all__ = [
    "compare_with_heuristics",
    "format_report",
    "recipe_parser",
    "report",
    "with_heuristics",
]


def with_heuristics(
    scenario: Scenario, stores: Any, kind: str = "tuned"
) -> dict[str, Any]:
    """Every agent's policy: ``stores`` for the stores, heuristics elsewhere."""
    rules = make_policies(scenario, kind)
    return {a: (stores if role_of(a).name == "store" else p) for a, p in rules.items()}


def compare_with_heuristics(
    scenario: Scenario, policies: Mapping[str, Any], episodes: int = 200
) -> pd.DataFrame:
    """Store reward per agent and episode (mean, 95% CI half-width) of the
    learned policies, the rule-based store and the tuned heuristic, on held-out
    seeds."""
    tuned = make_policies(scenario, "tuned")
    rows = []
    for label, p in (
        ("learned", policies),
        (
            "rule-based store",
            swap_roles(tuned, scenario, "rule_based", ["store"], None),
        ),
        ("tuned heuristic", tuned),
    ):
        df = evaluate(scenario, p, episodes, seed=HELD_OUT_SEED)
        per_episode = (
            df[df["role"] == "store"].groupby("episode")["episode_reward"].mean()
        )
        mean, half = mean_ci(per_episode.to_numpy())
        rows.append({"policy": label, "store_reward": mean, "ci95": half})
    return pd.DataFrame(rows)


def format_report(table: pd.DataFrame, episodes: int) -> str:
    lines = [f"store reward per agent and episode, {episodes} held-out episodes:"]
    for r in table.itertuples():
        lines.append(f"  {r.policy:<16} {r.store_reward:9.1f} ± {r.ci95:.1f}")
    return "\n".join(lines)


def report(scenario: Scenario, store_policy: Any, episodes: int = 200) -> str:
    """The recipes' verdict: their stores (heuristics elsewhere) against the
    rule-based store and the tuned heuristic."""
    policies = with_heuristics(scenario, store_policy)
    return format_report(
        compare_with_heuristics(scenario, policies, episodes), episodes
    )


def recipe_parser(doc: str, frames: bool = False) -> argparse.ArgumentParser:
    """The options every recipe takes; each adds ``--output`` and, unless
    ``frames`` gives the TorchRL recipes' ``--frames``, its budget."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if frames:
        parser.add_argument(
            "--frames",
            type=int,
            default=200_000,
            help="env steps (default %(default)s: phase 1's budget)",
        )
    parser.add_argument("--scenario", default="default", help="preset name or file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default %(default)s: the networks are small and the "
        "env steps one at a time, so more threads only contend for the cores)",
    )
    parser.add_argument(
        "--episodes", type=int, default=200, help="held-out evaluation episodes"
    )
    return parser
