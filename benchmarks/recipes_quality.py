"""Do the other libraries' recipes learn? Each at its documented budget.

How to run (``pip install -c constraints.txt -e ".[rllib,integrations]"``):
    python benchmarks/recipes_quality.py [--recipes sb3 torchrl benchmarl]

Trains each recipe once (training seed 0 unless ``--seed``) at the budget its
module documents (phase 1's: 200,000 env steps), with one torch thread, and
times it. Then, on the same held-out episodes (seeds from 1,000,000; warehouse
and supplier the tuned heuristics), scores the store reward per store and
episode of: each recipe's stores (greedy), a store that always orders 1.0 x
forecast, the rule-based store, the tuned base-stock store, and RLlib's phase 1
(the committed reference run, ``results/reference/default__phase1__0``).
Prints the table of docs/integrations.md (mean ± 95% CI over episodes, and each recipe's
paired difference to the constant order and the rule-based store with its 95% CI)
and writes ``results/benchmarks/recipes_quality.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from analysis.compare import swap_roles  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from baselines.evaluate import evaluate  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from experiments.recipes import benchmarl_ippo, sb3_ppo, torchrl_ppo  # noqa: E402
from experiments.recipes._learning import set_threads  # noqa: E402
from experiments.recipes._report import with_heuristics  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402
from hmarl_env.registry import role_of  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402
from hmarl_env.utils.stats import mean_ci  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference" / "default__phase1__0"
STEPS = 200_000  # env steps: phase 1's budget


def _sb3(seed: int):
    model = sb3_ppo.train("default", timesteps=2 * STEPS, seed=seed)  # two stores
    return sb3_ppo.SB3Policy(model), "400,000 store decisions (200,000 env steps)"


def _torchrl(seed: int):
    actor = torchrl_ppo.train("default", frames=STEPS, seed=seed)
    return torchrl_ppo.store_policy(actor), "200,000 frames"


def _benchmarl(seed: int):
    folder = results_dir() / "benchmarks" / "benchmarl"
    experiment = benchmarl_ippo.run("default", frames=STEPS, seed=seed, folder=folder)
    return benchmarl_ippo.store_policy(experiment), "200,000 frames"


RECIPES = {
    "sb3": ("Stable-Baselines3 PPO + SuperSuit", _sb3),
    "torchrl": ("TorchRL ClipPPOLoss", _torchrl),
    "benchmarl": ("BenchMARL IPPO", _benchmarl),
}


def store_reward(scenario, policies, episodes: int) -> np.ndarray:
    df = evaluate(scenario, policies, episodes, seed=HELD_OUT_SEED)
    stores = df[[role_of(a).name == "store" for a in df["agent"]]]
    return stores.groupby("episode")["episode_reward"].mean().to_numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipes", nargs="+", choices=sorted(RECIPES), default=list(RECIPES)
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args(argv)
    set_threads(1)
    sc = get_scenario("default")
    tuned = make_policies(sc, "tuned")
    rows: dict[str, dict] = {}

    def add(name: str, policies, budget: str = "", seconds: float | None = None):
        x = store_reward(sc, policies, args.episodes)
        m, h = mean_ci(x)
        rows[name] = {"budget": budget, "seconds": seconds, "mean": m, "ci95": h}
        rows[name]["_x"] = x

    for name, kind in (
        ("constant 1.0 x forecast", "constant"),
        ("rule-based store", "rule_based"),
    ):
        add(name, swap_roles(tuned, sc, kind, ["store"], None))
    add("tuned base-stock", tuned)
    if (REFERENCE / "config.json").is_file():
        add("RLlib phase 1 (reference run)", load_policies(REFERENCE), "200,000 steps")
    for key in args.recipes:
        label, fit = RECIPES[key]
        start = time.perf_counter()
        policy, budget = fit(args.seed)
        seconds = time.perf_counter() - start
        print(f"{label}: trained in {seconds:.0f} s", flush=True)
        add(label, with_heuristics(sc, policy), budget, seconds)
    constant = rows["constant 1.0 x forecast"]["_x"]
    seed_rule = rows["rule-based store"]["_x"]
    print(
        f"\nstore reward per store and episode, {args.episodes} held-out episodes "
        f"(seeds {HELD_OUT_SEED:,}..), default scenario, training seed {args.seed}; "
        "mean ± 95% CI; learned minus baseline, paired by episode [95% CI]\n"
    )
    print(
        "| policy | budget | wall-clock | store reward | vs constant | "
        "vs rule-based store |\n|---|---|---:|---:|---:|---:|"
    )
    for name, r in rows.items():
        x = r.pop("_x")
        cells = []
        for key, base in (
            ("minus_constant", constant),
            ("minus_seeds_rule", seed_rule),
        ):
            if r["budget"]:
                m, h = mean_ci(x - base)
                cells.append(f"{m:+.1f} [{m - h:.1f}, {m + h:.1f}]")
                r[key] = [m, m - h, m + h]
            else:
                cells.append("")
        clock = f"{r['seconds'] / 60:.1f} min" if r["seconds"] else ""
        print(
            f"| {name} | {r['budget']} | {clock} | {r['mean']:.1f} ± "
            f"{r['ci95']:.1f} | {cells[0]} | {cells[1]} |"
        )
    path = results_dir() / "benchmarks" / "recipes_quality.json"
    write_json_atomic(path, {"episodes": args.episodes, "seed": args.seed, **rows})
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
