"""`python -m hmarl_env.validate`: PASS on sound envs, FAIL (exit 1) on broken ones."""

import pytest

from hmarl_env import validate
from hmarl_env.roles import Roles


@pytest.mark.parametrize("scenario", ["default", "serial", "four_stores", "backorder"])
def test_presets_pass(scenario, capsys):
    assert validate.main(["--scenario", scenario]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS:") == 5 and "FAIL" not in out


def test_a_reward_that_disagrees_with_infos_fails(monkeypatch, capsys):
    honest = Roles.score

    def skewed(self, table):
        return honest(self, table) + 1.0

    monkeypatch.setattr(Roles, "score", skewed)
    assert validate.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL: rewards" in out and "VALIDATION FAILED" in out


def test_an_observation_outside_its_space_fails(monkeypatch, capsys):
    honest = Roles.observe_all
    monkeypatch.setattr(Roles, "observe_all", lambda self, sim: honest(self, sim) - 1.0)
    assert validate.main([]) == 1
    assert "FAIL: reset" in capsys.readouterr().out


def test_an_unbalanced_ledger_fails(monkeypatch, capsys):
    from hmarl_env.core import Simulation

    honest = Simulation.step

    def leaky(self, orders, fulfil=1.0):
        led = honest(self, orders, fulfil)
        return led.replace(closing=led.closing + 1.0)

    monkeypatch.setattr(Simulation, "step", leaky)
    assert validate.main([]) == 1
    assert "FAIL: reconciliation" in capsys.readouterr().out
