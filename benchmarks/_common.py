"""Helpers shared by the benchmarks: one core, best of several repeats."""

from __future__ import annotations

import os
import platform


def pin_one_core() -> str:
    """Run on one core with single-threaded BLAS; returns a line describing it.

    Call before importing numpy.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return f"{platform.machine()}, {os.cpu_count()} cores, 1 used"
