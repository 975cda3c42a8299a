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


# ------------------------------------------------------------------ trace banks
def _bank_chain(bank, horizon=60):
    import dataclasses

    from hmarl_env import get_scenario

    sc = get_scenario("default")
    nodes = tuple(
        dataclasses.replace(n, demand=bank) if n.is_store else n for n in sc.nodes
    )
    return sc.replace(nodes=nodes, horizon=horizon)


def test_a_trace_bank_keeps_held_out_windows_for_held_out_episodes():
    """Training parts hold values below 100, held-out parts 1,000 and more:
    every training, tuning or monitoring episode stays below, every held-out
    one above, and each seed replays its window."""
    from baselines.evaluate import evaluate
    from baselines.policies import make_policies
    from hmarl_env import Simulation
    from hmarl_env.demand import TraceBank, is_held_out

    first = tuple(float(x % 50) for x in range(320)) + tuple(
        1000.0 + k for k in range(80)
    )
    second = tuple(float(k % 7) for k in range(240)) + (2000.0,) * 60
    bank = TraceBank((first, second), ("a", "b"), held_out=0.2)
    sc = _bank_chain(bank)
    sim = Simulation(sc, 1)
    drawn = {}
    for seed in [*range(12), 2_000_000, 2_000_001]:
        sim.reset(np.random.default_rng(seed))
        assert (sim._demand < 100).all(), seed
        drawn.setdefault(float(sim._demand[:, 0, 0].max()) > 6, []).append(seed)
    assert set(drawn) == {True, False}  # both series drawn
    for seed in range(1_000_000, 1_000_012):
        sim.reset(np.random.default_rng(seed))
        assert (sim._demand[:, 0, sc.store_index] >= 1000).all(), seed
        again = sim._demand.copy()
        sim.reset(np.random.default_rng(seed))
        np.testing.assert_array_equal(sim._demand, again)
    # the batched runner's replicas are training episodes
    assert not is_held_out(np.random.default_rng([1_000_000, 1, 1]))
    df = evaluate(sc, make_policies(sc, "rule_based"), 4)  # held-out seeds
    assert (df[df["agent"] == "store_1"]["lost_sales"] >= 0).all()
    assert bank.mean < 50  # scales from the training parts alone


def test_a_trace_bank_from_a_file_and_a_folder_and_its_errors(tmp_path):
    from hmarl_env.demand import TraceBank, demand_from_dict

    (tmp_path / "bank.csv").write_text(
        "x,y\n" + "\n".join(f"{k % 9},{k % 4}" for k in range(200)) + "\n"
    )
    bank = demand_from_dict(
        {"kind": "trace_bank", "path": "bank.csv", "held_out": 0.25},
        base_dir=tmp_path,
    )
    assert isinstance(bank, TraceBank) and bank.names == ("x", "y")
    folder = tmp_path / "series"
    folder.mkdir()
    for k in range(3):
        (folder / f"shop{k}.csv").write_text(
            "units\n" + "\n".join(str(v) for v in range(150)) + "\n"
        )
    bank = demand_from_dict({"kind": "trace_bank", "path": str(folder)})
    assert bank.names == ("shop0:units", "shop1:units", "shop2:units")
    assert demand_from_dict(bank.to_dict()) == bank  # a run's record reads back
    with pytest.raises(ValueError, match=r"training part of 120 periods .* horizon of"):
        _bank_chain(bank, horizon=130)
    _bank_chain(TraceBank(bank.series, held_out=0.2, wrap=True), horizon=130)
    (tmp_path / "bad.csv").write_text("x\n1\nnan\n")
    with pytest.raises(ValueError, match=r"Trace.values\[1\] must be finite.*bad.csv"):
        demand_from_dict({"kind": "trace_bank", "path": str(tmp_path / "bad.csv")})
    (tmp_path / "worse.csv").write_text("x\n1\nabc\n")
    with pytest.raises(ValueError, match=r"worse.csv' line 3 column 'x': 'abc'"):
        demand_from_dict({"kind": "trace_bank", "path": str(tmp_path / "worse.csv")})
    with pytest.raises(ValueError, match=r"held_out must be a fraction in \[0, 1\)"):
        TraceBank(((1.0, 2.0),), held_out=1.0)
