"""The interim main job: simulate a scenario under order-up-to and print KPIs."""

import numpy as np
import pytest

from baselines.order_up_to import local_base_stock_levels, order_up_to
from baselines.simulate import main, simulate
from hmarl_env import get_scenario


def test_prints_a_kpi_row_per_node(capsys):
    assert main(["--episodes", "20"]) == 0
    out = capsys.readouterr().out
    for name in ("store_1", "store_2", "warehouse_1", "chain cost per period"):
        assert name in out


def test_more_safety_stock_sells_more_and_holds_more():
    sc = get_scenario("default")
    lean = simulate(sc, 200, safety_factor=-1.0, seed=1)
    safe = simulate(sc, 200, safety_factor=2.0, seed=1)
    assert safe["fill_rate"][:, :2].mean() > lean["fill_rate"][:, :2].mean()
    assert safe["holding_cost"].mean() > lean["holding_cost"].mean()


def test_levels_follow_the_textbook_formula():
    sc = get_scenario("serial")
    levels = local_base_stock_levels(sc, 0.0)
    np.testing.assert_allclose(levels, [5 * 2, 5 * 2, 5 * 3])
    np.testing.assert_allclose(
        order_up_to(np.array([[12.0, 0.0, 20.0]]), levels), [[0.0, 10.0, 0.0]]
    )
    with pytest.raises(ValueError, match="one entry per node"):
        order_up_to(np.zeros((1, 3)), [1.0, 2.0])


def test_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        main(["--scenario", "nope"])
    assert "unknown scenario 'nope'" in capsys.readouterr().err
