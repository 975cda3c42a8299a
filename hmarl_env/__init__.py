"""hmarl: multi-echelon retail inventory control with multi-agent RL.

The simulation core (:mod:`hmarl_env.core`), scenarios (:mod:`hmarl_env.scenario`),
demand processes (:mod:`hmarl_env.demand`) and the reconciliation ledger
(:mod:`hmarl_env.ledger`). Nothing in this package imports Ray.
"""

from hmarl_env.core import Simulation
from hmarl_env.ledger import Ledger
from hmarl_env.scenario import PRESETS, Scenario, get_scenario, load_scenario

__all__ = [
    "PRESETS",
    "Ledger",
    "Scenario",
    "Simulation",
    "get_scenario",
    "load_scenario",
]
__version__ = "0.1.0"
