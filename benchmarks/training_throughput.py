"""Training throughput of phase 1 (env steps per second) over a small grid.

How to run:
    python benchmarks/training_throughput.py [--presets hmarl seeds]

For each PPO preset and rollout setting: one warm-up iteration, then
:data:`TIMED` timed PPO iterations of the preset's train batch on the default
scenario (their total steps over their total time). "sampling" is the env
runners' share (RLlib's env_runner_sampling_timer), "iteration" the whole
training step with the learner's update. Remote env runners take a CPU each
and sample while the driver waits; the driver then learns. Uses every core of
the machine (the target, 2,000 env steps/s, is for 2 cores).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform

import ray

from experiments.common import build_config
from experiments.config import PPO_PRESETS, Phase, PPOSettings, RunnerSettings
from hmarl_env import get_scenario

TIMED = 5
GRID = [(0, 1), (0, 8), (0, 16), (1, 8), (2, 4), (2, 8), (2, 16)]


def measure(runners: int, envs: int, ppo: PPOSettings) -> tuple[float, float]:
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
        "--presets", nargs="+", choices=sorted(PPO_PRESETS), default=["hmarl", "seeds"]
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
        f"{'preset':>7} {'runners':>7} {'envs/runner':>11} {'minibatch':>9} "
        f"{'sampling steps/s':>17} {'iteration steps/s':>18}"
    )
    for preset in args.presets:
        ppo = PPO_PRESETS[preset]
        for runners, envs in GRID:
            if runners > os.cpu_count():  # a CPU each; the driver waits meanwhile
                continue
            sample, whole = measure(runners, envs, ppo)
            cells = f"{preset:>7} {runners:>7} {envs:>11} {ppo.minibatch_size:>9}"
            print(f"{cells} {sample:>17,.0f} {whole:>18,.0f}", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
