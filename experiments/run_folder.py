"""Writing a run folder: the folder itself, its checkpoints and its metrics
files (the layout: :mod:`analysis.runs.folder`).

* A new folder is made race-free: two runs started in the same second get
  ``<stem>__<time>`` and ``<stem>__<time>-2``, never one folder.
* A checkpoint is saved under a hidden name, renamed into place when
  complete, and only then named in ``checkpoints/latest`` (replaced
  atomically), so a kill at any instant leaves ``latest`` naming a complete
  checkpoint.
* ``metrics.csv`` (one row per iteration) and ``training_metrics.json`` (the
  HMARL reference design's schema of the same rows) are rewritten atomically
  after every iteration.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import json
import logging
import math
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from analysis.runs.folder import (
    METRICS_FILE,
    complete_checkpoints,
    latest_name,
)
from hmarl_env.utils.io import write_atomic, write_json_atomic

__all__ = [
    "COLUMNS",
    "LEARNER_KEYS",
    "columns",
    "is_missing",
    "RunLock",
    "clean_strays",
    "new_run_folder",
    "restore_newest",
    "save_checkpoint",
    "write_metrics",
]

log = logging.getLogger("hmarl.train")

#: metrics.csv's columns for every phase (learner diagnostics follow: columns)
COLUMNS = (
    "iteration",
    "timesteps",
    "seconds",
    "env_steps_per_s",
    "store_reward",
    "warehouse_reward",
    "supplier_reward",
    "service_level",
    "lost_sales",
    "stockout_periods",
    "holding_cost",
    "eval_store_reward",
    "eval_warehouse_reward",
    "eval_supplier_reward",
    "eval_service_level",
)

#: learner diagnostics per trained module: column suffix -> RLlib's result key
#: (``learners/<module>/<key>``); RLlib logs each for the iteration's last
#: minibatch (window 1), so they are noisy: read trends, not single rows
LEARNER_KEYS = {
    "policy_loss": "policy_loss",
    "vf_loss": "vf_loss",
    "vf_loss_unclipped": "vf_loss_unclipped",
    "vf_explained_var": "vf_explained_var",
    "entropy": "entropy",
    "kl": "mean_kl_loss",
    "grad_norm": "gradients_default_optimizer_global_norm",
    "lr": "default_optimizer_learning_rate",
}
#: the HMARL reference design's training metrics file
REFERENCE_METRICS_FILE = "training_metrics.json"


def columns(trained: tuple[str, ...]) -> tuple[str, ...]:
    """metrics.csv's columns for a phase that trains ``trained`` modules."""
    return COLUMNS + tuple(f"{m}_{k}" for m in trained for k in LEARNER_KEYS)


def new_run_folder(root: Path, stem: str) -> Path:
    """A new, empty folder ``root/<stem>__<time>``, made atomically: a second
    process starting the same second gets ``-2`` (``-3``, ...) appended."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    k = 1
    while True:
        folder = root / (f"{stem}__{stamp}" if k == 1 else f"{stem}__{stamp}-{k}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            k += 1


class RunLock:
    """One writer per run: an exclusive lock on ``<run>/.lock`` held for as
    long as a process trains into the folder.

    The lock is the kernel's (``flock``), so it is freed when the process
    ends, however it ends (a kill included); the file itself stays and names
    the last holder. A second process is refused with the holder named.
    """

    FILE = ".lock"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        path = self.folder / self.FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip()
            os.close(fd)
            try:
                who = json.loads(holder)
                named = f"process {who['pid']} on {who['host']} since {who['since']}"
            except (ValueError, KeyError, TypeError):
                named = "another process"
            raise ValueError(
                f"{self.folder} is being trained by {named}: a run has one writer. "
                "Wait for it to finish (or stop it), then --resume"
            ) from None
        os.ftruncate(fd, 0)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": stamp}
        os.write(fd, json.dumps(holder).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def clean_strays(run_dir: Path) -> list[Path]:
    """Remove what an interrupted writer left half-written (temporary files of
    atomic writes, checkpoints saved under their hidden name); call only while
    holding the run's :class:`RunLock`. Returns what it removed."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                removed.append(path)
            elif path.name.startswith(".") and path.name.endswith(".partial"):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


# ----------------------------------------------------------------- checkpoints
def save_checkpoint(algo: Any, run_dir: Path, name: str) -> Path:
    """Save, then publish: ``checkpoints/latest`` names only complete checkpoints.

    The checkpoint is written under a hidden name, renamed into place when
    complete, and only then named in ``latest`` (replaced atomically). The
    checkpoint ``latest`` names is never removed: saving under that name (a
    finished run that trains on saves ``final`` again) publishes under
    ``<name>-<iteration>`` instead. A kill at any instant leaves ``latest``
    naming a complete checkpoint.
    """
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    if latest_name(run_dir) == name:
        name = f"{name}-{algo.iteration:06d}"
    tmp = root / f".{name}.partial"
    target = root / name
    _remove(tmp)
    try:
        algo.save_to_path(str(tmp.resolve()))
    except OSError as exc:  # a full disk, a quota, a vanished folder
        _remove(tmp)
        raise ValueError(
            f"saving checkpoint {name!r} into {root} failed: "
            f"{exc.strerror or exc}; the run's latest complete checkpoint is "
            f"still {latest_name(run_dir)!r} (make room, then --resume)"
        ) from None
    _remove(target)  # a stale copy that latest does not name
    _rename(tmp, target)
    _point_latest(root, name)
    return target


# the filesystem steps of publishing a checkpoint (a fault test fails each)
def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _rename(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def _point_latest(root: Path, name: str) -> None:
    write_atomic(root / "latest", lambda p: p.write_text(name + "\n"))


def point_latest(run_dir: Path, name: str) -> None:
    """Name ``name`` in the run's ``checkpoints/latest``."""
    _point_latest(run_dir / "checkpoints", name)


def restore_newest(algo: Any, run_dir: Path) -> Path:
    """Restore the newest checkpoint of ``run_dir`` that loads: the one
    ``latest`` names, else (with a warning naming what failed) the next
    complete one back. Loading a checkpoint unpickles it: trust its source."""
    candidates = complete_checkpoints(run_dir)
    named = latest_name(run_dir)
    candidates.sort(key=lambda p: p.name != named)  # latest first, then newest
    failures = []
    for ckpt in candidates:
        try:
            algo.restore_from_path(str(ckpt.resolve()))
            return ckpt
        except Exception as exc:  # pickle, torch and RLlib errors alike
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            failures.append(f"{ckpt.name} ({reason})")
            log.warning("checkpoint %s could not be restored (%s)", ckpt, reason)
            print(f"warning: skipped damaged checkpoint {ckpt}", file=sys.stderr)
    raise ValueError(
        f"no checkpoint of {run_dir} could be restored: " + "; ".join(failures)
    )


# --------------------------------------------------------------------- metrics
def is_missing(x: Any) -> bool:
    """A metric with no value (None or NaN: no episode ended)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def write_metrics(
    run_dir: Path, rows: list[dict[str, Any]], trained: tuple[str, ...] = ()
) -> None:
    """Rewrite ``metrics.csv`` and ``training_metrics.json`` from ``rows``."""
    names = columns(trained)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: ("" if is_missing(row.get(k)) else row.get(k)) for k in names}
        )
    write_atomic(run_dir / METRICS_FILE, lambda p: p.write_text(buf.getvalue()))
    write_json_atomic(run_dir / REFERENCE_METRICS_FILE, reference_schema(rows))


def reference_schema(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows in the HMARL reference design's ``training_metrics.json``
    schema (one entry per iteration; None where no episode ended)."""

    def col(k: str) -> list[float | None]:
        return [None if is_missing(r.get(k)) else float(r[k]) for r in rows]

    return {
        "episode_rewards": col("store_reward"),
        "episode_service_levels": col("service_level"),
        "episode_stockouts": col("stockout_periods"),
        "episode_holding_costs": col("holding_cost"),
        "timesteps": col("timesteps"),
        "iterations": col("iteration"),
        "note": "one entry per training iteration: the mean over the episodes that "
        "ended in it, per store (reward, holding cost; episode_stockouts are "
        "stockout periods: store-periods with unmet demand)",
    }
