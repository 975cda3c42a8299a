"""Scenarios from plain data and files: TOML, YAML or JSON.

A file may start from a preset with ``extends = "default"`` and change some
fields; ``nodes``, when given, replaces the preset's nodes. A key given twice
and a key no field has are errors that name it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hmarl_env.demand import (
    demand_from_dict,
)
from hmarl_env.scenario.catalogue import products_from_data
from hmarl_env.scenario.network import network_fields
from hmarl_env.scenario.presets import PRESETS, preset
from hmarl_env.scenario.types import (
    _UNSAFE,
    Actions,
    Node,
    Rewards,
    RewardWeights,
    Scenario,
    Supplier,
    SupplierRewardWeights,
)
from hmarl_env.utils.io import read_text_file

__all__ = ["get_scenario", "load_scenario", "network", "scenario_from_dict"]


def _build(cls: type, data: Any, where: str, convert: Mapping[str, Any] | None = None):
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a table, got {data!r}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {known}")
    kwargs = dict(data)
    for key, fn in (convert or {}).items():
        if key in kwargs:
            kwargs[key] = fn(kwargs[key])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def scenario_from_dict(
    data: Mapping[str, Any], *, base_dir: Path | None = None
) -> Scenario:
    """Build a :class:`Scenario` from plain data (as read from TOML, YAML or JSON).

    ``extends = "<preset>"`` starts from a preset; tables then override its
    fields key by key, and ``nodes``, when given, replaces the preset's nodes.
    A ``network`` table generates the nodes instead
    (:mod:`hmarl_env.scenario.network`).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a scenario must be a table, got {type(data).__name__}")
    data = dict(data)
    if "network" in data:  # a generated tree instead of [[nodes]]
        if "nodes" in data:
            raise ValueError("a scenario gives either nodes or a network, not both")
        data = _merge(network_fields(data.pop("network")), data)
    extends = data.pop("extends", None)
    if extends is not None:
        if not isinstance(extends, str):
            raise ValueError(
                f"scenario.extends must be the name of one preset, got {extends!r}"
            )
        base = preset(extends)
        if base is None:
            raise ValueError(
                f"scenario.extends {extends!r} is not a preset; presets: "
                f"{sorted(PRESETS)} and single-stage instances such as "
                "'lost_sales_L4_p39'"
            )
        data = _merge(base.to_dict(), data)
    if "nodes" not in data:
        raise ValueError("scenario.nodes is required (or extends = '<preset>')")
    raw_nodes = data["nodes"]
    if not isinstance(raw_nodes, list):
        raise ValueError(f"scenario.nodes must be a list of tables, got {raw_nodes!r}")

    def node(i: int, spec: Any) -> Node:
        label = spec.get("name", i) if isinstance(spec, Mapping) else i
        where = f"nodes[{label}]"
        if isinstance(spec, Mapping) and "parent" not in spec:
            spec = {**spec, "parent": None}  # TOML has no null: no parent is the root
        return _build(
            Node,
            spec,
            where,
            {
                "demand": lambda d: (
                    None
                    if d is None
                    else demand_from_dict(d, where=f"{where}.demand", base_dir=base_dir)
                ),
            },
        )

    rewards = data.get("rewards", {})
    data["nodes"] = tuple(node(i, s) for i, s in enumerate(raw_nodes))
    data["supplier"] = _build(Supplier, data.get("supplier", {}), "supplier")
    data["rewards"] = _build(
        Rewards,
        rewards,
        "rewards",
        {
            "store": lambda d: _build(RewardWeights, d, "rewards.store"),
            "warehouse": lambda d: _build(RewardWeights, d, "rewards.warehouse"),
            "supplier": lambda d: _build(SupplierRewardWeights, d, "rewards.supplier"),
        },
    )
    data["actions"] = _build(Actions, data.get("actions", {}), "actions")
    if "products" in data:
        stores = [n.name for n in data["nodes"] if n.is_store]
        data["products"] = products_from_data(data["products"], stores, base_dir)
    return _build(Scenario, data, "scenario")


def _unique_pairs(pairs: list[tuple[Any, Any]]) -> dict:
    """A mapping from key-value pairs that refuses a key given twice (YAML and
    JSON parsers otherwise keep the last one silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice")
        out[key] = value
    return out


def _yaml_unique(text: str) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict:
        loader.flatten_mapping(node)
        return _unique_pairs(
            [
                (
                    loader.construct_object(k, deep=deep),
                    loader.construct_object(v, deep=deep),
                )
                for k, v in node.value
            ]
        )

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    text = read_text_file(path, "scenario file")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        import tomllib as parser

        parse = parser.loads
    elif suffix in (".yaml", ".yml"):
        parse = _yaml_unique
    elif suffix == ".json":
        import json

        def parse(text: str) -> Any:
            return json.loads(text, object_pairs_hook=_unique_pairs)
    else:
        raise ValueError(
            f"scenario file {str(path)!r}: use .toml, .yaml, .yml or .json"
        )
    try:
        data = parse(text)
    except Exception as exc:  # each parser has its own error class
        raise ValueError(
            f"scenario file {str(path)!r} could not be parsed: {exc}"
        ) from None
    if data is not None and not isinstance(data, Mapping):
        raise ValueError(f"scenario file {str(path)!r} must hold a table of fields")
    data = dict(data or {})
    data.setdefault("name", _UNSAFE.sub("_", path.stem)[:64] or "scenario")
    return scenario_from_dict(data, base_dir=path.parent)


def get_scenario(
    scenario: str | Path | Scenario = "default", **overrides: Any
) -> Scenario:
    """A preset by name, a scenario file by path, or a :class:`Scenario` as is;
    ``overrides`` replace top-level fields (for example ``horizon=30``).
    """
    if isinstance(scenario, Scenario):
        result = scenario
    elif isinstance(scenario, str) and (found := preset(scenario)) is not None:
        result = found
    elif isinstance(scenario, (str, Path)) and Path(scenario).suffix.lower() in (
        ".toml",
        ".yaml",
        ".yml",
        ".json",
    ):
        result = load_scenario(scenario)
    else:
        raise ValueError(
            f"unknown scenario {str(scenario)!r}: use one of the presets "
            f"{sorted(PRESETS)}, a single-stage instance such as "
            "'lost_sales_L4_p39' or 'backorder_L2_p9_mean10', or a path to a "
            ".toml/.yaml/.json file"
        )
    return result.replace(**overrides) if overrides else result


def network(
    stores: int,
    regions: int = 0,
    *,
    seed: int = 0,
    demand: Mapping[str, Any] | None = None,
    store: Mapping[str, Any] | None = None,
    region: Mapping[str, Any] | None = None,
    central: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Scenario:
    """A generated chain: ``stores`` stores under ``regions`` regional
    warehouses under one central warehouse (:mod:`hmarl_env.scenario.network`
    for the layout and the defaults); ``fields`` are the scenario's other
    fields as a file gives them (``horizon=60``, ``rewards={"mode":
    "system"}``). ``network(50, 5)`` is a 56-node chain."""
    spec: dict[str, Any] = {"stores": stores, "regions": regions, "seed": seed}
    for key, value in (
        ("demand", demand),
        ("store", store),
        ("region", region),
        ("central", central),
    ):
        if value is not None:
            spec[key] = dict(value)
    name = fields.pop("name", f"network_{stores}x{regions}")
    return scenario_from_dict({"name": name, "network": spec, **fields})
