"""hmarl: multi-echelon retail inventory control with multi-agent RL.

The simulation core (:mod:`hmarl_env.core`), scenarios (:mod:`hmarl_env.scenario`),
demand processes (:mod:`hmarl_env.demand`) and the reconciliation ledger
(:mod:`hmarl_env.ledger`). Nothing in this package imports Ray.
"""

from pathlib import Path
from typing import Any

from hmarl_env.core import Simulation
from hmarl_env.env import SupplyChainEnv
from hmarl_env.ledger import Ledger
from hmarl_env.scenario import PRESETS, Scenario, get_scenario, load_scenario


def parallel_env(
    scenario: str | Path | Scenario = "default", **kwargs: Any
) -> SupplyChainEnv:
    """The PettingZoo parallel env: ``parallel_env("default", horizon=30)``.

    Keyword arguments are :class:`SupplyChainEnv`'s (``render_mode``,
    ``store_observation``) or top-level scenario fields to override.
    """
    return SupplyChainEnv(scenario, **kwargs)


def env(scenario: str | Path | Scenario = "default", **kwargs: Any):
    """The same env in PettingZoo's AEC form (agents act one at a time)."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(scenario, **kwargs))


__all__ = [
    "SupplyChainEnv",
    "env",
    "parallel_env",
    "PRESETS",
    "Ledger",
    "Scenario",
    "Simulation",
    "get_scenario",
    "load_scenario",
]
__version__ = "0.1.0"
