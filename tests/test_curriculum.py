"""Curriculum phases 2-4 and the pipeline, on tiny budgets.

One pipeline runs per module: it stops at phase 1's failing gate (a store
trained for 400 env steps loses to the rule-based store), then resumes with
``--force`` through phase 4. Its runs serve the checks of the chain: what each
phase loaded, that frozen weights came through training bit for bit, that the
gate wrote its verdict.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis.runs.settings import Phase
from tests.helpers import TINY, refused, script

PHASES = ("phase1", "phase2", "phase3", "phase4")


def _weights(run: Path, module: str) -> dict[str, np.ndarray]:
    from experiments.curriculum import saved_weights

    return saved_weights(run, module)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    args = [*TINY, "--timesteps", "400", "--compare-episodes", "20"]
    stopped = script("pipeline", *args, "--output", str(out), check=False)
    folder = next(out.iterdir())
    resumed = script("pipeline", "--resume", str(folder), "--force", timeout=600)
    runs = {p: next(folder.glob(f"*__{p}__*")) for p in PHASES}
    return {"stopped": stopped, "resumed": resumed, "folder": folder, "runs": runs}


def test_a_failed_gate_stops_the_pipeline_after_the_comparison(pipeline):
    stopped = pipeline["stopped"]
    assert stopped.returncode == 3, stopped.stderr[-2000:]
    assert "phase1's gate failed, so the pipeline stops before phase2" in stopped.stderr
    assert "--force" in stopped.stderr
    assert "compare   done" in stopped.stdout and "phase2    not run" in stopped.stdout


def test_resume_with_force_runs_every_phase_and_prints_a_summary(pipeline):
    out = pipeline["resumed"].stdout
    state = json.loads((pipeline["folder"] / "pipeline.json").read_text())
    assert state["finished"] is True
    assert list(state["steps"]) == ["validate", "phase1", "compare", *PHASES[1:]]
    assert state["options"]["train_batch_size"] == 200  # kept from the first start
    for phase in PHASES:
        assert state["steps"][phase]["timesteps"] == 400
        assert f"gate {phase}" in out
    assert "pipeline summary (default, seed 0)" in out
    assert "is finished" in out  # phase 1 is not trained again
    assert (
        pipeline["runs"]["phase1"] / "comparison" / "comparison_summary.json"
    ).is_file()


def test_each_phase_loads_the_previous_run(pipeline):
    runs = pipeline["runs"]
    loads = {"phase2": ["store"], "phase3": ["store", "warehouse"]}
    loads["phase4"] = ["store", "warehouse", "supplier"]
    for prev, phase in zip(PHASES, PHASES[1:], strict=False):
        config = json.loads((runs[phase] / "config.json").read_text())
        assert config["from"]["run"] == str(runs[prev].resolve())
        assert config["from"]["modules"] == loads[phase]
        assert config["scenario"]["name"] == "default"
    assert json.loads((runs["phase4"] / "config.json").read_text())["ppo"]["lr"] == 1e-4


def test_frozen_modules_come_out_bit_identical(pipeline):
    runs = pipeline["runs"]
    store = _weights(runs["phase1"], "store")
    assert _equal(_weights(runs["phase2"], "store"), store)
    assert _equal(_weights(runs["phase3"], "store"), store)
    warehouse = _weights(runs["phase2"], "warehouse")
    assert _equal(_weights(runs["phase3"], "warehouse"), warehouse)
    # the trained modules did change
    assert not _equal(_weights(runs["phase4"], "store"), store)
    assert not _equal(_weights(runs["phase4"], "warehouse"), warehouse)
    supplier = _weights(runs["phase3"], "supplier")
    assert not _equal(_weights(runs["phase4"], "supplier"), supplier)


def test_every_phase_writes_its_gate_verdict(pipeline):
    runs = pipeline["runs"]
    roles = {
        "phase1": ["store"],
        "phase2": ["warehouse"],
        "phase3": ["supplier"],
        "phase4": ["store", "warehouse", "supplier"],
    }
    for phase, run in runs.items():
        verdict = json.loads((run / "gate.json").read_text())
        assert list(verdict["roles"]) == roles[phase]
        for entry in verdict["roles"].values():
            gate = entry[entry["against"]]
            lo, hi = gate["difference_ci95"]
            assert lo <= gate["difference"] <= hi
            assert entry["role_passed"] == (lo > 0)
            c = gate["system_cost"]["difference_ci95"]
            assert entry["system_passed"] == (c[0] <= 0)
            assert entry["passed"] == (entry["role_passed"] and entry["system_passed"])
            assert gate["episodes"] == 20
        assert verdict["passed"] == all(e["passed"] for e in verdict["roles"].values())


def test_the_gate_compares_with_the_heuristic_it_replaces(pipeline):
    """Recompute phase 2's verdict by hand from the evaluator."""
    from analysis.gate import gate_run
    from analysis.runs.loading import load_policies
    from baselines.evaluate import evaluate
    from baselines.policies import make_policies
    from hmarl_env import get_scenario

    run = pipeline["runs"]["phase2"]
    verdict = gate_run(run, episodes=6, write=False)
    sc = get_scenario("default")
    learned = load_policies(run)
    swapped = {**learned, "warehouse_1": make_policies(sc, "tuned")["warehouse_1"]}
    mine = evaluate(sc, learned, 6, seed=1_000_000)
    theirs = evaluate(sc, swapped, 6, seed=1_000_000)

    def wh(df):
        return df[df["agent"] == "warehouse_1"]["episode_reward"].to_numpy()

    gate = verdict["roles"]["warehouse"]["tuned"]
    assert gate["ppo"] == pytest.approx(wh(mine).mean())
    assert gate["baseline"] == pytest.approx(wh(theirs).mean())


# ------------------------------------------------------------ phase scripts
def test_phase2_defaults_to_the_newest_finished_phase1_run(run, tmp_path):
    """... and restores it into a remote env runner (one training for both,
    CI time)."""
    shutil.copytree(run, tmp_path / run.name)
    unfinished = tmp_path / "default__phase1__0__29990101-000000"  # newer, unfinished
    unfinished.mkdir()
    shutil.copy(run / "config.json", unfinished / "config.json")
    proc = script(
        "phase2", *TINY, "--timesteps", "200", "--num-env-runners", "1",
        "--output", str(tmp_path),
    )  # fmt: skip
    assert f"loading ['store'] from {tmp_path / run.name}" in proc.stdout
    phase2 = next(tmp_path.glob("*__phase2__*"))
    assert _equal(_weights(phase2, "store"), _weights(run, "store"))


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "no finished phase1 run"),
        ("missing", "is not an hmarl run folder"),
        ("wrong_phase", "is a phase1 run; phase3 starts from a phase2 run"),
        ("scenario", "but the run was trained on"),
    ],
)
def test_a_missing_or_incompatible_previous_run_is_a_clear_error(
    run, tmp_path, case, message
):
    name, args = "phase2", ["--output", str(tmp_path)]
    if case == "missing":
        args += ["--from", str(tmp_path / "nowhere")]
    elif case == "wrong_phase":
        name, args = "phase3", args + ["--from", str(run)]
    elif case == "scenario":
        args += ["--from", str(run), "--scenario", "four_stores"]
    proc = refused(name, *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_phase_definitions_are_checked():
    with pytest.raises(ValueError, match="random weights"):
        Phase("p", train=("warehouse",), frozen=("store",), source="phase1")
    with pytest.raises(ValueError, match="no source"):
        Phase("p", train=("store",), load=("store",))
    with pytest.raises(ValueError, match="both train and frozen"):
        Phase("p", train=("store",), frozen=("store",), load=("store",), source="x")


# ------------------------------------------------------- restoring modules
@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(
        address="local",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    yield
    ray.shutdown()


def _algo(**ppo):
    from analysis.runs.settings import PPOSettings, RunnerSettings
    from experiments import phase2
    from experiments.common import build_config
    from hmarl_env import get_scenario

    settings = PPOSettings(
        train_batch_size=200, minibatch_size=100, num_epochs=1, **ppo
    )
    in_driver = RunnerSettings(num_env_runners=0, num_envs_per_env_runner=1)
    config = build_config(get_scenario("default"), phase2.PHASE, settings, in_driver)
    return config.build_algo()


def test_restored_weights_equal_the_saved_ones_in_learner_and_runners(run, ray_local):
    from experiments.curriculum import learner_weights, restore_modules

    algo = _algo()
    try:
        saved = _weights(run, "store")
        assert not _equal(learner_weights(algo, "store"), saved)  # random at first
        restore_modules(algo, run, ["store"])
        assert _equal(learner_weights(algo, "store"), saved)
        acting = algo.env_runner.module["store"].get_state(inference_only=True)
        assert acting and all(np.array_equal(v, saved[k]) for k, v in acting.items())
        algo.train()  # the store is frozen in phase 2
        assert _equal(learner_weights(algo, "store"), saved)
    finally:
        algo.stop()


@pytest.mark.parametrize(
    "ppo, message",
    [
        ({"hiddens": (32, 32)}, "other shapes"),
        ({"vf_share_layers": True}, "missing from the checkpoint"),
        ({"critic": "central"}, "missing from the checkpoint"),
    ],
)
def test_a_module_of_another_architecture_is_refused(run, ray_local, ppo, message):
    from experiments.curriculum import restore_modules

    algo = _algo(**ppo)
    try:
        with pytest.raises(ValueError, match=message):
            restore_modules(algo, run, ["store"])
    finally:
        algo.stop()


def test_a_heuristic_module_cannot_be_loaded(run):
    from experiments.curriculum import saved_weights

    with pytest.raises(ValueError, match="did not learn it"):
        saved_weights(run, "warehouse")
    with pytest.raises(ValueError, match="has no module 'nobody'"):
        saved_weights(run, "nobody")


def test_a_pipeline_killed_in_a_phase_resumes_that_phase(pipeline, tmp_path):
    """A phase killed before its first checkpoint (no checkpoints/latest, no
    gate) is trained again from its source; finished phases are skipped."""
    folder = tmp_path / pipeline["folder"].name
    shutil.copytree(pipeline["folder"], folder)
    phase4 = next(folder.glob("*__phase4__*"))
    (phase4 / "checkpoints" / "latest").unlink()
    (phase4 / "gate.json").unlink()
    state = json.loads((folder / "pipeline.json").read_text())
    del state["steps"]["phase4"]
    (folder / "pipeline.json").write_text(json.dumps(state))
    proc = script("pipeline", "--resume", str(folder), "--force", timeout=600)
    assert proc.stdout.count("is finished") == 3  # phases 1-3
    assert "training ['store', 'warehouse', 'supplier']" in proc.stdout
    assert (phase4 / "checkpoints" / "latest").read_text().strip() == "final"
    assert (phase4 / "gate.json").is_file()
    assert json.loads((folder / "pipeline.json").read_text())["finished"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["--resume", "{tmp}", "--timesteps", "5"], "keeps the options it started"),
        (["--resume", "{tmp}"], "is not a pipeline folder"),
        (["--gate-episodes", "1"], "--gate-episodes must be at least 2"),
    ],
)
def test_pipeline_options_are_checked(tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    proc = refused("pipeline", *args)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr
