"""Phase 1 on a scenario family: one tiny run (trained in this process, a few
seconds) that records its family, whose checkpoint loads without Ray and
acts on single instances of the family, and the options a family run
refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import TINY, refused

#: tiny batches, one epoch (TINY's), four replicas; no monitor or gate
SMALL = [*TINY[:6], "--num-envs-per-env-runner", "4"]


@pytest.fixture(scope="module")
def family_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("family_runs")
    proc = refused(
        "phase1",
        "--family",
        "lost_sales_family",
        "--timesteps",
        "400",
        "--output",
        str(out),
        *SMALL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def test_a_family_run_records_its_family_and_trains_on_its_instances(family_run):
    config = json.loads((family_run / "config.json").read_text())
    assert config["family"] == "lost_sales_family"
    assert config["store_observation"] == "orders"
    assert config["eval"]["interval"] == 0 and config["gate_episodes"] == 0
    # the agents it does not train act by their untuned rules
    assert config["phase"]["heuristic"]["supplier"] == "base_stock"
    assert (family_run / "checkpoints" / "final").is_dir()


def test_a_family_checkpoint_acts_on_instances_of_its_family(family_run):
    """Without Ray: the module sees the instance's observation padded and
    followed by the instance's context (each instance its own); a scenario
    that is not an instance of the family is refused."""
    import ray

    from analysis.runs.loading import load_policies
    from hmarl_env import get_scenario
    from hmarl_env.family_env import FamilyEnv
    from hmarl_env.scenario.family import LOST_SALES

    assert not ray.is_initialized()
    values = {"lead_time": 2.0, "penalty": 39.0, "mean": 5.0}
    scenario = LOST_SALES.instance(values)
    policies = load_policies(family_run, scenario, acting="mean")
    store = policies["store_1"]
    # what FamilyEnv shows the module for the same instance and state
    env = FamilyEnv(LOST_SALES, "orders")
    obs = np.array([[3.0, 0.0, 5.0, 5.0]], np.float32)  # on hand, backlog, orders
    padded = env._layout.pad("store_1", obs, LOST_SALES.context(values))
    np.testing.assert_array_equal(store.policy(padded), store(obs))
    cheap = LOST_SALES.instance({"lead_time": 2.0, "penalty": 4.0, "mean": 5.0})
    other = load_policies(family_run, cheap, acting="mean")["store_1"]
    assert other.context.tolist() != store.context.tolist()
    with pytest.raises(ValueError, match="name the instance"):
        load_policies(family_run)
    with pytest.raises(ValueError, match="lost_sales_family"):
        load_policies(family_run, get_scenario("lost_sales_L2_p39"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scenario", "serial"], "--scenario is not an option with --family"),
        (["--gate-episodes", "10"], "--gate-episodes"),
        (["--eval-interval", "5"], "--eval-interval"),
        (["--critic", "central"], "local critic"),
        (["--reward-mode", "local"], "--reward-mode"),
    ],
)
def test_family_runs_refuse_what_they_cannot_honour(tmp_path, args, message):
    proc = refused(
        "phase1",
        "--family",
        "lost_sales_family",
        "--output",
        str(tmp_path),
        *SMALL,
        *args,
    )
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not list(tmp_path.iterdir())


def test_an_unknown_family_is_refused_with_the_families(tmp_path):
    proc = refused("phase1", "--family", "nope", "--output", str(tmp_path))
    assert proc.returncode != 0
    assert "lost_sales_family" in proc.stdout + proc.stderr


@pytest.mark.parametrize("script", ["phase2", "pipeline"])
def test_only_phase_1_offers_a_family(tmp_path, script):
    proc = refused(script, "--family", "lost_sales_family", "--output", str(tmp_path))
    assert proc.returncode == 2
    assert "unrecognized arguments: --family" in proc.stderr
    assert not list(tmp_path.iterdir())
