"""Tuned heuristic parameters on disk: where they live and reading them back.

:mod:`baselines.tune` writes ``results/baselines/<scenario>.json`` (a preset) or
``<name>-<fingerprint>.json`` (any other scenario); :func:`load_tuned` reads it,
refusing a record tuned for another scenario.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from hmarl_env.scenario import PRESETS, Scenario
from hmarl_env.utils.io import results_dir

__all__ = ["fingerprint", "is_preset", "load_tuned", "tuned_path"]


#: fields that change nothing at these values, left out of the fingerprint so
#: that records tuned before the fields existed stay valid
_NEUTRAL = {
    "initial_pipeline": 0.0,
    "store_max_order": None,
    "expected_store_costs": False,
    "warehouse_lot_periods": None,
    "warehouse_max_order": None,
    "order_offsets": None,
    "store_lot_cover": None,
    "warehouse_lot_cover": None,
    "storage": math.inf,
    "truck_volume": math.inf,
    "shipping_loss": 0.0,
    "price_breaks": [],
    "discount": "all_units",
    "products": [],
    "catalogue_cover": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0],
    "catalogue_safety": None,
}


#: the tables of reward weights: a weight of 0 adds nothing to a reward, so
#: a reward term added with a default weight of 0 keeps older records valid
_WEIGHTS = {("rewards", "store"), ("rewards", "warehouse"), ("rewards", "supplier")}


def _neutral(path: tuple[str, ...], key: str, value: Any) -> bool:
    if key in _NEUTRAL and value == _NEUTRAL[key]:
        return True
    return path in _WEIGHTS and key != "excess_cover_days" and value == 0.0


def _canonical(obj: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(obj, dict):
        return {
            k: _canonical(v, path + (k,))
            for k, v in obj.items()
            if not _neutral(path, k, v)
        }
    if isinstance(obj, list):
        return [_canonical(v, path) for v in obj]
    return obj


def fingerprint(scenario: Scenario) -> str:
    """A short hash of everything in the scenario (fields at a neutral value
    that older scenarios lacked left out)."""
    text = json.dumps(_canonical(scenario.to_dict()), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_preset(scenario: Scenario) -> bool:
    """Whether ``scenario`` is exactly the preset of its name."""
    return scenario.name in PRESETS and fingerprint(
        PRESETS[scenario.name]()
    ) == fingerprint(scenario)


def tuned_path(scenario: Scenario) -> Path:
    """Where the tuned record of ``scenario`` lives: ``<name>.json`` for a
    preset, ``<name>-<fingerprint>.json`` for anything else, so a scenario file
    can never overwrite a preset's record (whatever its ``name``)."""
    stem = (
        scenario.name
        if is_preset(scenario)
        else (f"{scenario.name}-{fingerprint(scenario)}")
    )
    return results_dir() / "baselines" / f"{stem}.json"


def _tune_hint(scenario: Scenario, given: str | None) -> str:
    if given is not None:
        target = given
    elif is_preset(scenario):
        target = scenario.name
    else:
        target = "<the scenario file>"
    return f"hmarl tune --scenario {target}"


def load_tuned(scenario: Scenario, given: str | None = None) -> dict[str, Any]:
    """The tuned record of ``scenario``; a clear error if missing or stale,
    with the command that tunes it (for the scenario as the user ``given``
    it: a preset's name or a file's path)."""
    path = tuned_path(scenario)
    if not path.is_file():
        raise ValueError(
            f"no tuned parameters for scenario {scenario.name!r} at {path}; run "
            f"{_tune_hint(scenario, given)}"
        )
    try:
        record = json.loads(path.read_text())
        params = record["params"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a tuned-baseline record: {exc}") from None
    if record.get("fingerprint") != fingerprint(scenario):
        raise ValueError(
            f"{path} was tuned for a different {scenario.name!r} scenario (fingerprint "
            f"{record.get('fingerprint')} != {fingerprint(scenario)}); run "
            f"{_tune_hint(scenario, given)}"
        )
    if not isinstance(params, dict):
        raise ValueError(f"{path}: 'params' must be a table")
    return record
