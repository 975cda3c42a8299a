"""Catalogues: products from a user's files, and the generated catalogues of
the ``catalogue_*`` presets.

A scenario file gives its products inline (``[[products]]`` tables, as
:meth:`Product.to_dict` writes them) or from CSV files::

    [products]
    table = "products.csv"    # one row per product
    demand = "demand.csv"     # optional: demand per product and store
    traces = "traces.csv"     # optional: recorded demand per product and store

``products.csv`` has a header row and the columns ``name`` and ``volume``
(required), ``value``, ``holding_cost``, ``stockout_cost``,
``fixed_order_cost`` (optional, :class:`Product`'s defaults when absent or
empty), ``kind``, ``mean``, ``std`` (optional: one demand process, as
:func:`~hmarl_env.demand.demand_from_dict` reads it, at every store), and
``initial_inventory.<node>`` / ``initial_pipeline.<node>`` (optional: units
at that node). ``demand.csv`` has the columns ``product``, ``store``,
``kind``, ``mean`` and ``std`` and gives a product's demand at one store
(over the products table's). ``traces.csv`` has one column per product and
store, named ``<store>:<product>``, one row per period (a trace, replayed as
``kind = "trace"`` is; ``wrap``/``random_start`` as options of the table:
``traces_wrap``, ``traces_random_start``). Every product needs a demand at
every store from one of the three. A bad value names the file, the line, the
product and the column.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hmarl_env.demand import (
    DemandProcess,
    NegativeBinomial,
    Poisson,
    Trace,
    demand_from_dict,
    read_csv_columns,
)
from hmarl_env.scenario.products import Product
from hmarl_env.utils.io import read_text_file

__all__ = ["SAFETY_FACTORS", "generate_products", "products_from_data"]

#: the safety factors of the catalogue presets' actions
#: (``actions.catalogue_safety``), -1.5 to 4 by 0.25: the grid the catalogue
#: heuristics are tuned on (:mod:`baselines.catalogue`), so each tuned
#: heuristic is a policy of the env
SAFETY_FACTORS = tuple(round(-1.5 + 0.25 * k, 2) for k in range(23))

_COSTS = ("value", "holding_cost", "stockout_cost", "fixed_order_cost")
_DEMAND = ("kind", "mean", "std")
_INITIAL = ("initial_inventory", "initial_pipeline")


def _rows(path: Path, what: str, required: Sequence[str]) -> list[tuple[int, dict]]:
    """``(line, row)`` of a CSV file with a header; the required columns named
    when missing."""
    text = read_text_file(path, what)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(
            f"{what} {str(path)!r} has no column {missing[0]!r} (required: "
            f"{list(required)}); columns: {columns}"
        )
    return [(line, row) for line, row in enumerate(reader, start=2)]


def _number(path: Path, line: int, product: str, column: str, text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(
            f"{str(path)!r} line {line}, product {product!r}, column {column!r}: "
            f"{text!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise ValueError(
            f"{str(path)!r} line {line}, product {product!r}, column {column!r}: "
            f"{text!r} is not finite"
        )
    return value


def _demand_spec(path, line, product, row) -> dict[str, Any] | None:
    """A demand table from a row's ``kind``/``mean``/``std`` (None when empty)."""
    if not (row.get("kind") or "").strip():
        for c in ("mean", "std"):
            if (row.get(c) or "").strip():
                raise ValueError(
                    f"{str(path)!r} line {line}, product {product!r}, column "
                    f"'kind': empty, but {c!r} is given; name the demand's kind "
                    "(poisson, normal, negative_binomial)"
                )
        return None
    spec: dict[str, Any] = {"kind": row["kind"].strip()}
    for c in ("mean", "std"):
        if (row.get(c) or "").strip():
            spec[c] = _number(path, line, product, c, row[c])
    return spec


def _read_traces(path: Path, options: Mapping[str, Any]) -> dict[str, Trace]:
    """Every column of a traces file, ``<store>:<product>`` -> its trace."""
    header, values = read_csv_columns(path, "traces CSV")
    for name in header:
        if ":" not in name:
            raise ValueError(
                f"traces CSV {str(path)!r}: column {name!r} is not named "
                "<store>:<product>"
            )
    out = {}
    for name, series in zip(header, values, strict=True):
        try:
            out[name] = Trace(tuple(series), source=f"{path}:{name}", **options)
        except ValueError as exc:
            store, product = name.split(":", 1)
            raise ValueError(
                f"traces CSV {str(path)!r}, product {product!r}, column {name!r}: {exc}"
            ) from None
    return out


def products_from_data(
    spec: Any, stores: Sequence[str], base_dir: Path | None = None
) -> tuple[Product, ...]:
    """Products from a scenario file's ``products``: a list of tables, or a
    table naming CSV files (see the module docstring)."""
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return tuple(_inline(i, p, stores, base_dir) for i, p in enumerate(spec))
    if not isinstance(spec, Mapping):
        raise ValueError(
            "scenario.products must be a list of [[products]] tables or a table "
            f"naming CSV files (table = 'products.csv'), got {spec!r}"
        )
    known = {"table", "demand", "traces", "traces_wrap", "traces_random_start"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"products: unknown keys {unknown}; known: {sorted(known)}")
    if "table" not in spec:
        raise ValueError("products: 'table' (the products CSV file) is required")

    def path(key: str) -> Path:
        p = Path(spec[key])
        return p if p.is_absolute() or base_dir is None else base_dir / p

    table = path("table")
    rows = _rows(table, "products CSV", ("name", "volume"))
    if not rows:
        raise ValueError(f"products CSV {str(table)!r} has no products")
    demand: dict[str, dict[str, Any]] = {}  # product -> store -> spec
    seen: dict[str, int] = {}
    fields: list[tuple[int, str, dict[str, Any]]] = []
    for line, row in rows:
        name = (row["name"] or "").strip()
        if not name:
            raise ValueError(f"{str(table)!r} line {line}, column 'name': empty")
        if name in seen:
            raise ValueError(
                f"{str(table)!r} line {line}, product {name!r}, column 'name': "
                f"a duplicate of line {seen[name]}"
            )
        seen[name] = line
        kw: dict[str, Any] = {}
        for c in ("volume", *_COSTS):
            if (row.get(c) or "").strip():
                kw[c] = _number(table, line, name, c, row[c])
            elif c == "volume":
                raise ValueError(
                    f"{str(table)!r} line {line}, product {name!r}, "
                    "column 'volume': empty"
                )
        for key in _INITIAL:
            units = {}
            for c, text_value in row.items():
                if c and c.startswith(key + ".") and (text_value or "").strip():
                    units[c.split(".", 1)[1]] = _number(
                        table, line, name, c, text_value
                    )
            kw[key] = units
        common = _demand_spec(table, line, name, row)
        demand[name] = dict.fromkeys(stores, common) if common else {}
        fields.append((line, name, kw))
    if "demand" in spec:
        dpath = path("demand")
        for line, row in _rows(dpath, "demand CSV", ("product", "store", "kind")):
            name, store = (row["product"] or "").strip(), (row["store"] or "").strip()
            if name not in demand:
                raise ValueError(
                    f"{str(dpath)!r} line {line}, column 'product': {name!r} is not "
                    f"in {str(table)!r}"
                )
            if store not in stores:
                raise ValueError(
                    f"{str(dpath)!r} line {line}, product {name!r}, column 'store': "
                    f"{store!r} is not a store; stores: {list(stores)}"
                )
            demand[name][store] = _demand_spec(dpath, line, name, row)
    if "traces" in spec:
        options = {
            k[len("traces_") :]: spec[k]
            for k in ("traces_wrap", "traces_random_start")
            if k in spec
        }
        for column, trace in _read_traces(path("traces"), options).items():
            store, name = column.split(":", 1)
            if name not in demand or store not in stores:
                raise ValueError(
                    f"traces CSV {str(path('traces'))!r}, column {column!r}: "
                    f"{name!r} is not a product or {store!r} not a store"
                )
            demand[name][store] = trace
    products = []
    for line, name, kw in fields:
        missing = [s for s in stores if demand[name].get(s) is None]
        if missing:
            raise ValueError(
                f"{str(table)!r} line {line}, product {name!r}: no demand at "
                f"{missing}; give kind/mean/std in its row, a row of the demand "
                "CSV or a column <store>:<product> of the traces CSV"
            )
        processes = {}
        for s in stores:
            d = demand[name][s]
            processes[s] = (
                d
                if isinstance(d, DemandProcess)
                else demand_from_dict(
                    d,
                    where=f"{str(table)!r} line {line}, product {name!r}, "
                    f"demand at {s}",
                )
            )
        try:
            products.append(Product(name, processes, **kw))
        except ValueError as exc:
            raise ValueError(f"{str(table)!r} line {line}: {exc}") from None
    return tuple(products)


def _inline(i: int, spec: Any, stores: Sequence[str], base_dir) -> Product:
    if isinstance(spec, Product):
        return spec
    if not isinstance(spec, Mapping):
        raise ValueError(f"products[{i}] must be a table, got {spec!r}")
    label = spec.get("name", i)
    where = f"products[{label}]"
    known = {
        "name",
        "demand",
        "volume",
        *_COSTS,
        *_INITIAL,
    }
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    kw = dict(spec)
    raw = kw.get("demand")
    if isinstance(raw, Mapping) and "kind" in raw:  # one process at every store
        raw = dict.fromkeys(stores, raw)
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{where}.demand must be a demand table (kind = ...) or one per store, "
            f"got {raw!r}"
        )
    kw["demand"] = {
        s: demand_from_dict(d, where=f"{where}.demand[{s}]", base_dir=base_dir)
        for s, d in raw.items()
    }
    try:
        return Product(**kw)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None


# ------------------------------------------------------------------ generated
def generate_products(
    n_products: int,
    stores: Sequence[str],
    seed: int,
    *,
    lead_times: Mapping[str, int],
) -> tuple[Product, ...]:
    """A catalogue with a retailer's mix, drawn once from ``seed``.

    The recipe (every draw from ``numpy.random.default_rng(seed)``, in this
    order, product by product):

    * mean demand per period at the first store: log-normal, median 2 units,
      log-std 1.3 (heavy-tailed: about a tenth of the products sell under 0.4
      a period, a tenth over 10), clipped to [0.05, 300]; at every other store
      that mean times a factor uniform in [0.5, 1.5];
    * variability: Poisson below a mean of 2 a period (slow movers); above it
      negative binomial with a coefficient of variation uniform in [0.3, 0.9]
      (at least the Poisson's);
    * volume: log-normal, median 1, log-std 0.8, clipped to [0.05, 20];
    * value: log-normal, median 20, log-std 0.7; the holding and stockout
      multipliers are the value (the nodes' rates are fractions of value);
    * initial stock: three periods of mean demand on hand at a store, two at a
      warehouse, and one period's mean in each period of every pipeline.
    """
    rng = np.random.default_rng(seed)
    products = []
    for q in range(n_products):
        mean0 = float(np.clip(rng.lognormal(math.log(2.0), 1.3), 0.05, 300.0))
        means = [mean0] + [mean0 * rng.uniform(0.5, 1.5) for _ in stores[1:]]
        cv = rng.uniform(0.3, 0.9)
        volume = float(np.clip(rng.lognormal(0.0, 0.8), 0.05, 20.0))
        value = float(rng.lognormal(math.log(20.0), 0.7))
        demand: dict[str, DemandProcess] = {}
        for s, m in zip(stores, means, strict=True):
            m = round(float(m), 4)
            if m < 2.0:
                demand[s] = Poisson(m)
            else:
                demand[s] = NegativeBinomial(
                    m, round(max(cv * m, 1.05 * math.sqrt(m)), 4)
                )
        total = sum(d.mean for d in demand.values())
        on_hand = {s: demand[s].mean * 3 for s in stores}
        pipeline = {s: demand[s].mean for s in stores}
        for node in lead_times:
            if node not in demand:  # a warehouse serves every store
                on_hand[node] = total * 2
                pipeline[node] = total
        products.append(
            Product(
                f"sku_{q + 1:04d}",
                demand,
                volume=round(volume, 4),
                value=round(value, 2),
                holding_cost=round(value, 2),
                stockout_cost=round(value, 2),
                initial_inventory={k: round(v, 4) for k, v in on_hand.items()},
                initial_pipeline={k: round(v, 4) for k, v in pipeline.items()},
            )
        )
    return tuple(products)
