"""Shared by the RLlib tests: running phase 1 in a subprocess on tiny budgets,
and a command that should be refused, in this process."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "--train-batch-size",
    "200",
    "--minibatch-size",
    "100",
    "--num-epochs",
    "1",
    "--eval-episodes",
    "4",
    "--num-env-runners",
    "0",
    "--num-envs-per-env-runner",
    "2",
    "--gate-episodes",
    "20",
]


def script(
    name: str,
    *args: str,
    timeout: int = 300,
    check: bool = True,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run ``experiments/<name>.py`` with ``args``; raise on failure if ``check``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run(
        # hmarl's own code must not call anything deprecated
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            str(ROOT / "experiments" / f"{name}.py"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
        )
    return proc


def refused(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``experiments/<name>.py``'s ``main`` with ``args`` in this process
    (a command that stops before training: a new process would spend seconds
    importing RLlib), its output captured as a subprocess's would be."""
    out, err = io.StringIO(), io.StringIO()
    main = importlib.import_module(f"experiments.{name}").main
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's errors
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(
        [name, *args], int(code or 0), out.getvalue(), err.getvalue()
    )


def phase1(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return script("phase1", *args, **kwargs)


def only_run(folder: Path) -> Path:
    runs = [p for p in folder.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def tiny_run(out: Path) -> Path:
    """Phase 1 for 400 env steps (two iterations), a checkpoint after each."""
    phase1(
        "--timesteps",
        "400",
        "--eval-interval",
        "1",
        "--checkpoint-interval",
        "1",
        "--output",
        str(out),
        *TINY,
    )
    return only_run(out)
