"""Demand processes: shapes, moments, determinism and clear errors."""

import numpy as np
import pytest

from hmarl_env.demand import (
    MertonJumpDiffusion,
    NegativeBinomial,
    Normal,
    Poisson,
    Seasonal,
    Trace,
    demand_from_dict,
    read_trace_csv,
)

PROCESSES = [
    Poisson(100.0),
    Normal(100.0, 20.0),
    NegativeBinomial(100.0, 30.0),
    Seasonal(Poisson(50.0)),
    Seasonal(Normal(50.0, 5.0), (1.0, 2.0)),
    MertonJumpDiffusion(100.0),
    Trace((5.0, 0.0, 7.0)),
]


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.kind)
def test_shape_sign_and_determinism(process):
    a = process.sample(np.random.default_rng(3), 50, 4)
    b = process.sample(np.random.default_rng(3), 50, 4)
    assert a.shape == (50, 4) and a.dtype == np.float64
    assert (a >= 0).all() and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("process", PROCESSES[:5], ids=lambda p: p.kind)
def test_moments_match_the_nominal_ones(process):
    x = process.sample(np.random.default_rng(0), 7 * 400, 50)
    assert x.mean() == pytest.approx(process.mean, rel=0.01)
    assert x.std() == pytest.approx(process.std, rel=0.03)


def test_seasonal_pattern_is_followed():
    x = Seasonal(Poisson(100.0), (0.5, 1.0, 1.5)).sample(
        np.random.default_rng(0), 3000, 20
    )
    by_day = x.reshape(1000, 3, 20).mean(axis=(0, 2))
    np.testing.assert_allclose(by_day, [50, 100, 150], rtol=0.01)


def test_merton_keeps_its_expected_level_and_jumps():
    m = MertonJumpDiffusion(100.0, volatility=0.05, jump_rate=0.2, jump_std=0.3)
    x = m.sample(np.random.default_rng(1), 40, 20000)
    assert (x[0] == 100).all()
    assert x[-1].mean() == pytest.approx(100, rel=0.03)  # E[level] = initial
    assert x[-1].std() > 30  # paths fan out


def test_trace_replays_and_wraps():
    x = Trace((1.0, 2.0, 3.0)).sample(np.random.default_rng(0), 7, 2)
    np.testing.assert_array_equal(x[:, 0], [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(x[:, 0], x[:, 1])


def test_negative_binomial_requires_overdispersion():
    with pytest.raises(ValueError, match=r"std\*\*2 must exceed mean"):
        NegativeBinomial(100.0, 5.0)


def test_bad_traces(tmp_path):
    with pytest.raises(ValueError, match=r"Trace.values\[1\]"):
        Trace((1.0, -2.0))
    with pytest.raises(ValueError, match="must not be empty"):
        Trace(())
    f = tmp_path / "t.csv"
    f.write_text("a,b\n1,x\n")
    with pytest.raises(ValueError, match="no column 'c'"):
        read_trace_csv(f, "c")
    with pytest.raises(ValueError, match="line 2 column 'b': 'x' is not a number"):
        read_trace_csv(f, "b")
    with pytest.raises(ValueError, match="does not exist"):
        read_trace_csv(tmp_path / "none.csv", "a")


def test_from_dict_round_trip_and_errors():
    for p in PROCESSES:
        assert demand_from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="needs a 'column'"):
        demand_from_dict({"kind": "trace", "path": "x.csv"})
    with pytest.raises(ValueError, match="Seasonal.base must be"):
        demand_from_dict({"kind": "seasonal", "base": {"kind": "trace", "values": [1]}})
    with pytest.raises(ValueError, match="must be a table"):
        demand_from_dict(5)
    with pytest.raises(ValueError, match="Poisson.mean must be a number"):
        demand_from_dict({"kind": "poisson", "mean": "many"})
