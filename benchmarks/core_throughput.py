"""Env-periods per second of the simulation core on the default scenario.

How to run:
    python benchmarks/core_throughput.py [--batches 1 64 4096] [--scenario default]

One env-period is one period of one replica. "episodes" counts whole episodes
(the demand drawn at reset included); "steps" counts the time in
``Simulation.step`` alone. Each figure is the best of five repeats of at least
half a second, on one core. Targets (issue 2): 30,000 at batch 1 and
10 million at batch 4096.
"""

from __future__ import annotations

import argparse
import time

from _common import pin_one_core

MACHINE = pin_one_core()

import numpy as np  # noqa: E402  (after pinning threads)

from hmarl_env import Simulation, get_scenario  # noqa: E402


def measure(sim: Simulation, orders: np.ndarray, seconds: float = 0.5):
    """(episode periods/s, step periods/s) of one repeat."""
    rng = np.random.default_rng(0)
    periods, in_steps = 0, 0.0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        sim.reset(rng)
        t0 = time.perf_counter()
        while not sim.done:
            sim.step(orders)
        in_steps += time.perf_counter() - t0
        periods += sim.scenario.horizon * sim.batch_size
    total = time.perf_counter() - start
    return periods / total, periods / in_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 4096])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sc = get_scenario(args.scenario)
    print(f"core throughput, scenario {sc.name!r} (horizon {sc.horizon}), {MACHINE}")
    print(f"{'batch':>6} {'episodes: periods/s':>22} {'steps: periods/s':>18}")
    for batch in args.batches:
        sim = Simulation(sc, batch_size=batch)
        # every node orders its expected throughput: a steady, realistic load
        orders = np.tile(sc.mean_demand, (batch, 1))
        runs = [measure(sim, orders) for _ in range(args.repeats)]
        episode, step = (max(r[i] for r in runs) for i in (0, 1))
        print(f"{batch:>6} {episode:>22,.0f} {step:>18,.0f}")


if __name__ == "__main__":
    main()
