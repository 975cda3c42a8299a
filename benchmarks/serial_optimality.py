"""A learned chain against the proven optimum: serial chains with backorders.

How to run:
    python benchmarks/serial_optimality.py                   # solver, search
    python experiments/pipeline.py --scenario serial_N2 \\
        --warehouse-observation echelon --warehouse-modules per_level \\
        --reward-mode system --acting mean --force --seed 0  # and seeds 1, 2
    python benchmarks/serial_optimality.py --runs results    # + learned chains

The curriculum trains the store (phase 1, the warehouses on echelon
base-stock at an untuned level), then every warehouse (phase 2:
``per_level`` gives each stage of a serial chain its own module; with
``per_node`` only the first warehouse would learn), the supplier (phase 3:
it has nothing to decide on an uncapacitated serial chain, so its gate finds
it identical to always fulfilling and ``--force`` goes on) and all of them
together (phase 4), every role on the chain's cost (system rewards).

For every serial instance (``serial_N2``, ``serial_N3`` = Snyder & Shen's
Example 6.1, ``serial_N4``; ``--instances`` for others): the optimal echelon
base-stock levels and cost per period from the exact solver
(:func:`baselines.serial.solve_scenario`) and its wall-clock; simulated on the
same held-out episodes (seeds from 1,000,000, ``--horizon`` periods each,
starting near the steady state): the solver's policy (every node ordering
whole units, as the env's actions do), the best echelon base-stock found by
simulation search on training seeds (coordinate search from an untuned
rule in steps of a unit, a quarter unit for normal demand,
:func:`baselines.serial.search_echelon_levels`: the check that nothing in
the simulator's integer orders moves the optimum), and with ``--runs``
the learned chains: every finished run under those folders on the instance
whose store and warehouses are all learned (phases 2-4; the newest run of
each training seed),
grouped by the warehouses' observation layout (``echelon`` or ``local``),
each acting as it records (``ppo.acting``), the supplier always shipping
what it is asked (the serial system's outside source; a learned supplier
could only hold orders back). A run's gap is its cost minus
the simulated optimal policy's on the same episodes (paired: common random
numbers), over the exact optimal cost, in percent with a 95% CI; pooled over
a layout's runs (training seeds), the per-episode mean over runs.

Writes ``results/benchmarks/serial_optimality.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.runs.folder import is_finished, training_cost  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from baselines.evaluate import evaluate  # noqa: E402
from baselines.policies import echelon_level, make_policies  # noqa: E402
from baselines.serial import (  # noqa: E402
    echelon_policies,
    search_echelon_levels,
    serial_stages,
    solve_scenario,
)
from benchmarks._tables import ci, fmt  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402
from hmarl_env.registry import SUPPLIER  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402

INSTANCES = ("serial_N2", "serial_N3", "serial_N4")


def per_period(scenario, policies, episodes: int, layouts: dict) -> np.ndarray:
    """The chain's ledger cost per period of each held-out episode."""
    df = evaluate(scenario, policies, episodes, seed=HELD_OUT_SEED, **layouts)
    return df.groupby("episode")["total_cost"].sum().to_numpy() / scenario.horizon


def learned_runs(roots: list[Path], scenario) -> dict[str, list[Path]]:
    """Finished runs under ``roots`` on ``scenario``'s instance (its dynamics
    and costs; the name and horizon may differ) whose store and warehouses
    all learned, by warehouse layout; the newest run of each training seed."""

    def instance(sc):
        return dataclasses.replace(sc, name="instance", horizon=1)

    target = instance(scenario.with_reward_mode("local"))
    nodes = {n.name for n in scenario.nodes}
    newest: dict[tuple[str, int], tuple[str, Path]] = {}
    for path in sorted(c for root in roots for c in Path(root).rglob("config.json")):
        run = path.parent
        try:
            config = read_run_config(run)
            same = instance(config.scenario.with_reward_mode("local")) == target
        except (ValueError, TypeError):
            continue
        mapped = {config.phase.module_of(a) for a in nodes}
        if not (same and mapped <= set(config.learned) and is_finished(run)):
            continue
        key = (config.warehouse_observation, config.seed)
        created = str(config.record.get("created", ""))
        if key not in newest or created > newest[key][0]:
            newest[key] = (created, run)
    out: dict[str, list[Path]] = {}
    for (layout, _), (_, run) in sorted(newest.items()):
        out.setdefault(layout, []).append(run)
    return out


def instance_row(name: str, episodes: int, horizon: int, search_episodes: int, runs):
    sc = get_scenario(name, horizon=horizon)
    start = time.perf_counter()
    sol = solve_scenario(sc)
    solve_s = time.perf_counter() - start
    opt_layouts = {"store_observation": "orders", "warehouse_observation": "echelon"}
    optimal = per_period(sc, echelon_policies(sc, sol.levels), episodes, opt_layouts)
    rule = [round(echelon_level(sc, i)) for i in serial_stages(sc)]
    start = time.perf_counter()
    # whole units for integer demand; a quarter unit for a continuous one
    step = 1.0 if type(sc.nodes[0].demand).__name__ == "Poisson" else 0.25
    searched, _ = search_echelon_levels(
        sc.replace(horizon=min(horizon, 500)), rule, search_episodes, step=step
    )
    search_s = time.perf_counter() - start
    found = per_period(sc, echelon_policies(sc, searched), episodes, opt_layouts)
    row = {
        "instance": name,
        "optimal": {"levels": sol.levels, "cost": sol.cost, "seconds": solve_s},
        "simulated_optimal": ci(optimal),
        "search": {
            "start": rule,
            "levels": searched,
            "seconds": search_s,
            "simulated": ci(found),
            "gap_pct": ci(100 * (found - optimal) / sol.cost),
        },
        "learned": {},
    }
    fulfil = make_policies(sc, "rule_based", None, "orders")[SUPPLIER]
    for layout, group in (learned_runs(runs, sc) if runs else {}).items():
        costs, seeds = [], []
        for run in group:
            config = read_run_config(run)
            # the serial system's outside supplier ships every order (Clark
            # & Scarf): a learned one (phases 3-4) could only hold some back
            policies = {**load_policies(run, sc), SUPPLIER: fulfil}
            c = per_period(sc, policies, episodes, config.observations)
            costs.append(c)
            seeds.append(
                {
                    "run": str(run),
                    "seed": config.seed,
                    "acting": config.ppo.acting,
                    "simulated": ci(c),
                    "gap_pct": ci(100 * (c - optimal) / sol.cost),
                    "training": training_cost(run),
                }
            )
        pooled = np.mean(costs, axis=0)
        row["learned"][layout] = {
            "runs": seeds,
            "pooled_gap_pct": ci(100 * (pooled - optimal) / sol.cost),
        }
    if {"echelon", "local"} <= set(row["learned"]):
        e = np.mean([r["simulated"]["mean"] for r in row["learned"]["echelon"]["runs"]])
        lo = np.mean([r["simulated"]["mean"] for r in row["learned"]["local"]["runs"]])
        row["local_minus_echelon"] = float(lo - e)
    return row


def _learned(row: dict, layout: str) -> str:
    """A layout's pooled gap and each run's, or ``-``."""
    group = row["learned"].get(layout)
    if group is None:
        return "-"
    each = ", ".join(f"{x['gap_pct']['mean']:.2f}" for x in group["runs"])
    return f"{fmt(group['pooled_gap_pct'], 2)} ({each})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--horizon", type=int, default=2000)
    parser.add_argument(
        "--search-episodes",
        type=int,
        default=200,
        help="training episodes (500 periods) of the echelon base-stock search",
    )
    parser.add_argument("--instances", nargs="+", default=list(INSTANCES))
    parser.add_argument(
        "--runs",
        nargs="+",
        default=None,
        help="folders holding learned chains (searched recursively: pipeline "
        "folders hold their runs)",
    )
    args = parser.parse_args(argv)
    for name, value in (
        ("--episodes", args.episodes),
        ("--horizon", args.horizon),
        ("--search-episodes", args.search_episodes),
    ):
        if value < 2:
            parser.error(f"{name} must be at least 2, got {value}")
    runs = [Path(r) for r in args.runs] if args.runs else None
    rows = []
    for name in args.instances:
        try:
            rows.append(
                instance_row(
                    name, args.episodes, args.horizon, args.search_episodes, runs
                )
            )
        except ValueError as exc:
            parser.error(f"--instances {name}: {exc}")
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(
        f"cost per period; simulated: {args.episodes} held-out episodes x "
        f"{args.horizon} periods, mean ± 95% CI; gaps: paired with the simulated "
        "optimal policy, % of the optimal cost\n"
    )
    print(
        "| instance | optimal levels | optimal cost | solve s | simulated optimum "
        "| searched levels | searched gap % | learned, echelon: gap % (seeds) "
        "| learned, local: gap % (seeds) |"
    )
    print("|---" * 9 + "|")
    for r in rows:
        print(
            f"| {r['instance']} "
            f"| {', '.join(f'{x:g}' for x in r['optimal']['levels'])} "
            f"| {r['optimal']['cost']:.3f} | {r['optimal']['seconds']:.2f} "
            f"| {fmt(r['simulated_optimal'])} "
            f"| {', '.join(f'{x:g}' for x in r['search']['levels'])} "
            f"| {fmt(r['search']['gap_pct'], 2)} "
            f"| {_learned(r, 'echelon')} | {_learned(r, 'local')} |"
        )
    path = write_json_atomic(
        results_dir() / "benchmarks" / "serial_optimality.json",
        {"episodes": args.episodes, "horizon": args.horizon, "rows": rows},
    )
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
