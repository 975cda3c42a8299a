"""Plots of hmarl runs; every function reads a run folder and writes a PNG."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from hmarl_env.utils.io import write_atomic

__all__ = ["training_plots"]


def _figure(rows: int, cols: int, size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))


#: learner diagnostics panels: metrics.csv suffix -> (title, log scale)
_LEARNER_PANELS = {
    "vf_explained_var": ("value explained variance", False),
    "vf_loss_unclipped": ("value loss (unclipped; clipped dashed)", True),
    "entropy": ("policy entropy", False),
    "kl": ("mean KL (old -> new policy)", True),
    "grad_norm": ("gradient global norm (before clipping)", True),
    "policy_loss": ("policy loss", False),
}
_REFERENCE_LABELS = {
    "rule_based": "rule-based store",
    "tuned": "tuned heuristic",
    "constant": "constant 1.0 x forecast",
}


#: the training run's plots, in its folder
PLOTS_FILE = "training_plots.png"


def training_plots(run_dir: str | Path) -> Path:
    """``training_plots.png``: the reference design's four panels (store reward, service
    level, stockout periods, holding cost per store and episode) against env steps,
    the greedy policy's reward on the monitoring episodes with the heuristics'
    reward on the same episodes as reference lines (``monitor_references.json``),
    and the learner's diagnostics of every trained module (explained variance,
    value loss, entropy, KL, gradient norm, policy loss)."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise ValueError(f"{run_dir} has no metrics.csv to plot")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0]) if rows else []
    modules = [
        c[: -len("_vf_explained_var")]
        for c in header
        if c.endswith("_vf_explained_var")
    ]
    refs_path = run_dir / "monitor_references.json"
    refs = (
        json.loads(refs_path.read_text()).get("reward_per_agent", {})
        if refs_path.is_file()
        else {}
    )

    def col(key: str) -> list[float]:
        return [
            float(r[key]) if r.get(key) not in (None, "") else math.nan for r in rows
        ]

    def line(ax, key: str, *style, **kw) -> None:
        """``key`` against env steps through the iterations that have it (an
        iteration in which no episode ended has no value: no gap is drawn)."""
        pairs = [(x, y) for x, y in zip(steps, col(key), strict=True) if y == y]
        if pairs:
            ax.plot(*zip(*pairs, strict=True), *style, **kw)

    steps = col("timesteps")
    fig, axes = _figure(3 if modules else 1, 4, (16, 10.5 if modules else 3.8))
    panels = [
        ("store_reward", "episode reward per store", "eval_store_reward"),
        ("service_level", "service level", "eval_service_level"),
        ("stockout_periods", "stockout periods per store", None),
        ("holding_cost", "holding cost per store", None),
    ]
    for ax, (key, title, eval_key) in zip(axes[0], panels, strict=True):
        line(ax, key, "-", label="training episodes (sampled)")
        if eval_key:
            ev = [
                (s, v)
                for s, v in zip(steps, col(eval_key), strict=True)
                if not math.isnan(v)
            ]
            if ev:
                ax.plot(*zip(*ev, strict=True), "o--", label="greedy, monitoring seeds")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    _reward_view(axes[0, 0], refs.get("store", {}), col("eval_store_reward"))
    if axes[0, 0].get_legend_handles_labels()[0]:  # nothing to name in a tiny run
        axes[0, 0].legend(fontsize=7)
    if modules:
        flat = list(axes[1:].flat)
        for ax, (suffix, (title, log)) in zip(
            flat, _LEARNER_PANELS.items(), strict=False
        ):
            for m in modules:
                line(ax, f"{m}_{suffix}", "-", label=m)
                if suffix == "vf_loss_unclipped":
                    line(ax, f"{m}_vf_loss", "--", alpha=0.6)
            if log:
                ax.set_yscale("log")
            if suffix == "vf_explained_var":
                ax.set_ylim(-1, 1)
                ax.axhline(0, color="k", lw=0.5)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("env steps")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        for ax in flat[len(_LEARNER_PANELS) :]:
            ax.set_visible(False)
    fig.suptitle(f"{run_dir.name}", fontsize=10)
    return _save(fig, run_dir / PLOTS_FILE)


def _reward_view(ax, refs: dict[str, float], evals: list[float]) -> None:
    """Reference lines, and a y range that shows where they and the greedy
    policy's later evaluations differ (not the first iterations' losses)."""
    for kind, value in refs.items():
        ax.axhline(
            value,
            ls=":",
            lw=1.2,
            color=_REF_COLORS.get(kind, "k"),
            label=f"{_REFERENCE_LABELS.get(kind, kind)} {value:.0f}",
        )
    later = [v for v in evals[len(evals) // 2 :] if not math.isnan(v)]
    shown = list(refs.values()) + later
    if shown:
        low, high = min(shown), max(shown)
        pad = max(0.5 * (high - low), 5.0)
        ax.set_ylim(low - 2 * pad, high + pad)


_REF_COLORS = {"rule_based": "#777777", "tuned": "#2a5bd7", "constant": "#b0b0b0"}
