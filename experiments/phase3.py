"""Phase 3: the supplier learns; stores and warehouse come frozen from phase 2.

How to run:
    python experiments/phase3.py  # from the newest finished phase2 run
    python experiments/phase3.py --from results/default__phase2__0__<time>
    python experiments/phase3.py --resume results/default__phase3__0__<time>

The supplier trains its own PPO module on its own reward (the share of what it
owes that it releases, backlog and overtime costs); stores and warehouse act
with phase 2's modules, which do not change.

The run takes the phase2 run's scenario, heuristics and network sizes; the store
and warehouse modules are restored weight for weight (a mismatch is an error,
never a silent partial load). At the end the curriculum gate
(:mod:`analysis.gate`) writes ``gate.json``: does the learned supplier beat the
supplier that always fulfils?
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

PHASE = PHASES["phase3"]


def main(argv: list[str] | None = None) -> int:
    return main_for(PHASE, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
