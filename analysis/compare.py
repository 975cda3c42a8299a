"""Compare the learned policies of runs with the baselines (no Ray needed).

How to run:
    python -m analysis.compare --run results/default__phase1__0__<time> [--episodes 200]
    python -m analysis.compare --run RUN_A RUN_B RUN_C --output results/comparisons/x

Every policy meets the same held-out demand (episode seeds from 1,000,000).
The baselines replace only the roles a run learned, keeping its other roles:
``seed`` puts the rule-based store-based policies there, ``tuned`` the tuned
heuristics. The learned roles' KPIs (mean over their agents per episode) are
compared episode by episode: for each KPI the mean of each policy, the
difference and its 95% bootstrap confidence interval, a paired t-test and a
Wilcoxon signed-rank test. With several runs (training seeds), each episode's
learned value is the mean over runs, and the spread across runs is reported
too.

Writes into ``--output`` (default: ``<run>/comparison`` for one run):
``comparison_summary.json`` (the reference design's schema: per metric ``baseline``,
``ppo``, ``improvement_pct`` (positive = better, costs too), intervals and
tests; ``vs_tuned`` the same against the tuned heuristics), ``comparison_episodes.csv``,
``baseline_vs_ppo_comparison.png`` (rewards with intervals; service level,
lost sales and holding cost distributions) and ``episode_trajectory.png``
(inventory, orders and demand per node over one episode, baseline beside
learned).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.plots import _figure, _save
from analysis.runs.loading import load_policies
from analysis.runs.record import read_run_config
from analysis.runs.settings import ACTING
from baselines.evaluate import evaluate
from baselines.policies import TUNED_SETS, make_policies
from hmarl_env import get_scenario, parallel_env
from hmarl_env.registry import role_of, role_of_module
from hmarl_env.seeding import HELD_OUT_SEED
from hmarl_env.utils.io import check_output_dir, write_csv_atomic, write_json_atomic
from hmarl_env.utils.stats import mean_ci

__all__ = [
    "METRICS",
    "bootstrap_ci",
    "compare_runs",
    "paired_summary",
    "role_kpis",
    "swap_roles",
]


# the reference design's comparison metrics -> (evaluator KPI, higher is
# better); its "stockouts" are the units of demand lost, so they go by that
# quantity's one name, lost_sales, here as in infos, KPIs and metrics.csv
METRICS = {
    "rewards": ("episode_reward", True),
    "service_level": ("service_level", True),
    "lost_sales": ("lost_sales", False),
    "holding_cost": ("holding_cost", False),
}


def bootstrap_ci(
    diff: np.ndarray, level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diff``."""
    diff = np.asarray(diff, dtype=np.float64)
    if diff.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(resamples, diff.size))
    means = diff[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def paired_summary(
    baseline: np.ndarray, learned: np.ndarray, higher_is_better: bool = True
) -> dict[str, Any]:
    """Paired statistics of two per-episode samples of one KPI.

    ``improvement_pct`` is positive when the learned policy does better: a
    higher mean, or a lower one for costs and lost sales.
    """
    baseline = np.asarray(baseline, dtype=np.float64)
    learned = np.asarray(learned, dtype=np.float64)
    diff = learned - baseline
    b, p = float(baseline.mean()), float(learned.mean())
    out: dict[str, Any] = {
        "baseline": b,
        "ppo": p,
        "improvement_pct": (
            ((p - b) if higher_is_better else (b - p)) / abs(b) * 100
            if b != 0
            else float("nan")
        ),
        "difference": float(diff.mean()),
        "difference_ci95": list(bootstrap_ci(diff)),
        "episodes": int(diff.size),
    }
    if diff.size > 1 and np.any(diff != diff[0]):
        out["p_value_paired_t"] = float(stats.ttest_rel(learned, baseline).pvalue)
        out["p_value_wilcoxon"] = float(stats.wilcoxon(learned, baseline).pvalue)
    else:  # no variation: the tests are undefined
        out["p_value_paired_t"] = out["p_value_wilcoxon"] = None
    return out


def role_kpis(df: pd.DataFrame, roles: Sequence[str]) -> pd.DataFrame:
    """Per episode: the KPIs averaged over the agents of the learned roles."""
    rows = df[df["role"].isin(roles)]
    return rows.groupby("episode")[[k for k, _ in METRICS.values()]].mean()


def swap_roles(
    policies: Mapping[str, Any],
    scenario: Any,
    kind: str,
    roles: Sequence[str],
    params: Any,
    store_observation: str = "pipeline",
    warehouse_observation: str = "local",
) -> dict[str, Any]:
    """``policies`` with the agents of ``roles`` acting by the baselines set
    ``kind`` instead (``params``: the tuned parameters, for ``tuned``;
    ``store_observation``, ``warehouse_observation``: the layouts observed)."""
    rule = make_policies(
        scenario,
        kind,
        params if kind in TUNED_SETS else None,
        store_observation,
        warehouse_observation,
    )
    return {
        a: (rule[a] if role_of(a).name in roles else p) for a, p in policies.items()
    }


def compare_runs(
    runs: Sequence[str | Path],
    episodes: int = 200,
    scenario: Any = None,
    acting: str | None = None,
) -> dict[str, Any]:
    """Evaluate runs and baselines on the same held-out episodes; the summary
    plus per-episode frames (``frames``) and the policies used.

    ``acting``: how the learned modules act (``greedy``, ``mean`` or
    ``sampled``, see :class:`analysis.runs.loading.ModulePolicy`; ``None``:
    as the runs record, ``ppo.acting``, which must then agree); the summary
    records it, and ``other_acting`` gives the learned roles' reward acting
    sampled (greedy where ``acting`` is sampled) on the same episodes, paired
    with it, so a difference between them shows.
    """
    if not runs:
        raise ValueError("give at least one run folder")
    configs = [read_run_config(r) for r in runs]
    same = [
        str(r)
        for r in runs
        if [Path(x).resolve() for x in runs].count(Path(r).resolve()) > 1
    ]
    if same:
        raise ValueError(
            f"the run {same[0]!r} is given more than once: each run counts once "
            "in the average over runs"
        )
    kinds = {
        (c.phase.name, c.scenario.name, c.store_observation, c.warehouse_observation)
        for c in configs
    }
    if len(kinds) > 1:
        raise ValueError(
            "runs compared together must be of one phase, scenario and "
            "observation layouts (training seeds of one setting); got "
            f"{sorted(kinds)}"
        )
    if acting is None:
        recorded = sorted({c.ppo.acting for c in configs})
        if len(recorded) > 1:
            raise ValueError(
                f"the runs record different acting rules {recorded}: name one "
                "with --acting"
            )
        acting = recorded[0]
    sc = scenario if scenario is not None else configs[0].scenario
    roles = sorted({role_of_module(m).name for c in configs for m in c.learned})
    layouts = configs[0].observations

    def run_eval(policies: Mapping[str, Any]) -> pd.DataFrame:
        return evaluate(sc, policies, episodes, seed=HELD_OUT_SEED, **layouts)

    learned = [load_policies(r, sc, acting=acting) for r in runs]
    frames = {f"run{k}": run_eval(p) for k, p in enumerate(learned)}
    params = configs[0].heuristic_params
    kinds = (
        ("rule_based", "tuned", "constant")
        if "store" in roles
        else ("rule_based", "tuned")
    )
    baselines = {
        kind: swap_roles(learned[0], sc, kind, roles, params, **layouts)
        for kind in kinds
    }
    for kind, p in baselines.items():
        frames[kind] = run_eval(p)
    per_run = [role_kpis(frames[f"run{k}"], roles) for k in range(len(runs))]
    mean_learned = sum(per_run) / len(per_run)
    summary: dict[str, Any] = {
        "scenario": sc.name,
        "roles": roles,
        "runs": [str(r) for r in runs],
        "episodes": episodes,
        "first_seed": HELD_OUT_SEED,
        "baseline": "rule_based",
        "acting": acting,
    }
    sections = [("rule_based", None), ("tuned", "vs_tuned")]
    if "constant" in baselines:
        sections.append(("constant", "vs_constant"))
    for kind, key in sections:
        base = role_kpis(frames[kind], roles)
        section = {}
        for name, (kpi, higher) in METRICS.items():
            section[name] = paired_summary(
                base[kpi].to_numpy(), mean_learned[kpi].to_numpy(), higher
            )
            if len(runs) > 1:
                m, h = mean_ci(np.array([r[kpi].mean() for r in per_run]))
                section[name]["ppo_over_runs"] = {
                    "mean": m,
                    "ci95": h,
                    "runs": len(runs),
                }
        if key is None:
            summary.update(section)
        else:
            summary[key] = section
    other = "greedy" if acting == "sampled" else "sampled"
    other_runs = [
        role_kpis(run_eval(load_policies(r, sc, acting=other)), roles) for r in runs
    ]
    other_mean = sum(other_runs) / len(other_runs)
    summary["other_acting"] = {
        "acting": other,
        "rewards": paired_summary(
            mean_learned["episode_reward"].to_numpy(),
            other_mean["episode_reward"].to_numpy(),
        ),
    }
    return {
        "summary": summary,
        "frames": frames,
        "policies": {"ppo": learned[0], **baselines},
        "scenario": sc,
        "roles": roles,
        "observations": layouts,
    }


COLORS = {
    "rule_based": "#999999",
    "tuned": "#5b8def",
    "constant": "#c9c9c9",
    "run0": "#e8833a",
}


def _comparison_plot(result: dict[str, Any], path: Path) -> Path:

    frames, roles = result["frames"], result["roles"]
    labels = {"rule_based": "rule-based heuristics", "tuned": "tuned heuristic"}
    if "constant" in frames:
        labels["constant"] = "constant 1.0x"
    labels["run0"] = "PPO"
    per = {k: role_kpis(frames[k], roles) for k in labels}
    if len([k for k in frames if k.startswith("run")]) > 1:
        runs = [role_kpis(f, roles) for k, f in frames.items() if k.startswith("run")]
        per["run0"] = sum(runs) / len(runs)
        labels["run0"] = f"PPO ({len(runs)} runs)"
    fig, axes = _figure(2, 2, (11, 8))
    ax = axes[0, 0]
    means, errs = [], []
    for k in labels:
        m, h = mean_ci(per[k]["episode_reward"].to_numpy())
        means.append(m)
        errs.append(h)
    ax.bar(
        list(labels.values()),
        means,
        yerr=errs,
        capsize=6,
        color=[COLORS[k] for k in labels],
    )
    low = min(m - e for m, e in zip(means, errs, strict=True))
    high = max(m + e for m, e in zip(means, errs, strict=True))
    pad = max((high - low) * 0.5, 1.0)
    ax.set_ylim(low - pad, high + pad)
    ax.set_title("episode reward per agent (mean, 95% CI)", fontsize=10)
    for ax, (name, title) in zip(
        (axes[0, 1], axes[1, 0], axes[1, 1]),
        (
            ("service_level", "service level"),
            ("lost_sales", "lost sales (units)"),
            ("holding_cost", "holding cost per episode"),
        ),
        strict=True,
    ):
        ax.boxplot([per[k][name].to_numpy() for k in labels], showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), list(labels.values()))
        ax.set_title(title, fontsize=10)
    for ax in axes.flat:
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(
        f"{result['scenario'].name}: learned {', '.join(roles)} vs baselines, "
        f"{result['summary']['episodes']} held-out episodes",
        fontsize=10,
    )
    return _save(fig, path)


#: stores drawn in the trajectory plot (with every warehouse): a chain of
#: fifty stores would draw fifty rows nobody reads
TRAJECTORY_STORES = 4


def _act(policies: Mapping[str, Any], obs: dict[str, np.ndarray]) -> dict[str, int]:
    """Every agent's action, each policy called once on all its agents' rows
    (the stores' shared module on every store at once)."""
    groups: dict[int, list[str]] = {}
    for agent in obs:
        groups.setdefault(id(policies[agent]), []).append(agent)
    actions: dict[str, int] = {}
    for agents in groups.values():
        chosen = policies[agents[0]](np.stack([obs[a] for a in agents]))
        actions.update(zip(agents, (int(x) for x in chosen), strict=True))
    return actions


def _trajectory_plot(result: dict[str, Any], path: Path) -> Path:

    sc = result["scenario"]
    columns = {
        "rule-based heuristics": result["policies"]["rule_based"],
        "tuned heuristics": result["policies"]["tuned"],
        "PPO": result["policies"]["ppo"],
    }
    shown = sorted(
        [int(i) for i in sc.warehouse_index]
        + [int(i) for i in sc.store_index[:TRAJECTORY_STORES]]
    )
    n = len(shown)
    fig, axes = _figure(n, len(columns), (17, 2.0 * n + 0.8))
    for c, (label, policies) in enumerate(columns.items()):
        env = parallel_env(sc, **result["observations"])
        obs, _ = env.reset(seed=HELD_OUT_SEED)
        while env.agents:
            obs, *_ = env.step(_act(policies, obs))
        history = env.history
        t = [led.period for led in history]
        for row, i in enumerate(shown):
            name = sc.node_names[i]
            ax = axes[row, c]
            for field, style, lab in (
                ("closing", "-", "inventory"),
                ("ordered", "--", "orders"),
                ("demand", ":", "demand"),
            ):
                ax.plot(
                    t, [getattr(led, field)[0, i] for led in history], style, label=lab
                )
            if sc.nodes[i].is_store:  # what an order-up-to rule reacts to
                ax.plot(
                    t,
                    [
                        led.closing[0, i]
                        + led.in_transit[0, i]
                        + led.inbound_backlog[0, i]
                        for led in history
                    ],
                    "-",
                    lw=0.8,
                    alpha=0.6,
                    label="inventory position",
                )
            ax.set_ylabel(name, fontsize=8)
            ax.tick_params(labelsize=7)
            if row == 0:
                more = len(sc.store_index) - TRAJECTORY_STORES
                extra = (
                    f" (first {TRAJECTORY_STORES} stores of {more + 4})"
                    if (more > 0)
                    else ""
                )
                ax.set_title(
                    f"{label}: episode seed {HELD_OUT_SEED}{extra}", fontsize=9
                )
                ax.legend(fontsize=7, ncol=4, loc="upper right")
        axes[-1, c].set_xlabel("period")
    return _save(fig, path)


def write_comparison(result: dict[str, Any], output: Path) -> dict[str, Path]:
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, df in result["frames"].items():
        rows.append(df.assign(policy=name))
    files = {
        "summary": write_json_atomic(
            output / "comparison_summary.json", result["summary"]
        ),
        "episodes": write_csv_atomic(
            pd.concat(rows, ignore_index=True), output / "comparison_episodes.csv"
        ),
        "plot": _comparison_plot(result, output / "baseline_vs_ppo_comparison.png"),
        "trajectory": _trajectory_plot(result, output / "episode_trajectory.png"),
    }
    return files


def format_summary(summary: dict[str, Any]) -> str:
    """The comparison as a person reads it: per metric the learned policy,
    then each heuristic with the learned policy's paired difference to it
    (95% CI), the tuned heuristic first (the one a learned policy may lose
    to), then the constant order and the rule-based one; aligned columns."""
    lines = [
        f"{summary['scenario']}: learned {', '.join(summary['roles'])}, "
        f"{summary['episodes']} held-out episodes (seeds {summary['first_seed']}..), "
        f"{len(summary['runs'])} run(s), acting {summary.get('acting', 'greedy')}; "
        "per agent and episode"
    ]
    against = [("tuned", summary["vs_tuned"])]
    if "vs_constant" in summary:
        against.append(("constant", summary["vs_constant"]))
    against.append(("rule-based", {m: summary[m] for m in METRICS}))
    head = f"{'metric':<14} {'learned':>10}"
    for name, _ in against:
        head += f"  {name:>10} {'learned - ' + name + ' [95% CI]':>34}"
    lines.append(head)
    for metric in METRICS:
        f = ".4f" if metric == "service_level" else ".2f"
        row = f"{metric:<14} {summary[metric]['ppo']:>10{f}}"
        for _, table in against:
            s = table[metric]
            lo, hi = s["difference_ci95"]
            diff = f"{s['difference']:+{f}} [{lo:+{f}}, {hi:+{f}}]"
            row += f"  {s['baseline']:>10{f}} {diff:>34}"
        lines.append(row)
    o = summary.get("other_acting")
    if o:
        r = o["rewards"]
        lo, hi = r["difference_ci95"]
        lines.append(
            f"learned acting {summary['acting']}: reward {r['baseline']:.3f}; acting "
            f"{o['acting']}: {r['ppo']:.3f} (difference {r['difference']:+.3f}, "
            f"95% CI [{lo:.2f}, {hi:.2f}])"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs="+", required=True, help="run folder(s)")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument(
        "--scenario",
        default=None,
        help="evaluate on this scenario instead of the run's own",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="folder for the outputs (default: <run>/comparison)",
    )
    parser.add_argument(
        "--acting",
        choices=ACTING,
        default=None,
        help="how learned modules act (default: as the runs record, "
        "ppo.acting; mean: the expected action, for order quantities; "
        "sampled: from a seeded generator); sampled is reported beside it "
        "(greedy beside sampled)",
    )
    args = parser.parse_args(argv)
    if args.episodes < 2:
        parser.error("--episodes must be at least 2")
    if args.output is None and len(args.run) > 1:
        parser.error("--output is required when comparing several runs")
    output = Path(args.output) if args.output else Path(args.run[0]) / "comparison"
    try:
        for run in args.run:  # before the output folder is made inside one
            if not (Path(run) / "config.json").is_file():
                raise ValueError(f"{run!r} is not an hmarl run folder: no config.json")
        check_output_dir(output, "--output")
        scenario = get_scenario(args.scenario) if args.scenario else None
        result = compare_runs(args.run, args.episodes, scenario, args.acting)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = write_comparison(result, output)
    print(format_summary(result["summary"]))
    for label, path in files.items():
        print(f"{label}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
