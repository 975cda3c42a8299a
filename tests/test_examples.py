"""Every scenario file of examples/ loads, passes the env's checks and plays
an episode; the README shows a whole one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hmarl_env
from hmarl_env import get_scenario
from hmarl_env.validate import run_checks

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_example_loads_validates_and_plays(path):
    scenario = get_scenario(path)
    failed = [m for ok, m in run_checks(hmarl_env.SupplyChainEnv(scenario)) if not ok]
    assert not failed
    env = hmarl_env.parallel_env(scenario)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    while env.agents:
        env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})


def test_the_two_stores_example_is_the_default_chain_written_out():
    """Every field of examples/two_stores.toml as the default preset has it,
    but its name and store 2's demand (Poisson, to show a second kind)."""
    example = get_scenario(ROOT / "examples" / "two_stores.toml")
    default = get_scenario("default")
    nodes = list(default.nodes)
    nodes[1] = example.nodes[1]
    assert example.replace(name="default") == default.replace(nodes=tuple(nodes))
