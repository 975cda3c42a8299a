"""Judging a catalogue run: learned stores against the catalogue heuristics.

A catalogue run (phase 1 on a scenario with products) trains the stores'
product-shared module (:mod:`experiments.catalogue_runner`); its warehouse
acts by the tuned capacity-aware catalogue heuristic, its supplier fulfils.
Here the run's stores are evaluated on common random numbers against the
same chain with the stores acting by

* ``tuned``: the capacity-aware heuristic (a price on storage volume,
  :func:`baselines.catalogue.tune_capacity_prices`): the bar a learned
  catalogue policy must clear, and the gate's;
* ``per_product``: each product's level tuned on its own, capacities ignored;
* ``uniform``: one safety factor for every product at the stores, tuned on
  the capacitated chain (on ``catalogue_500`` it beats the capacity-aware
  stores: a learned policy near it would too).

The stores' reward is minus their ledger cost per store and episode; the
system's cost is the chain's ledger cost per episode (both in the scenario's
money). The gate passes when the stores' reward beats the capacity-aware
stores' (95% bootstrap CI of the paired difference above zero) and the
system's cost is not significantly higher, as :mod:`analysis.gate` judges
single-product runs; ``gate.json`` has the same layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.compare import paired_summary
from baselines.catalogue import (
    EnvActions,
    evaluate_catalogue,
    fixed_actions,
    heuristic_actions,
)
from hmarl_env.registry import SUPPLIER, node_agents, role_of
from hmarl_env.scenario import Scenario

__all__ = [
    "CATALOGUE_BASELINES",
    "catalogue_gate",
    "catalogue_monitor",
    "catalogue_references",
    "store_policies",
]

#: the heuristics a catalogue's learned stores are judged against (the first
#: is the gate's; the others are reported beside it)
CATALOGUE_BASELINES = ("tuned", "per_product", "uniform")


def store_policies(
    scenario: Scenario, nodes: dict[str, Any], stores: str | None = None
) -> EnvActions:
    """The chain policy of ``nodes`` (agent -> node policy; a run's, from
    :func:`analysis.runs.loading.load_policies`), or with ``stores`` naming a
    catalogue heuristic, its stores acting by that heuristic instead."""
    nodes = {a: p for a, p in nodes.items() if a != SUPPLIER}
    if stores is not None:
        tuned = heuristic_actions(scenario, stores)
        for agent, i in node_agents(scenario).items():
            if role_of(agent).name == "store":
                nodes[agent] = fixed_actions(tuned[i])
    return EnvActions(scenario, nodes)


def _per_store(df: pd.DataFrame, n_stores: int) -> np.ndarray:
    return -df["store_cost"].to_numpy() / n_stores


def catalogue_references(
    scenario: Scenario, nodes: dict[str, Any], episodes: int, seed: int
) -> dict[str, float]:
    """Each baseline's stores' reward per store and episode on ``episodes``
    episodes from ``seed`` (the rest of the chain as ``nodes`` act)."""
    n = len(scenario.store_index)
    return {
        kind: float(
            _per_store(
                evaluate_catalogue(
                    scenario, store_policies(scenario, nodes, kind), episodes, seed
                ),
                n,
            ).mean()
        )
        for kind in CATALOGUE_BASELINES
    }


def catalogue_monitor(
    scenario: Scenario, nodes: dict[str, Any], episodes: int, seed: int
) -> dict[str, float]:
    """The learned stores on monitoring episodes: their reward per store and
    episode, and the chain's fill rate."""
    df = evaluate_catalogue(scenario, store_policies(scenario, nodes), episodes, seed)
    return {
        "eval_store_reward": float(_per_store(df, len(scenario.store_index)).mean()),
        "eval_service_level": float(df["fill_rate"].mean()),
    }


def catalogue_gate(
    scenario: Scenario, nodes: dict[str, Any], episodes: int, seed: int
) -> dict[str, Any]:
    """The store role's entry of a catalogue run's verdict (the layout of
    :func:`analysis.gate.gate_run`'s ``roles["store"]``)."""
    n = len(scenario.store_index)
    learned = evaluate_catalogue(
        scenario, store_policies(scenario, nodes), episodes, seed
    )
    mine = _per_store(learned, n)
    entry: dict[str, Any] = {"against": CATALOGUE_BASELINES[0]}
    for kind in CATALOGUE_BASELINES:
        other = evaluate_catalogue(
            scenario, store_policies(scenario, nodes, kind), episodes, seed
        )
        stats = paired_summary(_per_store(other, n), mine, higher_is_better=True)
        stats["system_reward"] = paired_summary(
            -other["total_cost"].to_numpy(), -learned["total_cost"].to_numpy()
        )
        stats["system_cost"] = paired_summary(
            other["total_cost"].to_numpy(),
            learned["total_cost"].to_numpy(),
            higher_is_better=False,
        )
        for kpi in ("fill_rate", "discarded", "storage_binds", "truck_binds"):
            stats[kpi] = {
                "baseline": float(other[kpi].mean()),
                "ppo": float(learned[kpi].mean()),
            }
        entry[kind] = stats
    gate = entry[entry["against"]]
    entry["role_passed"] = bool(gate["difference_ci95"][0] > 0)
    entry["system_passed"] = bool(gate["system_cost"]["difference_ci95"][0] <= 0)
    entry["passed"] = entry["role_passed"] and entry["system_passed"]
    return entry
