"""Local against central critics: phase 1 and the whole pipeline, side by side.

How to run (system rewards: where a critic that sees the chain should matter):
    python experiments/pipeline.py --scenario hierarchy --seed S --critic local
    python experiments/pipeline.py --scenario hierarchy --seed S --critic central
    python benchmarks/critic_comparison.py --local L0 L1 L2 --central C0 C1 C2

Each folder is a pipeline folder (S = 0, 1, 2 for each critic). For the
learned stores after phase 1 (warehouse and supplier tuned heuristics) and
the fully learned chain after phase 4, on the same held-out episodes (seeds
from 1,000,000): the chain's system ledger cost per episode (every agent's
ledger cost), the stores' reward in the reference design's own terms (the local reward,
per store and episode, whatever mode the run trained in), and the value
explained variance of every trained module (mean of each phase's last five
iterations). Beside them, the all-heuristic chain (tuned stores and warehouse,
always-fulfil supplier) on the same episodes. Per critic: each seed, and the
mean over seeds with its 95% t-interval; central minus local: the per-episode
difference of seed k's runs, pooled over seeds (CI over episode pairs), and
the interval over the reference design's mean differences. Writes
``results/benchmarks/critic_comparison_<scenario>.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _runs import last_diagnostic, pipeline_run, system_cost  # noqa: E402

from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from baselines.evaluate import evaluate  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from hmarl_env.registry import role_of  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import read_json, results_dir, write_json_atomic  # noqa: E402
from hmarl_env.utils.stats import mean_ci  # noqa: E402

#: what is judged: the stores after phase 1, the whole chain after phase 4
STAGES = ("phase1", "phase4")
PHASES = ("phase1", "phase2", "phase3", "phase4")


def store_reward(scenario, policies, episodes: int) -> np.ndarray:
    """The stores' local reward (the reference design's terms) per store and episode."""
    df = evaluate(scenario.with_reward_mode("local"), policies, episodes, HELD_OUT_SEED)
    stores = df[[role_of(a).name == "store" for a in df["agent"]]]
    return stores.groupby("episode")["episode_reward"].mean().to_numpy()


def judge(scenario, policies, episodes: int) -> dict[str, np.ndarray]:
    return {
        "system_cost": system_cost(scenario, policies, episodes),
        "store_reward": store_reward(scenario, policies, episodes),
    }


def one(folder: Path, episodes: int) -> dict:
    """A pipeline folder's figures (per-episode arrays under ``_episodes``)."""
    state = read_json(folder / "pipeline.json", f"{folder} is not a pipeline folder")
    out: dict = {"folder": str(folder), "seed": state["seed"], "_episodes": {}}
    for phase in PHASES:
        run = pipeline_run(folder, phase)
        config = read_run_config(run)
        out.setdefault("critic", config.ppo.critic)
        if config.ppo.critic != out["critic"]:
            raise ValueError(f"{folder}: {phase} ran with another critic")
        out[phase] = {
            "run": str(run),
            "diagnostics": {
                m: {
                    k: last_diagnostic(run, f"{m}_{k}")
                    for k in ("vf_explained_var", "entropy", "kl")
                }
                for m in config.phase.train
            },
        }
        if phase in STAGES:
            out["scenario"], out["params"] = config.scenario, config.heuristic_params
            figures = judge(config.scenario, load_policies(run), episodes)
            out["_episodes"][phase] = figures
            out[phase].update({k: float(v.mean()) for k, v in figures.items()})
    return out


def _ci(x: np.ndarray) -> list[float]:
    m, h = mean_ci(np.asarray(x, dtype=float))
    return [m, m - h, m + h]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", nargs="+", required=True, help="pipeline folders")
    parser.add_argument("--central", nargs="+", required=True, help="likewise")
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args(argv)
    if len(args.local) != len(args.central):
        parser.error("give as many --local as --central folders (paired by seed)")
    try:
        rows = {
            critic: [one(Path(f), args.episodes) for f in folders]
            for critic, folders in (("local", args.local), ("central", args.central))
        }
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for critic, runs in rows.items():
        wrong = [r["folder"] for r in runs if r["critic"] != critic]
        if wrong:
            print(
                f"error: {wrong} did not train with a {critic} critic", file=sys.stderr
            )
            return 2
    first = rows["local"][0]
    scenario = first["scenario"]
    heuristic = judge(
        scenario, make_policies(scenario, "tuned", first["params"]), args.episodes
    )
    record: dict = {
        "scenario": scenario.name,
        "reward_mode": scenario.rewards.mode,
        "episodes": args.episodes,
        "first_held_out_seed": HELD_OUT_SEED,
        "all_heuristic": {k: float(v.mean()) for k, v in heuristic.items()},
        "critics": {},
        "central_minus_local": {},
    }
    print(
        f"scenario {scenario.name!r} ({scenario.rewards.mode} rewards), "
        f"{args.episodes} held-out episodes (seeds {HELD_OUT_SEED:,}..); system "
        "ledger cost per episode, store reward (the reference design's local "
        "terms) per store "
        "and episode, value explained variance (last 5 iterations)"
    )
    print(
        f"all-heuristic chain: system cost {heuristic['system_cost'].mean():,.1f}, "
        f"store reward {heuristic['store_reward'].mean():,.1f}"
    )
    for critic, runs in rows.items():
        print(f"\n{critic} critic")
        for r in runs:
            ev = {
                p: " ".join(
                    f"{m} {d['vf_explained_var']:.2f}"
                    for m, d in r[p]["diagnostics"].items()
                )
                for p in PHASES
            }
            print(
                f"  seed {r['seed']}: phase 1 cost {r['phase1']['system_cost']:,.1f} "
                f"store {r['phase1']['store_reward']:.1f} (EV {ev['phase1']}); "
                f"phase 4 cost {r['phase4']['system_cost']:,.1f} store "
                f"{r['phase4']['store_reward']:.1f}; EV phase 2 {ev['phase2']}, "
                f"phase 3 {ev['phase3']}, phase 4 {ev['phase4']}"
            )
        summary: dict = {}
        for phase in STAGES:
            for key in ("system_cost", "store_reward"):
                summary[f"{phase}_{key}"] = _ci([r[phase][key] for r in runs])
        for phase in PHASES:
            for m in runs[0][phase]["diagnostics"]:
                summary[f"{phase}_{m}_vf_explained_var"] = _ci(
                    [r[phase]["diagnostics"][m]["vf_explained_var"] for r in runs]
                )
        record["critics"][critic] = {
            "summary": summary,
            "seeds": [
                {k: v for k, v in r.items() if k not in ("_episodes", "scenario")}
                for r in runs
            ],
        }
        print(
            "  over seeds (mean [95% CI]): "
            + "; ".join(
                f"{k} {v[0]:,.2f} [{v[1]:,.2f}, {v[2]:,.2f}]"
                for k, v in summary.items()
            )
        )
    print("\ncentral minus local (seed k with seed k, same episodes)")
    for phase in STAGES:
        for key in ("system_cost", "store_reward"):
            diffs = [
                c["_episodes"][phase][key] - loc["_episodes"][phase][key]
                for loc, c in zip(rows["local"], rows["central"], strict=True)
            ]
            pooled = _ci(np.concatenate(diffs))
            seeds = _ci([d.mean() for d in diffs])
            record["central_minus_local"][f"{phase}_{key}"] = {
                "pooled_episodes": pooled,
                "over_seeds": seeds,
            }
            print(
                f"  {phase} {key}: {pooled[0]:+,.1f} [{pooled[1]:,.1f}, "
                f"{pooled[2]:,.1f}] over {sum(len(d) for d in diffs)} episode pairs; "
                f"over seeds [{seeds[1]:,.1f}, {seeds[2]:,.1f}]"
            )
    path = results_dir() / "benchmarks" / f"critic_comparison_{scenario.name}.json"
    write_json_atomic(path, record)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
