"""Batched evaluation of any mapping from agent to policy.

How to run:
    python -m baselines.evaluate --scenario default --episodes 1000 --policy rule_based

Episodes run side by side through the simulation core (thousands at once), not
one env at a time. Episode ``e`` is seeded with ``seed + e`` exactly as
``env.reset(seed=seed + e)`` would be, so every policy evaluated with the same
seeds meets the same demand (common random numbers), and the PettingZoo env
reproduces any episode.

KPIs, one row per episode and agent:

==================  ==========================================================
episode_reward      sum of the agent's rewards over the episode
service_level       mean over periods of the reward's service-level term
fill_rate           units served / units asked (stores: sold / demand;
                    warehouses: shipped / ordered by children; supplier:
                    released / ordered by the root)
lost_sales          units of demand lost (stores)
holding_cost        holding plus transit cost
stockout_cost       stockout cost (supplier: backlog cost)
excess_inventory    mean units above the excess target per period
total_cost          the agent's ledger cost (supplier: backlog + overtime)
bullwhip            variance of the agent's orders over variance of the demand
                    it faces (supplier: of what it released over the root's
                    orders); NaN where that demand does not vary
==================  ==========================================================
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from baselines.policies import (
    POLICY_SET_ALIASES,
    POLICY_SETS,
    TUNED_SETS,
    make_policies,
    policy_set,
)
from baselines.tuned import load_tuned
from hmarl_env.registry import SUPPLIER, agent_names, role_of
from hmarl_env.rollout import Rollout
from hmarl_env.scenario import REWARD_MODES, Scenario, get_scenario
from hmarl_env.seeding import HELD_OUT_SEED, check_seed
from hmarl_env.utils.io import check_output_file, write_csv_atomic
from hmarl_env.utils.stats import mean_ci

__all__ = ["KPIS", "evaluate", "summarize"]

KPIS = (
    "episode_reward",
    "service_level",
    "fill_rate",
    "lost_sales",
    "holding_cost",
    "stockout_cost",
    "excess_inventory",
    "total_cost",
    "bullwhip",
)


def _actions(policy, obs: np.ndarray, agent: str, n: int) -> np.ndarray:
    try:
        a = np.asarray(policy(obs))
    except Exception as exc:
        raise RuntimeError(
            f"the policy of {agent!r} ({policy!r}) failed: {exc}"
        ) from exc
    if a.shape != (obs.shape[0],) or a.dtype.kind not in "iu":
        raise ValueError(
            f"the policy of {agent!r} must return ({obs.shape[0]},) integer actions, "
            f"got shape {a.shape} dtype {a.dtype}"
        )
    if a.size and (a.min() < 0 or a.max() >= n):
        raise ValueError(
            f"the policy of {agent!r} returned actions outside [0, {n - 1}]"
        )
    return a


def _variance(total: np.ndarray, squares: np.ndarray, T: int) -> np.ndarray:
    mean = total / T
    return np.maximum(squares / T - mean * mean, 0.0) * (T / max(T - 1, 1))


def _run_batch(
    scenario: Scenario,
    policies: Mapping,
    seeds: Sequence[int],
    store_observation: str,
    warehouse_observation: str = "local",
) -> dict[str, dict[str, np.ndarray]]:
    B, T = len(seeds), scenario.horizon
    rollout = Rollout(scenario, B, store_observation, warehouse_observation)
    rollout.reset([np.random.default_rng(int(s)) for s in seeds])
    roles = rollout.roles
    n, r = roles.n_nodes, scenario.root
    actions = np.zeros((B, len(roles.agents)), dtype=np.intp)
    n_actions = {a: roles.n_actions(a) for a in roles.agents}
    rewards = table = None
    flows = {k: np.zeros((B, n + 1)) for k in ("out", "out2", "in", "in2")}
    # agents that share one policy object (the stores' module) are asked at
    # once, their rows stacked: a 50-store chain calls it once a period, not 50
    groups: dict[tuple[int, int, int], list[int]] = {}
    for k, agent in enumerate(roles.agents):
        sl = roles.slices[agent]
        key = (id(policies[agent]), sl.stop - sl.start, n_actions[agent])
        groups.setdefault(key, []).append(k)
    while not rollout.done:
        obs = rollout.observe()
        for ks in groups.values():
            agents = [roles.agents[k] for k in ks]
            rows = np.concatenate([obs[:, roles.slices[a]] for a in agents])
            who = agents[0] if len(agents) == 1 else ", ".join(agents)
            chosen = _actions(policies[agents[0]], rows, who, n_actions[agents[0]])
            actions[:, ks] = chosen.reshape(len(ks), B).T
        led, t, rw, _ = rollout.step(actions)
        table = t if table is None else table + t
        rewards = rw if rewards is None else rewards + rw
        # what each agent sends up the chain, and the demand it faces
        out = np.concatenate([led.ordered, led.inbound[:, r : r + 1]], axis=1)
        inn = np.concatenate([led.demand, led.ordered[:, r : r + 1]], axis=1)
        flows["out"] += out
        flows["out2"] += out * out
        flows["in"] += inn
        flows["in2"] += inn * inn
    node, sup = roles.metrics(table)
    with np.errstate(divide="ignore", invalid="ignore"):
        bullwhip = _variance(flows["out"], flows["out2"], T) / _variance(
            flows["in"], flows["in2"], T
        )
        bullwhip[~np.isfinite(bullwhip)] = np.nan
        fill_nodes = (node["sold"] + node["shipped"]) / node["demand"]
        fill_sup = sup["shipped"] / flows["in"][:, n]
    out: dict[str, dict[str, np.ndarray]] = {}
    column = {a: k for k, a in enumerate(roles.agents)}  # rewards: agent order
    for agent, i in roles.node_of.items():
        out[agent] = {
            "episode_reward": rewards[:, column[agent]],
            "service_level": node["service_level"][:, i] / T,
            "fill_rate": fill_nodes[:, i],
            "lost_sales": node["lost"][:, i],
            "holding_cost": node["holding_cost"][:, i],
            "stockout_cost": node["stockout_penalty"][:, i],
            "excess_inventory": node["excess_inventory"][:, i] / T,
            "total_cost": node["total_cost"][:, i],
            "bullwhip": bullwhip[:, i],
        }
    zeros = np.zeros(B)
    out[SUPPLIER] = {
        "episode_reward": rewards[:, column[SUPPLIER]],
        "service_level": sup["service_level"] / T,
        "fill_rate": fill_sup,
        "lost_sales": zeros,
        "holding_cost": zeros,
        "stockout_cost": sup["stockout_penalty"],
        "excess_inventory": zeros,
        "total_cost": sup["stockout_penalty"] + sup["overtime_cost"],
        "bullwhip": bullwhip[:, n],
    }
    return out


_BATCH_BYTES = 256 * 2**20


def evaluate(
    scenario: Scenario | str,
    policies: Mapping,
    episodes: int = 1000,
    seed: int = 0,
    batch_size: int = 2048,
    store_observation: str = "pipeline",
    progress: bool = False,
    warehouse_observation: str = "local",
) -> pd.DataFrame:
    """Run ``episodes`` episodes under ``policies`` and return their KPIs.

    Args:
        scenario: a :class:`~hmarl_env.scenario.Scenario`, preset name or file.
        policies: agent name -> policy (observations ``(B, dim)`` -> actions
            ``(B,)``) for every agent of the scenario.
        episodes: number of episodes; episode ``e`` uses seed ``seed + e``.
        batch_size: episodes simulated at most at once (fewer for long
            horizons: a batch's demand, drawn at reset, stays under 256 MB).
        store_observation: the stores' observation layout the policies expect.
        warehouse_observation: the warehouses' (``local`` or ``echelon``).
        progress: print a progress bar to standard error.

    Returns:
        One row per episode and agent: ``episode``, ``seed``, ``agent``,
        ``role`` and the :data:`KPIS`.
    """
    scenario = get_scenario(scenario)
    agents = agent_names(scenario)
    missing = sorted(set(agents) - set(policies))
    if missing:
        raise ValueError(
            f"no policy for {missing}; the scenario's agents are {list(agents)}"
        )
    if episodes < 1 or batch_size < 1:
        raise ValueError(
            f"episodes and batch_size must be >= 1, got {episodes}, {batch_size}"
        )
    seed = check_seed(seed, "evaluate's first episode seed")
    # an episode's demand is drawn at reset: keep a batch's under _BATCH_BYTES
    per_episode = scenario.horizon * len(scenario.nodes) * 8
    batch_size = max(1, min(batch_size, _BATCH_BYTES // per_episode))
    frames = []
    start = time.perf_counter()
    for lo in range(0, episodes, batch_size):
        seeds = np.arange(seed + lo, seed + min(lo + batch_size, episodes))
        kpis = _run_batch(
            scenario, policies, seeds, store_observation, warehouse_observation
        )
        for agent, cols in kpis.items():
            frame = pd.DataFrame(cols)
            frame.insert(0, "role", role_of(agent).name)
            frame.insert(0, "agent", agent)
            frame.insert(0, "seed", seeds)
            frame.insert(0, "episode", seeds - seed)
            frames.append(frame)
        if progress:
            _progress(
                min(lo + batch_size, episodes), episodes, time.perf_counter() - start
            )
    df = pd.concat(frames, ignore_index=True)
    order = {a: k for k, a in enumerate(agents)}  # the env's agent order
    key = df["agent"].map(order)
    return (
        df.assign(_k=key)
        .sort_values(["episode", "_k"], kind="stable", ignore_index=True)
        .drop(columns="_k")
    )


def _progress(done: int, total: int, elapsed: float) -> None:
    width = 30
    filled = int(width * done / total)
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else ""
    print(
        f"\r[{bar}] {done}/{total} episodes, {elapsed:.1f} s",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def summarize(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean and confidence half-width of every KPI per agent (columns
    ``<kpi>`` and ``<kpi>_ci``), episodes as the unit of replication."""
    rows = []
    for agent, group in df.groupby("agent", sort=False):
        row = {"agent": agent}
        for k in KPIS:
            row[k], row[f"{k}_ci"] = mean_ci(group[k].to_numpy(), level)
        rows.append(row)
    return pd.DataFrame(rows).set_index("agent")


def format_table(summary: pd.DataFrame, kpis: Sequence[str] = KPIS) -> str:
    """A text table of ``summarize``'s output: ``mean ± half-width``."""
    head = f"{'agent':<12}" + "".join(f"{k:>24}" for k in kpis)
    lines = [head]
    for agent, row in summary.iterrows():
        cells = []
        for k in kpis:
            m, h = row[k], row[f"{k}_ci"]
            cell = "-" if np.isnan(m) else f"{m:.3f} ± {h:.3f}"
            cells.append(f"{cell:>24}")
        lines.append(f"{agent:<12}" + "".join(cells))
    return "\n".join(lines)


def add_reward_mode_arguments(parser: argparse.ArgumentParser) -> None:
    """``--reward-mode`` and ``--system-weight``: the scenario's reward mode
    changed on the command line (``hmarl_env.rewards``)."""
    parser.add_argument(
        "--reward-mode",
        choices=REWARD_MODES,
        default=None,
        help="local (each agent's own ledger row), system (minus the chain's "
        "ledger cost) or mixed (default: the scenario's)",
    )
    parser.add_argument(
        "--system-weight",
        type=float,
        default=None,
        help="the system reward's share in mixed mode, in [0, 1]",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default", help="preset name or file")
    add_reward_mode_arguments(parser)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument(
        "--policy",
        choices=POLICY_SETS + tuple(POLICY_SET_ALIASES),
        default="rule_based",
        help="the policy set: rule_based (the HMARL reference design's rules; "
        "alias seed), base_stock, tuned, constant or smoothing",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=HELD_OUT_SEED,
        help="first episode seed (default: the held-out seeds)",
    )
    parser.add_argument("--csv", help="also write the per-episode KPIs to this file")
    args = parser.parse_args(argv)
    args.policy = policy_set(args.policy)  # an old name: the set's own
    if args.episodes < 2:
        parser.error("--episodes must be at least 2 (for confidence intervals)")
    try:
        check_seed(args.seed, "--seed")
        if args.csv:
            check_output_file(args.csv, "--csv")
        scenario = get_scenario(args.scenario).with_reward_mode(
            args.reward_mode, args.system_weight
        )
        params = None
        if args.policy in TUNED_SETS:  # the hint to tune names the file given
            params = load_tuned(scenario, given=args.scenario)["params"]
        policies = make_policies(scenario, args.policy, params)
    except ValueError as exc:
        parser.error(str(exc))
    start = time.perf_counter()
    df = evaluate(
        scenario, policies, args.episodes, seed=args.seed, progress=sys.stderr.isatty()
    )
    elapsed = time.perf_counter() - start
    print(
        f"scenario {scenario.name!r}, policy {args.policy!r}: {args.episodes} episodes "
        f"x {scenario.horizon} periods, seeds {args.seed}.."
        f"{args.seed + args.episodes - 1} ({elapsed:.2f} s);"
        " mean ± 95% CI over episodes"
    )
    print(format_table(summarize(df), KPIS[:5]))
    print()
    print(format_table(summarize(df), KPIS[5:]))
    if args.csv:
        write_csv_atomic(df, args.csv)
        print(f"per-episode KPIs written to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
