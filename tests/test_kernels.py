"""The compiled kernels do what their Python source says.

The core and the roles are numba kernels. Run with ``NUMBA_DISABLE_JIT=1`` they
are plain Python; the same episodes, compiled and not, must agree bit for bit
(observations, rewards, infos, ledgers), in the env at batch 1 and in the
batched path the evaluator uses.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np

from tests.helpers import ROOT

ROLLOUT = """
import pickle, sys
import numpy as np
import hmarl_env
from hmarl_env import Simulation, get_scenario
from hmarl_env.roles import Roles

out = []
for name in ("default", "backorder", "four_stores", "serial", "seasonal"):
    env = hmarl_env.parallel_env(name, horizon=25, in_transit_holding=True)
    rng = np.random.default_rng(1)
    obs, infos = env.reset(seed=3)
    out.append((obs, infos))
    while env.agents:
        act = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        obs, rew, _, _, infos = env.step(act)
        out.append((obs, rew, infos, env.state()))
    # the batched path: 5 replicas, random actions, every kernel
    sc = get_scenario(name, horizon=25)
    sim, roles = Simulation(sc, 5), Roles(sc, 5)
    sim.reset([np.random.default_rng(s) for s in range(5)])
    roles.reset(sim)
    while not sim.done:
        obs = roles.observe_all(sim)
        nodes = rng.integers(0, 4, size=(5, sim.n_nodes))
        orders, fulfil = roles.decode(nodes, rng.integers(0, 3, size=5))
        led = sim.step(orders, fulfil)
        roles.update(sim, led)
        table = roles.period_table(led)
        out.append((obs, led.nodes, led.supplier, table, roles.rewards(table)))
compiled = type(hmarl_env.core._step).__name__ != "function"
sys.stdout.buffer.write(pickle.dumps((compiled, out)))
"""


def _rollout(jit: bool) -> list:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NUMBA_DISABLE_JIT", None)
    if not jit:
        env["NUMBA_DISABLE_JIT"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", ROLLOUT], capture_output=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    compiled, out = pickle.loads(proc.stdout)
    assert compiled == jit  # the switch took effect
    return out


def _same(a, b, where: str = "") -> None:
    assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}/{k}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def test_compiled_kernels_equal_their_python_source():
    compiled, python = _rollout(jit=True), _rollout(jit=False)
    assert len(compiled) == 5 * (1 + 25 + 25)
    _same(compiled, python)


def test_kernels_compile_where_no_cache_folder_can_be_written():
    """numba refuses ``cache=True`` at import when it finds no folder to keep the
    cache in (a read-only install and home); hmarl then compiles without it."""
    code = (
        "import hmarl_env, hmarl_env.core as core\n"
        "env = hmarl_env.parallel_env(horizon=3)\n"
        "env.reset(seed=0)\n"
        "while env.agents:\n"
        "    env.step({a: 1 for a in env.agents})\n"
        "print(type(core._step._cache).__name__)\n"
    )
    # numba looks for a cache folder with these locators only: none applies
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NUMBA_CACHE_LOCATOR_CLASSES": "ZipCacheLocator",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["NullCache"]
