"""The committed reference run: it loads, and its comparison regenerates exactly.

Every number of the results page (docs/results.md) comes from
results/reference/default__phase1__0/comparison/comparison_summary.json.
"""

import json
from pathlib import Path

import pytest

from analysis.compare import compare_runs

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "results" / "reference" / "default__phase1__0"
#: where the docs quote the committed runs
RESULTS = ROOT / "docs" / "results.md"


@pytest.fixture(scope="module")
def committed():
    return json.loads((RUN / "comparison" / "comparison_summary.json").read_text())


def test_the_comparison_regenerates_from_the_checkpoint(committed):
    fresh = compare_runs([RUN], episodes=committed["episodes"])["summary"]
    for metric in ("rewards", "service_level", "lost_sales", "holding_cost"):
        for key in ("baseline", "ppo"):
            assert fresh[metric][key] == pytest.approx(committed[metric][key], rel=1e-9)
        assert fresh["vs_tuned"][metric]["baseline"] == pytest.approx(
            committed["vs_tuned"][metric]["baseline"], rel=1e-9
        )


def test_the_results_page_quotes_the_committed_numbers(committed):
    readme = RESULTS.read_text()
    rewards = committed["rewards"]
    for value in (
        rewards["baseline"],
        rewards["ppo"],
        committed["vs_tuned"]["rewards"]["baseline"],
    ):
        assert f"{value:.2f}" in readme
    lo, hi = rewards["difference_ci95"]
    assert f"[{lo:.2f}, {hi:.2f}]" in readme
    assert f"{committed['holding_cost']['ppo']:.1f}" in readme


# ------------------------------------------------ the pipeline's reference run
PIPELINE = ROOT / "results" / "reference" / "default__pipeline__0"


def _gate(phase: str) -> dict:
    return json.loads((PIPELINE / f"default__{phase}__0" / "gate.json").read_text())


def test_the_pipeline_record_is_complete():
    state = json.loads((PIPELINE / "pipeline.json").read_text())
    assert list(state["steps"]) == [
        "validate",
        "phase1",
        "compare",
        "phase2",
        "phase3",
        "phase4",
    ]
    assert state["finished"] is True and state["options"]["timesteps"] is None
    for phase in ("phase1", "phase2", "phase3", "phase4"):
        config = json.loads(
            (PIPELINE / f"default__{phase}__0" / "config.json").read_text()
        )
        assert config["phase"]["name"] == phase and config["seed"] == 0
        assert state["steps"][phase]["timesteps"] == config["timesteps"]


def test_phase4_gate_regenerates_from_the_committed_checkpoint():
    from analysis.gate import gate_run

    committed = _gate("phase4")
    fresh = gate_run(
        PIPELINE / "default__phase4__0", committed["episodes"], write=False
    )
    assert list(fresh["roles"]) == ["store", "warehouse", "supplier"]
    for role, entry in committed["roles"].items():
        for kind in ("seed", "tuned"):
            if kind in entry:
                for key in ("ppo", "baseline"):
                    assert fresh["roles"][role][kind][key] == pytest.approx(
                        entry[kind][key], rel=1e-9
                    )
        assert fresh["roles"][role]["passed"] == entry["passed"]


def test_the_results_page_quotes_every_gate():
    readme = RESULTS.read_text()
    for phase in ("phase1", "phase2", "phase3", "phase4"):
        for role, entry in _gate(phase)["roles"].items():
            g = entry[entry["against"]]
            lo, hi = g["difference_ci95"]
            row = (
                f"| {phase[-1]} | {role} | {g['ppo']:.1f} | {g['baseline']:.1f} "
                f"({{}}) | {g['difference']:+.1f} [{lo:.1f}, {hi:.1f}] | "
                f"{'passed' if entry['passed'] else 'failed'}"
            )
            head, tail = row.split("({})")
            lines = [line for line in readme.splitlines() if line.startswith(head)]
            assert len(lines) == 1 and tail in lines[0], row


# --------------------------------------- the hierarchy scenario's reference
HIERARCHY = ROOT / "results" / "reference" / "hierarchy__pipeline__0"


def test_the_hierarchy_chain_costs_what_the_results_page_says():
    """The committed phase-4 checkpoint of the hierarchy pipeline (seed 0),
    against the all-heuristic chain on the results page's 200 held-out episodes."""
    from analysis.runs.loading import load_policies
    from analysis.runs.record import read_run_config
    from baselines.evaluate import evaluate
    from baselines.policies import make_policies
    from hmarl_env.seeding import HELD_OUT_SEED

    run = HIERARCHY / "hierarchy__phase4__0"
    config = read_run_config(run)
    sc = config.scenario

    def cost(policies):
        df = evaluate(sc, policies, 200, seed=HELD_OUT_SEED)
        return df.groupby("episode")["total_cost"].sum().mean()

    learned = cost(load_policies(run))
    heuristic = cost(make_policies(sc, "tuned", config.heuristic_params))
    readme = RESULTS.read_text()
    assert f"| 0 | {learned:,.1f} | {heuristic:,.1f} |" in readme
    assert learned < heuristic
    for phase in ("phase1", "phase2", "phase3", "phase4"):
        gate = json.loads(
            (HIERARCHY / f"hierarchy__{phase}__0" / "gate.json").read_text()
        )
        assert all(
            e["role_passed"] and e["system_passed"] for e in gate["roles"].values()
        )
