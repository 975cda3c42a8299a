"""Atomic writes: a reader never sees half a file, a crash never leaves one."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "read_text_file",
    "check_output_dir",
    "check_output_file",
    "read_json",
    "results_dir",
    "write_atomic",
    "write_csv_atomic",
    "write_json_atomic",
]


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


def read_json(path: str | Path, missing: str) -> Any:
    """The JSON document at ``path``; a ``ValueError`` saying ``missing`` if
    there is no such file, or naming the file if it is corrupt."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(missing)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is corrupt: {exc}") from None


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a file a user wrote (a scenario, a demand trace), with a
    ``ValueError`` that names ``what`` and the file where it cannot be read:
    missing, a folder, a symbolic-link loop, or not UTF-8 text. A UTF-8
    byte-order mark (as spreadsheet programs write) is accepted and dropped."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{what} {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {str(path)!r} is a folder, not a file") from None
    except OSError as exc:  # a symlink loop, no permission, ...
        raise ValueError(
            f"{what} {str(path)!r} cannot be read: {exc.strerror}"
        ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(
            f"{what} {str(path)!r} is UTF-16 text; save it as UTF-8 (in a "
            "spreadsheet program: CSV UTF-8)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start} is "
            f"0x{data[exc.start]:02x}; Latin-1 or another encoding?): save it as "
            "UTF-8"
        ) from None


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN float as None (a missing value: JSON has no NaN).
    Infinities stay: a scenario's unlimited capacity is one, and Python's
    JSON reads them back."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy scalar
        return _finite(obj.item())
    return obj


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON, atomically; a NaN (a missing value) is written
    as null."""

    def write(tmp: Path) -> None:
        text = json.dumps(_finite(data), indent=2, sort_keys=False)
        tmp.write_text(text + "\n")

    return write_atomic(path, write)


def write_csv_atomic(df, path: str | Path) -> Path:
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False))


def results_dir() -> Path:
    """Where runs and tuned baselines live: ``$HMARL_RESULTS`` if set, else the
    checkout's ``results/`` (beside ``pyproject.toml``), else ``./results``."""
    env = os.environ.get("HMARL_RESULTS")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "results"
    return Path.cwd() / "results"


def check_output_dir(path: str | Path, what: str) -> Path:
    """Make sure ``path`` is a folder this process can write in, or can become
    one, before any work is done; a ``ValueError`` naming ``what`` if not.
    Nothing is created: a folder that does not exist yet is made by whoever
    writes into it first, so a run refused later leaves nothing behind."""
    path = Path(path)
    for part in (path, *path.parents):  # the nearest thing that exists
        if part.exists():
            if not part.is_dir():
                where = "" if part == path else f": {str(part)!r}"
                raise ValueError(
                    f"{what} {str(path)!r} cannot be a folder{where} is a file, "
                    "not a folder"
                    if where
                    else f"{what} {str(path)!r} is a file, not a folder"
                )
            break
    if part != path:  # not there yet: its nearest existing folder must take it
        if not os.access(part, os.W_OK | os.X_OK):
            raise ValueError(
                f"{what} {str(path)!r} cannot be made: {str(part)!r} is not writable"
            )
        return path
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
    except OSError as exc:
        raise ValueError(f"{what} {str(path)!r} is not writable: {exc}") from None
    os.close(fd)
    os.unlink(probe)
    return path


def check_output_file(path: str | Path, what: str) -> Path:
    """Make sure a file can be written at ``path`` (its folder writable, no
    folder in the way) before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder, not a file")
    check_output_dir(path.parent if str(path.parent) else Path("."), f"{what}'s folder")
    return path
