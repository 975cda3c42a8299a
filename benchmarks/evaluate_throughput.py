"""How long the batched evaluator takes for 10,000 episodes of a scenario.

How to run:
    python benchmarks/evaluate_throughput.py [--episodes 10000] [--scenario default]

Times ``baselines.evaluate.evaluate`` end to end (seeding every episode, the
simulation, the policies, the KPI frame) for the reference design's policies and the
tuned heuristics, best of three, on one core. Target (issue 4): under 10 s.
"""

from __future__ import annotations

import argparse
import time

from _common import pin_one_core

MACHINE = pin_one_core()

from baselines.evaluate import evaluate  # noqa: E402
from baselines.policies import make_policies  # noqa: E402
from hmarl_env import get_scenario  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sc = get_scenario(args.scenario)
    print(
        f"evaluator, scenario {sc.name!r} (horizon {sc.horizon}), "
        f"{args.episodes:,} episodes, {MACHINE}"
    )
    for kind in ("rule_based", "tuned"):
        policies = make_policies(sc, kind)
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            evaluate(sc, policies, args.episodes, seed=1_000_000)
            best = min(best, time.perf_counter() - start)
        rate = args.episodes * sc.horizon / best
        print(f"  {kind:<6} {best:6.2f} s  ({rate:,.0f} env-periods/s)")


if __name__ == "__main__":
    main()
