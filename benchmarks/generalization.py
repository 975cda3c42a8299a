"""One policy for a family of single-stage instances, zero-shot against each
instance's exact optimum.

How to run:
    python experiments/phase1.py --family lost_sales_family --timesteps 16000000 \\
        --lr-end 1e-4 --acting mean --hiddens 128,128 --checkpoint-interval 100 \\
        --output runs/family
    python benchmarks/generalization.py --runs runs/family

The family run (the newest finished phase-1 run on ``--family`` under
``--runs``) trained on a new instance of the family every episode
(:mod:`hmarl_env.scenario.family`). Here it acts, without further training,
on test instances it never trained on: Zipkin's eight (L 1-4, penalty 4 and
39, mean 5; inside the family's ranges, so instances of the family, which
draws penalty and mean from continuous ranges and never drew these exact
values) and ``--draws`` instances drawn from the family with seeds of their
own (from :data:`TEST_SEED`, a stream apart from training's). For each:
the exact optimum and best base-stock policy (:func:`baselines.optimal.solve_instance`),
then, simulated on the same held-out episodes (seeds from 1,000,000,
``--horizon`` periods each), the optimal policy, the best base-stock policy
and the family policy (acting as its run records, and greedily beside it);
each gap is paired with the optimal policy on the
same episodes, in % of the exact optimum, with its 95% CI.

``--choose N`` judges, instead of the run's final modules, the one of its
last ``N`` checkpoints (with ``--choose-acting``: each acting by the mean
and greedily) whose mean gap to the optimum is lowest on ``--validation``
instances drawn from the family with the monitoring seeds (from
2,000,000), ``--validation-episodes`` monitoring episodes each: a choice
made on instances and episodes apart from the test's.

Training cost: the family run's env steps and wall-clock, against training
one policy per test instance with the single-instance recipe
(:data:`PER_INSTANCE_STEPS` env steps each, the lost-sales recipe's budget)
and, where ``--runs`` holds single-instance runs of an instance, their
measured cost.

Writes ``results/benchmarks/generalization.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.runs.folder import newest_run, training_cost  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from analysis.runs.settings import MONITOR_SEED  # noqa: E402
from baselines.optimal import ZIPKIN_TABLE  # noqa: E402
from benchmarks._runs import checkpoints, per_period_cost, solved_costs  # noqa: E402
from benchmarks._tables import ci, fmt  # noqa: E402
from hmarl_env.scenario.family import FAMILIES, get_family  # noqa: E402
from hmarl_env.seeding import FAMILY_TEST_SEED as TEST_SEED  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402

#: env steps of the single-instance lost-sales recipe (docs/results.md)
PER_INSTANCE_STEPS = 2_000_000


def test_instances(
    family, draws: int, first: int = 0, zipkin: bool = True
) -> list[tuple[str, dict[str, float]]]:
    """Zipkin's eight (where the family holds them and ``zipkin``), then
    ``draws`` of the family's own from seed :data:`TEST_SEED` ``+ first`` on:
    (label, parameters)."""
    out = []
    for L, p in sorted(ZIPKIN_TABLE, key=lambda k: (k[1], k[0])) if zipkin else ():
        values = {"lead_time": float(L), "penalty": float(p), "mean": 5.0}
        try:
            family.values_of(family.instance(values))
        except ValueError:
            continue  # outside the family's ranges
        out.append((f"zipkin L{L} p{p}", {**family.draw(0), **values}))
    for k in range(first, first + draws):
        out.append((f"draw {TEST_SEED + k}", family.draw(TEST_SEED + k)))
    return out


def validation_instances(family, count: int) -> list[tuple[str, dict[str, float]]]:
    """``count`` instances of the family drawn with the monitoring episodes'
    seeds (from 2,000,000): a choice among checkpoints is made on them, never
    on the test instances."""
    return [
        (f"validation {MONITOR_SEED + k}", family.draw(MONITOR_SEED + k))
        for k in range(count)
    ]


def choose(run: Path, family, last: int, count: int, episodes, horizon, actings):
    """Among the run's last ``last`` checkpoints (its final modules the
    newest), each acting by each rule of ``actings``, the one with the lowest
    mean gap to the exact optimum over ``count`` validation instances, each
    on ``episodes`` monitoring episodes: (its path, its acting rule, the
    record of the choice)."""
    points = checkpoints(run)[-last:]
    options = [(steps, where, a) for steps, where in points for a in actings]
    gaps = np.zeros((len(options), count))
    instances = validation_instances(family, count)
    for i, (_, values) in enumerate(instances):
        scenario = family.instance(values)
        solved, sims = solved_costs(scenario, episodes, horizon, MONITOR_SEED)
        optimum = solved["optimal"][1].cost
        for j, (_, where, acting) in enumerate(options):
            cost = per_period_cost(
                scenario,
                load_policies(where, scenario.replace(horizon=horizon), acting=acting),
                episodes,
                horizon,
                MONITOR_SEED,
            )
            gaps[j, i] = 100 * float(np.mean(cost - sims["optimal"])) / optimum
    best = int(np.argmin(gaps.mean(axis=1)))
    record = {
        "instances": [{"label": k, "params": v} for k, v in instances],
        "episodes": episodes,
        "checkpoints": [
            {
                "checkpoint": str(where),
                "env_steps": steps,
                "acting": acting,
                "mean_gap_pct": float(gaps[j].mean()),
                "largest_gap_pct": float(gaps[j].max()),
            }
            for j, (steps, where, acting) in enumerate(options)
        ],
        "chosen": str(options[best][1]),
        "chosen_acting": options[best][2],
    }
    return options[best][1], options[best][2], record


def judge(run: Path, family, label, values, episodes, horizon, acting) -> dict:
    """One test instance: the exact solutions, then the simulated optimal,
    base-stock and family policies on the same held-out episodes."""
    scenario = family.instance(values)
    start = time.perf_counter()
    solved, sims = solved_costs(scenario, episodes, horizon)
    optimal, base = solved["optimal"][1], solved["base_stock"][1]
    sims = {
        **sims,
        "family": per_period_cost(
            scenario,
            load_policies(run, scenario.replace(horizon=horizon), acting=acting),
            episodes,
            horizon,
        ),
    }
    if acting != "greedy":  # the most probable order, on the same episodes
        sims["family_greedy"] = per_period_cost(
            scenario,
            load_policies(run, scenario.replace(horizon=horizon), acting="greedy"),
            episodes,
            horizon,
        )
    row = {
        "instance": label,
        "params": {k: values[k] for k in family.varied},
        "optimum": optimal.cost,
        "best_base_stock": base.cost,
        "simulated": {k: ci(v) for k, v in sims.items()},
        "seconds": time.perf_counter() - start,
    }
    for k in ("base_stock", "family", "family_greedy"):
        if k not in sims:
            continue
        row[f"{k}_gap_pct"] = ci(100 * (sims[k] - sims["optimal"]) / optimal.cost)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["results"])
    parser.add_argument(
        "--family", choices=sorted(FAMILIES), default="lost_sales_family"
    )
    parser.add_argument("--draws", type=int, default=8, help="test instances drawn")
    parser.add_argument(
        "--first-draw",
        type=int,
        default=0,
        help="the test draws' seeds start at 3,000,000 + this (a fresh set of "
        "test instances: one no choice has been judged on)",
    )
    parser.add_argument(
        "--without-zipkin",
        action="store_true",
        help="test on the drawn instances only",
    )
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=1000)
    parser.add_argument("--acting", default=None, help="default: as the run records")
    parser.add_argument(
        "--choose",
        type=int,
        default=0,
        help="judge the best of the run's last N checkpoints on validation "
        "instances (0: its final modules)",
    )
    parser.add_argument(
        "--validation", type=int, default=16, help="validation instances of --choose"
    )
    parser.add_argument(
        "--choose-acting",
        action="store_true",
        help="--choose among acting by the mean and greedily as well",
    )
    parser.add_argument(
        "--validation-episodes",
        type=int,
        default=50,
        help="monitoring episodes per validation instance",
    )
    args = parser.parse_args(argv)
    family = get_family(args.family)
    if family.kind != "single_stage":
        parser.error(f"--family {family.name}: the exact optimum is single-stage's")
    if (
        min(args.draws, args.choose, args.first_draw) < 0
        or min(args.episodes, args.horizon) < 1
    ):
        parser.error(
            "--draws, --first-draw and --choose must be >= 0, --episodes"
            " and --horizon >= 1"
        )
    if not args.draws and args.without_zipkin:
        parser.error("--without-zipkin needs --draws >= 1: no test instance left")
    if args.choose and min(args.validation, args.validation_episodes) < 1:
        parser.error("--validation and --validation-episodes must be >= 1")
    run = newest_run(
        [Path(r) for r in args.runs],
        lambda c: c.family == family.name and c.phase.name == "phase1",
    )
    if run is None:
        parser.error(
            f"no finished phase-1 run on family {family.name!r} under {args.runs}: "
            "train one first (see --help)"
        )
    config = read_run_config(run)
    acting = args.acting or config.ppo.acting
    modules, choice = run, None
    if args.choose:
        modules, acting, choice = choose(
            run,
            family,
            args.choose,
            args.validation,
            args.validation_episodes,
            args.horizon,
            ("mean", "greedy") if args.choose_acting else (acting,),
        )
        for c in choice["checkpoints"]:
            print(
                f"{Path(c['checkpoint']).name} ({c['acting']}): "
                f"{c['env_steps']:,.0f} env steps, "
                f"validation gap {c['mean_gap_pct']:.2f}% (largest "
                f"{c['largest_gap_pct']:.2f}%)",
                file=sys.stderr,
            )
        print(f"chosen: {modules}, acting {acting}", file=sys.stderr, flush=True)
    rows = []
    tests = test_instances(
        family, args.draws, args.first_draw, zipkin=not args.without_zipkin
    )
    for label, values in tests:
        rows.append(
            judge(modules, family, label, values, args.episodes, args.horizon, acting)
        )
        print(f"{label}: done", file=sys.stderr, flush=True)
    cost = training_cost(run, modules if choice else None)
    record = {
        "family": family.name,
        "run": str(run),
        "acting": acting,
        "modules": str(modules),
        "choice": choice,
        "test_draws": {
            "first_seed": TEST_SEED + args.first_draw,
            "count": args.draws,
            "zipkin": not args.without_zipkin,
        },
        "episodes": args.episodes,
        "horizon": args.horizon,
        "training": cost,
        "per_instance_recipe_steps": PER_INSTANCE_STEPS,
        "rows": rows,
    }
    print(
        f"family {family.name!r}, run {run.name}"
        + (f" ({Path(modules).name}, chosen on validation instances)" if choice else "")
        + f" (acting {acting}); cost per "
        f"period, {args.episodes} held-out episodes x {args.horizon} periods; "
        "gaps paired with the optimal policy, % of the exact optimum, 95% CI\n"
    )
    print(
        "| instance | L | penalty | mean | optimum | best base-stock: gap % "
        f"| family policy ({acting}): gap % | family policy (greedy): gap % |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p = r["params"]
        print(
            f"| {r['instance']} | {p.get('lead_time', 0):.0f} "
            f"| {p.get('penalty', 0):.2f} | {p.get('mean', 0):.2f} "
            f"| {r['optimum']:.3f} | {fmt(r['base_stock_gap_pct'], 2)} "
            f"| {fmt(r['family_gap_pct'], 2)} "
            f"| {fmt(r.get('family_greedy_gap_pct'), 2)} |"
        )
    worst = max(r["family_gap_pct"]["mean"] for r in rows)
    within = sum(r["family_gap_pct"]["mean"] <= 1.0 for r in rows)
    print(
        f"\nfamily policy within 1% of the optimum on {within} of {len(rows)} "
        f"test instances (largest gap {worst:.2f}%)"
    )
    print(
        f"training: the family policy {cost['env_steps']:,.0f} env steps, "
        f"{cost['seconds'] / 60:.1f} min ({len(cost['sources'])} run(s)); "
        "one policy per test instance with the "
        f"single-instance recipe: {len(rows)} x {PER_INSTANCE_STEPS:,} = "
        f"{len(rows) * PER_INSTANCE_STEPS:,} env steps"
    )
    path = write_json_atomic(
        results_dir() / "benchmarks" / "generalization.json", record
    )
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
