"""One store policy for a family of default chains, against per-scenario tuned
heuristics and against stores trained on each scenario alone.

How to run:
    python experiments/phase1.py --family default_chain_family \\
        --timesteps 2000000 --output runs/chain_family
    python benchmarks/chain_family.py --runs runs/chain_family

The family run (the newest finished phase-1 run on ``default_chain_family``
under ``--runs``) trained its store policy on a new default chain every
episode (demand level and variability, the stores' costs, both lead times:
:data:`hmarl_env.scenario.family.DEFAULT_CHAIN`), with the warehouse and
supplier acting by their untuned rules. Here it acts, without further
training, on ``--scenarios`` chains drawn from the family with seeds of
their own (from 3,000,000, a stream apart from training's). Each is written
as a scenario file under ``<runs>/scenarios/``, its heuristics are tuned
(``python -m baselines.tune``; the record under ``results/baselines/``) and a
store is trained on it alone with phase 1's defaults (the newest such run
under ``<runs>/alone/`` is reused). Then, on the same held-out episodes
(seeds from 1,000,000) and with each scenario's tuned warehouse and
supplier, three store policies:

* ``tuned``: the tuned base-stock stores (the per-scenario heuristic);
* ``family``: the family's store policy, zero-shot;
* ``alone``: the store trained on that scenario alone.

Reports the reward per store and episode (the scenario's reward mode) and
the system's ledger cost per episode (every agent's total cost), each paired
with ``tuned``, and ``family`` paired with ``alone``: mean and 95% CI over
episodes. Writes ``results/benchmarks/chain_family.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.runs.folder import newest_run, training_cost  # noqa: E402
from analysis.runs.loading import load_policies  # noqa: E402
from analysis.runs.record import read_run_config  # noqa: E402
from baselines import tune  # noqa: E402
from baselines.evaluate import evaluate  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from baselines.tuned import fingerprint, load_tuned  # noqa: E402
from benchmarks._tables import ci, fmt  # noqa: E402
from experiments import phase1  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402
from hmarl_env.registry import role_of  # noqa: E402
from hmarl_env.scenario.family import DEFAULT_CHAIN  # noqa: E402
from hmarl_env.seeding import FAMILY_TEST_SEED as TEST_SEED  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402
from hmarl_env.utils.io import results_dir, write_json_atomic  # noqa: E402

POLICIES = ("tuned", "family", "alone")


def test_scenario(k: int, folder: Path):
    """The ``k``-th test chain, written as a scenario file; (scenario, path)."""
    values = DEFAULT_CHAIN.draw(TEST_SEED + k)
    scenario = DEFAULT_CHAIN.instance(values).replace(name=f"default_chain_test{k}")
    path = folder / f"{scenario.name}.json"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, scenario.to_dict())
    return get_scenario(str(path)), path, values


def tuned_params(scenario, path: Path, episodes: int) -> dict:
    """The scenario's tuned heuristic parameters, tuned here if missing."""
    try:
        return load_tuned(scenario)["params"]
    except ValueError:
        code = tune.main(["--scenario", str(path), "--held-out", str(episodes)])
        if code:
            raise SystemExit(f"tuning {path} failed") from None
        return load_tuned(scenario)["params"]


def alone_run(scenario, path: Path, out: Path, timesteps: int | None) -> Path:
    """The newest finished phase-1 run on ``scenario`` under ``out``, trained
    here if there is none."""

    def match(c) -> bool:
        return (
            c.family is None
            and c.phase.name == "phase1"
            and fingerprint(c.scenario) == fingerprint(scenario)
        )

    run = newest_run([out], match)
    if run is None:
        argv = ["--scenario", str(path), "--output", str(out), "--gate-episodes", "0"]
        if timesteps:
            argv += ["--timesteps", str(timesteps)]
        if phase1.main(argv) != 0 or (run := newest_run([out], match)) is None:
            raise SystemExit(f"training a store on {path} alone failed")
    return run


def judge(scenario, policies: dict, episodes: int, layout: str) -> dict:
    """Per held-out episode: the reward per store and the system's cost."""
    df = evaluate(
        scenario, policies, episodes, seed=HELD_OUT_SEED, store_observation=layout
    )
    stores = df[df["agent"].map(lambda a: role_of(a).name == "store")]
    return {
        "store_reward": stores.groupby("episode")["episode_reward"].mean().to_numpy(),
        "system_cost": df.groupby("episode")["total_cost"].sum().to_numpy(),
    }


def one(k: int, family_run: Path, runs: Path, args) -> dict:
    scenario, path, values = test_scenario(k, runs / "scenarios")
    params = tuned_params(scenario, path, args.tune_episodes)
    alone = alone_run(scenario, path, runs / "alone", args.timesteps)
    layout = read_run_config(family_run).store_observation
    if read_run_config(alone).store_observation != layout:
        raise SystemExit(f"{alone} observes another layout than {family_run}")
    tuned = make_policies(scenario, "tuned", params, layout)
    upstream = {a: p for a, p in tuned.items() if role_of(a).name != "store"}
    chains = {
        "tuned": tuned,
        "family": {**load_policies(family_run, scenario), **upstream},
        "alone": {**load_policies(alone), **upstream},
    }
    sims = {
        name: judge(scenario, p, args.episodes, layout) for name, p in chains.items()
    }
    row: dict = {
        "scenario": scenario.name,
        "file": str(path),
        "params": values,
        "alone_run": str(alone),
        "alone_training": training_cost(alone),
    }
    for metric in ("store_reward", "system_cost"):
        row[metric] = {name: ci(s[metric]) for name, s in sims.items()}
        for name, base in (
            ("family", "tuned"),
            ("alone", "tuned"),
            ("family", "alone"),
        ):
            diff = sims[name][metric] - sims[base][metric]
            row[metric][f"{name} minus {base}"] = ci(diff)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="results", help="the family run's folder")
    parser.add_argument("--scenarios", type=int, default=4, help="test chains")
    parser.add_argument("--episodes", type=int, default=200, help="held-out")
    parser.add_argument("--tune-episodes", type=int, default=1000)
    parser.add_argument(
        "--timesteps", type=int, default=None, help="alone: default phase 1's"
    )
    args = parser.parse_args(argv)
    if min(args.scenarios, args.episodes, args.tune_episodes) < 1:
        parser.error("--scenarios, --episodes and --tune-episodes must be >= 1")
    runs = Path(args.runs)
    family_run = newest_run(
        [runs],
        lambda c: c.family == DEFAULT_CHAIN.name and c.phase.name == "phase1",
    )
    if family_run is None:
        parser.error(
            f"no finished phase-1 run on {DEFAULT_CHAIN.name!r} under {runs}: "
            "train one first (see --help)"
        )
    rows = [one(k, family_run, runs, args) for k in range(args.scenarios)]
    record = {
        "family_run": str(family_run),
        "family_training": training_cost(family_run),
        "episodes": args.episodes,
        "rows": rows,
    }
    print(
        f"family run {family_run.name}; {args.episodes} held-out episodes; each "
        "scenario's tuned warehouse and supplier; mean and 95% CI\n"
    )
    print(
        "| scenario | scale | cv | holding | stockout | L store | L warehouse "
        "| metric | tuned | family | alone | family - tuned | alone - tuned "
        "| family - alone |"
    )
    print("|---" * 14 + "|")
    for r in rows:
        p = r["params"]
        head = (
            f"| {r['scenario']} | {p['demand_scale']:.2f} | {p['demand_cv']:.2f} "
            f"| {p['store_holding']:.3f} | {p['store_stockout']:.2f} "
            f"| {p['store_lead_time']:.0f} | {p['warehouse_lead_time']:.0f} "
        )
        for metric in ("store_reward", "system_cost"):
            m = r[metric]
            print(
                head
                + f"| {metric.replace('_', ' ')} "
                + " ".join(f"| {fmt(m[n], 1)}" for n in POLICIES)
                + f" | {fmt(m['family minus tuned'], 1)} "
                + f"| {fmt(m['alone minus tuned'], 1)} "
                + f"| {fmt(m['family minus alone'], 1)} |"
            )
            head = "| | | | | | | "
    cost = record["family_training"]
    alone = [r["alone_training"] for r in rows]
    print(
        f"\ntraining: the family run {cost['env_steps']:,.0f} env steps, "
        f"{cost['seconds'] / 60:.1f} min; a store per scenario: "
        f"{sum(a['env_steps'] for a in alone):,.0f} env steps, "
        f"{sum(a['seconds'] for a in alone) / 60:.1f} min for {len(rows)}"
    )
    path = write_json_atomic(results_dir() / "benchmarks" / "chain_family.json", record)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
