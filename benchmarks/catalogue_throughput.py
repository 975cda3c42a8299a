"""Speed of hmarl's catalogues: the env, the core and the evaluator.

How to run:
    python benchmarks/catalogue_throughput.py

* the PettingZoo env on ``catalogue_2000`` (and the smaller presets): env
  steps a second, every agent acting (random actions drawn beforehand),
  resets included; target 500 on one core;
* the core (``Simulation.step``, fixed orders) at batch 1, 16 and 64:
  node-product periods a second (replicas x nodes x products per step), in
  the steps alone and over whole episodes (the demand drawn at reset
  included, as ``core_throughput.py`` counts), each period's ledger written
  over the last (``out=``) and, at batch 64 of ``catalogue_2000``, into new
  blocks; target 20 million at batch 64;
* the evaluator: 1,000 episodes of ``catalogue_500`` under the tuned
  per-product base-stock policy; target under a minute.

Each rate is the best of three repeats of at least a second, on one core.
"""

from __future__ import annotations

import argparse
import time

from _common import pin_one_core

MACHINE = pin_one_core()

import numpy as np  # noqa: E402

import hmarl_env  # noqa: E402
from baselines.catalogue import (  # noqa: E402
    BaseStock,
    evaluate_catalogue,
    product_levels,
)
from hmarl_env import Simulation, get_scenario  # noqa: E402

PRESETS = ("catalogue_50", "catalogue_500", "catalogue_2000")


def best(rate, repeats: int) -> float:
    return max(rate() for _ in range(repeats))


def env_rate(name: str, repeats: int) -> float:
    env = hmarl_env.parallel_env(name)
    env.reset(seed=0)
    actions = [
        {a: env.action_space(a).sample() for a in env.possible_agents}
        for _ in range(env.scenario.horizon)
    ]

    def once() -> float:
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < 1.0:
            env.reset()
            for k in range(env.scenario.horizon):
                env.step(actions[k])
            steps += env.scenario.horizon
        return steps / (time.perf_counter() - start)

    return best(once, repeats)


def core_rate(
    name: str, batch: int, repeats: int, reuse: bool = True
) -> tuple[float, float]:
    """(node-product periods/s in ``Simulation.step`` alone, and over whole
    episodes with the demand drawn at reset), best of ``repeats``; ``reuse``:
    each period's ledger written over the last one's (``out=``, as the
    evaluator steps), else new blocks every period."""
    sc = get_scenario(name)
    sim = Simulation(sc, batch_size=batch)
    sim.reset(np.random.default_rng(0))
    orders = np.full((batch, sim.n_columns), 1.0)
    sim.step(orders)
    per_step = batch * sim.n_columns

    def once() -> tuple[float, float]:
        steps, in_steps, start = 0, 0.0, time.perf_counter()
        led = None
        while time.perf_counter() - start < 1.0:
            sim.reset(np.random.default_rng(steps))
            while not sim.done:
                t = time.perf_counter()
                led = sim.step(orders, out=led if reuse else None)
                in_steps += time.perf_counter() - t
                steps += 1
        return steps * per_step / in_steps, steps * per_step / (
            time.perf_counter() - start
        )

    runs = [once() for _ in range(repeats)]
    return max(r[0] for r in runs), max(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {MACHINE}")
    print("env steps/s (PettingZoo, every agent acting, resets included):")
    for name in PRESETS:
        rate = env_rate(name, args.repeats)
        target = "  (target 500)" if name == "catalogue_2000" else ""
        print(f"  {name:15s} {rate:9,.0f}{target}")
    print(
        "core, million node-product periods/s: steps alone | whole episodes "
        "(ledger blocks reused with out=)"
    )
    for name in PRESETS:
        cells = []
        for b in (1, 16, 64):
            steps, episodes = core_rate(name, b, args.repeats)
            cells.append(f"B={b}: {steps / 1e6:5.1f} | {episodes / 1e6:5.1f}")
        print(f"  {name:15s} " + "   ".join(cells))
    fresh, _ = core_rate("catalogue_2000", 64, args.repeats, reuse=False)
    print(
        f"  catalogue_2000 at B=64 with new ledger blocks each period: "
        f"{fresh / 1e6:.1f}"
    )
    print("  (target: 20 M at batch 64)")
    sc = get_scenario("catalogue_500")
    policy = BaseStock(product_levels(sc, 1.5))
    evaluate_catalogue(sc, policy, 8)  # compile and warm
    start = time.perf_counter()
    df = evaluate_catalogue(sc, policy, args.episodes)
    seconds = time.perf_counter() - start
    print(
        f"evaluator: {len(df):,} episodes of catalogue_500 in {seconds:.1f} s "
        "(target under 60 s)"
    )


if __name__ == "__main__":
    main()
