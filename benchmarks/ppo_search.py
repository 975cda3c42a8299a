"""The search behind hmarl's PPO defaults: phase-1 candidates on training seeds.

How to run:
    python benchmarks/ppo_search.py                        # every candidate, seed 0
    python benchmarks/ppo_search.py --candidates reference hmarl --seeds 0 1 2
    python benchmarks/ppo_search.py --table                # print what is recorded

Each candidate is a set of PPO settings over hmarl's preset (:data:`CANDIDATES`;
``reference`` is the HMARL reference design's PPO guide). For each candidate and
training seed it trains phase 1 on the default scenario (``--timesteps``, default phase
1's budget; a finished run of the same settings in the output folder is reused), then
judges the learned store on the *monitoring* seeds (from 2,000,000, never the
held-out ones): its store reward per store and episode, acting greedily and
sampled, against the tuned base-stock store on the same episodes, and the
learner's diagnostics over the last five iterations (value explained variance,
entropy, KL). Held-out seeds are only for confirming the winner
(``benchmarks/phase1_quality.py``).

Records every result in ``results/benchmarks/ppo_search.json`` (rewritten
atomically after each run, so an interrupted search keeps what it finished)
and writes the table of everything recorded to ``benchmarks/ppo_search.md``
(committed: the evidence behind the defaults).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.runs.folder import is_finished  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.settings import MONITOR_SEED, PPO_PRESETS  # noqa: E402
from baselines.evaluate import evaluate  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from experiments import phase1  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402
from hmarl_env.utils.io import results_dir, write_atomic, write_json_atomic  # noqa: E402
from hmarl_env.utils.stats import mean_ci  # noqa: E402

#: the search's first step: the reference design's PPO settings with rewards scaled to
#: returns of order one, no value clip and minibatches of 512 (the candidates change it)
SCALED = {"vf_clip_param": None, "reward_scaling": "return", "minibatch_size": 512}
#: how the search sampled unless a candidate says otherwise (one process,
#: RLlib's PettingZoo runner: the search before the batched runner)
RUNNERS = {
    "num_env_runners": 0,
    "num_envs_per_env_runner": 8,
    "env_runner": "pettingzoo",
}
RUNNER_KEYS = tuple(RUNNERS)
C = {"reward_centering": 0.1}
BATCHED = {"num_env_runners": 2, "num_envs_per_env_runner": 16, "env_runner": "batched"}
BIG = {"train_batch_size": 4096, "minibatch_size": 2048, "num_epochs": 5}
#: candidate name -> (preset, changes to it); ``num_env_runners`` and
#: ``num_envs_per_env_runner`` change how rollouts are collected instead
CANDIDATES: dict[str, tuple[str, dict]] = {
    "reference": ("reference", {}),
    "scaled": ("reference", SCALED),
    "center": ("reference", {**SCALED, **C}),
    "gamma95": ("reference", {**SCALED, "gamma": 0.95}),
    "gamma90": ("reference", {**SCALED, "gamma": 0.9}),
    "center_gamma95": ("reference", {**SCALED, **C, "gamma": 0.95}),
    "center_lambda80": ("reference", {**SCALED, **C, "lambda_": 0.8}),
    "gamma95_lambda80": ("reference", {**SCALED, "gamma": 0.95, "lambda_": 0.8}),
    "center_lr1e3": ("reference", {**SCALED, **C, "lr": 1e-3}),
    "center_ent001": ("reference", {**SCALED, **C, "entropy_coeff": 0.001}),
    "center_noclip": ("reference", {**SCALED, **C, "grad_clip": None}),
    "center_batch4k": ("reference", {**SCALED, **C, "train_batch_size": 4096}),
    "center_mb256": ("reference", {**SCALED, **C, "minibatch_size": 256}),
    "center_128": ("reference", {**SCALED, **C, "hiddens": (128, 128)}),
    "center_epochs5": ("reference", {**SCALED, **C, "num_epochs": 5}),
    "center_rate03": ("reference", {**SCALED, "reward_centering": 0.3}),
    "center_period": ("reference", {**SCALED, **C, "reward_scaling": "period"}),
    "center_envs16": ("reference", {**SCALED, **C, "num_envs_per_env_runner": 16}),
    "center_runners2": ("reference", {**SCALED, **C, "num_env_runners": 2}),
    "center_lr1e3_runners2": (
        "reference",
        {**SCALED, **C, "lr": 1e-3, "num_env_runners": 2},
    ),
    "center_lambda80_runners2": (
        "reference",
        {**SCALED, **C, "lambda_": 0.8, "num_env_runners": 2},
    ),
    "center_gamma95_runners2": (
        "reference",
        {**SCALED, **C, "gamma": 0.95, "num_env_runners": 2},
    ),
    "center_gamma95_lambda90": (
        "reference",
        {**SCALED, **C, "gamma": 0.95, "lambda_": 0.9},
    ),
    # hmarl's preset as chosen here (center_lr1e3_runners2; now small_batches)
    # and its rollouts then
    "hmarl": ("small_batches", {"num_env_runners": 2, "num_envs_per_env_runner": 16}),
    # the batched env runner (2 x 16 replicas): that preset, then learner
    # settings that make fewer, larger SGD steps per env step (the preset
    # since the batched runner, at four times the budget)
    "batched": ("small_batches", BATCHED),
    "batched_tb4k_mb2k_ep5": ("hmarl", {**BATCHED, **BIG}),
    "batched_tb4k_mb2k_ep5_lr2e3": ("hmarl", {**BATCHED, **BIG, "lr": 2e-3}),
    "batched_tb4k_mb1k_ep5": (
        "hmarl",
        {**BATCHED, **BIG, "minibatch_size": 1024},
    ),
}
EPISODES = 200


def _cli(changes: dict) -> list[str]:
    out = []
    for k, v in changes.items():
        flag = "--" + k.rstrip("_").replace("_", "-")
        if isinstance(v, tuple):
            v = ",".join(str(x) for x in v)
        out += [flag, "none" if v is None else str(v)]
    return out


def store_reward(policies, seed: int, episodes: int) -> np.ndarray:
    df = evaluate("default", policies, episodes, seed=seed)
    stores = df[df["role"] == "store"]
    return stores.groupby("episode")["episode_reward"].mean().to_numpy()


def finished(
    out: Path, seed: int, timesteps: int, ppo: dict, runners: dict
) -> Path | None:
    for run in sorted(out.glob(f"default__phase1__{seed}__*"), reverse=True):
        if not is_finished(run):
            continue
        config = json.loads((run / "config.json").read_text())
        same = config["timesteps"] == timesteps and config["ppo"] == ppo
        used = {"env_runner": "pettingzoo", **config["runners"]}
        if same and all(used[k] == v for k, v in runners.items()):
            return run
    return None


def diagnostics(run: Path, last: int = 5) -> dict[str, float]:
    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))[-last:]
    out = {}
    for key in ("vf_explained_var", "entropy", "kl", "grad_norm", "vf_loss"):
        vals = [float(r[f"store_{key}"]) for r in rows if r.get(f"store_{key}")]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--timesteps", type=int, default=phase1.PHASE.timesteps)
    parser.add_argument("--output", default=None, help="folder for the runs")
    parser.add_argument("--table", action="store_true", help="only print the table")
    parser.add_argument(
        "--name",
        default="ppo_search",
        help="the record (results/benchmarks/NAME.json) and its table "
        "(benchmarks/NAME.md); ppo_search_batched holds the search with the "
        "batched env runner",
    )
    args = parser.parse_args()
    unknown = [c for c in args.candidates if c not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidates {unknown}; choose from {list(CANDIDATES)}")
    path = results_dir() / "benchmarks" / f"{args.name}.json"
    record = json.loads(path.read_text()) if path.is_file() else {"results": []}
    if not args.table:
        _search(args, record, path)
    _print(record)
    if record["results"]:
        table = Path(__file__).with_name(f"{args.name}.md")
        write_atomic(table, lambda tmp: tmp.write_text(_markdown(record)))
        print(f"table: {table}")


def _search(args: argparse.Namespace, record: dict, path: Path) -> None:
    sc = get_scenario("default")
    out = Path(args.output) if args.output else results_dir() / "benchmarks" / "search"
    tuned = store_reward(make_policies(sc, "tuned"), MONITOR_SEED, EPISODES)
    for name in args.candidates:
        preset, changes = CANDIDATES[name]
        runners = {**RUNNERS, **{k: v for k, v in changes.items() if k in RUNNER_KEYS}}
        ppo_changes = {k: v for k, v in changes.items() if k not in RUNNER_KEYS}
        ppo = asdict(replace(PPO_PRESETS[preset], **ppo_changes))
        ppo_json = json.loads(json.dumps(ppo))
        for seed in args.seeds:
            start = time.perf_counter()
            run = finished(out / name, seed, args.timesteps, ppo_json, runners)
            if run is None:
                argv = ["--seed", str(seed), "--timesteps", str(args.timesteps)]
                argv += ["--output", str(out / name), "--eval-interval", "0"]
                argv += ["--gate-episodes", "0", "--ppo-preset", preset]
                argv += _cli({**RUNNERS, **changes})
                if phase1.main(argv) != 0:
                    raise SystemExit(f"candidate {name}, seed {seed} failed")
                run = finished(out / name, seed, args.timesteps, ppo_json, runners)
                if run is None:
                    raise SystemExit(f"candidate {name}, seed {seed}: no final run")
            seconds = time.perf_counter() - start
            entry = {"candidate": name, "seed": seed, "timesteps": args.timesteps}
            entry.update(preset=preset, changes=changes, run=str(run))
            for acting in ("greedy", "sampled"):
                x = store_reward(
                    load_policies(run, acting=acting, seed=seed), MONITOR_SEED, EPISODES
                )
                m, h = mean_ci(x)
                dm, dh = mean_ci(x - tuned)
                entry[acting] = {
                    "mean": m,
                    "ci95": h,
                    "minus_tuned": dm,
                    "diff_ci95": dh,
                }
            entry["diagnostics"] = diagnostics(run)
            entry["train_seconds"] = float(
                sum(
                    float(r["seconds"])
                    for r in csv.DictReader((run / "metrics.csv").open())
                )
            )
            entry["wall_seconds"] = seconds
            record["results"] = [
                r
                for r in record["results"]
                if (r["candidate"], r["seed"], r["timesteps"])
                != (name, seed, args.timesteps)
            ] + [entry]
            record["tuned_monitor"] = {
                "mean": float(tuned.mean()),
                "episodes": EPISODES,
            }
            write_json_atomic(path, record)
            _print({"results": [entry]}, header=False)


def _markdown(record: dict) -> str:
    lines = [
        "# PPO search for phase 1 (`python benchmarks/ppo_search.py`)",
        "",
        "Default scenario, store reward per store and episode on "
        f"{EPISODES} monitoring episodes (seeds {MONITOR_SEED:,}..; never the "
        "held-out ones), mean and the paired difference to the tuned base-stock "
        f"store (which scores {record.get('tuned_monitor', {}).get('mean', 0):.1f} "
        "on them) with its 95% CI. Learner diagnostics: mean of the last five "
        "iterations. Each candidate is a preset with the changes shown; `scaled` is "
        "the reference preset with rewards scaled to returns of order one, no value "
        "clip and minibatches of 512. Candidates sample with 0 env runners x 8 "
        "envs unless they say otherwise. `train s` is the training time on the "
        "machine of docs/speed.md, where other jobs sometimes shared the two cores "
        "during the search (a ceiling, not a throughput figure: see "
        "training_throughput.py).",
        "",
        "| candidate | changes | seed | env steps | greedy | greedy - tuned | "
        "sampled | sampled - tuned | value EV | entropy | KL | train s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in record["results"]:
        g, s, d = r["greedy"], r["sampled"], r["diagnostics"]
        changes = dict(r["changes"])
        parts = [f"preset {r['preset']}"]
        if all(changes.get(k, "missing") == v for k, v in SCALED.items()):
            parts = ["scaled"]
            changes = {k: v for k, v in changes.items() if k not in SCALED}
        parts += [f"{k}={v}" for k, v in changes.items()]
        changes = ", ".join(parts)
        lines.append(
            f"| {r['candidate']} | {changes} | {r['seed']} | {r['timesteps']:,} | "
            f"{g['mean']:.1f} | {g['minus_tuned']:+.1f} ± {g['diff_ci95']:.1f} | "
            f"{s['mean']:.1f} | {s['minus_tuned']:+.1f} ± {s['diff_ci95']:.1f} | "
            f"{d['vf_explained_var']:.2f} | {d['entropy']:.3f} | {d['kl']:.4f} | "
            f"{r['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _print(record: dict, header: bool = True) -> None:
    if header:
        print(
            "\nphase 1 on the default scenario, store reward per store and episode on "
            f"{EPISODES} monitoring episodes (seeds {MONITOR_SEED:,}..); "
            "diagnostics: mean of the last 5 iterations"
        )
        print(
            f"{'candidate':<20} {'seed':>4} {'steps':>8} {'greedy':>8} {'- tuned':>14} "
            f"{'sampled':>8} {'- tuned':>14} {'EV':>6} {'entropy':>7} {'KL':>7} "
            f"{'s':>5}"
        )
    for r in record["results"]:
        g, s, d = r["greedy"], r["sampled"], r["diagnostics"]
        print(
            f"{r['candidate']:<20} {r['seed']:>4} {r['timesteps']:>8} "
            f"{g['mean']:8.1f} {g['minus_tuned']:+7.1f} ± {g['diff_ci95']:4.1f} "
            f"{s['mean']:8.1f} {s['minus_tuned']:+7.1f} ± {s['diff_ci95']:4.1f} "
            f"{d['vf_explained_var']:6.2f} {d['entropy']:7.3f} {d['kl']:7.4f} "
            f"{r['train_seconds']:5.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
