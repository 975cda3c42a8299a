"""Training throughput of phase 1: the batched env runner beside RLlib's.

How to run:
    python benchmarks/training_throughput.py                  # each runner's defaults
    python benchmarks/training_throughput.py --stores 50      # a 50-store chain
    python benchmarks/training_throughput.py --grid           # runners x envs
    python benchmarks/training_throughput.py --profile        # where time goes
    python benchmarks/training_throughput.py --catalogue catalogue_2000 --profile

For each env runner (``batched``, ``pettingzoo``) and rollout setting it
builds phase 1 on the scenario (the default one, or ``--stores N`` stores
under one warehouse from the network generator), runs one warm-up iteration
and :data:`TIMED` warm-up train batches of sampling, then times :data:`TIMED`
train batches of sampling and :data:`TIMED` PPO iterations, and reports

* *sampling*: env steps per second of the env runners alone, timed around
  RLlib's own parallel sample of one train batch (remote runners sample at
  once, a core each);
* *iteration*: env steps per second of whole training iterations (sampling,
  the learner's update, weight sync, RLlib's metrics), wall clock;
* agent steps per second (env steps x agents) for chains with many agents;
* the batched runner's figures as ratios of the PettingZoo runner's measured
  in the same run.

``--catalogue NAME`` measures phase 1 on a catalogue instead (its own
runner, :mod:`experiments.catalogue_runner`, with the ``catalogue`` preset
and its replicas), in product decisions per second: env steps x stores x
products, each a row of the stores' module.

``--profile`` splits one iteration of each runner into sampling, the
learner's update (its connector pipeline, then the SGD minibatches) and the
rest (weight sync, metrics), from RLlib's timers. Uses every core of the
machine (the targets are for 2 cores).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from dataclasses import replace

import ray
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

from analysis.runs.settings import (
    CATALOGUE_REPLICAS,
    CATALOGUE_TIMESTEPS,
    CRITICS,
    PHASES,
    PPO_PRESETS,
    RunnerSettings,
)
from experiments.common import build_config
from hmarl_env import get_scenario
from hmarl_env.scenario import network

TIMED = 5
GRID = [(0, 16), (0, 64), (2, 16), (2, 32), (2, 64), (2, 128)]


def scenario_of(stores: int | None):
    if not stores:
        return get_scenario("default")
    return network(stores)  # every store under one warehouse


def measure(
    scenario, runners: RunnerSettings, ppo, profile: bool = False, timesteps=None
) -> dict:
    """Sampling and whole-iteration env steps per second of phase 1 (on a
    generated chain, which has no tuned heuristics, the warehouse and
    supplier follow the untuned base-stock rules)."""
    phase = PHASES["phase1"]
    if scenario.name != "default" and not scenario.products:
        phase = replace(
            phase, heuristic={"warehouse": "base_stock", "supplier": "base_stock"}
        )
    config = build_config(scenario, phase, ppo, runners, timesteps=timesteps)
    algo = config.build_algo()
    try:
        algo.train()  # warm-up: compiles, fills caches
        batch = config.total_train_batch_size

        def sample() -> None:
            synchronous_parallel_sample(
                worker_set=algo.env_runner_group,
                max_env_steps=batch,
                concat=True,
                _uses_new_env_runners=True,
            )

        for _ in range(TIMED):  # sampling's own warm-up (the first batches
            sample()  # after an update ran at half speed in tries)
        start = time.perf_counter()
        for _ in range(TIMED):
            sample()
        sampled = TIMED * batch  # RLlib samples at least the batch; count it
        sample_s = time.perf_counter() - start
        before = algo.train()["num_env_steps_sampled_lifetime"]
        start = time.perf_counter()
        for _ in range(TIMED):
            res = algo.train()
        whole_s = time.perf_counter() - start
        steps = res["num_env_steps_sampled_lifetime"] - before
        out = {"sampling": sampled / sample_s, "iteration": steps / whole_s}
        if profile:
            out["split"] = _split(algo, batch)
        return out
    finally:
        algo.stop()


def _split(algo, batch: int) -> dict[str, float]:
    """Seconds of one iteration's parts, each timed on its own: sampling a
    train batch, the learner's update on it (its connector pipeline and SGD),
    and a whole iteration; the rest is weight sync and RLlib's metrics."""
    cfg = algo.config
    start = time.perf_counter()
    episodes = synchronous_parallel_sample(
        worker_set=algo.env_runner_group,
        max_env_steps=batch,
        concat=True,
        _uses_new_env_runners=True,
    )
    sample = time.perf_counter() - start
    start = time.perf_counter()
    algo.learner_group.update(
        episodes=episodes,
        num_epochs=cfg.num_epochs,
        minibatch_size=cfg.minibatch_size,
        shuffle_batch_per_epoch=cfg.shuffle_batch_per_epoch,
        timesteps={},
    )
    learn = time.perf_counter() - start
    start = time.perf_counter()
    algo.train()
    whole = time.perf_counter() - start
    return {
        "iteration": whole,
        "sampling": sample,
        "learner": learn,
        "rest": max(whole - sample - learn, 0.0),
    }


def catalogue(name: str, profile: bool) -> None:
    """Phase 1 on a catalogue, in product decisions per second."""
    scenario = get_scenario(name).with_reward_mode("system")
    ppo = PPO_PRESETS["catalogue"]
    runners = RunnerSettings(0, CATALOGUE_REPLICAS)
    rows = len(scenario.store_index) * scenario.n_products
    print(
        f"phase-1 training throughput on {name} ({scenario.n_products} products, "
        f"{rows:,} product decisions an env step), preset catalogue (train "
        f"batch {ppo.train_batch_size} env steps = "
        f"{ppo.train_batch_size * rows:,} decisions, minibatch "
        f"{ppo.minibatch_size:,}, {ppo.num_epochs} epochs), "
        f"{CATALOGUE_REPLICAS} replicas in the driver, {platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    r = measure(scenario, runners, ppo, profile, CATALOGUE_TIMESTEPS)
    print(
        f"  sampling {r['sampling'] * rows:,.0f} decisions/s "
        f"({r['sampling']:,.1f} env steps/s); whole iterations "
        f"{r['iteration'] * rows:,.0f} decisions/s ({r['iteration']:,.1f} env "
        "steps/s)"
    )
    if "split" in r:
        s = r["split"]
        print(
            f"  one iteration {s['iteration']:.2f} s: sampling {s['sampling']:.2f} "
            f"s, learner {s['learner']:.2f} s (connectors and SGD), rest "
            f"{s['rest']:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=None, help="stores of a chain")
    parser.add_argument("--grid", action="store_true", help="runners x envs grid")
    parser.add_argument("--profile", action="store_true", help="split an iteration")
    parser.add_argument("--preset", choices=sorted(PPO_PRESETS), default="hmarl")
    parser.add_argument("--critic", choices=CRITICS, default="local")
    parser.add_argument("--env-runners", nargs="+", default=["batched", "pettingzoo"])
    parser.add_argument("--catalogue", default=None, help="a catalogue preset")
    args = parser.parse_args()
    ray.init(
        address="local",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    if args.catalogue:
        catalogue(args.catalogue, args.profile)
        ray.shutdown()
        return
    scenario = scenario_of(args.stores)
    agents = len(scenario.nodes) + 1
    ppo = replace(PPO_PRESETS[args.preset], critic=args.critic)
    grid = GRID if args.grid else [(None, None)]  # each env runner's defaults
    print(
        f"phase-1 training throughput, scenario {scenario.name!r} ({agents} "
        f"agents), preset {args.preset}, {args.critic} critic (train batch "
        f"{ppo.train_batch_size}, "
        f"minibatch {ppo.minibatch_size}, {ppo.num_epochs} epochs), "
        f"{platform.machine()}, {os.cpu_count()} cores"
    )
    print(
        f"{'env runner':>10} {'runners':>7} {'envs':>5} {'sampling steps/s':>17} "
        f"{'iteration steps/s':>18} {'iteration agent steps/s':>24}"
    )
    for runners, envs in grid:
        if (runners or 0) > os.cpu_count():
            continue
        results = {}
        for kind in args.env_runners:
            settings = RunnerSettings(runners, envs, kind)
            r = measure(scenario, settings, ppo, args.profile)
            results[kind] = r
            print(
                f"{kind:>10} {settings.num_env_runners:>7} "
                f"{settings.num_envs_per_env_runner:>5} {r['sampling']:>17,.0f} "
                f"{r['iteration']:>18,.0f} {r['iteration'] * agents:>24,.0f}",
                flush=True,
            )
            if "split" in r:
                s = r["split"]
                print(
                    f"{'':>10} one iteration {s['iteration']:.3f} s: sampling "
                    f"{s['sampling']:.3f} s, learner {s['learner']:.3f} s, rest "
                    f"{s['rest']:.3f} s"
                )
        if {"batched", "pettingzoo"} <= set(results):
            b, p = results["batched"], results["pettingzoo"]
            print(
                f"{'':>10} batched / pettingzoo: sampling "
                f"{b['sampling'] / p['sampling']:.1f}x, iteration "
                f"{b['iteration'] / p['iteration']:.1f}x"
            )
    ray.shutdown()


if __name__ == "__main__":
    main()
