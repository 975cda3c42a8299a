"""Demand processes for stores.

Every process is a frozen dataclass that draws a whole episode of demand for a
batch of replicas at once from a numpy ``Generator`` it is given:

    process.sample(rng, n_periods, batch) -> float64 array (n_periods, batch)

Draws are non-negative. ``mean`` and ``std`` give the nominal per-period moments
that observation scales, forecasts at reset and heuristics use.

Processes:

* :class:`Poisson` - integer demand with mean ``mean``.
* :class:`Normal` - ``N(mean, std**2)``; negative draws are set to zero.
* :class:`NegativeBinomial` - over-dispersed integer demand given by mean and
  std (``std**2 > mean``).
* :class:`Seasonal` - a weekly (or any period) pattern of multipliers on the
  location of a Poisson, normal or negative binomial base process.
* :class:`MertonJumpDiffusion` - demand level following Merton's jump-diffusion
  (geometric Brownian motion plus log-normal jumps), as in the multi-echelon
  MADRL literature.
* :class:`Trace` - replay of a recorded series (for example one column of a
  CSV file), identical in every replica, wrapping round when the horizon is
  longer than the trace.
* :class:`TraceBank` - many recorded series (the columns of a CSV file, or
  every CSV file of a folder): each episode replays a window of one series,
  both drawn from its generator, training and held-out episodes from
  separate parts of every series.

(One module past 500 lines on purpose: the processes and the one reader that
builds any of them by name, :func:`demand_from_dict`.)
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hmarl_env.seeding import HELD_OUT_SEEDS
from hmarl_env.utils.io import read_text_file

__all__ = [
    "DemandProcess",
    "MertonJumpDiffusion",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "Seasonal",
    "Trace",
    "TraceBank",
    "demand_from_dict",
    "read_trace_csv",
    "sample_columns",
]


#: the largest magnitude of any number in a scenario (demand, stock, cost,
#: weight, multiplier). With horizons of at most ``MAX_HORIZON`` periods, every
#: product of a period (cost x units, weight x cost) and every sum over an
#: episode stays below about 1e32, far inside float64's range (1.8e308).
MAX_MAGNITUDE = 1e9
#: the longest episode, in periods: an episode's demand is drawn at reset,
#: ``horizon x stores x 8`` bytes per replica (8 MB for 10 stores)
MAX_HORIZON = 100_000


def _check_finite(
    owner: str, name: str, value: float, *, minimum: float = 0.0, strict: bool = False
) -> None:
    """Raise ``ValueError`` naming ``owner.name`` if ``value`` is not valid."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(
            f"{owner}.{name} must be at most {MAX_MAGNITUDE:g} in size (larger "
            f"numbers overflow the ledger's sums), got {value!r}"
        )
    if value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{owner}.{name} must be {relation} {minimum}, got {value!r}")


class DemandProcess:
    """Base of all demand processes (see the module docstring)."""

    kind: ClassVar[str] = ""
    #: Nominal expected demand per period (a field or a property of each process).
    mean: float
    #: Nominal standard deviation of demand per period.
    std: float

    def sample(
        self, rng: np.random.Generator, n_periods: int, batch: int
    ) -> np.ndarray:
        """Draw ``(n_periods, batch)`` non-negative demands."""
        raise NotImplementedError  # pragma: no cover - overridden

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that :func:`demand_from_dict` turns back into ``self``."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in self.__dataclass_fields__:  # type: ignore[attr-defined]
            value = getattr(self, name)
            if isinstance(value, DemandProcess):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


class _Stationary(DemandProcess):
    """A process whose location can be scaled per period (see :class:`Seasonal`)."""

    def _draw(
        self,
        rng: np.random.Generator,
        shape: tuple[int, int],
        factor: np.ndarray | float,
    ) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - overridden

    def sample(
        self, rng: np.random.Generator, n_periods: int, batch: int
    ) -> np.ndarray:
        return self._draw(rng, (n_periods, batch), 1.0)


@dataclass(frozen=True)
class Poisson(_Stationary):
    """Poisson demand.

    Attributes:
        mean: expected units per period (> 0).
    """

    mean: float
    kind: ClassVar[str] = "poisson"

    def __post_init__(self) -> None:
        _check_finite("Poisson", "mean", self.mean, strict=True)

    @property
    def std(self) -> float:
        return math.sqrt(self.mean)

    def _draw(self, rng, shape, factor):
        return rng.poisson(self.mean * factor, size=shape).astype(np.float64)


@dataclass(frozen=True)
class Normal(_Stationary):
    """Normal demand, negative draws set to zero.

    Attributes:
        mean: expected units per period (> 0).
        std: standard deviation per period (>= 0).
    """

    mean: float
    std: float
    kind: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        _check_finite("Normal", "mean", self.mean, strict=True)
        _check_finite("Normal", "std", self.std)

    def _draw(self, rng, shape, factor):
        draw = rng.normal(self.mean * factor, self.std * factor, size=shape)
        return np.maximum(draw, 0.0, out=draw)


@dataclass(frozen=True)
class NegativeBinomial(_Stationary):
    """Negative binomial demand given by its mean and standard deviation.

    Attributes:
        mean: expected units per period (> 0).
        std: standard deviation per period; ``std**2`` must exceed ``mean``.
    """

    mean: float
    std: float
    kind: ClassVar[str] = "negative_binomial"

    def __post_init__(self) -> None:
        _check_finite("NegativeBinomial", "mean", self.mean, strict=True)
        _check_finite("NegativeBinomial", "std", self.std, strict=True)
        if self.std**2 <= self.mean:
            raise ValueError(
                "NegativeBinomial.std**2 must exceed mean (over-dispersion), got "
                f"std={self.std!r}, mean={self.mean!r}; use Poisson for std**2 == mean"
            )

    def _draw(self, rng, shape, factor):
        # Scaling the mean keeps the coefficient of variation: n fixed, p varies.
        var = self.std**2
        n = self.mean**2 / (var - self.mean)
        mean = self.mean * np.asarray(factor, dtype=np.float64)
        p = n / (n + mean)
        return rng.negative_binomial(n, p, size=shape).astype(np.float64)


@dataclass(frozen=True)
class Seasonal(DemandProcess):
    """A periodic pattern of multipliers on a base process's location.

    Period ``t`` draws from the base with its mean multiplied by
    ``pattern[t % len(pattern)]`` (a weekly pattern has seven entries; period 0
    is the pattern's first entry).

    Attributes:
        base: a :class:`Poisson`, :class:`Normal` or :class:`NegativeBinomial`.
        pattern: non-negative multipliers, at least one positive.
    """

    base: DemandProcess
    pattern: tuple[float, ...] = (0.8, 0.9, 0.9, 1.0, 1.1, 1.3, 1.0)
    kind: ClassVar[str] = "seasonal"

    def __post_init__(self) -> None:
        if not isinstance(self.base, _Stationary):
            raise ValueError(
                "Seasonal.base must be a poisson, normal or negative_binomial process, "
                f"got {self.base!r}"
            )
        pattern = tuple(self.pattern)
        object.__setattr__(self, "pattern", pattern)
        if not pattern:
            raise ValueError("Seasonal.pattern must not be empty")
        for i, m in enumerate(pattern):
            _check_finite("Seasonal", f"pattern[{i}]", m)
        if max(pattern) <= 0:
            raise ValueError(
                f"Seasonal.pattern needs a positive entry, got {pattern!r}"
            )

    @property
    def mean(self) -> float:
        return self.base.mean * float(np.mean(self.pattern))

    @property
    def std(self) -> float:
        # Spread of the mixture over the cycle: within-period plus between-period.
        m = np.asarray(self.pattern)
        within = float(np.mean((self.base.std * m) ** 2))
        between = float(np.var(self.base.mean * m))
        return math.sqrt(within + between)

    def sample(self, rng, n_periods, batch):
        m = np.asarray(self.pattern, dtype=np.float64)
        factor = m[np.arange(n_periods) % len(m)][:, None]
        return self.base._draw(rng, (n_periods, batch), factor)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MertonJumpDiffusion(DemandProcess):
    """Demand level following Merton's jump-diffusion.

    ``level[0] = initial`` and, per period,
    ``log level[t+1] = log level[t] + drift - volatility**2 / 2 - jump_rate * k
    + volatility * Z + sum of N jumps``, with ``Z ~ N(0, 1)``,
    ``N ~ Poisson(jump_rate)`` jumps each ``~ N(jump_mean, jump_std**2)`` in log
    space and ``k = exp(jump_mean + jump_std**2 / 2) - 1``, so that
    ``E[level[t]] = initial * exp(drift * t)``. Demand is the level.

    Attributes:
        initial: demand level in period 0 (> 0).
        drift: expected log growth per period.
        volatility: diffusion volatility per period (>= 0).
        jump_rate: expected jumps per period (>= 0).
        jump_mean: mean log jump size.
        jump_std: std of the log jump size (>= 0).
    """

    initial: float
    drift: float = 0.0
    volatility: float = 0.05
    jump_rate: float = 0.05
    jump_mean: float = 0.0
    jump_std: float = 0.2
    kind: ClassVar[str] = "merton"

    def __post_init__(self) -> None:
        _check_finite("MertonJumpDiffusion", "initial", self.initial, strict=True)
        _check_finite("MertonJumpDiffusion", "drift", self.drift, minimum=-math.inf)
        _check_finite("MertonJumpDiffusion", "volatility", self.volatility)
        _check_finite("MertonJumpDiffusion", "jump_rate", self.jump_rate)
        _check_finite(
            "MertonJumpDiffusion", "jump_mean", self.jump_mean, minimum=-math.inf
        )
        _check_finite("MertonJumpDiffusion", "jump_std", self.jump_std)

    @property
    def mean(self) -> float:
        return self.initial

    def peak(self, periods: int) -> float:
        """A level the process exceeds with probability below about 1e-9 over
        ``periods`` periods: the expected log growth plus six standard
        deviations of the log level, from the initial level."""
        up = max(self.drift + self.jump_rate * max(self.jump_mean, 0.0), 0.0)
        log_var = self.volatility**2 + self.jump_rate * (
            self.jump_mean**2 + self.jump_std**2
        )
        t = max(periods - 1, 0)
        return self.initial * math.exp(min(up * t + 6 * math.sqrt(log_var * t), 700))

    @property
    def std(self) -> float:
        # One-period spread of the log return, applied to the initial level.
        log_var = self.volatility**2 + self.jump_rate * (
            self.jump_mean**2 + self.jump_std**2
        )
        return self.initial * math.sqrt(math.expm1(log_var))

    def sample(self, rng, n_periods, batch):
        k = math.expm1(self.jump_mean + 0.5 * self.jump_std**2)
        mu = self.drift - 0.5 * self.volatility**2 - self.jump_rate * k
        shocks = rng.normal(0.0, 1.0, size=(n_periods, batch)) * self.volatility + mu
        n_jumps = rng.poisson(self.jump_rate, size=(n_periods, batch))
        # The sum of n normal jumps is N(n * mean, n * std**2).
        jumps = n_jumps * self.jump_mean + np.sqrt(
            n_jumps
        ) * self.jump_std * rng.normal(0.0, 1.0, size=(n_periods, batch))
        steps = shocks + jumps
        steps[0] = 0.0
        return self.initial * np.exp(np.cumsum(steps, axis=0))


@dataclass(frozen=True)
class Trace(DemandProcess):
    """Replay of a recorded demand series.

    Period ``t`` of an episode gets ``values[start + t]``: ``start`` is 0, or
    with ``random_start`` drawn for each episode from its generator (so that
    episodes of different seeds see different windows of a long series, and
    an evaluation stays reproducible). A series shorter than the horizon is
    an error of the scenario unless ``wrap`` is set: then it replays from its
    beginning (``values[(start + t) % len(values)]``).

    Attributes:
        values: non-negative demands, one per period.
        source: where the values came from (a CSV path and column), for records.
        wrap: replay the series from its start when an episode outlasts it.
        random_start: start each episode at a random period of the series
            (where it fits the horizon unless ``wrap``).
    """

    values: tuple[float, ...]
    source: str = ""
    wrap: bool = False
    random_start: bool = False
    kind: ClassVar[str] = "trace"
    _array: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            values = tuple(float(v) for v in self.values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Trace.values must be numbers: {exc}") from None
        if not values:
            raise ValueError(f"Trace.values must not be empty (source {self.source!r})")
        arr = np.asarray(values, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0) | (arr > MAX_MAGNITUDE))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"Trace.values[{i}] must be finite, >= 0 and at most "
                f"{MAX_MAGNITUDE:g}, got {values[i]!r} (source {self.source!r})"
            )
        for name in ("wrap", "random_start"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"Trace.{name} must be true or false, got {getattr(self, name)!r}"
                )
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "_array", arr)

    def check_horizon(self, horizon: int, where: str) -> None:
        """Refuse a series shorter than ``horizon`` periods unless it wraps."""
        if not self.wrap and len(self.values) < horizon:
            raise ValueError(
                f"{where}: the trace {self.source or '(inline values)'} has "
                f"{len(self.values)} periods, fewer than the horizon of {horizon}: "
                "give a longer series, a shorter horizon, or wrap = true to replay "
                "it from its start"
            )

    @property
    def mean(self) -> float:
        return float(self._array.mean())

    @property
    def std(self) -> float:
        return float(self._array.std())

    def sample(self, rng, n_periods, batch):
        size = self._array.size
        if not self.random_start:
            idx = np.arange(n_periods) % size
            return np.repeat(self._array[idx][:, None], batch, axis=1)
        top = size if self.wrap else max(size - n_periods + 1, 1)
        start = rng.integers(0, top, size=batch)
        idx = (start[None, :] + np.arange(n_periods)[:, None]) % size
        return self._array[idx]

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "values": list(self.values), "source": self.source}
        for name in ("wrap", "random_start"):  # only where set: older records
            if getattr(self, name):
                out[name] = True
        return out


def read_trace_csv(path: str | Path, column: str) -> Trace:
    """Read one column of a CSV file with a header row into a :class:`Trace`."""
    path = Path(path)
    text = read_text_file(path, "trace CSV")
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise ValueError(
                f"trace CSV {str(path)!r} has no column {column!r}; "
                f"columns: {reader.fieldnames}"
            )
        values = []
        for line, row in enumerate(reader, start=2):
            try:
                values.append(float(row[column]))
            except (TypeError, ValueError):
                raise ValueError(
                    f"trace CSV {str(path)!r} line {line} column {column!r}: "
                    f"{row[column]!r} is not a number"
                ) from None
    return Trace(tuple(values), source=f"{path}:{column}")


def is_held_out(rng: np.random.Generator) -> bool:
    """Whether ``rng`` is a held-out episode's generator: one made by
    ``numpy.random.default_rng(seed)`` with ``seed`` in
    :data:`hmarl_env.seeding.HELD_OUT_SEEDS`, as the env's ``reset(seed=...)``,
    the evaluator, the gate and the comparisons make them. Training replicas'
    generators (seeded with a list, or fresh) and monitoring episodes' are
    not."""
    seq = getattr(rng.bit_generator, "seed_seq", None)
    entropy = getattr(seq, "entropy", None)
    return isinstance(entropy, int) and entropy in HELD_OUT_SEEDS


@dataclass(frozen=True)
class TraceBank(DemandProcess):
    """Many recorded series; each episode replays a window of one of them.

    The last ``held_out`` fraction of every series' periods is kept for
    held-out episodes (:func:`is_held_out`: seeds 1,000,000 to 1,999,999), the
    rest for every other episode (training, tuning, monitoring): an episode
    draws a series, then a window of ``horizon`` periods inside that series'
    part, both from its generator, so
    training never sees a period a held-out evaluation is judged on, and a
    seed always replays the same window. A part shorter than the horizon is
    an error of the scenario unless ``wrap`` (then the window wraps round
    inside its part). Nominal moments (``mean``, ``std``: observation scales,
    heuristics) come from the training parts alone.

    Attributes:
        series: the recorded series, each non-negative demands per period.
        names: a name per series (its CSV column or file), for errors and
            records.
        held_out: the fraction of each series, at its end, for held-out
            episodes, in ``[0, 1)`` (0: every episode draws from all of it).
        wrap: let a window wrap round inside its part.
        source: where the series came from, for records.
    """

    series: tuple[tuple[float, ...], ...]
    names: tuple[str, ...] = ()
    held_out: float = 0.2
    wrap: bool = False
    source: str = ""
    kind: ClassVar[str] = "trace_bank"
    _flat: np.ndarray = field(init=False, repr=False, compare=False)
    _bounds: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        series = tuple(tuple(s) for s in self.series)
        if not series:
            raise ValueError(f"TraceBank.series must not be empty ({self.source!r})")
        names = tuple(self.names) or tuple(f"series_{k}" for k in range(len(series)))
        if len(names) != len(series):
            raise ValueError(
                f"TraceBank.names has {len(names)} names for {len(series)} series"
            )
        if (
            isinstance(self.held_out, bool)
            or not isinstance(self.held_out, (int, float))
            or not 0 <= self.held_out < 1
        ):
            raise ValueError(
                "TraceBank.held_out must be a fraction in [0, 1), got "
                f"{self.held_out!r}"
            )
        if not isinstance(self.wrap, bool):
            raise ValueError(f"TraceBank.wrap must be true or false, got {self.wrap!r}")
        # each series as a Trace: one rule for what a recorded value may be
        arrays = [
            Trace(s, source=f"{self.source}:{n}" if self.source else n)._array
            for s, n in zip(series, names, strict=True)
        ]
        bounds = np.zeros((len(arrays), 3), dtype=np.int64)  # offset, cut, length
        offset = 0
        for k, a in enumerate(arrays):
            cut = a.size - int(round(self.held_out * a.size))
            bounds[k] = (offset, cut, a.size)
            offset += a.size
        object.__setattr__(self, "series", series)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_flat", np.concatenate(arrays))
        object.__setattr__(self, "_bounds", bounds)

    def _parts(self, held_out: bool) -> tuple[np.ndarray, np.ndarray]:
        """Each series' ``(first, end)`` period of the training or held-out
        part (the whole series where nothing is held out)."""
        _, cut, size = self._bounds.T
        if self.held_out == 0:
            return np.zeros_like(size), size
        return (cut, size) if held_out else (np.zeros_like(cut), cut)

    def check_horizon(self, horizon: int, where: str) -> None:
        """Refuse a part shorter than ``horizon`` periods unless windows wrap."""
        if self.wrap:
            return
        for held_out in (False, True) if self.held_out else (False,):
            lo, hi = self._parts(held_out)
            short = np.flatnonzero(hi - lo < horizon)
            if short.size:
                k = int(short[0])
                part = "held-out" if held_out else "training"
                raise ValueError(
                    f"{where}: series {self.names[k]!r} of the trace bank "
                    f"{self.source or '(inline)'} has a {part} part of "
                    f"{int(hi[k] - lo[k])} periods (held_out = {self.held_out:g} "
                    f"of {int(self._bounds[k, 2])}), fewer than the horizon of "
                    f"{horizon}: give longer series, a smaller held_out, a "
                    "shorter horizon, or wrap = true"
                )

    def _training_values(self) -> np.ndarray:
        lo, hi = self._parts(False)
        off = self._bounds[:, 0]
        return np.concatenate(
            [self._flat[o + a : o + b] for o, a, b in zip(off, lo, hi, strict=True)]
        )

    @property
    def mean(self) -> float:
        return float(self._training_values().mean())

    @property
    def std(self) -> float:
        return float(self._training_values().std())

    def sample(self, rng, n_periods, batch):
        lo, hi = self._parts(is_held_out(rng))
        k = rng.integers(0, len(self.series), size=batch)
        lo, hi, off = lo[k], hi[k], self._bounds[k, 0]
        span = hi - lo
        top = span if self.wrap else np.maximum(span - n_periods + 1, 1)
        start = rng.integers(0, top)
        t = np.arange(n_periods)[:, None]
        pos = lo + (start + t) % span
        return self._flat[off + pos]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "series": [list(s) for s in self.series],
            "names": list(self.names),
            "held_out": self.held_out,
            "wrap": self.wrap,
            "source": self.source,
        }


def read_csv_columns(path: Path, what: str) -> tuple[list[str], list[list[float]]]:
    """The header and every column of numbers of a CSV file; a row of another
    length or a value that is not a number is named with the file (``what``),
    the line and the column."""
    text = read_text_file(path, what)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ValueError(f"{what} {str(path)!r} is empty")
    values: list[list[float]] = [[] for _ in header]
    for line, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{what} {str(path)!r} line {line} has {len(row)} values for "
                f"{len(header)} columns"
            )
        for c, text_value in enumerate(row):
            try:
                values[c].append(float(text_value))
            except ValueError:
                raise ValueError(
                    f"{what} {str(path)!r} line {line} column {header[c]!r}: "
                    f"{text_value!r} is not a number"
                ) from None
    return header, values


def read_trace_bank(path: str | Path, columns: Sequence[str] | None = None):
    """``(series, names)`` of a trace bank: every column of a CSV file with a
    header row, or of every ``*.csv`` file of a folder (named
    ``<file>:<column>``); ``columns`` picks some by name. A value that is not a
    number is named with its file, line and column."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise ValueError(f"trace bank folder {str(path)!r} has no .csv files")
    else:
        files = [path]
    series, names = [], []
    for f in files:
        header, values = read_csv_columns(f, "trace bank CSV")
        for c, name in enumerate(header):
            label = f"{f.stem}:{name}" if len(files) > 1 else name
            if columns is None or name in columns or label in columns:
                series.append(tuple(values[c]))
                names.append(label)
    if columns is not None:
        missing = sorted(set(columns) - set(names) - {n.split(":")[-1] for n in names})
        if missing:
            raise ValueError(f"trace bank {str(path)!r} has no columns {missing}")
    return tuple(series), tuple(names)


_KINDS: dict[str, type[DemandProcess]] = {
    cls.kind: cls
    for cls in (
        Poisson,
        Normal,
        NegativeBinomial,
        Seasonal,
        MertonJumpDiffusion,
        Trace,
        TraceBank,
    )
}


def demand_from_dict(
    spec: Mapping[str, Any] | DemandProcess,
    *,
    where: str = "demand",
    base_dir: Path | None = None,
) -> DemandProcess:
    """Build a demand process from a mapping like ``{"kind": "poisson", "mean": 100}``.

    A trace is read from a CSV file with
    ``{"kind": "trace", "path": "file.csv", "column": "store_1"}`` (relative paths
    resolve against ``base_dir``) or given inline as ``values``.

    Raises:
        ValueError: naming ``where`` and the offending key or value.
    """
    if isinstance(spec, DemandProcess):
        return spec
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a table with a 'kind', got {spec!r}")
    params = dict(spec)
    kind = params.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"{where}.kind must be one of {sorted(_KINDS)}, got {kind!r}")
    if kind == "seasonal" and "base" in params:
        params["base"] = demand_from_dict(
            params["base"], where=f"{where}.base", base_dir=base_dir
        )
    if kind == "trace" and "path" in params:
        path = Path(params.pop("path"))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        column = params.pop("column", None)
        if column is None:
            raise ValueError(f"{where}: a trace read from a file needs a 'column'")
        options = {k: params.pop(k) for k in ("wrap", "random_start") if k in params}
        if params:
            raise ValueError(
                f"{where}: unknown keys for a trace file: {sorted(params)}"
            )
        trace = read_trace_csv(path, column)
        return Trace(trace.values, source=trace.source, **options)
    if kind == "trace_bank" and "path" in params:
        path = Path(params.pop("path"))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        columns = params.pop("columns", None)
        options = {k: params.pop(k) for k in ("held_out", "wrap") if k in params}
        if params:
            raise ValueError(
                f"{where}: unknown keys for a trace bank file: {sorted(params)}; "
                "known: path, columns, held_out, wrap"
            )
        series, names = read_trace_bank(path, columns)
        try:
            return TraceBank(series, names, source=str(path), **options)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    cls = _KINDS[kind]
    known = {n for n in cls.__dataclass_fields__ if cls.__dataclass_fields__[n].init}  # type: ignore[attr-defined]
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown keys for kind {kind!r}: {unknown}; "
            f"known: {sorted(known)}"
        )
    if kind == "trace_bank":
        for key in ("series", "names"):
            if key in params and isinstance(params[key], Sequence):
                params[key] = tuple(
                    tuple(x)
                    if isinstance(x, Sequence) and not isinstance(x, str)
                    else x
                    for x in params[key]
                )
    if kind in ("seasonal", "trace"):
        for key in ("pattern", "values"):
            if (
                key in params
                and isinstance(params[key], Sequence)
                and not isinstance(params[key], str)
            ):
                params[key] = tuple(params[key])
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def sample_columns(
    processes: Sequence[DemandProcess],
    rng: np.random.Generator,
    n_periods: int,
    batch: int,
) -> np.ndarray:
    """Draw many processes at once: ``(n_periods, batch, len(processes))``.

    Poisson, normal and negative binomial processes are drawn kind by kind in
    one call each (a catalogue of thousands of products resets in
    milliseconds); the others one by one, in order. The draws of one column
    differ from what ``process.sample`` gives with the same generator; a given
    generator and list of processes always gives the same draws.
    """
    out = np.empty((n_periods, batch, len(processes)))
    shape = (n_periods, batch)
    groups: dict[type, list[int]] = {}
    for k, p in enumerate(processes):
        if type(p) in (Poisson, Normal, NegativeBinomial):
            groups.setdefault(type(p), []).append(k)
        else:
            out[:, :, k] = p.sample(rng, n_periods, batch)
    for kind, cols in groups.items():
        ps = [processes[k] for k in cols]
        mean = np.array([p.mean for p in ps])
        size = (*shape, len(cols))
        if kind is Poisson:
            draw = rng.poisson(mean, size=size).astype(np.float64)
        elif kind is Normal:
            draw = rng.normal(mean, np.array([p.std for p in ps]), size=size)
            np.maximum(draw, 0.0, out=draw)
        else:
            var = np.array([p.std for p in ps]) ** 2
            n = mean**2 / (var - mean)
            draw = rng.negative_binomial(n, n / (n + mean), size=size).astype(
                np.float64
            )
        out[:, :, cols] = draw
    return out
