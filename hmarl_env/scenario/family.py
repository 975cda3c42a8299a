"""Scenario families: a distribution over scenarios, one instance per seed.

A :class:`Family` names a kind of scenario and, for some of its parameters,
a range (:class:`Between`: uniform between two bounds, whole numbers for
whole-number parameters) or a list of choices. :meth:`Family.sample` draws
one instance from a seed, reproducibly and on a stream of its own (the same
seed's demand draws are the episode's, untouched), so an env that samples its
instance from the episode's seed sees a new instance every episode and an
evaluation on given seeds sees the same instances every time.

Two kinds:

* ``single_stage``: one store ordering whole units from an uncapacitated
  supplier (:func:`hmarl_env.scenario.single_stage`), parameters
  ``lead_time`` (Zipkin's L, whole), ``penalty``, ``mean`` (Poisson demand)
  and ``fixed`` (the cost per order). Every instance orders from the same
  ``0..K`` (the largest instance's ``K``), so one policy acts on all.
  :data:`LOST_SALES` is the family of the lost-sales literature: L 1-4,
  penalty 4-39, mean demand 3-8.
* ``default_chain``: the default chain (:func:`hmarl_env.scenario.presets.default`)
  with ``demand_scale`` (multiplies both stores' mean and deviation),
  ``demand_cv`` (each store's deviation over its mean), ``store_holding``,
  ``store_stockout``, ``store_lead_time``, ``warehouse_lead_time``; the
  initial stock, the supplier's capacities and the warehouse's lots (in
  periods of its demand) scale with the demand.
  :data:`DEFAULT_CHAIN` varies all six.

:meth:`Family.context` is what a policy needs to know of the instance to act
on every one of them: each varied parameter scaled to ``[0, 1]`` over its
range, in the order of :attr:`Family.varied` (a single-stage penalty as its
critical ratio, :data:`_FEATURES`).

A family *pinned* to one instance (:meth:`Family.at`, or the name
``lost_sales_family@lead_time=5,mean=5,penalty=9``) draws that instance for
every seed and keeps the family's ranges for its context and its layout: a
policy of the family acts on it as on any of its instances, and fine-tunes
on it (``experiments/phase1.py --family <pinned name> --from <family run>``).
Its values may lie outside the ranges (the context then lies outside
``[0, 1]``): that is what adapting to a new instance means. A family's
``room`` (``lead_time`` 6 for :data:`LOST_SALES`) is the longest lead time
its observations make room for, so that a family policy can act on, and be
fine-tuned on, lead times beyond its range.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hmarl_env.demand import Normal
from hmarl_env.scenario.presets import default, single_stage
from hmarl_env.scenario.types import Scenario
from hmarl_env.seeding import check_seed

__all__ = [
    "DEFAULT_CHAIN",
    "FAMILIES",
    "LOST_SALES",
    "Between",
    "Family",
    "get_family",
]

#: the default chain's warehouse lots (0, 500, 1,000, 1,500 units of its 200
#: a day) in periods of its demand, so they scale with a family's demand
_DEFAULT_LOT_PERIODS = (0.0, 2.5, 5.0, 7.5)
#: keeps an instance's draw apart from the episode's demand draws of the
#: same seed (numpy's SeedSequence spawns independent streams from both)
_STREAM = 0x66616D  # "fam"


#: (kind, parameter) -> what the context scales instead of the value: a
#: single-stage instance holds at 1 per unit and period, so its penalty
#: enters as the newsvendor's critical ratio p / (p + 1), which its optimal
#: policy turns on; scaled over the range's ratios, the cheap end (where the
#: optimal policy changes fastest) spreads as wide as the dear one (4-39:
#: p 9 at 0.57, where the penalty itself sits at 0.14)
_FEATURES = {("single_stage", "penalty"): lambda p: p / (p + 1.0)}


@dataclass(frozen=True)
class Between:
    """Uniform between ``low`` and ``high`` (both included; whole numbers for
    a whole-number parameter); ``log=True``: uniform in the logarithm (a
    positive, not whole, parameter), as many instances between 4 and 8 as
    between 20 and 40."""

    low: float
    high: float
    log: bool = False


#: per kind: parameter -> (its value where the family does not vary it,
#: whether it is a whole number, the smallest value the scenario accepts,
#: whether that smallest value is excluded)
_PARAMETERS: dict[str, dict[str, tuple[float, bool, float, bool]]] = {
    "single_stage": {
        "lead_time": (1, True, 1, False),
        "penalty": (9.0, False, 0.0, True),
        "mean": (5.0, False, 0.0, True),
        "fixed": (0.0, False, 0.0, False),
    },
    "default_chain": {
        "demand_scale": (1.0, False, 0.0, True),
        "demand_cv": (0.25, False, 0.0, False),
        "store_holding": (0.073, False, 0.0, False),
        "store_stockout": (1.0, False, 0.0, False),
        "store_lead_time": (2, True, 1, False),
        "warehouse_lead_time": (4, True, 1, False),
    },
}


@dataclass(frozen=True)
class Family:
    """A distribution over scenarios of one kind.

    Attributes:
        name: the family's name.
        kind: ``single_stage`` or ``default_chain`` (see the module).
        params: parameter -> a :class:`Between` or a list of choices; the
            kind's other parameters keep their defaults.
        shortage: ``single_stage``: ``lost_sales`` or ``backorder``.
        room: parameters beyond the ranges that the observations make room
            for (the layout's widest instance is the high ends with these
            values): ``{"lead_time": 6}`` pads every observation to a lead
            time of 6.
        pin: the values of the one instance every seed draws (a pinned
            family: :meth:`at`); empty for a family that draws.
    """

    name: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    shortage: str = "lost_sales"
    room: Mapping[str, float] = field(default_factory=dict)
    pin: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"family {self.name!r}"
        if self.kind not in _PARAMETERS:
            raise ValueError(
                f"{where}: kind must be one of {sorted(_PARAMETERS)}, got {self.kind!r}"
            )
        known = _PARAMETERS[self.kind]
        clean: dict[str, Any] = {}
        for name, spec in dict(self.params).items():
            if name not in known:
                raise ValueError(
                    f"{where}: {name!r} is not a parameter of {self.kind} families; "
                    f"they are {sorted(known)}"
                )
            clean[name] = _checked(where, name, spec, *known[name][1:])
        object.__setattr__(self, "params", clean)
        if self.kind == "single_stage" and self.shortage not in (
            "lost_sales",
            "backorder",
        ):
            raise ValueError(
                f"{where}: shortage must be 'lost_sales' or 'backorder', got "
                f"{self.shortage!r}"
            )
        object.__setattr__(self, "room", self._values(where, "room", self.room))
        object.__setattr__(self, "pin", self._values(where, "pin", self.pin))
        if self.pin:
            unpinned = [n for n in self.varied if n not in self.pin]
            if unpinned:
                raise ValueError(
                    f"{where}: a pinned family names every parameter it varies; "
                    f"{unpinned} missing"
                )
        # every corner of the ranges (and the room and pin) must make a valid
        # scenario
        ends = dict(zip(("low", "high"), self.corners(), strict=True))
        if self.room:
            ends["room"] = self.widest()
        if self.pin:
            ends["pinned"] = dict(self.pin)
        for corner, values in ends.items():
            try:
                self.instance(values)
            except ValueError as exc:
                what = (
                    f"the {corner} end of its ranges"
                    if corner in ("low", "high")
                    else f"its {corner} instance"
                )
                raise ValueError(
                    f"{where}: {what} makes no valid scenario: {exc}"
                ) from exc

    def _values(self, where: str, what: str, values: Mapping[str, Any]) -> dict:
        """``room`` or ``pin``: known parameters with valid single values."""
        known = _PARAMETERS[self.kind]
        if not isinstance(values, Mapping):
            raise ValueError(f"{where}: {what} must map parameters to values")
        out = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(
                    f"{where}: {what} names {name!r}, not a parameter of "
                    f"{self.kind} families; they are {sorted(known)}"
                )
            (out[name],) = _checked(where, f"{what} {name}", [value], *known[name][1:])
        return out

    def at(self, values: Mapping[str, float]) -> Family:
        """This family pinned to the instance of ``values`` (every parameter
        the family varies, others optional; they may lie outside the ranges):
        every seed draws it, and its context and layout are this family's.
        Its name, ``<family>@<name>=<value>,...``, is one :func:`get_family`
        reads back."""
        base = self.name.split("@")[0]
        pin = self._values(f"family {base!r}", "pin", values)
        spec = ",".join(f"{k}={_number(v)}" for k, v in sorted(pin.items()))
        return dataclasses.replace(self, name=f"{base}@{spec}", pin=pin)

    @property
    def scenario_name(self) -> str:
        """The name of its instances (and of the runs that train on it): the
        family's; a pinned family's adds its values
        (``lost_sales_family.lead_time5_mean5_penalty9``)."""
        if not self.pin:
            return self.name
        base = self.name.split("@")[0]
        spec = "_".join(f"{k}{v:g}" for k, v in sorted(self.pin.items()))
        return f"{base}.{spec}"[:64]

    def widest(self) -> dict[str, float]:
        """The varied parameters of the widest instance the layout makes room
        for: the high ends, with :attr:`room`."""
        return {**self.corners()[1], **self.room}

    @property
    def varied(self) -> tuple[str, ...]:
        """The parameters the family varies, in context order."""
        return tuple(sorted(self.params))

    def draw(self, seed: int) -> dict[str, float]:
        """The parameters of the instance of ``seed`` (every parameter of the
        kind, the varied ones drawn)."""
        seed = check_seed(seed, f"family {self.name!r} seed")
        rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM]))
        known = _PARAMETERS[self.kind]
        out = {n: float(v[0]) for n, v in known.items()}
        if self.pin:
            return {**out, **self.pin}
        for name in self.varied:
            spec, whole = self.params[name], known[name][1]
            if isinstance(spec, Between):
                if whole:
                    value = float(rng.integers(int(spec.low), int(spec.high) + 1))
                elif spec.log:
                    value = float(
                        np.exp(rng.uniform(np.log(spec.low), np.log(spec.high)))
                    )
                    value = min(max(value, spec.low), spec.high)
                else:
                    value = float(rng.uniform(spec.low, spec.high))
            else:
                value = float(spec[int(rng.integers(len(spec)))])
            out[name] = value
        return out

    def sample(self, seed: int) -> Scenario:
        """The instance of ``seed``."""
        return self.instance(self.draw(seed))

    def corners(self) -> list[dict[str, float]]:
        """The varied parameters at the low ends of every range, and at the
        high ends (the widest instance is the second)."""
        return [
            {n: _end(spec, which) for n, spec in self.params.items()}
            for which in ("low", "high")
        ]

    def context(self, values: Mapping[str, float]) -> np.ndarray:
        """Each varied parameter of ``values`` scaled to ``[0, 1]`` over the
        family's range (0.5 where the range is one value), float32; a
        single-stage penalty as its critical ratio (:data:`_FEATURES`)."""
        out = []
        for name in self.varied:
            f = _FEATURES.get((self.kind, name), float)
            lo, hi = _end(self.params[name], "low"), _end(self.params[name], "high")
            lo, hi, v = f(lo), f(hi), f(float(values[name]))
            out.append(0.5 if hi == lo else (v - lo) / (hi - lo))
        return np.asarray(out, dtype=np.float32)

    def values_of(self, scenario: Scenario, within: bool = True) -> dict[str, float]:
        """The parameters of ``scenario`` as an instance of this family (what
        :meth:`context` takes; numbers read back to 1e-9); a ``ValueError``
        where it is not one (another kind, a parameter outside the family's
        ranges, or anything else the family's instances do not vary).
        ``within=False`` reads an instance of the family's kind whatever its
        values (one to adapt to: :meth:`at` them)."""
        where = f"scenario {scenario.name!r}"
        values = (
            _single_stage_values(where, self.name, scenario)
            if self.kind == "single_stage"
            else _chain_values(where, self.name, scenario)
        )
        known = _PARAMETERS[self.kind]
        for name, value in values.items() if within else ():
            spec = self.params.get(name)
            if self.pin:
                spec = [self.pin.get(name, known[name][0])]
            elif spec is None:
                spec = [known[name][0]]
            if isinstance(spec, Between):
                ok = _close(max(spec.low, min(value, spec.high)), value)
            else:
                ok = any(_close(float(x), value) for x in spec)
            if not ok:
                raise ValueError(
                    f"{where}: its {name} {value:g} is not one of family "
                    f"{self.name!r}'s ({spec})"
                )
        same = self.instance(values).replace(
            name=scenario.name, horizon=scenario.horizon, rewards=scenario.rewards
        )
        if not _close(same.to_dict(), scenario.to_dict()):
            raise ValueError(
                f"{where} has {self.name!r}'s parameters but differs from its "
                "instance elsewhere (its orders, costs, initial state, "
                "capacities or shortage rule): build it with the family's "
                "instance()"
            )
        return values

    # ---------------------------------------------------------------- build
    def instance(self, values: Mapping[str, float]) -> Scenario:
        """The instance with these parameters (the kind's defaults for the
        others)."""
        known = _PARAMETERS[self.kind]
        v = {n: float(values.get(n, known[n][0])) for n in known}
        if self.kind == "single_stage":
            return single_stage(
                int(v["lead_time"]),
                v["penalty"],
                v["mean"],
                self.shortage,  # type: ignore[arg-type]
                fixed=v["fixed"],
                max_order=self._max_order(),
            ).replace(name=self.scenario_name)
        base, scale = default(), v["demand_scale"]
        nodes = []
        for node in base.nodes:
            if node.is_store:
                mean = float(node.demand.mean) * scale
                node = dataclasses.replace(
                    node,
                    demand=Normal(mean, v["demand_cv"] * mean),
                    holding_cost=v["store_holding"],
                    stockout_cost=v["store_stockout"],
                    lead_time=int(v["store_lead_time"]),
                    initial_inventory=node.initial_inventory * scale,
                )
            else:
                node = dataclasses.replace(
                    node,
                    lead_time=int(v["warehouse_lead_time"]),
                    initial_inventory=node.initial_inventory * scale,
                )
            nodes.append(node)
        sup = base.supplier
        return base.replace(  # lots and the supplier scale with the demand
            name=self.scenario_name,
            nodes=tuple(nodes),
            supplier=dataclasses.replace(
                sup,
                capacity=sup.capacity * scale,
                regular_capacity=sup.regular_capacity * scale,
            ),
            actions=dataclasses.replace(
                base.actions, warehouse_lot_periods=_DEFAULT_LOT_PERIODS
            ),
        )

    def _max_order(self) -> int | None:
        """``single_stage``: the largest ``K`` of the family's instances (at
        the largest mean and fixed cost), shared by all."""
        top = {n: _end(s, "high") for n, s in self.params.items()}
        known = _PARAMETERS["single_stage"]
        return single_stage(
            1,
            float(top.get("penalty", known["penalty"][0])),
            float(top.get("mean", known["mean"][0])),
            self.shortage,  # type: ignore[arg-type]
            fixed=float(top.get("fixed", known["fixed"][0])),
        ).actions.store_max_order


def _single_stage_values(where: str, family: str, scenario: Scenario) -> dict:
    """A single-stage instance's parameters."""
    stores = [n for n in scenario.nodes if n.is_store]
    if len(scenario.nodes) != 1 or len(stores) != 1:
        raise ValueError(f"{where} is not a single-stage instance of {family!r}")
    (node,) = stores
    return {
        "lead_time": float(node.lead_time - 1),
        "penalty": float(node.stockout_cost),
        "mean": float(node.demand.mean),
        "fixed": float(node.fixed_order_cost),
    }


def _chain_values(where: str, family: str, scenario: Scenario) -> dict:
    """A default-chain instance's parameters, read from its first store and
    its warehouse (the rest is checked against the instance they make)."""
    base = default()
    stores = [n for n in scenario.nodes if n.is_store]
    warehouses = [n for n in scenario.nodes if not n.is_store]
    if len(scenario.nodes) != len(base.nodes) or not stores or len(warehouses) != 1:
        raise ValueError(
            f"{where} is not an instance of the default chain ({family!r})"
        )
    store, own = stores[0], [n for n in base.nodes if n.is_store][0]
    if not isinstance(store.demand, Normal):
        raise ValueError(f"{where}: its stores' demand is not normal ({family!r})")
    return {
        "demand_scale": float(store.demand.mean / own.demand.mean),
        "demand_cv": float(store.demand.std / store.demand.mean),
        "store_holding": float(store.holding_cost),
        "store_stockout": float(store.stockout_cost),
        "store_lead_time": float(store.lead_time),
        "warehouse_lead_time": float(warehouses[0].lead_time),
    }


def _close(a: Any, b: Any) -> bool:
    """Two scenarios' dict forms equal, their numbers to 1e-9 (a parameter
    read back from an instance can differ from the drawn one in the last
    digit)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        except TypeError:
            return False
    return a == b


def _number(v: float) -> str:
    """A value as a family's name writes it (read back exactly)."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _end(spec: Any, which: str) -> float:
    if isinstance(spec, Between):
        return float(spec.low if which == "low" else spec.high)
    return float(min(spec) if which == "low" else max(spec))


def _checked(
    where: str, name: str, spec: Any, whole: bool, least: float, strict: bool
) -> Any:
    """A parameter's range or choices, checked: not empty, finite, low <=
    high, whole where it must be, and within the scenario's bound."""
    if isinstance(spec, Mapping) and set(spec) in (
        {"low", "high"},
        {"low", "high", "log"},
    ):
        spec = Between(spec["low"], spec["high"], spec.get("log", False))
    if isinstance(spec, Between):
        values = (spec.low, spec.high)
    elif isinstance(spec, (list, tuple)):
        values = tuple(spec)
        if not values:
            raise ValueError(f"{where}: {name} has no choices")
    else:
        raise ValueError(
            f"{where}: {name} must be a range {{low = .., high = ..}} or a list "
            f"of choices, got {spec!r}"
        )
    for x in values:
        if (
            isinstance(x, bool)
            or not isinstance(x, (int, float))
            or not math.isfinite(x)
        ):
            raise ValueError(f"{where}: {name} must hold finite numbers, got {x!r}")
        if whole and float(x) != int(x):
            raise ValueError(f"{where}: {name} takes whole numbers, got {x!r}")
        if x < least or (strict and x == least):
            bound = f"> {least:g}" if strict else f">= {least:g}"
            raise ValueError(
                f"{where}: {name} must be {bound} (the scenario's bound), got {x!r}"
            )
    if isinstance(spec, Between):
        if spec.low > spec.high:
            raise ValueError(
                f"{where}: {name} is an empty range (low {spec.low!r} > high "
                f"{spec.high!r})"
            )
        if not isinstance(spec.log, bool):
            raise ValueError(
                f"{where}: {name}'s log must be true or false, got {spec.log!r}"
            )
        if spec.log and (whole or spec.low <= 0):
            raise ValueError(
                f"{where}: {name} cannot be drawn on a log scale (that takes a "
                "positive parameter that is not a whole number)"
            )
        return Between(float(spec.low), float(spec.high), spec.log)
    return tuple(float(x) for x in values)


#: the single-stage lost-sales family: Zipkin's lead times and penalties,
#: mean demand 3-8; penalties on a log scale, so that the cheap end (where the
#: optimal policy changes fastest with the penalty) is drawn as often as the
#: dear end (a penalty of 4-8 in 30% of the instances, where a uniform draw
#: gives it 11%)
LOST_SALES = Family(
    "lost_sales_family",
    "single_stage",
    {
        "lead_time": Between(1, 4),
        "penalty": Between(4.0, 39.0, log=True),
        "mean": Between(3.0, 8.0),
    },
    room={"lead_time": 6},
)
#: the default chain's family: demand level and variability, store costs,
#: lead times
DEFAULT_CHAIN = Family(
    "default_chain_family",
    "default_chain",
    {
        "demand_scale": Between(0.5, 2.0),
        "demand_cv": Between(0.1, 0.4),
        "store_holding": Between(0.04, 0.12),
        "store_stockout": Between(0.5, 2.0),
        "store_lead_time": Between(1, 3),
        "warehouse_lead_time": Between(2, 6),
    },
)
#: the named families
FAMILIES = {f.name: f for f in (LOST_SALES, DEFAULT_CHAIN)}


def get_family(name: str) -> Family:
    """A named family, or one pinned to an instance
    (``<family>@<name>=<value>,...``: :meth:`Family.at`); a ``ValueError``
    listing the families for another name, or naming what is wrong with the
    values."""
    base, _, spec = str(name).partition("@")
    if base not in FAMILIES:
        raise ValueError(f"unknown family {base!r}; families: {sorted(FAMILIES)}")
    if not _:
        return FAMILIES[base]
    values: dict[str, float] = {}
    for part in spec.split(","):
        key, eq, text = part.partition("=")
        try:
            if not eq:
                raise ValueError
            values[key.strip()] = float(text)
        except ValueError:
            raise ValueError(
                f"family {name!r}: a pinned family is written "
                f"{base}@<parameter>=<value>,... ; {part!r} is not one"
            ) from None
    return FAMILIES[base].at(values)
