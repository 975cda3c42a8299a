"""Adapting a family policy to instances outside its family: fine-tuning it
against training from scratch, in env steps to reach 1% of the optimum.

How to run (the family run is benchmarks/generalization.py's):
    python experiments/phase1.py --family lost_sales_family --timesteps 16000000 \\
        --lr-end 1e-4 --acting mean --hiddens 128,128 --checkpoint-interval 100 \\
        --output runs/family
    I=lost_sales_family@lead_time=5,mean=5,penalty=9     # each of INSTANCES
    python experiments/phase1.py --family $I --from runs/family/<its run> \\
        --timesteps 400000 --lr 1e-4 --checkpoint-interval 2 --output runs/adapt
    python experiments/phase1.py --family $I --timesteps 2000000 --lr-end 1e-4 \\
        --acting mean --hiddens 128,128 --checkpoint-interval 5 --output runs/adapt
    python benchmarks/adaptation.py --runs runs/adapt

Two starting policies side by side (say, the family run and a continuation
of it): fine-tune each on the instances, each into its own folder, and
name the folders:
    ... --family $I --from <the other run> ... --output runs/adapt_other
    python benchmarks/adaptation.py --runs runs/adapt \
        --tuned runs/adapt runs/adapt_other

Each instance is the family pinned to values outside its ranges (a lead
time of 5 where the family has 1-4, a penalty of 69 where it has 4-39, a
mean demand of 2 where it has 3-8): one instance, seen through the family's
layout and context (:meth:`hmarl_env.scenario.family.Family.at`). Under
``--runs``, the newest run that fine-tunes a family policy on it (phase 1
with ``--from``) and the newest that trains the same network on it from
scratch (``--tuned``: the newest fine-tuning run in each folder, one per
starting policy). Every checkpoint of each (and, for fine-tuning, the family
policy it started from, at 0 env steps), up to the first within 1%
(``--whole-curve``: all of them), acts on monitoring episodes (seeds from
2,000,000, ``--episodes`` x ``--horizon`` periods) beside the optimal policy
on the same episodes: a run's **env steps to 1%** are those of its first
checkpoint whose mean gap is at most 1% of the exact optimum. The last
checkpoint of each run is then judged once on held-out episodes (seeds from
1,000,000). The ratio is scratch's env steps over fine-tuning's (the target
is 10).

The exact optimum is :func:`baselines.optimal.solve_instance`'s. A lead time
of 5 with the family's orders ``0..17`` exceeds the solver's grid; it is
solved over orders ``0..15`` (the largest bound that fits), the optimum
wherever the optimal policy orders 15 or less (on the same instance with a
lead time of 4, bounds of 11 and 15 give the full optimum to 1e-9).

Writes ``results/benchmarks/adaptation.json`` (instances judged earlier with
the same episodes keep their rows).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.runs.folder import newest_run, read_metrics  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from analysis.runs.settings import MONITOR_SEED  # noqa: E402
from benchmarks._runs import checkpoints, per_period_cost, solved_costs  # noqa: E402
from benchmarks._tables import ci, fmt  # noqa: E402
from hmarl_env.scenario.family import get_family  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402

#: instances outside lost_sales_family's ranges, one parameter each
INSTANCES = (
    "lost_sales_family@lead_time=5,mean=5,penalty=9",
    "lost_sales_family@lead_time=2,mean=5,penalty=69",
    "lost_sales_family@lead_time=3,mean=2,penalty=19",
)
#: the gap a run must reach, % of the exact optimum
TARGET_PCT = 1.0


def curve(
    points, scenario, optimal_cost, optimal, episodes, horizon, whole: bool = True
) -> list[dict]:
    """Each (env steps, checkpoint or run) acting on ``scenario``'s monitoring
    episodes: its gap to the optimal policy's ``optimal`` costs there, % of
    the exact optimum; up to the first within :data:`TARGET_PCT` unless
    ``whole``."""
    out = []
    for steps, where in points:
        cost = per_period_cost(
            scenario,
            load_policies(where, scenario.replace(horizon=horizon)),
            episodes,
            horizon,
            MONITOR_SEED,
        )
        gap = ci(100 * (cost - optimal) / optimal_cost)
        out.append({"env_steps": steps, "checkpoint": str(where), "gap_pct": gap})
        if not whole and gap["mean"] <= TARGET_PCT:
            break
    return out


def steps_to(points: list[dict], target: float = TARGET_PCT) -> float | None:
    """The env steps of the first point whose mean gap is at most ``target``."""
    for p in points:
        if p["gap_pct"]["mean"] <= target:
            return p["env_steps"]
    return None


def one(
    name: str,
    roots: list[Path],
    episodes: int,
    horizon: int,
    held_out: int,
    tuned_roots: list[Path] | None = None,
    whole: bool = True,
):
    """One instance: the newest run from scratch under ``roots`` and, under
    each folder of ``tuned_roots`` (default: ``roots`` together), the newest
    run that fine-tunes a family policy on it; None where there are none.
    Each run's curve goes up to its first checkpoint within the target unless
    ``whole``."""
    family = get_family(name)
    scenario = family.sample(0)

    def newest(where: list[Path], fine_tuned: bool) -> Path | None:
        return newest_run(
            where,
            lambda c: (
                c.family == family.name
                and c.phase.name == "phase1"
                and bool(c.source) == fine_tuned
            ),
        )

    starts = [[r] for r in tuned_roots] if tuned_roots else [roots]
    tuned = [run for where in starts if (run := newest(where, True)) is not None]
    scratch = newest(roots, False)
    if not tuned and scratch is None:
        return None
    solved, monitor = solved_costs(scenario, episodes, horizon, MONITOR_SEED)
    _, held = solved_costs(scenario, held_out, horizon, solved=solved)
    solution = solved["optimal"][1]

    def judged(run: Path) -> dict:
        points = checkpoints(run)
        source = read_run_config(run).source
        if source:  # the family policy it started from, zero-shot
            points = [(0.0, Path(source["run"])), *points]
        monitored = curve(
            points,
            scenario,
            solution.cost,
            monitor["optimal"],
            episodes,
            horizon,
            whole,
        )
        final = per_period_cost(
            scenario,
            load_policies(points[-1][1], scenario.replace(horizon=horizon)),
            held_out,
            horizon,
        )
        out = {
            "run": str(run),
            "env_steps": points[-1][0],
            "seconds": float(sum(r["seconds"] for r in read_metrics(run))),
            "steps_to_target": steps_to(monitored),
            "held_out_gap_pct": ci(100 * (final - held["optimal"]) / solution.cost),
            "curve": monitored,
        }
        if source:
            out["zero_shot_gap_pct"] = monitored[0]["gap_pct"]
            out["start"] = start_of(Path(source["run"]))
        return out

    row: dict = {
        "instance": name,
        "params": {k: family.pin[k] for k in family.varied},
        "optimum": solution.cost,
        "optimum_name": solution.name,
        "fine_tuned": [judged(run) for run in tuned],
        "scratch": judged(scratch) if scratch is not None else None,
    }
    b = (row["scratch"] or {}).get("steps_to_target")
    for entry in row["fine_tuned"]:  # none where the start is already there
        a = entry["steps_to_target"]
        entry["ratio"] = b / a if a and b else None
    return row


def start_of(run: Path) -> str:
    """What a fine-tuning run started from: the family run's training
    (continued from another run or not) and its env steps."""
    config = read_run_config(run)
    rows = read_metrics(run)
    steps = rows[-1]["timesteps"] if rows else 0.0
    more = ", continued" if config.source else ""
    return f"family run{more}, {steps:,.0f} env steps"


def _ratio(x: float | None, steps: float | None = None) -> str:
    if steps == 0.0:
        return "within 1% zero-shot"
    return "-" if x is None else f"{x:.1f}x"


def _steps(x: float | None) -> str:
    return "not reached" if x is None else f"{x:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", nargs="+", default=["results"], help="the runs (from scratch)"
    )
    parser.add_argument(
        "--tuned",
        nargs="+",
        default=None,
        help="folders of fine-tuning runs, one per starting policy (default: --runs)",
    )
    parser.add_argument(
        "--instances", nargs="+", default=list(INSTANCES), help="pinned families"
    )
    parser.add_argument("--episodes", type=int, default=100, help="monitoring")
    parser.add_argument("--held-out", type=int, default=200, help="held-out episodes")
    parser.add_argument("--horizon", type=int, default=1000)
    parser.add_argument(
        "--whole-curve",
        action="store_true",
        help="judge every checkpoint on the monitoring episodes (default: up "
        "to the first within the target; the last is judged held-out either way)",
    )
    args = parser.parse_args(argv)
    if min(args.episodes, args.held_out, args.horizon) < 1:
        parser.error("--episodes, --held-out and --horizon must be >= 1")
    for name in args.instances:
        try:
            if not get_family(name).pin:
                parser.error(f"{name}: name a pinned family (<family>@<values>)")
        except ValueError as exc:
            parser.error(str(exc))
    roots = [Path(r) for r in args.runs]
    tuned = [Path(r) for r in args.tuned] if args.tuned else None
    rows = []
    for name in args.instances:
        row = one(
            name,
            roots,
            args.episodes,
            args.horizon,
            args.held_out,
            tuned,
            args.whole_curve,
        )
        if row is None:
            print(f"{name}: no finished runs under {args.runs}", file=sys.stderr)
            continue
        rows.append(row)
        print(f"{name}: done", file=sys.stderr, flush=True)
    if not rows:
        parser.error("no runs of any instance: train them first (see --help)")
    print(
        f"env steps to {TARGET_PCT:g}% of the exact optimum on {args.episodes} "
        f"monitoring episodes x {args.horizon} periods (first checkpoint there); "
        f"final gaps on {args.held_out} held-out episodes, % of the optimum, "
        "95% CI; ratio: env steps to 1% from scratch over fine-tuning's\n"
    )
    print(
        "| instance | optimum | start | zero-shot gap % | env steps to 1% "
        "| final gap % | env steps | ratio |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        label = r["instance"].split("@")[1]
        for e in [*r["fine_tuned"], *([r["scratch"]] if r["scratch"] else [])]:
            print(
                f"| {label} | {r['optimum']:.3f} | {e.get('start', 'from scratch')} "
                f"| {fmt(e.get('zero_shot_gap_pct'), 2)} "
                f"| {_steps(e['steps_to_target'])} "
                f"| {fmt(e['held_out_gap_pct'], 2)} | {e['env_steps']:,.0f} "
                f"| {_ratio(e.get('ratio'), e['steps_to_target'])} |"
            )
    path = results_dir() / "benchmarks" / "adaptation.json"
    record = {
        "episodes": args.episodes,
        "held_out": args.held_out,
        "horizon": args.horizon,
        "rows": rows,
    }
    # the file keeps the newest judgement of each instance: instances judged
    # earlier with the same episodes stay
    if path.is_file():
        old = json.loads(path.read_text())
        if all(old.get(k) == record[k] for k in ("episodes", "held_out", "horizon")):
            judged = {r["instance"] for r in rows}
            kept = [r for r in old.get("rows", []) if r["instance"] not in judged]
            record["rows"] = kept + rows
    write_json_atomic(path, record)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
