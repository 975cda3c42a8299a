"""Scenarios: the typed, frozen, validated description of a supply chain.

* :mod:`~hmarl_env.scenario.types` - :class:`Scenario` and its parts
  (:class:`Node`, :class:`Supplier`, :class:`Rewards`, :class:`Actions`);
* :mod:`~hmarl_env.scenario.presets` - the named presets (:data:`PRESETS`)
  and Zipkin's single-stage instances (:func:`single_stage`);
* :mod:`~hmarl_env.scenario.files` - scenarios from plain data and TOML,
  YAML or JSON files (:func:`load_scenario`), and :func:`get_scenario`, which
  takes a preset's name, a file's path or a scenario.

* :mod:`~hmarl_env.scenario.network` - a generated chain of many stores
  under regional warehouses (:func:`network`, or ``[network]`` in a file).
* :mod:`~hmarl_env.scenario.family` - scenario families: a distribution
  over scenarios, one instance per seed (:class:`~hmarl_env.scenario.family.Family`).

Inner layers, bottom to top: ``types``, ``presets``, ``network``, ``files``,
``family``.
"""

from hmarl_env.scenario.files import (
    get_scenario,
    load_scenario,
    network,
    scenario_from_dict,
)
from hmarl_env.scenario.presets import PRESETS, single_stage
from hmarl_env.scenario.types import (
    MAX_ACTIONS,
    REWARD_MODES,
    Actions,
    Node,
    Rewards,
    RewardWeights,
    Scenario,
    ShortageMode,
    Supplier,
    SupplierRewardWeights,
)

__all__ = [
    "MAX_ACTIONS",
    "PRESETS",
    "REWARD_MODES",
    "Actions",
    "Node",
    "RewardWeights",
    "Rewards",
    "Scenario",
    "ShortageMode",
    "Supplier",
    "SupplierRewardWeights",
    "get_scenario",
    "load_scenario",
    "network",
    "scenario_from_dict",
    "single_stage",
]
