"""Phase 4: stores, warehouse and supplier fine-tune together at learning rate 1e-4.

How to run:
    python experiments/phase4.py  # from the newest finished phase3 run
    python experiments/phase4.py --from results/default__phase3__0__<time>
    python experiments/phase4.py --resume results/default__phase4__0__<time>

All three modules start from phase 3's weights and train jointly, each on its
own reward, at a third of the learning rate of the earlier phases (the reference
design's joint fine-tuning).

The run takes the phase3 run's scenario, heuristics and network sizes; all three
modules are restored weight for weight (a mismatch is an error, never a silent
partial load). At the end the curriculum gate (:mod:`analysis.gate`) writes
``gate.json``: does each fine-tuned role beat the heuristic it replaces (stores:
the rule-based store; warehouse: tuned (s, S); supplier: always fulfil)?
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

PHASE = PHASES["phase4"]


def main(argv: list[str] | None = None) -> int:
    return main_for(PHASE, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
