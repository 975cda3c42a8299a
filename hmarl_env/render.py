"""Rendering: an ansi table of the latest period and an RGB trajectory plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hmarl_env.ledger import Ledger
from hmarl_env.registry import SUPPLIER
from hmarl_env.scenario import Scenario

__all__ = ["ansi_table", "trajectory_rgb"]

_COLUMNS = (
    "opening",
    "received",
    "demand",
    "sold",
    "lost",
    "ordered",
    "shipped",
    "backlog",
    "closing",
    "in_transit",
    "total_cost",
)


def ansi_table(
    scenario: Scenario, history: Sequence[Ledger], rewards: Mapping[str, float]
) -> str:
    """A text table of the latest period: one row per node, plus the supplier."""
    if not history:
        return f"{scenario.name}: period 0 opened, no decisions yet\n"
    led = history[-1]
    width = max(len(n) for n in (*scenario.node_names, SUPPLIER)) + 2
    head = (
        f"{'agent':<{width}}"
        + "".join(f"{c:>11}" for c in _COLUMNS)
        + f"{'reward':>10}"
    )
    lines = [f"{scenario.name}: period {led.period} of {scenario.horizon}", head]
    for i, name in enumerate(scenario.node_names):
        cells = "".join(f"{getattr(led, c)[0, i]:>11.1f}" for c in _COLUMNS)
        lines.append(f"{name:<{width}}{cells}{rewards.get(name, 0.0):>10.2f}")
    r = scenario.root
    sup = (
        f"released {led.inbound[0, r]:.1f}, owes {led.inbound_backlog[0, r]:.1f}, "
        f"overtime {led.supplier_overtime[0]:.1f}"
    )
    lines.append(
        f"{'supplier_1':<{width}}{sup:>{11 * len(_COLUMNS)}}"
        f"{rewards.get('supplier_1', 0.0):>10.2f}"
    )
    return "\n".join(lines) + "\n"


def trajectory_rgb(scenario: Scenario, history: Sequence[Ledger]) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 image: inventory, orders and demand of each node over
    the episode so far, one panel per node (the bullwhip effect shows as orders
    swinging more widely up the chain)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(scenario.nodes)
    fig = Figure(figsize=(8, 1.8 * n + 0.6))
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)
    periods = [led.period for led in history]
    for i, name in enumerate(scenario.node_names):
        ax = axes[i, 0]
        if history:
            for field, style in (("closing", "-"), ("ordered", "--"), ("demand", ":")):
                values = [getattr(led, field)[0, i] for led in history]
                label = "inventory" if field == "closing" else field
                ax.plot(periods, values, style, label=label)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0 and history:
            ax.legend(fontsize=7, loc="upper right", ncol=3)
    axes[-1, 0].set_xlabel("period")
    axes[0, 0].set_title(f"{scenario.name}: inventory, orders and demand", fontsize=9)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
