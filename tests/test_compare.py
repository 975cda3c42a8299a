"""analysis.compare: statistics with known answers, outputs, clear errors."""

import json

import numpy as np
import pytest
from scipy import stats

from analysis.compare import bootstrap_ci, main, paired_summary


def test_bootstrap_of_a_constant_difference_is_that_constant():
    assert bootstrap_ci(np.full(50, 3.5)) == (3.5, 3.5)


def test_bootstrap_covers_the_true_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = rng.normal(2.0, 1.0, 100)
    large = rng.normal(2.0, 1.0, 2500)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_l < 2.0 < hi_l and lo_s < 2.0 < hi_s
    assert (hi_l - lo_l) < (hi_s - lo_s) / 3  # about 1 / sqrt(25)
    # close to the normal-theory interval of the mean
    half = 1.96 * large.std(ddof=1) / np.sqrt(large.size)
    assert hi_l - lo_l == pytest.approx(2 * half, rel=0.1)


def test_paired_summary_known_answers():
    base = np.array([100.0, 110.0, 90.0, 105.0, 95.0])
    learned = base + np.array([10.0, 12.0, 8.0, 11.0, 9.0])
    s = paired_summary(base, learned)
    assert s["baseline"] == 100.0 and s["ppo"] == 110.0
    assert s["improvement_pct"] == pytest.approx(10.0)
    assert s["difference"] == pytest.approx(10.0)
    lo, hi = s["difference_ci95"]
    assert 8.0 <= lo <= 10.0 <= hi <= 12.0
    assert s["p_value_paired_t"] == pytest.approx(stats.ttest_rel(learned, base).pvalue)
    assert s["p_value_wilcoxon"] == pytest.approx(stats.wilcoxon(learned, base).pvalue)
    costs = paired_summary(base, base - 20.0, higher_is_better=False)
    assert costs["improvement_pct"] == pytest.approx(20.0)  # lower cost is better
    same = paired_summary(base, base + 1.0)
    assert same["p_value_paired_t"] is None  # a constant difference: no test


def test_compare_a_run_writes_summary_and_plots(run, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["--run", str(run), "--episodes", "6", "--output", str(out)]) == 0
    summary = json.loads((out / "comparison_summary.json").read_text())
    for metric in ("rewards", "service_level", "lost_sales", "holding_cost"):
        for key in ("baseline", "ppo", "improvement_pct", "difference_ci95"):
            assert key in summary[metric]
        assert "ppo" in summary["vs_tuned"][metric]
    assert summary["roles"] == ["store"] and summary["episodes"] == 6
    for name in ("baseline_vs_ppo_comparison.png", "episode_trajectory.png"):
        assert (out / name).stat().st_size > 20_000
    rows = (out / "comparison_episodes.csv").read_text().splitlines()
    # episodes x agents x (run, seed, tuned, constant)
    assert len(rows) == 1 + 6 * 4 * 4
    assert summary["vs_constant"]["rewards"]["baseline"] > 0
    assert summary["acting"] == "greedy"
    assert summary["other_acting"]["acting"] == "sampled"
    assert "rewards" in capsys.readouterr().out


def test_several_runs_are_aggregated(run, tmp_path):
    import shutil

    other = tmp_path / "another_seed"  # a second run folder (same weights)
    shutil.copytree(run, other)
    out = tmp_path / "two"
    assert (
        main(["--run", str(run), str(other), "--episodes", "4", "--output", str(out)])
        == 0
    )
    summary = json.loads((out / "comparison_summary.json").read_text())
    assert summary["rewards"]["ppo_over_runs"]["runs"] == 2


def test_clear_errors(run, tmp_path, capsys):
    assert main(["--run", str(tmp_path / "missing")]) == 2
    assert "not an hmarl run folder" in capsys.readouterr().err
    assert (
        main(
            [
                "--run",
                str(run),
                "--scenario",
                "four_stores",
                "--episodes",
                "4",
                "--output",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "agents" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--run", str(run), str(run)])  # several runs need --output


def test_the_acting_rule_is_the_runs_own(tmp_path):
    """A run records how its learned modules act when judged (ppo.acting);
    loading it, comparing it and gating it use that rule unless told
    otherwise; runs recording different rules are not averaged silently."""
    import shutil
    from pathlib import Path

    from analysis.compare import compare_runs
    from analysis.runs.loading import load_policies

    reference = Path(__file__).resolve().parent.parent / "results/reference"
    run = reference / "default__phase1__0"
    copy = tmp_path / "default__phase1__0"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    assert "acting" not in config["ppo"]  # recorded before the setting: greedy
    assert load_policies(run)["store_1"].acting == "greedy"
    config["ppo"]["acting"] = "mean"
    (copy / "config.json").write_text(json.dumps(config))
    assert load_policies(copy)["store_1"].acting == "mean"
    assert load_policies(copy, acting="sampled")["store_1"].acting == "sampled"
    with pytest.raises(
        ValueError, match=r"record different acting rules \['greedy', 'mean'\]"
    ):
        compare_runs([run, copy], episodes=2)
    assert compare_runs([copy], episodes=2)["summary"]["acting"] == "mean"
