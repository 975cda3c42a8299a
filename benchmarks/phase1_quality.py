"""Does the learned store policy beat the baselines? Phase 1 over several seeds.

How to run:
    python benchmarks/phase1_quality.py [--seeds 0 1 2] [--timesteps N] [--episodes 500]

Trains phase 1 once per training seed with the default budget (or
``--timesteps``; a finished run of the same seed and budget in the output
folder is reused), then evaluates on the held-out demand seeds (from 1,000,000)
the greedy learned stores, the seeds' rule-based store and the tuned base-stock
store, all with the tuned warehouse and the always-fulfil supplier (as in
training), on the same demand. Reports the store episode reward per store: per
training seed (mean and 95% CI over episodes, paired difference to each
baseline) and over
training seeds (mean and 95% CI over seeds). Writes the table to
``results/benchmarks/phase1_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.io import results_dir, write_json_atomic  # noqa: E402
from analysis.stats import mean_ci  # noqa: E402
from baselines.evaluate import evaluate  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from baselines.tune import HELD_OUT_SEED  # noqa: E402
from experiments import phase1  # noqa: E402
from experiments.loading import load_policies  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402


def store_reward(policies, episodes: int) -> np.ndarray:
    """Per-episode reward per store on the held-out seeds."""
    df = evaluate("default", policies, episodes, seed=HELD_OUT_SEED)
    stores = df[df["role"] == "store"]
    return stores.groupby("episode")["episode_reward"].mean().to_numpy()


def finished_run(out: Path, seed: int, timesteps: int) -> Path | None:
    """The newest complete run of this seed and budget in ``out``, if any."""
    for run in sorted(out.glob(f"default__phase1__{seed}__*"), reverse=True):
        latest = run / "checkpoints" / "latest"
        if not (latest.is_file() and latest.read_text().strip() == "final"):
            continue
        if json.loads((run / "config.json").read_text())["timesteps"] == timesteps:
            return run
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=phase1.DEFAULT_TIMESTEPS)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--output", default=None, help="folder for the runs")
    args = parser.parse_args()
    sc = get_scenario("default")
    out = Path(args.output) if args.output else results_dir() / "benchmarks" / "phase1"
    tuned = make_policies(sc, "tuned")
    seed_stores = {
        a: p for a, p in make_policies(sc, "seed").items() if a.startswith("store")
    }
    baselines = {  # only the stores differ: warehouse and supplier as in training
        "seed rule": store_reward({**tuned, **seed_stores}, args.episodes),
        "tuned base-stock": store_reward(tuned, args.episodes),
    }
    record = {
        "timesteps": args.timesteps,
        "episodes": args.episodes,
        "first_held_out_seed": HELD_OUT_SEED,
        "baselines": {},
        "runs": [],
    }
    for name, x in baselines.items():
        m, h = mean_ci(x)
        record["baselines"][name] = {"mean": m, "ci95": h}
    learned_means = []
    for seed in args.seeds:
        run = finished_run(out, seed, args.timesteps)
        if run is None:  # train it; a finished run of this budget is reused
            code = phase1.main(
                [
                    "--seed",
                    str(seed),
                    "--timesteps",
                    str(args.timesteps),
                    "--output",
                    str(out),
                    "--eval-interval",
                    "0",
                ]
            )
            run = finished_run(out, seed, args.timesteps)
            if code != 0 or run is None:
                raise SystemExit(f"training seed {seed} failed")
        learned = store_reward(load_policies(run), args.episodes)
        m, h = mean_ci(learned)
        entry = {"seed": seed, "run": str(run), "learned": {"mean": m, "ci95": h}}
        for name, x in baselines.items():
            dm, dh = mean_ci(learned - x)
            entry[f"minus {name}"] = {"mean": dm, "ci95": dh}
        record["runs"].append(entry)
        learned_means.append(m)
    m, h = mean_ci(np.array(learned_means))
    record["learned_over_seeds"] = {"mean": m, "ci95": h}
    path = write_json_atomic(
        results_dir() / "benchmarks" / "phase1_quality.json", record
    )

    print(
        f"\nstore episode reward per store, {args.episodes} held-out episodes "
        f"(seeds {HELD_OUT_SEED}..), mean ± 95% CI"
    )
    for name, v in record["baselines"].items():
        print(f"  {name:<22} {v['mean']:8.1f} ± {v['ci95']:.1f}")
    for e in record["runs"]:
        diffs = ", ".join(
            f"{k} {v['mean']:+.1f} ± {v['ci95']:.1f}"
            for k, v in e.items()
            if k.startswith("minus")
        )
        print(
            f"  learned, seed {e['seed']:<8} {e['learned']['mean']:8.1f} ± "
            f"{e['learned']['ci95']:.1f}   ({diffs})"
        )
    v = record["learned_over_seeds"]
    print(
        f"  learned, {len(args.seeds)} seeds     {v['mean']:8.1f} ± {v['ci95']:.1f} "
        "(CI over training seeds)"
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
