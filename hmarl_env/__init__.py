"""hmarl: multi-echelon retail inventory control with multi-agent RL.

The simulation core (:mod:`hmarl_env.core`), scenarios (:mod:`hmarl_env.scenario`),
demand processes (:mod:`hmarl_env.demand`) and the reconciliation ledger
(:mod:`hmarl_env.ledger`). Nothing in this package imports Ray.
"""

from pathlib import Path
from typing import Any

from hmarl_env.catalogue_env import CatalogueEnv
from hmarl_env.core import Simulation
from hmarl_env.env import SupplyChainEnv
from hmarl_env.ledger import Ledger
from hmarl_env.scenario import PRESETS, Scenario, get_scenario, load_scenario


def parallel_env(
    scenario: str | Path | Scenario = "default", **kwargs: Any
) -> SupplyChainEnv | CatalogueEnv:
    """The PettingZoo parallel env: ``parallel_env("default", horizon=30)``.

    Keyword arguments are :class:`SupplyChainEnv`'s (``render_mode``,
    ``store_observation``, ``warehouse_observation``) or top-level scenario
    fields to override. A
    scenario with products (``parallel_env("catalogue_500")``) gets a
    :class:`CatalogueEnv`.
    """
    options = ("render_mode", "store_observation", "warehouse_observation")
    env_args = {k: kwargs.pop(k) for k in options if k in kwargs}
    scenario = get_scenario(scenario, **kwargs)
    if scenario.products:
        for key, default in (
            ("store_observation", "pipeline"),
            ("warehouse_observation", "local"),
        ):
            if env_args.get(key) not in (None, default):
                raise ValueError(
                    f"{key} is not an option of a catalogue's env: its "
                    "observation is one row per product (hmarl_env.catalogue_roles)"
                )
        return CatalogueEnv(scenario, render_mode=env_args.get("render_mode"))
    return SupplyChainEnv(scenario, **env_args)


def env(scenario: str | Path | Scenario = "default", **kwargs: Any):
    """The same env in PettingZoo's AEC form (agents act one at a time)."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(scenario, **kwargs))


__all__ = [
    "CatalogueEnv",
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
