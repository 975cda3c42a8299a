"""The stores' KPIs that training reports for every finished episode (RLlib
metrics ``env_runners/kpi/<name>``), one rule for both env runners: the
PettingZoo runner's callback reads them from the agents' infos, the batched
runner from the period tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from hmarl_env.registry import role_of

__all__ = ["KPI_FIELDS", "KPI_KEYS", "KPI_WINDOW", "episode_kpis", "store_kpis"]

KPI_KEYS = ("service_level", "lost_sales", "stockout_periods", "holding_cost")
#: the KPIs are means over each env runner's latest this many episodes
KPI_WINDOW = 100
#: the period-table columns :func:`store_kpis` reads, in its last axis' order
KPI_FIELDS = ("service_level", "lost", "backlog", "holding_cost")


def store_kpis(values: np.ndarray) -> dict[str, np.ndarray]:
    """Per episode, from ``(episodes, periods, stores, 4)`` values of
    :data:`KPI_FIELDS`: the mean service level per store-period, lost units,
    store-periods with a stockout (units lost or backlogged), holding cost."""
    values = np.asarray(values, dtype=np.float64)
    service, lost, backlog, holding = np.moveaxis(values, -1, 0)
    axes = (1, 2)
    return {
        "service_level": service.mean(axis=axes),
        "lost_sales": lost.sum(axis=axes),
        "stockout_periods": (lost + backlog > 0).sum(axis=axes).astype(np.float64),
        "holding_cost": holding.sum(axis=axes),
    }


def episode_kpis(chunks: Iterable[Any]) -> dict[str, float]:
    """Store KPIs of one episode from its chunks' infos (the reset report is
    superseded by period 0's ledger row)."""
    rows: dict[tuple[str, float], dict] = {}
    for chunk in chunks:
        for agent, infos in chunk.get_infos().items():
            if role_of(agent).name != "store":
                continue
            for info in infos:
                if info:
                    rows[(agent, info["period"])] = info
    if not rows:
        return {}
    keys = ("service_level", "lost_sales", "backlog", "holding_cost")
    values = np.array([[r[k] for k in keys] for r in rows.values()])
    return {k: float(v[0]) for k, v in store_kpis(values[None, :, None]).items()}
