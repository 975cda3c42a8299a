"""Do learned stores beat the catalogue heuristics? Phase 1 on catalogues.

How to run:
    python benchmarks/catalogue_quality.py                       # 500 and 2,000
    python benchmarks/catalogue_quality.py --presets catalogue_50 --seeds 0
    python benchmarks/catalogue_quality.py --timesteps 20000 --episodes 50

For each catalogue preset and training seed, trains phase 1 (the stores'
product-shared module, :mod:`experiments.catalogue_runner`; the warehouse by
the tuned capacity-aware heuristic, the supplier fulfilling) with the
``catalogue`` PPO preset and budget (a finished run of the same preset, seed,
budget and settings in the output folder is reused), then evaluates on the
held-out demand seeds (from 1,000,000) the learned stores against the same
chain with its stores acting by the capacity-aware heuristic (``tuned``, the
bar) and by the per-product one (``per_product``, capacities ignored), on the
same demand. Reports, per seed and pooled over seeds (the per-episode mean,
paired): the stores' reward per store and episode and the chain's ledger
cost per episode, each with the paired difference's 95% bootstrap CI; each
policy's fill rate, units discarded and how often each capacity binds; the
training wall-clock and the store critic's diagnostics over the last five
iterations. With ``--transfer``, the first seed's module of the first preset
acts unchanged on the other catalogues named by ``--transfer-to``. Writes
``results/benchmarks/catalogue_quality.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _runs import last_diagnostic  # noqa: E402

from analysis.catalogue import CATALOGUE_BASELINES, store_policies  # noqa: E402
from analysis.compare import paired_summary  # noqa: E402
from analysis.runs.folder import is_finished  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.settings import CATALOGUE_TIMESTEPS  # noqa: E402
from baselines.catalogue import evaluate_catalogue  # noqa: E402
from experiments import phase1  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402

#: what each policy's row reports beside the costs
CAPACITY_KPIS = ("fill_rate", "discarded", "storage_binds", "truck_binds")
DIAGNOSTICS = ("vf_explained_var", "entropy", "kl")


def finished_run(out: Path, preset: str, seed: int, extra: list[str]) -> Path | None:
    """The newest complete run of this preset and seed made with the same
    command-line settings."""
    for run in sorted(out.glob(f"{preset}__phase1__{seed}__*"), reverse=True):
        if not is_finished(run):
            continue
        config = json.loads((run / "config.json").read_text())
        if config.get("benchmark_settings") == extra:
            return run
    return None


def train(out: Path, preset: str, seed: int, extra: list[str]) -> Path:
    run = finished_run(out, preset, seed, extra)
    if run is not None:
        return run
    code = phase1.main(
        [
            "--scenario",
            preset,
            "--seed",
            str(seed),
            "--output",
            str(out),
            "--gate-episodes",
            "0",
            *extra,
        ]
    )
    if code != 0:
        raise SystemExit(f"phase 1 on {preset}, seed {seed} failed ({code})")
    run = max(out.glob(f"{preset}__phase1__{seed}__*"), key=lambda p: p.stat().st_mtime)
    config = json.loads((run / "config.json").read_text())
    config["benchmark_settings"] = extra
    write_json_atomic(run / "config.json", config)
    return run


def training_seconds(run: Path) -> float:
    with (run / "metrics.csv").open() as fh:
        return float(sum(float(r["seconds"]) for r in csv.DictReader(fh)))


def evaluate_all(scenario, nodes, episodes: int) -> dict:
    """Per-episode frames of the learned stores and of each baseline's."""
    out = {
        "learned": evaluate_catalogue(
            scenario, store_policies(scenario, nodes), episodes, HELD_OUT_SEED
        )
    }
    for kind in CATALOGUE_BASELINES:
        out[kind] = evaluate_catalogue(
            scenario, store_policies(scenario, nodes, kind), episodes, HELD_OUT_SEED
        )
    return out


def compare(frames: dict, n_stores: int) -> dict:
    """The learned stores against each baseline, paired, and every policy's
    capacity KPIs."""
    mine = frames["learned"]
    out = {"kpis": {}}
    for name, df in frames.items():
        out["kpis"][name] = {k: float(df[k].mean()) for k in CAPACITY_KPIS}
        out["kpis"][name]["store_reward"] = float(-df["store_cost"].mean() / n_stores)
        out["kpis"][name]["total_cost"] = float(df["total_cost"].mean())
    for kind in CATALOGUE_BASELINES:
        other = frames[kind]
        out[kind] = {
            "store_reward": paired_summary(
                -other["store_cost"].to_numpy() / n_stores,
                -mine["store_cost"].to_numpy() / n_stores,
            ),
            "system_cost": paired_summary(
                other["total_cost"].to_numpy(),
                mine["total_cost"].to_numpy(),
                higher_is_better=False,
            ),
        }
    return out


def beats(stats: dict) -> bool:
    """Stores' reward above and system cost below, both significantly."""
    return (
        stats["store_reward"]["difference_ci95"][0] > 0
        and stats["system_cost"]["difference_ci95"][1] < 0
    )


def line(label: str, stats: dict) -> str:
    r, c = stats["store_reward"], stats["system_cost"]
    return (
        f"    vs {label:12s} stores' reward {r['ppo']:11,.0f} vs {r['baseline']:11,.0f}"
        f" ({r['difference']:+10,.0f}, CI [{r['difference_ci95'][0]:,.0f}, "
        f"{r['difference_ci95'][1]:,.0f}]) | system cost {c['ppo']:12,.0f} vs "
        f"{c['baseline']:12,.0f} ({c['difference']:+10,.0f}, CI "
        f"[{c['difference_ci95'][0]:,.0f}, {c['difference_ci95'][1]:,.0f}])"
        f"{'  BEATS' if beats(stats) else ''}"
    )


def kpi_lines(kpis: dict) -> list[str]:
    head = f"{'fill':>7s} {'discarded':>10s} {'storage':>8s} {'truck':>6s}"
    rows = [f"    {'policy':12s} {head}"]
    for name, k in kpis.items():
        rows.append(
            f"    {name:12s} {k['fill_rate']:7.2%} {k['discarded']:10,.0f} "
            f"{k['storage_binds']:8.1%} {k['truck_binds']:6.1%}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["catalogue_500", "catalogue_2000"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=None)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument(
        "--transfer-to", nargs="*", default=["catalogue_50", "catalogue_2000"]
    )
    parser.add_argument("--transfer", action="store_true")
    parser.add_argument(
        "--train-args",
        default="",
        help="more phase-1 options for every run, quoted (e.g. '--lr 0.001')",
    )
    args = parser.parse_args(argv)
    out = results_dir() / "benchmarks" / "catalogue_quality"
    extra = [*(["--timesteps", str(args.timesteps)] if args.timesteps else [])]
    extra += args.train_args.split()
    report: dict = {
        "budget": args.timesteps or CATALOGUE_TIMESTEPS,
        "episodes": args.episodes,
        "first_seed": HELD_OUT_SEED,
        "train_args": extra,
        "presets": {},
    }
    first_run = None
    for preset in args.presets:
        scenario = get_scenario(preset)
        n = len(scenario.store_index)
        entry: dict = {"seeds": {}}
        pooled: dict[str, list] = {}
        print(f"{preset}: {scenario.n_products} products, seeds {args.seeds}")
        for seed in args.seeds:
            start = time.perf_counter()
            run = train(out, preset, seed, extra)
            first_run = first_run or run
            frames = evaluate_all(scenario, load_policies(run), args.episodes)
            for name, df in frames.items():
                pooled.setdefault(name, []).append(df)
            stats = compare(frames, n)
            stats["run"] = str(run)
            stats["training_seconds"] = training_seconds(run)
            stats["diagnostics"] = {
                d: last_diagnostic(run, f"store_{d}") for d in DIAGNOSTICS
            }
            entry["seeds"][seed] = stats
            d = stats["diagnostics"]
            print(
                f"  seed {seed}: trained in {stats['training_seconds']:.0f} s "
                f"({time.perf_counter() - start:.0f} s with evaluation), critic EV "
                f"{d['vf_explained_var']:.2f}, entropy {d['entropy']:.2f}, KL "
                f"{d['kl']:.4f}"
            )
            for kind in CATALOGUE_BASELINES:
                print(line(kind, stats[kind]))
            print("\n".join(kpi_lines(stats["kpis"])))
        # pooled: each episode's mean over the training seeds' runs, paired
        means = {
            name: dfs[0].assign(
                store_cost=np.mean([d["store_cost"] for d in dfs], axis=0),
                total_cost=np.mean([d["total_cost"] for d in dfs], axis=0),
            )
            for name, dfs in pooled.items()
        }
        entry["pooled"] = compare(means, n)
        entry["pooled"]["beats_tuned"] = beats(entry["pooled"]["tuned"])
        entry["per_seed_beats_tuned"] = [
            beats(s["tuned"]) for s in entry["seeds"].values()
        ]
        print(f"  pooled over seeds {args.seeds}:")
        for kind in CATALOGUE_BASELINES:
            print(line(kind, entry["pooled"][kind]))
        report["presets"][preset] = entry
    if args.transfer and first_run is not None:
        report["transfer"] = {"run": str(first_run)}
        print(f"transfer: {first_run.name} acting unchanged on {args.transfer_to}")
        for other in args.transfer_to:
            sc = get_scenario(other)
            frames = evaluate_all(
                sc, load_policies(first_run, scenario=sc), args.episodes
            )
            stats = compare(frames, len(sc.store_index))
            report["transfer"][other] = stats
            print(f"  {other}:")
            for kind in CATALOGUE_BASELINES:
                print(line(kind, stats[kind]))
    path = results_dir() / "benchmarks" / "catalogue_quality.json"
    write_json_atomic(path, report)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
