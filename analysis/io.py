"""Atomic writes: a reader never sees half a file, a crash never leaves one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["results_dir", "write_atomic", "write_csv_atomic", "write_json_atomic"]


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it
    over ``path`` (atomic on POSIX). Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | Path, data: Any) -> Path:
    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")

    return write_atomic(path, write)


def write_csv_atomic(df, path: str | Path) -> Path:
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False))


def results_dir() -> Path:
    """Where runs and tuned baselines live: ``$HMARL_RESULTS`` if set, else the
    checkout's ``results/`` (beside ``pyproject.toml``), else ``./results``."""
    env = os.environ.get("HMARL_RESULTS")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "results"
    return Path.cwd() / "results"
