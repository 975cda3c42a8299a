"""The curriculum gate: did the role a phase learned beat the heuristic it replaces?

How to run:
    python -m analysis.gate RUN [--episodes 200]

For every role the run trained, the run's policies are evaluated twice on the
same held-out episodes (seeds from 1,000,000, as :mod:`analysis.compare`): as
learned, and with that role's agents acting by the heuristic it replaces (the
role's :attr:`~hmarl_env.registry.Role.baseline`: the reference design's rule-based
store, the tuned (s, S) warehouse, the supplier that always fulfils), every other
agent unchanged. The role's reward (per agent and episode) is compared episode
by episode; the role **passes** when the 95% bootstrap confidence interval of
the difference lies above zero *and* the system's ledger cost (every agent's,
per episode) is not significantly higher than with the heuristic (the 95% CI of
the paired difference does not lie above zero); the run passes when every
trained role does; a failed role is said to lose, to show no significant
difference, or to act identically on every episode. The tuned heuristic is
reported beside it for every role (for stores also the constant order of 1.0 x
forecast, which a store that ignores its state gives), with the system's total
reward and ledger cost, so a role that wins at its neighbours' expense shows.

The verdict is written to ``<run>/gate.json``; the command exits 0 when the run
passes, 1 when it does not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.catalogue import CATALOGUE_BASELINES, catalogue_gate
from analysis.compare import paired_summary, role_kpis, swap_roles
from analysis.runs.loading import load_policies
from analysis.runs.record import read_run_config
from baselines.evaluate import evaluate
from hmarl_env.registry import ROLES, role_of_module
from hmarl_env.seeding import HELD_OUT_SEED
from hmarl_env.utils.io import write_json_atomic

__all__ = ["GATE_FILE", "REPORTED", "format_gate", "gate_run", "outcome"]

GATE_FILE = "gate.json"
#: role -> baselines sets reported beside it: the tuned heuristic, and for
#: stores the constant order (a store that ignores its state)
REPORTED = {"store": ("tuned", "constant"), "warehouse": (), "supplier": ()}


LABELS = {
    "tuned": "tuned heuristic",
    "constant": "constant order (1.0 x forecast)",
    "per_product": "per-product heuristic (capacities ignored)",
    "uniform": "one safety factor for every product",
}


def _system(df: pd.DataFrame) -> pd.DataFrame:
    """Per episode: reward and ledger cost summed over every agent."""
    return df.groupby("episode")[["episode_reward", "total_cost"]].sum()


def gate_run(
    run: str | Path, episodes: int = 200, write: bool = True
) -> dict[str, Any]:
    """The gate's verdict for ``run`` (written to ``<run>/gate.json``)."""
    if episodes < 2:
        raise ValueError(f"the gate needs at least 2 episodes, got {episodes}")
    run = Path(run)
    config = read_run_config(run)
    scenario = config.scenario
    if scenario.products:
        return _catalogue_verdict(run, config, episodes, write)
    layouts = config.observations
    params = config.heuristic_params
    learned = load_policies(run)
    trained = {role_of_module(m).name for m in config.phase.train}
    roles = [r for r in ROLES if r in trained]  # curriculum order

    def run_eval(policies: dict[str, Any]) -> pd.DataFrame:
        return evaluate(
            scenario,
            policies,
            episodes,
            seed=HELD_OUT_SEED,
            **layouts,
        )

    base = run_eval(learned)
    system = _system(base)
    verdict: dict[str, Any] = {
        "run": str(run),
        "phase": config.phase.name,
        "scenario": scenario.name,
        "episodes": episodes,
        "first_seed": HELD_OUT_SEED,
        "criterion": "the learned role's reward per agent and episode beats the "
        "heuristic it replaces: 95% bootstrap CI of the paired difference above 0",
        "roles": {},
    }
    for role in roles:
        against = ROLES[role].baseline
        entry: dict[str, Any] = {"against": against}
        for kind in dict.fromkeys((against, "tuned", *REPORTED[role])):
            other = run_eval(
                swap_roles(learned, scenario, kind, [role], params, **layouts)
            )
            mine = role_kpis(base, [role])["episode_reward"].to_numpy()
            theirs = role_kpis(other, [role])["episode_reward"].to_numpy()
            stats = paired_summary(theirs, mine, higher_is_better=True)
            stats["system_reward"] = paired_summary(
                _system(other)["episode_reward"].to_numpy(),
                system["episode_reward"].to_numpy(),
            )
            stats["system_cost"] = paired_summary(
                _system(other)["total_cost"].to_numpy(),
                system["total_cost"].to_numpy(),
                higher_is_better=False,
            )
            entry[kind] = stats
        gate = entry[against]
        entry["role_passed"] = bool(gate["difference_ci95"][0] > 0)
        # not worse for the system: the learned role's extra ledger cost is not
        # significantly above zero
        entry["system_passed"] = bool(gate["system_cost"]["difference_ci95"][0] <= 0)
        entry["passed"] = entry["role_passed"] and entry["system_passed"]
        entry["outcome"] = outcome(gate)
        entry["system_outcome"] = outcome(gate["system_cost"], higher_is_better=False)
        verdict["roles"][role] = entry
    verdict["passed"] = all(e["passed"] for e in verdict["roles"].values())
    if write:
        write_json_atomic(run / GATE_FILE, verdict)
    return verdict


def _catalogue_verdict(
    run: Path, config: Any, episodes: int, write: bool
) -> dict[str, Any]:
    """A catalogue run's verdict: its stores against the capacity-aware
    catalogue heuristic (:mod:`analysis.catalogue`)."""
    entry = catalogue_gate(config.scenario, load_policies(run), episodes, HELD_OUT_SEED)
    gate = entry[entry["against"]]
    entry["outcome"] = outcome(gate)
    entry["system_outcome"] = outcome(gate["system_cost"], higher_is_better=False)
    verdict = {
        "run": str(run),
        "phase": config.phase.name,
        "scenario": config.scenario.name,
        "episodes": episodes,
        "first_seed": HELD_OUT_SEED,
        "criterion": "the learned stores' reward per store and episode beats "
        "the capacity-aware catalogue heuristic's: 95% bootstrap CI of the "
        "paired difference above 0",
        "roles": {"store": entry},
        "passed": entry["passed"],
    }
    if write:
        write_json_atomic(run / GATE_FILE, verdict)
    return verdict


def outcome(stats: dict[str, Any], higher_is_better: bool = True) -> str:
    lo, hi = stats["difference_ci95"]
    if (lo > 0) if higher_is_better else (hi < 0):
        return "beats it"
    if (hi < 0) if higher_is_better else (lo > 0):
        return "loses to it"
    if stats["p_value_paired_t"] is None and stats["difference"] == 0:
        return "identical on every episode"
    return "no significant difference"


def format_gate(verdict: dict[str, Any]) -> str:
    """A line per role: learned vs replaced heuristic, difference and CI."""
    lines = []
    for role, entry in verdict["roles"].items():
        g = entry[entry["against"]]
        lo, hi = g["difference_ci95"]
        word = "PASSED" if entry["passed"] else "FAILED"
        lines.append(
            f"gate {verdict['phase']} {role}: {word} ({outcome(g)})"
            f" - learned {g['ppo']:.1f} vs {entry['against']} heuristic "
            f"{g['baseline']:.1f} per agent and episode, difference "
            f"{g['difference']:+.1f} (95% CI [{lo:.1f}, {hi:.1f}], "
            f"{verdict['episodes']} held-out episodes)"
        )
        if "system_passed" in entry:  # gates before system verdicts lack it
            c = g["system_cost"]
            lo, hi = c["difference_ci95"]
            word = "not worse" if entry["system_passed"] else "WORSE"
            lines.append(
                f"  system ledger cost: {word} - {c['ppo']:.1f} vs {c['baseline']:.1f}"
                f" per episode, difference {c['difference']:+.1f} (95% CI "
                f"[{lo:.1f}, {hi:.1f}])"
            )
        for kind in entry:
            if (
                kind not in (*REPORTED[role], *CATALOGUE_BASELINES)
                or kind == entry["against"]
            ):
                continue
            t = entry[kind]
            lo, hi = t["difference_ci95"]
            lines.append(
                f"  vs {LABELS.get(kind, kind)} {t['baseline']:.1f}: "
                f"{t['difference']:+.1f} (95% CI [{lo:.1f}, {hi:.1f}])"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder")
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args(argv)
    try:
        verdict = gate_run(args.run, args.episodes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_gate(verdict))
    print(f"verdict: {Path(args.run) / GATE_FILE}")
    return 0 if verdict["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
