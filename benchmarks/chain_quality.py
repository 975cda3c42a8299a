"""Does the fully learned chain beat the all-heuristic chain on the system's cost?

How to run:
    python experiments/pipeline.py --scenario hierarchy --seed S --force  # S: 0, 1, 2
    python benchmarks/chain_quality.py results/hierarchy__pipeline__*     # folders
    python benchmarks/chain_quality.py <batched folders> --against <pettingzoo folders>

For each pipeline folder, the chain after phase 4 (every role learned, acting
greedily) and the heuristic chains are evaluated on the same held-out episodes
(seeds from 1,000,000) of the pipeline's scenario, in its reward mode: the
all-heuristic chain (tuned base-stock stores, tuned (s, S) warehouse,
always-fulfil supplier: ``tuned``), the same with a smoothing supplier
(``smoothing``), and the rule-based heuristics (``seed``). Reports per seed and pooled
over seeds the system's ledger cost per episode (every agent's total cost),
paired with each heuristic chain: the mean difference and its 95% CI (per
episode; pooled: the per-episode differences of every seed together, and the
t-interval over the reference design's means). Also each phase's gate (role and system
verdicts) and the pipeline's wall-clock. With ``--against`` (pipelines
trained otherwise, e.g. with ``--env-runner pettingzoo``), those chains on
the same episodes and the difference of the two pooled chains: per episode,
each side's cost averaged over its seeds, paired (mean and 95% CI), and
Welch's interval over the seeds' means. Writes
``results/benchmarks/chain_quality_<scenario>.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _runs import pipeline_run, system_cost  # noqa: E402

from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import read_json, results_dir, write_json_atomic  # noqa: E402
from hmarl_env.utils.stats import mean_ci  # noqa: E402

HEURISTICS = ("tuned", "smoothing", "rule_based")


def one(folder: Path, episodes: int) -> dict:
    state = read_json(folder / "pipeline.json", f"{folder} is not a pipeline folder")
    run = pipeline_run(folder, "phase4")
    config = read_run_config(run)
    sc, params = config.scenario, config.heuristic_params
    learned = system_cost(sc, load_policies(run), episodes)
    out = {
        "folder": str(folder),
        "seed": state["seed"],
        "env_runner": config.runners.env_runner,
        "reward_mode": sc.rewards.mode,
        "learned": float(learned.mean()),
        "seconds": sum(s.get("seconds", 0.0) for s in state["steps"].values()),
        "gates": {
            step: {
                role: {k: g.get(k) for k in ("passed", "outcome", "system_passed")}
                for role, g in s.get("gate", {}).items()
            }
            for step, s in state["steps"].items()
            if step.startswith("phase")
        },
        "versus": {},
        "_learned": learned,
    }
    for kind in HEURISTICS:
        base = system_cost(sc, make_policies(sc, kind, params), episodes)
        m, h = mean_ci(learned - base)
        out["versus"][kind] = {
            "heuristic": float(base.mean()),
            "difference": m,
            "ci95": [m - h, m + h],
            "_diff": learned - base,
        }
    return out


def compared(rows: list[dict], others: list[dict]) -> dict:
    """The folders' chain against the ``--against`` folders' on the same
    episodes: each side's cost per episode averaged over its seeds, paired by
    episode (mean and 95% CI), and the interval over the seeds' means."""
    for r in others:
        print(
            f"against seed {r['seed']} ({r['env_runner']}): learned "
            f"{r['learned']:.1f}  ({r['seconds'] / 60:.1f} min)"
        )
    a = np.mean([r["_learned"] for r in rows], axis=0)
    b = np.mean([r["_learned"] for r in others], axis=0)
    m, h = mean_ci(a - b)
    sa = np.array([r["learned"] for r in rows])
    sb = np.array([r["learned"] for r in others])
    # the seeds' means, unpaired: Welch's interval of the difference
    se = np.sqrt(sa.var(ddof=1) / len(sa) + sb.var(ddof=1) / len(sb))
    dof = se**4 / (
        (sa.var(ddof=1) / len(sa)) ** 2 / (len(sa) - 1)
        + (sb.var(ddof=1) / len(sb)) ** 2 / (len(sb) - 1)
    )
    t = float(stats.t.ppf(0.975, dof))
    d = float(sa.mean() - sb.mean())
    print(
        f"pooled learned chain {a.mean():.1f} against {b.mean():.1f}: difference "
        f"{m:+.1f} [{m - h:.1f}, {m + h:.1f}] over {len(a)} paired episodes; "
        f"over the seeds' means [{d - t * se:.1f}, {d + t * se:.1f}]"
    )
    return {
        "learned": float(a.mean()),
        "against": float(b.mean()),
        "difference": m,
        "ci95_episodes": [m - h, m + h],
        "ci95_seeds": [d - t * se, d + t * se],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="pipeline folders")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument(
        "--against",
        nargs="+",
        default=[],
        metavar="FOLDER",
        help="pipeline folders to compare with (e.g. trained with --env-runner "
        "pettingzoo): each seed's chain on the same episodes, and the pooled "
        "difference",
    )
    args = parser.parse_args(argv)
    try:
        rows = [one(Path(f), args.episodes) for f in args.folders]
        others = [one(Path(f), args.episodes) for f in args.against]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scenario = read_run_config(
        pipeline_run(Path(args.folders[0]), "phase4")
    ).scenario.name
    print(
        f"system ledger cost per episode, {args.episodes} held-out episodes "
        f"(seeds {HELD_OUT_SEED:,}..), scenario {scenario!r}; learned minus heuristic "
        "chain, mean [95% CI]"
    )
    for r in rows:
        cells = "  ".join(
            f"{k} {v['heuristic']:.1f}: {v['difference']:+.1f} "
            f"[{v['ci95'][0]:.1f}, {v['ci95'][1]:.1f}]"
            for k, v in r["versus"].items()
        )
        print(
            f"seed {r['seed']} ({r['reward_mode']}, {r['env_runner']}): learned "
            f"{r['learned']:.1f}  {cells}  ({r['seconds'] / 60:.1f} min)"
        )
    pooled = {}
    for kind in HEURISTICS:
        diffs = np.concatenate([r["versus"][kind]["_diff"] for r in rows])
        m, h = mean_ci(diffs)
        sm, sh = mean_ci(np.array([r["versus"][kind]["difference"] for r in rows]))
        pooled[kind] = {
            "difference": m,
            "ci95_episodes": [m - h, m + h],
            "ci95_seeds": [sm - sh, sm + sh],
        }
        print(
            f"pooled vs {kind}: {m:+.1f} [{m - h:.1f}, {m + h:.1f}] over "
            f"{len(diffs)} episode pairs; over seeds [{sm - sh:.1f}, {sm + sh:.1f}]"
        )
    against = compared(rows, others) if others else None
    for r in [*rows, *others]:
        r.pop("_learned")
        for v in r["versus"].values():
            v.pop("_diff")
    path = results_dir() / "benchmarks" / f"chain_quality_{scenario}.json"
    record = {"episodes": args.episodes, "seeds": rows, "pooled": pooled}
    if others:
        record.update(against_seeds=others, against=against)
    write_json_atomic(path, record)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
