"""Does the learned store policy beat the baselines? Phase 1 over several seeds.

How to run:
    python benchmarks/phase1_quality.py [--seeds 0 1 2] [--timesteps N] [--episodes 500]
    python benchmarks/phase1_quality.py --ppo-preset reference  # its PPO guide

Trains phase 1 once per training seed with the default budget (or
``--timesteps``) and the named PPO preset (default hmarl's; a finished run of
the same seed, budget and settings in the output folder is reused), then
evaluates on the held-out demand seeds (from 1,000,000) the learned stores
(acting greedily, and sampled from a generator seeded with the training seed),
the reference design's rule-based store, a store that always orders 1.0 x forecast and
the tuned base-stock store, all with the tuned warehouse and the always-fulfil
supplier (as in training), on the same demand. Reports the store episode
reward per store: per training seed (mean and 95% CI over episodes, paired
difference to each baseline), over training seeds (mean and 95% CI over
seeds) and pooled (the per-episode mean over seeds, paired with each
baseline), and the store critic's value explained variance over the last five
iterations. Writes ``results/benchmarks/phase1_quality_<preset>.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _runs import last_diagnostic  # noqa: E402

from analysis.runs.folder import is_finished  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.settings import (  # noqa: E402
    ENV_RUNNERS,
    PPO_PRESETS,
    RunnerSettings,
)
from baselines.evaluate import evaluate  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from experiments import phase1  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402
from hmarl_env.registry import role_of  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402
from hmarl_env.utils.stats import mean_ci  # noqa: E402

#: the rollout settings a reused run must share (each runner's defaults)
ROLLOUT = ("env_runner", "num_env_runners", "num_envs_per_env_runner")


def store_reward(policies, episodes: int) -> np.ndarray:
    """Per-episode reward per store on the held-out seeds."""
    df = evaluate("default", policies, episodes, seed=HELD_OUT_SEED)
    stores = df[df["role"] == "store"]
    return stores.groupby("episode")["episode_reward"].mean().to_numpy()


def finished_run(
    out: Path, seed: int, timesteps: int, ppo: dict, runner: str
) -> Path | None:
    """The newest complete run of this seed, budget, settings and env runner
    (at its default rollout settings) in ``out``."""
    wanted = asdict(RunnerSettings(env_runner=runner))
    for run in sorted(out.glob(f"default__phase1__{seed}__*"), reverse=True):
        if not is_finished(run):
            continue
        config = json.loads((run / "config.json").read_text())
        used = {"env_runner": "pettingzoo", **config.get("runners", {})}
        if (
            config["timesteps"] == timesteps
            and config["ppo"] == ppo
            and all(used.get(k) == wanted[k] for k in ROLLOUT)
        ):
            return run
    return None


def learned(args, out: Path, ppo: dict, runner: str, baselines: dict):
    """Train (or reuse) phase 1 per seed with ``runner`` and evaluate it:
    one entry per seed, and the pooled per-episode reward over seeds."""
    runs, per_episode = [], []
    for seed in args.seeds:
        run = finished_run(out, seed, args.timesteps, ppo, runner)
        if run is None:  # train it; a finished run of this budget is reused
            start = time.perf_counter()
            code = phase1.main(
                [
                    "--seed",
                    str(seed),
                    "--timesteps",
                    str(args.timesteps),
                    "--output",
                    str(out),
                    "--ppo-preset",
                    args.ppo_preset,
                    "--env-runner",
                    runner,
                    "--gate-episodes",
                    "0",
                ]
            )
            print(
                f"{runner} seed {seed}: {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            run = finished_run(out, seed, args.timesteps, ppo, runner)
            if code != 0 or run is None:
                raise SystemExit(f"training seed {seed} ({runner}) failed")
        with (run / "metrics.csv").open() as fh:
            train_s = sum(float(r["seconds"]) for r in csv.DictReader(fh))
        entry = {
            "seed": seed,
            "env_runner": runner,
            "rollout": [
                RunnerSettings(env_runner=runner).num_env_runners,
                RunnerSettings(env_runner=runner).num_envs_per_env_runner,
            ],
            "run": str(run),
            "train_seconds": train_s,
            "vf_explained_var": last_diagnostic(run, "store_vf_explained_var"),
        }
        for acting in ("greedy", "sampled"):
            x = store_reward(
                load_policies(run, acting=acting, seed=seed), args.episodes
            )
            m, h = mean_ci(x)
            entry[acting] = {"mean": m, "ci95": h}
            for name, b in baselines.items():
                dm, dh = mean_ci(x - b)
                entry[acting][f"minus {name}"] = {"mean": dm, "ci95": dh}
            if acting == "greedy":
                per_episode.append(x)
        runs.append(entry)
    return runs, np.mean(per_episode, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=phase1.PHASE.timesteps)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--output", default=None, help="folder for the runs")
    parser.add_argument("--ppo-preset", choices=sorted(PPO_PRESETS), default="hmarl")
    parser.add_argument(
        "--env-runners",
        nargs="+",
        choices=ENV_RUNNERS,
        default=["batched"],
        help="train with each (two: their pooled difference is reported too)",
    )
    args = parser.parse_args()
    sc = get_scenario("default")
    out = (
        Path(args.output)
        if args.output
        else results_dir() / "benchmarks" / f"phase1_{args.ppo_preset}"
    )
    ppo = json.loads(json.dumps(asdict(PPO_PRESETS[args.ppo_preset])))
    tuned = make_policies(sc, "tuned")

    def stores(kind: str) -> dict:
        return {
            a: p
            for a, p in make_policies(sc, kind).items()
            if role_of(a).name == "store"
        }

    baselines = {  # only the stores differ: warehouse and supplier as in training
        "rule-based": store_reward({**tuned, **stores("rule_based")}, args.episodes),
        "constant 1.0x": store_reward({**tuned, **stores("constant")}, args.episodes),
        "tuned base-stock": store_reward(tuned, args.episodes),
    }
    record = {
        "ppo_preset": args.ppo_preset,
        "ppo": ppo,
        "timesteps": args.timesteps,
        "episodes": args.episodes,
        "first_held_out_seed": HELD_OUT_SEED,
        "baselines": {},
        "runs": [],
    }
    for name, x in baselines.items():
        m, h = mean_ci(x)
        record["baselines"][name] = {"mean": m, "ci95": h}
    pooled_of: dict[str, np.ndarray] = {}
    for runner in args.env_runners:
        runs, pooled = learned(args, out, ppo, runner, baselines)
        pooled_of[runner] = pooled
        record["runs"] += runs
        learned_means = [e["greedy"]["mean"] for e in runs]
        m, h = mean_ci(np.array(learned_means))
        record.setdefault("learned_over_seeds", {})[runner] = {"mean": m, "ci95": h}
        record.setdefault("pooled", {})[runner] = {}
        for name, b in baselines.items():
            dm, dh = mean_ci(pooled - b)
            record["pooled"][runner][f"minus {name}"] = {"mean": dm, "ci95": dh}
    if len(pooled_of) == 2:
        (a, x), (b, y) = pooled_of.items()
        dm, dh = mean_ci(x - y)
        record["runner_difference"] = {"runners": [a, b], "mean": dm, "ci95": dh}
    path = write_json_atomic(
        results_dir() / "benchmarks" / f"phase1_quality_{args.ppo_preset}.json",
        record,
    )

    print(
        f"\nPPO preset {args.ppo_preset!r}, {args.timesteps:,} env steps; store "
        f"episode reward per store, {args.episodes} held-out episodes "
        f"(seeds {HELD_OUT_SEED:,}..), mean ± 95% CI"
    )
    for name, v in record["baselines"].items():
        print(f"  {name:<24} {v['mean']:8.1f} ± {v['ci95']:.1f}")
    for e in record["runs"]:
        for acting in ("greedy", "sampled"):
            r = e[acting]
            diffs = ", ".join(
                f"{k} {v['mean']:+.1f} ± {v['ci95']:.1f}"
                for k, v in r.items()
                if k.startswith("minus")
            )
            print(
                f"  {e['env_runner']:<10} seed {e['seed']} {acting:<8} "
                f"{r['mean']:8.1f} ± {r['ci95']:.1f}   ({diffs})"
            )
        print(
            f"  {e['env_runner']:<10} seed {e['seed']}: trained "
            f"{e['train_seconds']:.0f} s, value explained variance "
            f"{e['vf_explained_var']:.2f} (last 5 iterations)"
        )
    for runner, v in record["learned_over_seeds"].items():
        print(
            f"  {runner:<10} greedy, {len(args.seeds)} seeds {v['mean']:8.1f} ± "
            f"{v['ci95']:.1f} (CI over training seeds)"
        )
        print(
            f"  {runner:<10} pooled over seeds: "
            + ", ".join(
                f"{k} {v['mean']:+.1f} ± {v['ci95']:.1f}"
                for k, v in record["pooled"][runner].items()
            )
        )
    if "runner_difference" in record:
        d = record["runner_difference"]
        print(
            f"  pooled, {d['runners'][0]} minus {d['runners'][1]}: "
            f"{d['mean']:+.1f} ± {d['ci95']:.1f}"
        )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
