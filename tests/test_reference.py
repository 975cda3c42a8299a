"""The committed reference run: it loads, and its comparison regenerates exactly.

Every number of the README's results section comes from
results/reference/default__phase1__0/comparison/comparison_summary.json.
"""

import json
from pathlib import Path

import pytest

from analysis.compare import compare_runs

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "results" / "reference" / "default__phase1__0"


@pytest.fixture(scope="module")
def committed():
    return json.loads((RUN / "comparison" / "comparison_summary.json").read_text())


def test_the_comparison_regenerates_from_the_checkpoint(committed):
    fresh = compare_runs([RUN], episodes=committed["episodes"])["summary"]
    for metric in ("rewards", "service_level", "stockouts", "holding_cost"):
        for key in ("baseline", "ppo"):
            assert fresh[metric][key] == pytest.approx(committed[metric][key], rel=1e-9)
        assert fresh["vs_tuned"][metric]["baseline"] == pytest.approx(
            committed["vs_tuned"][metric]["baseline"], rel=1e-9
        )


def test_the_readme_quotes_the_committed_numbers(committed):
    readme = (ROOT / "README.md").read_text()
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
