"""Phase 2: the warehouse learns; the stores are loaded from phase 1 and frozen.

How to run:
    python experiments/phase2.py  # from the newest finished phase1 run
    python experiments/phase2.py --from results/default__phase1__0__<time>
    python experiments/phase2.py --resume results/default__phase2__0__<time>

The warehouse trains its own PPO module on its own reward (service to the
stores, holding, stockout and excess costs); the stores act with phase 1's
shared module, which does not change; the supplier always fulfils.

The run takes the phase1 run's scenario, heuristics and network sizes; the store
module is restored weight for weight (a mismatch is an error, never a silent
partial load). At the end the curriculum gate (:mod:`analysis.gate`) writes
``gate.json``: does the learned warehouse beat the tuned (s, S) rule on its own
reward?
Every option: ``--help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if __name__ == "__main__":  # string hashes fixed before anything else runs
    from experiments.seeding import fix_hash_seed

    fix_hash_seed()

from analysis.runs.settings import PHASES  # noqa: E402
from experiments.train import main_for  # noqa: E402

PHASE = PHASES["phase2"]


def main(argv: list[str] | None = None) -> int:
    return main_for(PHASE, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
