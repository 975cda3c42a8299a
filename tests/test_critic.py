"""The centralised critic: what it sees, what it leaves to the actor, and that
a central-critic run trains, checkpoints, loads, restores and resumes like
every other. How much it helps is measured by benchmarks/critic_comparison.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import TINY, only_run, phase1, refused, script

torch = pytest.importorskip("torch")
pytest.importorskip("ray.rllib")

from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModuleSpec  # noqa: E402

import hmarl_env  # noqa: E402
from experiments.critic import (  # noqa: E402
    OWN,
    STATE,
    CentralCriticModule,
    CentralStateEnv,
    paired_space,
)


def _episode(scenario: str, seed: int, steps: int):
    """(paired observations, plain observations, plain env's state) per step of
    a central env and a plain env driven by the same seed and actions."""
    central = CentralStateEnv(hmarl_env.parallel_env(scenario))
    plain = hmarl_env.parallel_env(scenario)
    paired, _ = central.reset(seed=seed)
    obs, _ = plain.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [(paired, obs, plain.state())]
    for _ in range(steps):
        actions = {a: int(rng.integers(plain.action_space(a).n)) for a in plain.agents}
        paired, *_ = central.step(actions)
        obs, *_ = plain.step(actions)
        out.append((paired, obs, plain.state()))
    return central, out


@pytest.mark.parametrize("scenario", ["hierarchy", "four_stores", "serial"])
def test_every_observation_is_paired_with_the_global_state(scenario):
    central, steps = _episode(scenario, seed=7, steps=12)
    for paired, obs, state in steps:
        assert set(paired) == set(obs)
        for agent, o in obs.items():
            np.testing.assert_array_equal(paired[agent][OWN], o)
            np.testing.assert_array_equal(paired[agent][STATE], state)
            assert central.observation_space[agent].contains(paired[agent])
    assert steps[-1][2][-1] > steps[0][2][-1]  # the state moves with time


def _module(agent: str = "store_1", inference_only: bool = False, scenario="default"):
    env = CentralStateEnv(hmarl_env.parallel_env(scenario))
    return RLModuleSpec(
        module_class=CentralCriticModule,
        observation_space=env.observation_space[agent],
        action_space=env.action_space[agent],
        model_config={"hiddens": [16, 16], "activation": "tanh"},
        inference_only=inference_only,
    ).build()


def _batch(steps, agents):
    """Observations of ``agents`` at every step as a torch batch."""
    own = np.stack([p[a][OWN] for p, _, _ in steps for a in agents])
    state = np.stack([p[a][STATE] for p, _, _ in steps for a in agents])
    return {Columns.OBS: {OWN: torch.as_tensor(own), STATE: torch.as_tensor(state)}}


def test_the_critic_reads_the_global_state_and_the_own_observation():
    _, steps = _episode("default", seed=3, steps=8)
    stores = ["store_1", "store_2"]
    batch = _batch(steps, stores)
    module = _module()
    x = module.critic_input(batch).numpy()
    n_state = steps[0][2].shape[0]
    assert x.shape == (len(steps) * 2, n_state + steps[0][1]["store_1"].shape[0])
    for k, (_, obs, state) in enumerate(steps):
        for j, agent in enumerate(stores):
            np.testing.assert_array_equal(x[2 * k + j, :n_state], state)
            np.testing.assert_array_equal(x[2 * k + j, n_state:], obs[agent])
    with torch.no_grad():
        values = module.compute_values(batch)
        assert values.shape == (len(steps) * 2,)
        moved = {
            Columns.OBS: {
                OWN: batch[Columns.OBS][OWN],
                STATE: batch[Columns.OBS][STATE] + 1.0,
            }
        }
        assert not torch.allclose(module.compute_values(moved), values)
        # the actor sees only the own observation: the state changes nothing,
        # and the own observation alone (how a checkpoint acts) gives the same
        logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
        same = module.forward_inference(moved)[Columns.ACTION_DIST_INPUTS]
        alone = module.forward_inference({Columns.OBS: batch[Columns.OBS][OWN]})
        torch.testing.assert_close(same, logits, rtol=0, atol=0)
        torch.testing.assert_close(
            alone[Columns.ACTION_DIST_INPUTS], logits, rtol=0, atol=0
        )


def test_env_runners_get_the_actor_alone():
    full = _module()
    acting = _module(inference_only=True)
    names = {n for n, _ in acting.named_parameters()}
    assert names and all(n.startswith("pi.") for n in names)
    assert any(n.startswith("vf.") for n, _ in full.named_parameters())
    state = full.get_state(inference_only=True)
    assert set(state) == names
    acting.set_state(full.get_state())  # what RLlib syncs to runners
    for name, p in acting.named_parameters():
        np.testing.assert_array_equal(p.detach().numpy(), state[name])


def test_a_central_critic_needs_paired_observations():
    env = hmarl_env.parallel_env("default")
    with pytest.raises(ValueError, match="central critic needs observations"):
        RLModuleSpec(
            module_class=CentralCriticModule,
            observation_space=env.observation_space("store_1"),
            action_space=env.action_space("store_1"),
            model_config={"hiddens": [8]},
        ).build()
    space = paired_space(env.observation_space("store_1"), env.state_space)
    with pytest.raises(ValueError, match="activation must be one of"):
        RLModuleSpec(
            module_class=CentralCriticModule,
            observation_space=space,
            action_space=env.action_space("store_1"),
            model_config={"hiddens": [8], "activation": "sigmoidish"},
        ).build()


def test_bad_critic_settings_are_refused(capsys):
    from analysis.runs.settings import PPOSettings

    with pytest.raises(ValueError, match=r"critic must be one of \['local', 'central'"):
        PPOSettings(critic="global")
    with pytest.raises(ValueError, match="cannot share layers"):
        PPOSettings(critic="central", vf_share_layers=True)
    proc = refused("phase1", "--critic", "global")
    assert proc.returncode == 2
    assert "--critic: must be one of local, central, got 'global'" in proc.stderr


# ------------------------------------------------------------ with RLlib
@pytest.fixture(scope="module")
def central_runs(tmp_path_factory):
    """The pipeline with a central critic on hierarchy (system rewards):
    phase 1 for two iterations, every phase after it (one training serves
    every test below, CI time)."""
    out = tmp_path_factory.mktemp("central")
    tiny = [*TINY, "--eval-interval", "1", "--checkpoint-interval", "1"]
    script(
        "pipeline", "--scenario", "hierarchy", "--critic", "central",
        "--timesteps", "400", "--compare-episodes", "4", "--force",
        "--output", str(out), *tiny, timeout=900,
    )  # fmt: skip
    folder = only_run(out)
    phases = ("phase1", "phase2", "phase3", "phase4")
    runs = {p: next(folder.glob(f"*__{p}__*")) for p in phases}
    return {"out": folder, "pipeline": folder, **runs}


def test_a_central_run_records_its_critic_and_diagnostics(central_runs):
    import csv

    run = central_runs["phase1"]
    config = json.loads((run / "config.json").read_text())
    assert config["ppo"]["critic"] == "central"
    assert config["scenario"]["rewards"]["mode"] == "system"
    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    assert all(np.isfinite(float(r["store_vf_explained_var"])) for r in rows)
    assert all(float(r["store_vf_loss_unclipped"]) > 0 for r in rows)


def test_the_next_phase_keeps_the_critic_and_restores_it_exactly(central_runs):
    from experiments.curriculum import saved_weights

    config = json.loads((central_runs["phase2"] / "config.json").read_text())
    assert config["ppo"]["critic"] == "central"  # taken from the run it loads
    before = saved_weights(central_runs["phase1"], "store")
    after = saved_weights(central_runs["phase2"], "store")
    assert any(k.startswith("vf.") for k in before)  # the critic is in the check
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # frozen
    trained = saved_weights(central_runs["phase2"], "warehouse")
    assert any(k.startswith("vf.") for k in trained)


def test_a_phase_cannot_change_the_critic_of_the_modules_it_loads(central_runs):
    proc = refused(
        "phase2", "--critic", "local", "--timesteps", "200",
        "--output", str(central_runs["out"]), *TINY,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "built with critic='central'" in proc.stderr
    assert "asks for critic='local'" in proc.stderr


def test_a_central_run_resumes(central_runs):
    run = central_runs["phase1"]
    done = phase1("--resume", str(run), "--timesteps", "600", timeout=300)
    assert "at iteration 2" in done.stdout
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3]
    assert json.loads((run / "config.json").read_text())["ppo"]["critic"] == "central"


def test_the_pipeline_trains_every_phase_with_the_critic_it_names(central_runs):
    state = json.loads((central_runs["pipeline"] / "pipeline.json").read_text())
    assert state["finished"] and state["options"]["critic"] == "central"
    for phase in ("phase1", "phase2", "phase3", "phase4"):
        run = central_runs[phase]
        assert json.loads((run / "config.json").read_text())["ppo"]["critic"] == (
            "central"
        )
