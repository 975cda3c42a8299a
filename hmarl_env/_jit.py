"""How hmarl compiles its kernels: numba's ``njit``, cached on disk when it can be.

numba caches compiled kernels next to the package, or in the user's cache
folder when the package's is read-only (``NUMBA_CACHE_DIR`` chooses another).
Where no folder can be written to, numba refuses to cache at import; the
kernels are then compiled in every process instead (a few seconds each).

Kernels follow numpy's error model, as the array code they replace did: a
division by zero gives ``inf`` or ``nan`` instead of raising.
"""

from __future__ import annotations

from collections.abc import Callable

from numba import njit

__all__ = ["kernel"]


def kernel(fn: Callable | None = None, *, inline: bool = False):
    """Compile ``fn`` with numba (``@kernel``, or ``@kernel(inline=True)`` for a
    helper that other kernels inline)."""

    def compile_(fn: Callable) -> Callable:
        options = {"error_model": "numpy", "inline": "always" if inline else "never"}
        try:
            return njit(cache=True, **options)(fn)
        except RuntimeError as exc:
            if "cannot cache" not in str(exc):
                raise
            return njit(**options)(fn)

    return compile_ if fn is None else compile_(fn)
