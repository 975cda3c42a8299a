"""Env steps per second of the PettingZoo env, and its cost over the bare core.

How to run:
    python benchmarks/env_throughput.py [--scenario default]

One env step is one ``ParallelEnv.step`` with every agent acting (random
actions drawn beforehand, so drawing them is not timed). The core figure is
``Simulation.step`` at batch 1 with fixed orders, measured in the same run.
Each figure is the best of five repeats of at least half a second, on one core.
Target (issue 3): 20,000 env steps/s.
"""

from __future__ import annotations

import argparse
import time

from _common import pin_one_core

MACHINE = pin_one_core()

import numpy as np  # noqa: E402

import hmarl_env  # noqa: E402
from hmarl_env import Simulation  # noqa: E402


def env_rate(env, actions, seconds: float = 0.5) -> float:
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset()
        for k in range(env.scenario.horizon):
            env.step(actions[k])
        steps += env.scenario.horizon
    return steps / (time.perf_counter() - start)


def core_rate(sim, orders, seconds: float = 0.5) -> float:
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sim.reset(rng)
        while not sim.done:
            sim.step(orders)
        steps += sim.scenario.horizon
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = hmarl_env.parallel_env(args.scenario)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [
        {a: int(rng.integers(env.action_space(a).n)) for a in env.possible_agents}
        for _ in range(env.scenario.horizon)
    ]
    sim = Simulation(env.scenario, batch_size=1)
    orders = env.scenario.mean_demand[None, :]
    env_best = core_best = 0.0
    for _ in range(args.repeats):  # interleaved, so both see the same machine
        env_best = max(env_best, env_rate(env, actions))
        core_best = max(core_best, core_rate(sim, orders))
    print(
        f"env throughput, scenario {env.scenario.name!r}, "
        f"{len(env.possible_agents)} agents, {MACHINE}"
    )
    print(f"env steps/s (all agents acting): {env_best:>10,.0f}")
    print(f"core periods/s at batch 1:       {core_best:>10,.0f}")
    print(f"env / core:                      {env_best / core_best:>10.2f}")


if __name__ == "__main__":
    main()
