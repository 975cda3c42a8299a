"""Plots of hmarl runs; every function reads a run folder and writes a PNG."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from analysis.io import write_atomic

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


def training_plots(run_dir: str | Path) -> Path:
    """``training_plots.png``: the seeds' four panels (store reward, service
    level, stockouts, holding cost per store and episode) against env steps."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise ValueError(f"{run_dir} has no metrics.csv to plot")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))

    def col(key: str) -> list[float]:
        return [
            float(r[key]) if r.get(key) not in (None, "") else math.nan for r in rows
        ]

    steps = col("timesteps")
    fig, axes = _figure(2, 2, (10, 7))
    panels = [
        ("store_reward", "episode reward per store", "eval_store_reward"),
        ("service_level", "service level", "eval_service_level"),
        ("stockout_periods", "stockout periods per store", None),
        ("holding_cost", "holding cost per store", None),
    ]
    for ax, (key, title, eval_key) in zip(axes.flat, panels, strict=True):
        ax.plot(steps, col(key), "-", label="training episodes")
        if eval_key:
            ev = [
                (s, v)
                for s, v in zip(steps, col(eval_key), strict=True)
                if not math.isnan(v)
            ]
            if ev:
                ax.plot(*zip(*ev, strict=True), "o--", label="greedy, held-out seeds")
                ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{run_dir.name}", fontsize=10)
    return _save(fig, run_dir / "training_plots.png")
