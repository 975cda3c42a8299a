"""Tune the heuristics on training seeds; judge them on held-out seeds.

How to run:
    python -m baselines.tune --scenario default [--episodes 500]

Grid search, by coordinate descent: the base-stock store's cover and safety
factor (with the default (s, S) warehouses), then the warehouses' (s, S) with
the tuned stores, then the stores again. Each role is scored by the mean
episode reward of its agents, the quantity its learned counterpart maximises.
With ``--per node`` each warehouse and then each store is searched again on
its own, scored by its own reward, the others at their values (a central
warehouse and regional ones, or stores of other sizes, rarely share their
best parameters); a node's own parameters are ``params["nodes"][name]``.
The grids are :data:`STORE_GRID` and :data:`WAREHOUSE_GRID` unless changed:
``--grid store.safety_factor=0,1,2,3`` (repeatable) or ``--grids FILE``, a
TOML file of tables ``[store]`` / ``[warehouse]`` listing each parameter's
values; a parameter not named keeps its default grid.
Training seeds are ``0 .. episodes-1``; the verdict uses ``--held-out`` episodes
from seed 1,000,000, against the reference design's baseline on the same demand.

Writes ``results/baselines/<scenario>.json`` (atomically): the parameters, the
scenario's fingerprint (a changed scenario must be tuned again), and the
held-out comparison. ``make_policies(scenario, "tuned")`` reads it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import itertools
import math
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from baselines.evaluate import add_reward_mode_arguments, evaluate
from baselines.policies import default_ss_levels, make_policies
from baselines.tuned import fingerprint, tuned_path
from hmarl_env.observations import default_store_observation as layout
from hmarl_env.scenario import Scenario, get_scenario
from hmarl_env.seeding import HELD_OUT_SEED
from hmarl_env.utils.io import read_text_file, write_json_atomic
from hmarl_env.utils.stats import mean_ci

__all__ = ["grids_from", "parse_grid_options", "tune"]
STORE_GRID = {
    "cover_offset": [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0],
    "safety_factor": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
}
WAREHOUSE_GRID = {
    "s_days": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
    "gap_days": [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0],  # S_days - s_days
}


#: the parameters whose values must not be negative
_NON_NEGATIVE = {"s_days", "gap_days"}


def grids_from(
    changes: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """The default grids with ``changes`` (role -> parameter -> values)
    applied, each checked: a known role and parameter (the closest named
    otherwise), one or more finite numbers (sorted, duplicates dropped),
    ``s_days`` and ``gap_days`` not negative."""
    grids = {
        "store": {k: list(v) for k, v in STORE_GRID.items()},
        "warehouse": {k: list(v) for k, v in WAREHOUSE_GRID.items()},
    }
    for role, params in (changes or {}).items():
        if role not in grids:
            raise ValueError(
                f"grids: no role {role!r}; roles with a grid: {sorted(grids)}"
            )
        if not isinstance(params, Mapping):
            raise ValueError(f"grids.{role} must be a table of parameters")
        for name, values in params.items():
            if name not in grids[role]:
                near = difflib.get_close_matches(name, list(grids[role]), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ValueError(
                    f"grids.{role}: no parameter {name!r}{hint}; parameters: "
                    f"{sorted(grids[role])}"
                )
            where = f"grids.{role}.{name}"
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise ValueError(f"{where} must be a list of numbers, got {values!r}")
            if not values:
                raise ValueError(f"{where} is empty: give at least one value")
            for v in values:
                if (
                    isinstance(v, bool)
                    or not isinstance(v, (int, float))
                    or (not math.isfinite(v))
                ):
                    raise ValueError(f"{where}: {v!r} is not a finite number")
                if name in _NON_NEGATIVE and v < 0:
                    raise ValueError(f"{where}: {v!r} is negative")
            grids[role][name] = sorted({float(v) for v in values})
    return grids


def parse_grid_options(
    specs: Sequence[str] = (), path: str | None = None
) -> dict[str, dict[str, list[float]]]:
    """Grid changes from ``--grids FILE`` and then ``--grid role.name=v1,v2``
    options (the latter win), as :func:`grids_from` takes them."""
    changes: dict[str, dict[str, Any]] = {}
    if path is not None:
        try:
            data = tomllib.loads(read_text_file(path, "grids file"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"grids file {path!r} is not valid TOML: {exc}") from None
        for role, params in data.items():
            if not isinstance(params, Mapping):
                raise ValueError(
                    f"grids file {path!r}: {role!r} must be a table ([{role}])"
                )
            changes.setdefault(role, {}).update(params)
    for spec in specs:
        key, sep, text = spec.partition("=")
        role, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ValueError(
                f"--grid {spec!r}: write role.parameter=v1,v2,... (for example "
                "store.safety_factor=0,1,2)"
            )
        values = []
        for item in text.split(","):
            try:
                values.append(float(item))
            except ValueError:
                raise ValueError(
                    f"--grid {spec!r}: {item.strip()!r} is not a number"
                ) from None
        changes.setdefault(role, {})[name] = values
    return changes


def _role_reward(df, role: str) -> float:
    rows = df[df["role"] == role]
    return float(rows.groupby("episode")["episode_reward"].sum().mean())


def _search(scenario, params, role, grid, episodes, progress) -> tuple[dict, list]:
    names = list(grid)
    best, best_score = None, -np.inf
    combos = list(itertools.product(*grid.values()))
    for k, values in enumerate(combos):
        trial = {**params, role: dict(zip(names, values, strict=True))}
        policy_params = _policy_params(trial)
        df = evaluate(
            scenario,
            make_policies(scenario, "tuned", policy_params, layout(scenario)),
            episodes,
            seed=0,
            store_observation=layout(scenario),
        )
        score = _role_reward(df, role)
        if score > best_score:
            best, best_score = trial[role], score
        if progress:
            print(
                f"\r  {role}: {k + 1}/{len(combos)} settings, best reward "
                f"{best_score:.2f}",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if progress:
        print(file=sys.stderr)
    edges = [
        f"{role}.{k}={v}" for k, v in best.items() if v in (grid[k][0], grid[k][-1])
    ]
    return {**params, role: best}, edges


def _ss(grid_point: dict) -> dict:
    if "gap_days" not in grid_point:  # a store's point
        return dict(grid_point)
    return {
        "s_days": grid_point["s_days"],
        "S_days": grid_point["s_days"] + grid_point["gap_days"],
    }


def _policy_params(p: dict) -> dict:
    """Grid coordinates -> make_policies parameters."""
    wh = p.get("warehouse")
    out = {"store": dict(p.get("store", {}))}
    if wh is not None:
        out["warehouse"] = _ss(wh)
    if p.get("nodes"):
        out["nodes"] = {name: _ss(own) for name, own in p["nodes"].items()}
    return out


def _default_warehouse(scenario: Scenario) -> dict:
    j = int(scenario.warehouse_index[0])
    mean = float(scenario.mean_demand[j])
    s, S = default_ss_levels(scenario, scenario.node_names[j])
    return {"s_days": s / mean, "gap_days": (S - s) / mean}


def _agent_reward(df, agent: str) -> float:
    return float(df[df["agent"] == agent]["episode_reward"].mean())


def _search_node(scenario, params, name, grid, episodes, progress):
    """A node's own grid search, scored by its own reward, the rest fixed."""
    names = list(grid)
    best, best_score = None, -np.inf
    for values in itertools.product(*grid.values()):
        own = dict(zip(names, values, strict=True))
        trial = {**params, "nodes": {**params.get("nodes", {}), name: own}}
        df = evaluate(
            scenario,
            make_policies(scenario, "tuned", _policy_params(trial), layout(scenario)),
            episodes,
            seed=0,
            store_observation=layout(scenario),
        )
        score = _agent_reward(df, name)
        if score > best_score:
            best, best_score = own, score
    if progress:
        print(f"  {name}: best reward {best_score:.2f}", file=sys.stderr, flush=True)
    edges = [
        f"{name}.{k}={v}" for k, v in best.items() if v in (grid[k][0], grid[k][-1])
    ]
    return {**params, "nodes": {**params.get("nodes", {}), name: best}}, edges


def tune(
    scenario: Scenario,
    episodes: int = 500,
    held_out: int = 1000,
    progress: bool = False,
    per: str = "role",
    grids: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
) -> dict[str, Any]:
    """Tune, judge on held-out seeds, and return the record (not written).
    ``per``: ``"role"`` (one parameter set per role) or ``"node"`` (then each
    warehouse and each store on its own as well). ``grids``: changes to the
    default grids (:func:`grids_from`)."""
    if per not in ("role", "node"):
        raise ValueError(f"per must be 'role' or 'node', got {per!r}")
    grid = grids_from(grids)
    start = time.perf_counter()
    params: dict = {"store": {"cover_offset": 0.0, "safety_factor": 1.65}}
    rounds = [("store", grid["store"])]
    if scenario.warehouse_index.size:
        params["warehouse"] = _default_warehouse(scenario)
        rounds += [("warehouse", grid["warehouse"]), ("store", grid["store"])]
    edges: dict[str, list[str]] = {}
    for role, values in rounds:
        params, edges[role] = _search(
            scenario, params, role, values, episodes, progress
        )
    if per == "node":
        nodes = [(int(j), grid["warehouse"]) for j in scenario.warehouse_index]
        nodes += [(int(j), grid["store"]) for j in scenario.store_index]
        for j, values in nodes:
            name = scenario.node_names[j]
            params, edges[name] = _search_node(
                scenario, params, name, values, episodes, progress
            )
    final = _policy_params(params)

    verdict: dict[str, Any] = {"first_seed": HELD_OUT_SEED, "episodes": held_out}
    frames = {
        kind: evaluate(
            scenario,
            make_policies(
                scenario, kind, final if kind == "tuned" else None, layout(scenario)
            ),
            held_out,
            seed=HELD_OUT_SEED,
            store_observation=layout(scenario),
        )
        for kind in ("rule_based", "tuned")
    }
    verdict["per_agent"] = {
        agent: {kind: _agent_reward(df, agent) for kind, df in frames.items()}
        for agent in frames["tuned"]["agent"].unique()
    }
    for role in ("store", "warehouse", "supplier"):
        by = {}
        for kind, df in frames.items():
            by[kind] = df[df["role"] == role].groupby("episode")["episode_reward"].sum()
        if by["rule_based"].empty:
            continue
        diff = (by["tuned"] - by["rule_based"]).to_numpy()
        entry = {}
        for kind in ("rule_based", "tuned"):
            m, h = mean_ci(by[kind].to_numpy())
            entry[kind] = {"mean": m, "ci95": h}
        m, h = mean_ci(diff)
        entry["tuned_minus_rule_based"] = {"mean": m, "ci95": h}
        verdict[f"{role}_reward"] = entry
    return {
        "scenario": scenario.name,
        "fingerprint": fingerprint(scenario),
        "params": final,
        "objective": "mean episode reward of each role's agents, by coordinate descent"
        + ("; then each node's own reward" if per == "node" else ""),
        "training": {
            "first_seed": 0,
            "episodes": episodes,
            "grids": grid,
        },
        "held_out": verdict,
        "at_grid_edge": sorted({e for found in edges.values() for e in found}),
        "seconds": round(time.perf_counter() - start, 1),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default", help="preset name or file")
    add_reward_mode_arguments(parser)
    parser.add_argument("--episodes", type=int, default=500, help="training episodes")
    parser.add_argument("--held-out", type=int, default=1000, help="held-out episodes")
    parser.add_argument(
        "--per",
        choices=("role", "node"),
        default="role",
        help="one parameter set per role (default), or each warehouse and store "
        "its own as well",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="ROLE.PARAM=V1,V2,...",
        help="values to search for one parameter (repeatable), e.g. "
        "store.safety_factor=0,1,2,3; parameters: "
        + ", ".join(f"store.{k}" for k in STORE_GRID)
        + ", "
        + ", ".join(f"warehouse.{k}" for k in WAREHOUSE_GRID),
    )
    parser.add_argument(
        "--grids",
        metavar="FILE",
        help="a TOML file of grids: [store] / [warehouse] tables listing each "
        "parameter's values (--grid options override it)",
    )
    args = parser.parse_args(argv)
    if args.episodes < 2 or args.held_out < 2:
        parser.error("--episodes and --held-out must be at least 2")
    try:
        scenario = get_scenario(args.scenario).with_reward_mode(
            args.reward_mode, args.system_weight
        )
        if scenario.products:
            raise ValueError(
                f"scenario {scenario.name!r} stocks {len(scenario.products)} "
                f"products: tune its heuristics with hmarl catalogue --scenario "
                f"{args.scenario} (this command tunes single-product chains)"
            )
        grids = parse_grid_options(args.grid, args.grids)
        grids_from(grids)  # checked before anything runs
    except ValueError as exc:
        parser.error(str(exc))
    record = tune(
        scenario,
        args.episodes,
        args.held_out,
        sys.stderr.isatty(),
        per=args.per,
        grids=grids,
    )
    path = write_json_atomic(tuned_path(scenario), record)
    print(f"tuned {scenario.name!r} in {record['seconds']} s: {record['params']}")
    print(
        f"held-out episodes {HELD_OUT_SEED}..{HELD_OUT_SEED + args.held_out - 1}, "
        "episode reward per role, mean ± 95% CI:"
    )
    for key, entry in record["held_out"].items():
        if not key.endswith("_reward"):
            continue
        cells = ", ".join(
            f"{k} {v['mean']:.2f} ± {v['ci95']:.2f}" for k, v in entry.items()
        )
        print(f"  {key[:-7]:<10} {cells}")
    print("  per agent (mean episode reward, rule-based -> tuned):")
    for agent, entry in record["held_out"]["per_agent"].items():
        print(f"    {agent:<12} {entry['rule_based']:10.2f} -> {entry['tuned']:10.2f}")
    if record["at_grid_edge"]:
        print(
            "note: best values on the grid's edge "
            f"({'; '.join(record['at_grid_edge'])}): a wider grid might do better"
        )
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
