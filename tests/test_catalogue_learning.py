"""Learning on a catalogue: the product-shared store module, its runner, its
checkpoints on other catalogues, its clear errors.

One tiny phase-1 run on ``catalogue_50`` (trained in this process, a few
seconds) serves every test that needs a checkpoint.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import refused


def tiny_catalogue_run(out, *args: str):
    """Phase 1 on catalogue_50, two replicas an iteration, in this process:
    the run folder and what it printed."""
    proc = refused(
        "phase1",
        "--scenario",
        "catalogue_50",
        "--train-batch-size",
        "200",
        "--num-envs-per-env-runner",
        "2",
        "--minibatch-size",
        "2000",
        "--num-epochs",
        "1",
        "--output",
        str(out),
        *args,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run, proc.stdout


@pytest.fixture(scope="module")
def catalogue_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("catalogue_runs")
    return tiny_catalogue_run(
        out,
        "--timesteps",
        "400",
        "--eval-interval",
        "2",
        "--eval-episodes",
        "2",
        "--gate-episodes",
        "6",
    )


def test_phase1_trains_the_stores_of_a_catalogue(catalogue_run):
    run, stdout = catalogue_run
    config = json.loads((run / "config.json").read_text())
    assert config["ppo_preset"] == "catalogue"
    assert config["runners"]["num_env_runners"] == 0
    assert config["keep_best"] == 1  # the best monitored iteration's modules
    # the warehouse's tuned catalogue heuristic is frozen in the run
    frozen = np.array(config["heuristic_params"]["catalogue_actions"]["tuned"])
    assert frozen.shape == (3, 50) and frozen.min() >= 0
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3  # two iterations
    header = rows[0].split(",")
    assert "eval_store_reward" in header
    first = dict(zip(header, rows[1].split(","), strict=True))
    assert 0.5 < float(first["service_level"]) <= 1  # the stores' fill rate
    gate = json.loads((run / "gate.json").read_text())
    store = gate["roles"]["store"]
    assert store["against"] == "tuned" and "per_product" in store
    assert store["tuned"]["episodes"] == 6
    assert "gate phase1 store" in stdout
    refs = json.loads((run / "monitor_references.json").read_text())
    assert set(refs["reward_per_agent"]["store"]) == {"tuned", "per_product", "uniform"}


def test_the_tuned_heuristic_as_env_actions_is_the_capacity_priced_policy():
    from baselines.catalogue import (
        BaseStock,
        evaluate_catalogue,
        heuristic_policy,
        priced_levels,
        tune_capacity_prices,
        tune_per_product,
    )
    from hmarl_env import get_scenario

    sc = get_scenario("catalogue_50")
    tuning = tune_per_product(sc)
    prices, _ = tune_capacity_prices(sc, tuning)
    direct = evaluate_catalogue(sc, BaseStock(priced_levels(sc, tuning, prices)), 6)
    as_actions = evaluate_catalogue(sc, heuristic_policy(sc, "tuned"), 6)
    np.testing.assert_allclose(as_actions["total_cost"], direct["total_cost"])


def test_a_checkpoint_loads_without_ray_and_acts_like_the_saved_module(
    catalogue_run,
):
    from ray.rllib.core.rl_module.rl_module import RLModule

    from analysis.runs.folder import find_checkpoint
    from analysis.runs.loading import ModulePolicy, load_policies

    run, _ = catalogue_run
    policies = load_policies(run)
    assert policies["store_1"] is policies["store_2"]
    ckpt, _ = find_checkpoint(run)
    saved = RLModule.from_checkpoint(
        ckpt / "learner_group" / "learner" / "rl_module" / "store"
    )
    rng = np.random.default_rng(0)
    obs = rng.uniform(0, 3, size=(7, 50, 21)).astype(np.float32)
    for acting in ("greedy", "mean"):
        mine = ModulePolicy(policies["store_1"].module, "store", acting)
        theirs = ModulePolicy(saved, "store", acting)
        np.testing.assert_array_equal(mine(obs), theirs(obs))
    assert policies["store_1"](obs).shape == (7, 50)


def test_permuting_products_permutes_actions_and_keeps_values(catalogue_run):
    import torch
    from ray.rllib.core.columns import Columns

    from analysis.runs.loading import load_policies
    from hmarl_env.catalogue_roles import CatalogueRoles
    from hmarl_env.core import Simulation
    from hmarl_env.scenario.presets import catalogue

    run, _ = catalogue_run
    module = load_policies(run)["store_1"].module
    sc = catalogue(30)
    order = np.random.default_rng(3).permutation(30)
    shuffled = sc.replace(products=tuple(sc.products[i] for i in order))

    def features(scenario, state=None):
        sim = Simulation(scenario, 1)
        sim.reset([np.random.default_rng(0)])
        if state is not None:  # the same state, products in the new order
            sim.state_array[...] = state  # (a test's write)
        roles = CatalogueRoles(scenario, 1)
        roles.reset(sim)
        return roles.node_features(sim)[0, 0], sim.state_array  # store_1

    x, state = features(sc)
    B, S, _ = state.shape
    moved = state.reshape(B, S, -1, 30)[..., order].reshape(state.shape)
    y, _ = features(shuffled, moved)
    np.testing.assert_allclose(y, x[order], rtol=1e-6)
    with torch.no_grad():
        a = module.forward_inference({Columns.OBS: torch.from_numpy(x)})
        b = module.forward_inference({Columns.OBS: torch.from_numpy(y)})
        va = module.compute_values({Columns.OBS: torch.from_numpy(x)})
        vb = module.compute_values({Columns.OBS: torch.from_numpy(y)})
    np.testing.assert_allclose(
        b[Columns.ACTION_DIST_INPUTS].numpy(),
        a[Columns.ACTION_DIST_INPUTS].numpy()[order],
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(vb.numpy(), va.numpy()[order], rtol=1e-5, atol=1e-6)
    assert float(vb.sum()) == pytest.approx(float(va.sum()), rel=1e-5)


def test_a_module_trained_on_50_products_acts_on_another_catalogue(catalogue_run):
    from analysis.catalogue import store_policies
    from analysis.runs.loading import load_policies
    from baselines.catalogue import evaluate_catalogue
    from hmarl_env.scenario.presets import catalogue

    run, _ = catalogue_run
    other = catalogue(120)
    policies = load_policies(run, scenario=other)
    df = evaluate_catalogue(other, store_policies(other, policies), 2)
    assert len(df) == 2 and np.isfinite(df["total_cost"]).all()


def test_catalogue_and_single_product_checkpoints_do_not_mix(catalogue_run, run):
    from analysis.runs.loading import load_policies

    cat, _ = catalogue_run
    with pytest.raises(ValueError, match="trained on a catalogue.*single-product"):
        load_policies(cat, scenario="default")
    with pytest.raises(ValueError, match="single-product scenario.*is a catalogue"):
        load_policies(run, scenario="catalogue_50")


def test_catalogue_options_that_do_not_apply_are_refused(tmp_path):
    out = str(tmp_path)
    for args, message in (
        (("--store-observation", "orders"), "--store-observation is not an option"),
        (("--critic", "central"), "critic 'local'"),
        (("--env-runner", "pettingzoo"), "batched env runner only"),
    ):
        proc = refused("phase1", "--scenario", "catalogue_50", "--output", out, *args)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    proc = refused("phase2", "--scenario", "catalogue_50", "--output", out)
    assert proc.returncode != 0
    assert "only phase 1 trains on a catalogue" in proc.stderr, proc.stderr


def test_a_residual_store_module_acts_in_offsets_from_the_tuned_heuristic(tmp_path):
    from analysis.catalogue import store_policies
    from analysis.runs.loading import ResidualPolicy, load_policies
    from baselines.catalogue import evaluate_catalogue
    from hmarl_env.scenario.presets import catalogue

    run, _ = tiny_catalogue_run(
        tmp_path,
        "--residual",
        "2",
        "--timesteps",
        "200",
        "--eval-interval",
        "0",
        "--gate-episodes",
        "0",
    )
    config = json.loads((run / "config.json").read_text())
    assert config["ppo"]["residual"] == 2
    tuned = np.array(config["heuristic_params"]["catalogue_actions"]["tuned"])
    policies = load_policies(run)
    store = policies["store_1"]
    assert isinstance(store, ResidualPolicy)
    np.testing.assert_array_equal(store.reference, tuned[0])
    obs = np.random.default_rng(0).uniform(0, 2, (3, 50, 21)).astype(np.float32)
    acts = store(obs)
    assert (np.abs(acts - tuned[0]) <= 2).all()
    other = catalogue(40)  # tuned there, then the same module acts
    df = evaluate_catalogue(other, store_policies(other, load_policies(run, other)), 2)
    assert np.isfinite(df["total_cost"]).all()
