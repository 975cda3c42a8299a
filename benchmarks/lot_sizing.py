"""Lot sizing where orders cost a fixed amount: the exact optimum, the best
(s, S) and the classic lot-sizing rules on a rolling horizon.

How to run:
    python benchmarks/lot_sizing.py
    python benchmarks/lot_sizing.py --instances backorder_L1_p9_K50 --episodes 100

For each fixed-cost single-stage instance (both shortage modes, small and
large fixed costs; ``--instances`` for others): the optimal cost per period
from the average-cost dynamic program (:mod:`baselines.optimal`, any
policy); the best (s, S) (backorders: Zheng & Federgruen's optimum,
:mod:`baselines.fixed_cost`; lost sales: a coordinate search from the
backorder twin's optimum, each pair evaluated exactly by the same program);
each lot-sizing rule as a store's rolling-horizon policy
(:class:`baselines.lot_sizing.RollingLotStore`, a 12-period plan on the mean
demand), and the adaptive genetic algorithm over 12-period plans
(:class:`baselines.lot_sizing.GeneticLotStore`, sample averages over 40
demand paths, seed 0), each with its safety stock ``z sqrt(mean *
lead_time)``, ``z`` chosen on training episodes (seeds from 0) from a grid.
Every policy is then simulated on the same held-out episodes (seeds from
1,000,000, ``--horizon`` periods each): mean cost per period with its 95%
CI, and the gap to the optimal policy simulated on the same episodes
(paired), in percent of the optimum.

With ``--runs`` (folders of run folders), also the newest finished phase-1
run of each instance under them: the **learned** store (a run on the
instance, ordering quantities ``0..K``) and the **hybrid** one (a run on
``<instance>_cover``, acting in periods of cover that a planner sizes,
:func:`hmarl_env.scenario.single_stage`), each acting as its run records
(``ppo.acting``; train fixed-cost stores with ``--acting greedy``: the mean
of a policy that orders either nothing or a lot is a lot every period), on
the same held-out episodes, with the env steps and wall-clock of its
training::

    python experiments/phase1.py --scenario backorder_L1_p9_K50 \
        --store-observation orders --acting greedy --timesteps 500000
    python experiments/phase1.py --scenario backorder_L1_p9_K50_cover \
        --store-observation orders --acting greedy --timesteps 500000
    python benchmarks/lot_sizing.py --runs results

Writes ``results/benchmarks/lot_sizing.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.runs.folder import read_metrics, training_cost  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from analysis.runs.settings import MONITOR_SEED  # noqa: E402
from baselines.evaluate import evaluate  # noqa: E402
from baselines.fixed_cost import optimal_ss, ss_policies  # noqa: E402
from baselines.lot_sizing import (  # noqa: E402
    RULES,
    GeneticLotStore,
    RollingLotStore,
)
from baselines.optimal import SingleStage  # noqa: E402
from baselines.policies import SSStore, make_policies  # noqa: E402
from benchmarks._runs import single_stage_run  # noqa: E402
from benchmarks._tables import ci, fmt  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402

INSTANCES = (
    "backorder_L1_p9_K10",
    "backorder_L1_p9_K50",
    "backorder_L2_p19_K25",
    "lost_sales_L1_p9_K10",
    "lost_sales_L1_p9_K50",
    "lost_sales_L2_p19_K25",
)
#: the safety factors searched for each rule, on training episodes
SAFETY = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5)
PLAN = 12
#: the lot-sizing heuristics compared: the rules and the genetic algorithm
HEURISTICS = (*RULES, "genetic")
#: the trained stores compared with ``--runs``
TRAINED = ("learned", "hybrid")


def per_period(scenario, policies, episodes: int, seed: int) -> np.ndarray:
    df = evaluate(scenario, policies, episodes, seed=seed, store_observation="orders")
    return df[df["agent"] == "store_1"]["total_cost"].to_numpy() / scenario.horizon


def steps_to_within(run, config, solver, optimum, fraction: float) -> float | None:
    """The env steps after which the run's monitor first saw its store's
    cost within ``fraction`` of the optimal policy's on the same monitoring
    episodes (the run's own: seeds from 2,000,000, its horizon and episode
    count), or None if it never did. The monitor acts as the run records."""
    sc = config.scenario
    base = make_policies(sc, "base_stock", None, "orders")
    df = evaluate(
        sc,
        {**base, "store_1": solver.policy(optimum)},
        config.eval_episodes,
        seed=MONITOR_SEED,
        store_observation="orders",
    )
    best = float(df[df["agent"] == "store_1"]["episode_reward"].mean())
    for row in read_metrics(run):
        seen = row.get("eval_store_reward", math.nan)
        if math.isfinite(seen) and seen >= best - fraction * abs(best):
            return row["timesteps"]
    return None


def best_ss_exact(
    solver: SingleStage, start: tuple[int, int]
) -> tuple[int, int, float]:
    """The best (s, S) by coordinate search from ``start``, each pair's cost
    exact (the program's stationary evaluation)."""
    position, K = solver.position, solver.K
    cache: dict[tuple[int, int], float] = {}

    def cost(s: int, S: int) -> float:
        if (s, S) not in cache:
            table = np.where(position <= s, np.clip(S - position, 0, K), 0)
            cache[(s, S)] = solver.evaluate(table, f"(s, S) = ({s}, {S})").cost
        return cache[(s, S)]

    s, S = start
    improved = True
    while improved:
        improved = False
        for ds, dS in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            while S + dS > s + ds and cost(s + ds, S + dS) < cost(s, S):
                s, S, improved = s + ds, S + dS, True
    return s, S, cost(s, S)


def instance_row(
    name: str, episodes: int, horizon: int, train: int, runs: list[Path]
) -> dict:
    sc = get_scenario(name, horizon=horizon)
    node = sc.nodes[0]
    mu, L = float(node.demand.mean), node.lead_time
    start = time.perf_counter()
    solver = SingleStage(sc)
    optimum = solver.solve()
    solve_s = time.perf_counter() - start
    twin = optimal_ss(
        node.holding_cost, node.stockout_cost, node.fixed_order_cost, mu, L - 1
    )
    if sc.shortage == "backorder":
        s, S, exact = twin.s, twin.S, twin.cost
    else:
        s, S, exact = best_ss_exact(solver, (twin.s, twin.S))
    base = make_policies(sc, "base_stock", None, "orders")
    store = base["store_1"]
    policies = {
        "optimal": {**base, "store_1": solver.policy(optimum)},
        "best_ss": ss_policies(sc)
        if sc.shortage == "backorder"
        else {**base, "store_1": SSStore(s, S, store)},
    }

    def heuristic(kind: str, z: float):
        safety = z * math.sqrt(mu * L)
        if kind == "genetic":
            return GeneticLotStore(
                node.fixed_order_cost,
                node.holding_cost,
                node.stockout_cost,
                sc.shortage == "backorder",
                mu,
                L,
                safety,
                PLAN,
                store,
            )
        return RollingLotStore(
            kind, node.fixed_order_cost, node.holding_cost, mu, L, safety, PLAN, store
        )

    chosen = {}
    for kind in HEURISTICS:
        scores = {
            z: per_period(sc, {**base, "store_1": heuristic(kind, z)}, train, 0).mean()
            for z in SAFETY
        }
        chosen[kind] = min(scores, key=scores.get)
        policies[kind] = {**base, "store_1": heuristic(kind, chosen[kind])}
    sims = {k: per_period(sc, p, episodes, HELD_OUT_SEED) for k, p in policies.items()}
    trained = {}
    for kind, hybrid in (("learned", False), ("hybrid", True)):
        run = single_stage_run(runs, sc, covers=hybrid) if runs else None
        if run is None:
            continue
        config = read_run_config(run)
        acting_in = config.scenario.replace(horizon=horizon)
        sims[kind] = per_period(
            acting_in, load_policies(run, scenario=acting_in), episodes, HELD_OUT_SEED
        )
        trained[kind] = {
            "run": str(run),
            "acting": config.ppo.acting,
            **training_cost(run),
            "steps_to_1pct": steps_to_within(run, config, solver, optimum, 0.01),
        }
    row = {
        "instance": name,
        "optimal": {"cost": optimum.cost, "seconds": solve_s},
        "best_ss": {"s": int(s), "S": int(S), "cost": float(exact)},
        "safety_factor": chosen,
        "trained": trained,
        "simulated": {k: ci(v) for k, v in sims.items()},
        "gap_pct": {
            k: ci(100 * (v - sims["optimal"]) / optimum.cost)
            for k, v in sims.items()
            if k != "optimal"
        },
    }
    return row


def _cell(row: dict, kind: str) -> str:
    if kind not in row["gap_pct"]:
        return "-"
    cell = fmt(row["gap_pct"][kind], 2)
    if kind in HEURISTICS:
        return cell + f" (z {row['safety_factor'][kind]:g})"
    if kind in row["trained"]:
        t = row["trained"][kind]
        steps, minutes = t["env_steps"] / 1e3, t["seconds"] / 60
        first = t["steps_to_1pct"]
        within = "never" if first is None else f"{first / 1e3:.0f}k"
        return cell + f" ({steps:.0f}k steps, {minutes:.1f} min; 1%: {within})"
    return cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=1000)
    parser.add_argument(
        "--train-episodes", type=int, default=50, help="episodes choosing each z"
    )
    parser.add_argument("--instances", nargs="+", default=list(INSTANCES))
    parser.add_argument(
        "--runs",
        nargs="+",
        type=Path,
        default=[],
        help="folders of run folders: compare each instance's newest learned "
        "and hybrid phase-1 runs under them",
    )
    args = parser.parse_args(argv)
    for flag, v in (
        ("--episodes", args.episodes),
        ("--horizon", args.horizon),
        ("--train-episodes", args.train_episodes),
    ):
        if v < 2:
            parser.error(f"{flag} must be at least 2, got {v}")
    rows = []
    for name in args.instances:
        try:
            rows.append(
                instance_row(
                    name, args.episodes, args.horizon, args.train_episodes, args.runs
                )
            )
        except ValueError as exc:
            parser.error(f"--instances {name}: {exc}")
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(
        f"cost per period; simulated: {args.episodes} held-out episodes x "
        f"{args.horizon} periods, mean ± 95% CI; gap: paired with the simulated "
        "optimal policy, % of the optimum\n"
    )
    names = ["best_ss", *HEURISTICS]
    names += [k for k in TRAINED if any(k in r["trained"] for r in rows)]
    print(
        "| instance | optimum (exact) | best (s, S) exact | simulated optimum | "
        + " | ".join(f"{k} gap %" for k in names)
        + " |"
    )
    print("|---" * (4 + len(names)) + "|")
    for r in rows:
        b = r["best_ss"]
        print(
            f"| {r['instance']} | {r['optimal']['cost']:.3f} "
            f"| ({b['s']}, {b['S']}) {b['cost']:.3f} "
            f"| {fmt(r['simulated']['optimal'])} | "
            + " | ".join(_cell(r, k) for k in names)
            + " |"
        )
    path = write_json_atomic(
        results_dir() / "benchmarks" / "lot_sizing.json",
        {"episodes": args.episodes, "horizon": args.horizon, "rows": rows},
    )
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
