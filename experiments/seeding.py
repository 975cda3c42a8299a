"""What a training seed reaches, and the one thing it cannot: string hashes.

A seeded run (``--seed``) seeds the env's generator for every episode, torch,
numpy and Python's ``random`` (RLlib's ``.debugging(seed=...)``). One source
of variation is out of its reach: Python randomises string hashes per process
unless ``PYTHONHASHSEED`` is set, and RLlib's multi-agent episodes keep the
agents that act in sets of their names, so the order in which the stores' rows
reach the shared module (and so which store gets which of the module's random
draws) changed from one process to the next: the same seeded command gave one
of two trajectories. The phase scripts, the pipeline and ``hmarl train`` /
``hmarl pipeline`` therefore run with ``PYTHONHASHSEED`` fixed
(:func:`fix_hash_seed`: a user's own value is kept), and remote env runners
get the same value (:func:`worker_env`).

What a seed guarantees, then (docs/reliability.md): with 0 env runners, the
same command gives bit-identical metrics (but the wall-clock columns)
whatever the environment it starts in (``HOME``, ``NUMBA_CACHE_DIR``, the
working folder), on the same machine and versions. With remote env runners
every runner seeds its episodes the same way and hashes as the driver does;
whether such runs are bit-identical has not been checked.
"""

from __future__ import annotations

import os
import sys

__all__ = ["HASH_SEED", "fix_hash_seed", "worker_env"]

#: the string-hash seed hmarl's training processes run with unless the user
#: set their own
HASH_SEED = "0"


def fix_hash_seed() -> None:
    """Make this process's string hashes fixed: if ``PYTHONHASHSEED`` is not
    set, set it and run the command again in this process (``os.execv``: the
    same process ID, arguments and interpreter options). Call it first thing
    in a script, before anything is imported or printed."""
    if os.environ.get("PYTHONHASHSEED", "random") not in ("", "random"):
        return  # the user's own, or already fixed
    os.environ["PYTHONHASHSEED"] = HASH_SEED
    flags = [f"-W{w}" for w in sys.warnoptions]
    flags += [f"-X{k}" if v is True else f"-X{k}={v}" for k, v in sys._xoptions.items()]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *flags, *sys.argv])


def worker_env() -> dict[str, str]:
    """The environment variables Ray's worker processes start with, so that
    remote env runners hash as the driver does."""
    own = os.environ.get("PYTHONHASHSEED", "random")
    return {"PYTHONHASHSEED": HASH_SEED if own in ("", "random") else own}
