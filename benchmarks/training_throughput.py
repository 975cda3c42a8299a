"""Training throughput of phase 1 (env steps per second) over a small grid.

How to run:
    python benchmarks/training_throughput.py [--presets hmarl reference]
    python benchmarks/training_throughput.py --presets hmarl --grid defaults \
        --critics local central --repeats 3      # central vs local critic

For each PPO preset and rollout setting: one warm-up iteration, then
:data:`TIMED` timed PPO iterations of the preset's train batch on the default
scenario (their total steps over their total time). "sampling" is the env
runners' share (RLlib's env_runner_sampling_timer), "iteration" the whole
training step with the learner's update. Remote env runners take a CPU each
and sample while the driver waits; the driver then learns. Uses every core of
the machine (the target, 2,000 env steps/s, is for 2 cores).

With ``--critics local central`` each setting is measured with both critics,
alternating, ``--repeats`` times, and the central critic's throughput is
printed as a ratio of the local one's measured in the same run (the central
critic's env runners pair every observation with the global state, and its
learner evaluates a wider value network).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
from dataclasses import replace

import numpy as np
import ray

from analysis.runs.settings import (
    CRITICS,
    PPO_PRESETS,
    Phase,
    PPOSettings,
    RunnerSettings,
)
from experiments.common import build_config
from hmarl_env import get_scenario

TIMED = 5
GRID = [(0, 1), (0, 8), (0, 16), (1, 8), (2, 4), (2, 8), (2, 16)]
DEFAULTS = [(2, 16)]  # the phase scripts' rollout defaults


def measure(runners: int, envs: int, ppo: PPOSettings) -> tuple[float, float]:
    """(sampling, whole iteration) env steps/s of phase 1 with these settings."""
    sc = get_scenario("default")
    steps = ppo.train_batch_size
    config = build_config(
        sc, Phase("phase1", ("store",)), ppo, RunnerSettings(runners, envs)
    )
    algo = config.build_algo()
    try:
        before = algo.train()["num_env_steps_sampled_lifetime"]  # warm-up
        sample = whole = 0.0
        for _ in range(TIMED):
            res = algo.train()
            timers = res["timers"]
            sample += timers["env_runner_sampling_timer"]
            whole += timers["training_iteration"]
        # runners finish their episodes' steps: count what was sampled
        steps = res["num_env_steps_sampled_lifetime"] - before
        return steps / sample, steps / whole
    finally:
        algo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets",
        nargs="+",
        choices=sorted(PPO_PRESETS),
        default=["hmarl", "reference"],
    )
    parser.add_argument(
        "--critics",
        nargs="+",
        choices=CRITICS,
        default=["local"],
        help="value functions to measure (default: local)",
    )
    parser.add_argument(
        "--grid",
        choices=("full", "defaults"),
        default="full",
        help="rollout settings: the full grid or the phase scripts' defaults (2x16)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="measurements of each cell"
    )
    args = parser.parse_args()
    ray.init(
        address="local",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    print(
        f"phase-1 training throughput, default scenario, {platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"{'preset':>7} {'critic':>7} {'runners':>7} {'envs/runner':>11} "
        f"{'minibatch':>9} {'sampling steps/s':>17} {'iteration steps/s':>18}"
    )
    grid = GRID if args.grid == "full" else DEFAULTS
    whole_of: dict[tuple, list[float]] = {}
    for preset in args.presets:
        for runners, envs in grid:
            if runners > os.cpu_count():  # a CPU each; the driver waits meanwhile
                continue
            for _ in range(args.repeats):
                for critic in args.critics:
                    ppo = replace(PPO_PRESETS[preset], critic=critic)
                    sample, whole = measure(runners, envs, ppo)
                    whole_of.setdefault((preset, runners, envs, critic), []).append(
                        whole
                    )
                    cells = (
                        f"{preset:>7} {critic:>7} {runners:>7} {envs:>11} "
                        f"{ppo.minibatch_size:>9}"
                    )
                    print(f"{cells} {sample:>17,.0f} {whole:>18,.0f}", flush=True)
    if set(args.critics) == {"local", "central"}:
        for (preset, runners, envs, critic), central in whole_of.items():
            if critic != "central":
                continue
            local = whole_of[(preset, runners, envs, "local")]
            print(
                f"{preset} {runners}x{envs}: central / local critic, whole "
                f"iteration: {np.mean(central) / np.mean(local):.2f} (means of "
                f"{len(central)}: {np.mean(central):,.0f} vs {np.mean(local):,.0f} "
                "env steps/s)"
            )
    ray.shutdown()


if __name__ == "__main__":
    main()
