"""The catalogue heuristics side by side: per product vs capacity-aware.

How to run:
    python benchmarks/catalogue_heuristics.py [--presets catalogue_50 ...]

For each catalogue preset: the per-product base-stock policy tuned with
capacities ignored (``per_product``) and the capacity-aware one that prices
storage volume (``capacity_priced``), both tuned on training seeds
(:mod:`baselines.catalogue`), then run on held-out episodes (seeds from
1,000,000) under the capacities: the chain's cost per episode with its 95% CI,
the fill rate, what was discarded, and how often each capacity binds. First,
how far the per-product policy exceeds each capacity when capacities are
ignored: the 95th percentile of the volume on hand after arrivals (storage),
down each store's lane and released by the supplier, against the capacity.
"""

from __future__ import annotations

import argparse
import time

from _common import pin_one_core

MACHINE = pin_one_core()

import numpy as np  # noqa: E402

from baselines.catalogue import (  # noqa: E402
    BaseStock,
    evaluate_catalogue,
    format_catalogue_table,
    priced_levels,
    tune_capacity_prices,
    tune_per_product,
    uncapacitated,
)
from hmarl_env import Simulation, get_scenario  # noqa: E402
from hmarl_env.seeding import HELD_OUT_SEED  # noqa: E402

PRESETS = ("catalogue_50", "catalogue_500", "catalogue_2000")


def overflow(scenario, policy, episodes: int = 32) -> dict[str, tuple[float, float]]:
    """(95th percentile of the volume the policy needs, the capacity) of each
    node's storage, each lane and the supplier, capacities ignored."""
    free = uncapacitated(scenario)
    volume = scenario.product_table[0]
    sim = Simulation(free, batch_size=episodes)
    sim.reset([np.random.default_rng(HELD_OUT_SEED + e) for e in range(episodes)])
    stored, lanes = [], []
    while not sim.done:
        led = sim.step(policy(sim))
        arrived = led.by_product("opening") + led.by_product("received")
        stored.append((arrived * volume).sum(axis=2))
        lanes.append((led.by_product("inbound") * volume).sum(axis=2))
    stored, lanes = np.concatenate(stored), np.concatenate(lanes)
    out = {}
    for i, node in enumerate(scenario.nodes):
        out[f"{node.name} storage"] = (np.percentile(stored[:, i], 95), node.storage)
        if node.parent is not None:
            out[f"{node.name} truck"] = (
                np.percentile(lanes[:, i], 95),
                node.truck_volume,
            )
    out["supplier release"] = (
        np.percentile(lanes[:, scenario.root], 95),
        scenario.supplier.capacity,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {MACHINE}; held-out episodes: {args.episodes} per policy")
    for name in args.presets:
        sc = get_scenario(name)
        start = time.perf_counter()
        tuning = tune_per_product(sc)
        prices, _ = tune_capacity_prices(sc, tuning)
        tuned = time.perf_counter() - start
        naive = BaseStock(tuning.levels(sc))
        priced = BaseStock(priced_levels(sc, tuning, prices))
        print(f"\n{name} ({sc.n_products} products; tuned in {tuned:.0f} s)")
        print("  per-product policy with capacities ignored, p95 need vs capacity:")
        for what, (need, cap) in overflow(sc, naive).items():
            if np.isfinite(cap):
                print(
                    f"    {what:22s} {need:12,.1f} vs {cap:12,.1f} "
                    f"({100 * (need / cap - 1):+.0f}%)"
                )
        results = {
            label: evaluate_catalogue(sc, policy, args.episodes, seed=HELD_OUT_SEED)
            for label, policy in (("per_product", naive), ("capacity_priced", priced))
        }
        print(format_catalogue_table(results))
        costs = {k: df["total_cost"].to_numpy() for k, df in results.items()}
        ratio = costs["per_product"].mean() / costs["capacity_priced"].mean()
        print(
            f"  the per-product policy costs {ratio:.1f}x the capacity-aware one "
            "(binds: share of node-, lane- and supplier-periods cut)"
        )


if __name__ == "__main__":
    main()
