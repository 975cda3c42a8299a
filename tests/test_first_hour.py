"""A researcher's first hour, scripted: their own three-level chain from a
file, tuned, trained at a small budget and compared, through the commands
the README gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAIN = ROOT / "examples" / "three_level.toml"


def _hmarl(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "experiments.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=cwd,
    )
    assert done.returncode == 0, f"hmarl {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_a_first_hour_on_a_chain_of_ones_own(tmp_path):
    env = {**os.environ, "HMARL_RESULTS": str(tmp_path / "results")}
    env["PYTHONPATH"] = str(ROOT)
    work = tmp_path / "work"
    work.mkdir()
    _hmarl("validate", "--scenario", str(CHAIN), env=env, cwd=work)
    tuned = _hmarl(
        "tune",
        "--scenario",
        str(CHAIN),
        "--episodes",
        "2",
        "--held-out",
        "4",
        env=env,
        cwd=work,
    )
    assert "tuned 'three_level'" in tuned.stdout
    trained = _hmarl(
        "train",
        "phase1",
        "--scenario",
        str(CHAIN),
        "--timesteps",
        "1000",
        "--train-batch-size",
        "250",
        "--minibatch-size",
        "125",
        "--num-epochs",
        "1",
        "--num-env-runners",
        "0",
        "--num-envs-per-env-runner",
        "2",
        "--eval-interval",
        "0",
        "--gate-episodes",
        "10",
        env=env,
        cwd=work,
    )
    lines = [x for x in trained.stdout.splitlines() if x.startswith("iter")]
    assert len(lines) == 4
    ended = [k for k, x in enumerate(lines) if "store reward         -" not in x]
    assert ended and all(k in ended for k in range(ended[0], len(lines)))  # no dash
    assert "ETA" in lines[-1] and "100%" in lines[-1]
    run = next((tmp_path / "results").glob("three_level__phase1__0__*"))
    compared = _hmarl(
        "compare", "--run", str(run), "--episodes", "6", env=env, cwd=work
    )
    head = next(x for x in compared.stdout.splitlines() if x.startswith("metric"))
    assert head.split()[2] == "tuned"  # the tuned heuristic leads
    summary = json.loads((run / "comparison" / "comparison_summary.json").read_text())
    assert summary["scenario"] == "three_level" and summary["episodes"] == 6
    assert not any(work.iterdir())  # nothing written where the user stood


#: every other scenario file of examples/ (the three-level tree is the first
#: hour above; the catalogue has its own test)
OTHERS = ["two_stores", "serial_chain", "csv_demand", "fifty_stores"]


@pytest.mark.slow
def test_every_example_runs_end_to_end(tmp_path, monkeypatch, capsys):
    """Each example file validated, tuned, trained for one tiny phase-1 run and
    compared with the baselines, in one process and one Ray (CI time)."""
    import ray

    from experiments.train import start_ray

    monkeypatch.setenv("HMARL_RESULTS", str(tmp_path / "results"))
    started = start_ray(None)  # one Ray for every run below
    grids = ["--grid", "store.cover_offset=0,1", "--grid", "store.safety_factor=1,2"]
    grids += ["--grid", "warehouse.s_days=3,6", "--grid", "warehouse.gap_days=0,3"]
    try:
        _every_example(tmp_path, grids)
    finally:
        if started:
            ray.shutdown()
    printed = capsys.readouterr().out
    assert printed.count("ALL 5 VALIDATIONS PASSED") == len(OTHERS)


def _every_example(tmp_path, grids):
    from analysis.compare import main as compare
    from analysis.runs.settings import PHASES
    from baselines.tune import main as tune
    from experiments.train import main_for
    from hmarl_env.validate import main as validate
    from tests.helpers import TINY

    for name in OTHERS:
        chain = str(ROOT / "examples" / f"{name}.toml")
        assert validate(["--scenario", chain, "--steps", "4"]) == 0, name
        assert (
            tune(["--scenario", chain, "--episodes", "2", "--held-out", "2", *grids])
            == 0
        )
        out = tmp_path / name
        argv = ["--scenario", chain, "--timesteps", "200", *TINY, "--output", str(out)]
        argv += ["--gate-episodes", "0", "--eval-interval", "0"]
        assert main_for(PHASES["phase1"], "phase 1", argv) == 0, name
        run = next(out.iterdir())
        assert compare(["--run", str(run), "--episodes", "2"]) == 0, name
        assert (run / "comparison" / "comparison_summary.json").is_file()
