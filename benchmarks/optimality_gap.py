"""Learned policies against the exact optimum: Zipkin's (2008) lost-sales table.

How to run:
    python benchmarks/optimality_gap.py                         # solver only
    python experiments/phase1.py --scenario lost_sales_L2_p39 \\
        --store-observation orders --acting mean --timesteps 1000000
    python benchmarks/optimality_gap.py --runs results           # + learned
    python benchmarks/optimality_gap.py --runs results --instances 4,39 --acting greedy

For every instance (``lost_sales_L<L>_p<p>``, Poisson demand with mean 5,
holding 1, penalty p, L in 1..4): Zipkin's published optimal and best
base-stock costs; the exact solver's (:mod:`baselines.optimal`: optimum, best
base-stock with uncapped orders as Zipkin's, myopic, best constant order) with
their wall-clock; and simulated on the same held-out episodes (seeds from
1,000,000, ``--horizon`` periods each, which start near the steady state):
the solver's optimal policy, the best base-stock policy, and with ``--runs``
the newest finished phase-1 run of the instance under those folders (any run
whose scenario has the instance's dynamics and costs, whatever its reward or
PPO options), acting as the run records (``ppo.acting``, which the monitor and
the gate used too: train with ``--acting mean`` for the mean order; or
``--acting`` here: :class:`analysis.runs.loading.ModulePolicy`) and, beside
it, greedily.
Each simulated cost is the mean per period with its 95% CI; the learned
policy's gap to the optimum is its paired difference from the simulated
optimal policy on the same episodes (common random numbers), over the exact
optimal cost, in percent with a 95% CI; likewise learned minus base-stock.
Training cost: env steps and wall-clock of the run. Where the learned policy
differs: on the states it visits (the same episodes), how often its order
equals the optimal policy's, and the mean absolute difference in units.

Writes ``results/benchmarks/optimality_gap.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.runs.folder import read_metrics, training_cost  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from analysis.runs.settings import ACTING  # noqa: E402
from baselines.optimal import ZIPKIN_TABLE  # noqa: E402
from benchmarks._runs import (  # noqa: E402
    per_period_cost,
    single_stage_run,
    solved_costs,
)
from benchmarks._tables import ci, fmt  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402
from hmarl_env.registry import SUPPLIER  # noqa: E402
from hmarl_env.rollout import Rollout  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402


def agreement(scenario, learned, optimal, episodes: int) -> dict[str, float]:
    """On the states the learned store visits: how often it orders what the
    optimal policy would, and the mean absolute difference (units)."""
    rollout = Rollout(scenario, episodes, "orders")
    rollout.reset([np.random.default_rng(HELD_OUT_SEED + e) for e in range(episodes)])
    roles = rollout.roles
    store, supplier = roles.slices["store_1"], roles.slices[SUPPLIER]
    actions = np.zeros((episodes, len(roles.agents)), dtype=np.intp)
    k_store, k_supplier = roles.agents.index("store_1"), roles.agents.index(SUPPLIER)
    same = diff = n = 0.0
    while not rollout.done:
        obs = rollout.observe()
        mine = learned["store_1"](obs[:, store])
        best = optimal(obs[:, store])
        same += float((mine == best).sum())
        diff += float(np.abs(mine - best).sum())
        n += len(mine)
        actions[:, k_store] = mine
        actions[:, k_supplier] = learned[SUPPLIER](obs[:, supplier])
        rollout.step(actions)
    return {"same_order_pct": 100 * same / n, "mean_abs_difference": diff / n}


def _training(run: Path) -> dict[str, object]:
    config = read_run_config(run)
    rows = read_metrics(run)
    return {
        "run": str(run),
        **training_cost(run),
        "expected_store_costs": config.scenario.rewards.expected_store_costs,
        "policy_head": config.ppo.policy_head,
        "annealed": config.ppo.lr_end is not None
        or config.ppo.entropy_coeff_end is not None,
        "explained_variance_last5": float(
            np.mean([r["store_vf_explained_var"] for r in rows[-5:]])
        ),
    }


def instance(
    L: int,
    p: int,
    episodes: int,
    horizon: int,
    runs: list[Path] | None,
    acting: str | None = None,
) -> dict[str, object]:
    name = f"lost_sales_L{L}_p{p}"
    sc = get_scenario(name)
    # an instance off Zipkin's table is solved all the same, without a figure
    published = ZIPKIN_TABLE.get((L, p))
    out: dict[str, object] = {"instance": name, "published": published}
    start = time.perf_counter()
    solved, sims = solved_costs(sc, episodes, horizon)
    solver, optimal = solved["optimal"]
    out["exact"] = {
        k: {"cost": s.cost, "policy": s.name, "seconds": s.seconds}
        for k, (_, s) in solved.items()
    }
    run = None if runs is None else single_stage_run(runs, sc, covers=False)
    if run is not None:
        long = sc.replace(horizon=horizon)
        if acting is None:  # as the run records
            acting = read_run_config(run).ppo.acting
        learned = load_policies(run, long, acting=acting)
        sims["learned"] = per_period_cost(sc, learned, episodes, horizon)
        if acting != "greedy":  # the most probable order, on the same episodes
            greedy = load_policies(run, long)
            sims["learned_greedy"] = per_period_cost(sc, greedy, episodes, horizon)
        out["acting"] = acting
        out["training"] = _training(run)
        out["agreement"] = agreement(
            long, learned, solver.policy(optimal), min(episodes, 50)
        )
    out["solve_and_simulation_seconds"] = time.perf_counter() - start
    out["simulated"] = {k: ci(v) for k, v in sims.items()}
    g = optimal.cost
    for k in ("base_stock", "learned", "learned_greedy"):
        if k in sims:
            out[f"{k}_gap_pct"] = ci(100 * (sims[k] - sims["optimal"]) / g)
    if "learned" in sims:
        out["learned_minus_base_stock"] = ci(sims["learned"] - sims["base_stock"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=5000)
    parser.add_argument(
        "--runs",
        nargs="+",
        default=None,
        help="folders holding the instances' phase-1 runs (each instance: its "
        "newest finished run in any of them)",
    )
    parser.add_argument(
        "--acting",
        choices=ACTING,
        default=None,
        help="how the learned store acts (default: as its run records, "
        "ppo.acting; mean: its expected order, rounded); the greedy store's "
        "gap is reported beside it",
    )
    parser.add_argument(
        "--instances",
        nargs="+",
        default=[
            f"{L},{p}" for (L, p) in sorted(ZIPKIN_TABLE, key=lambda k: (k[1], k[0]))
        ],
        help="L,p pairs (default: all eight)",
    )
    args = parser.parse_args(argv)
    runs = [Path(r) for r in args.runs] if args.runs else None
    rows = []
    pairs = []
    for pair in args.instances:
        try:
            L, p = (int(x) for x in pair.split(","))
        except ValueError:
            parser.error(f"--instances: {pair!r} is not L,p (e.g. 2,39)")
        pairs.append((L, p))
    for L, p in pairs:
        rows.append(instance(L, p, args.episodes, args.horizon, runs, args.acting))
        r = rows[-1]
        print(f"{r['instance']}: done", file=sys.stderr, flush=True)
    print(
        f"average cost per period; simulated: {args.episodes} held-out episodes x "
        f"{args.horizon} periods, mean ± 95% CI; gap: paired, % of the optimum\n"
    )
    print(
        "| instance | published opt / base-stock | solver opt | solver base-stock "
        "| myopic | constant | simulated opt | simulated base-stock | learned "
        "| learned gap % (acting) | greedy gap % | base-stock gap % "
        "| solve s | train |"
    )
    print("|---" * 14 + "|")
    for r in rows:
        e, s = r["exact"], r["simulated"]
        pub = r["published"]
        train = r.get("training")
        cost = (
            "-"
            if train is None
            else f"{train['env_steps']:,.0f} steps, {train['seconds'] / 60:.1f} min, "
            + ("expected" if train["expected_store_costs"] else "realised")
            + f" costs, {train['policy_head']} head"
            + (", annealed" if train["annealed"] else "")
        )
        published = "- / -" if pub is None else f"{pub[0]:.2f} / {pub[1]:.2f}"
        print(
            f"| {r['instance']} | {published} "
            f"| {e['optimal']['cost']:.3f} | {e['base_stock']['cost']:.3f} "
            f"({e['base_stock']['policy'].split()[-1]}) "
            f"| {e['myopic']['cost']:.3f} | {e['constant']['cost']:.3f} "
            f"| {fmt(s['optimal'])} | {fmt(s['base_stock'])} "
            f"| {fmt(s.get('learned'))} | {fmt(r.get('learned_gap_pct'), 2)}"
            + (f" ({r['acting']}) " if "acting" in r else " ")
            + f"| {fmt(r.get('learned_greedy_gap_pct'), 2)} "
            f"| {fmt(r.get('base_stock_gap_pct'), 2)} "
            f"| {e['optimal']['seconds']:.1f} "
            f"| {cost} |"
        )
    path = write_json_atomic(
        results_dir() / "benchmarks" / "optimality_gap.json",
        {
            "episodes": args.episodes,
            "horizon": args.horizon,
            "acting": args.acting or "as each run records",
            "rows": rows,
        },
    )
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
