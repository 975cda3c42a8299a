"""Sweeps on Ray: seeds and settings of a phase as concurrent Tune trials,
each a normal run folder, resumable by running the sweep again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.sweep import _grid, trials

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--timesteps", "400", "--train-batch-size", "200", "--minibatch-size", "100"]
TINY += ["--num-epochs", "1", "--num-envs-per-env-runner", "2", "--eval-interval"]
TINY += ["0", "--gate-episodes", "0"]


def test_trials_are_every_seed_of_every_setting():
    got = trials([0, 1], [("lr", [1e-3, 3e-4]), ("gamma", [0.9])])
    assert [t["name"] for t in got] == [
        "seed0_lr0.001_gamma0.9",
        "seed1_lr0.001_gamma0.9",
        "seed0_lr0.0003_gamma0.9",
        "seed1_lr0.0003_gamma0.9",
    ]
    assert trials([3], []) == [{"name": "seed3", "seed": 3, "ppo": {}}]
    assert _grid("lambda=0.9,0.95") == ("lambda_", ["0.9", "0.95"])
    with pytest.raises(Exception, match="--grid takes a PPO setting"):
        _grid("learning_rate=1")


def _sweep(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "sweep.py"), "phase1"]
        + ["--seeds", "0", "1", *TINY, "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_two_seeds_run_as_concurrent_trials_into_normal_run_folders(tmp_path):
    done = _sweep(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted(
        p for p in tmp_path.iterdir() if p.is_dir() and "__phase1__" in p.name
    )
    assert [r.name.split("__")[2] for r in runs] == ["0", "1"]
    for run in runs:
        config = json.loads((run / "config.json").read_text())
        assert config["sweep"]["trial"] == f"seed{config['seed']}"
        assert config["sweep"]["node"] and config["sweep"]["address"]
        assert len(config["sweep"]["node_id"]) > 16
        assert (run / "checkpoints" / "latest").read_text().strip() == "final"
    again = _sweep(tmp_path)  # finished trials are kept, nothing retrains
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p for p in tmp_path.iterdir() if "__phase1__" in p.name) == runs
    assert all(str(r) in again.stdout for r in runs)
