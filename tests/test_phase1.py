"""Phase 1 on tiny budgets: outputs, heuristics, checkpoints, resume, clusters.

These start Ray (a few seconds each); budgets are a few hundred env steps.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT, TINY, only_run, phase1, refused, script


def test_writes_config_checkpoints_metrics_and_plots(run):
    config = json.loads((run / "config.json").read_text())
    assert config["phase"]["train"] == ["store"] and config["timesteps"] == 400
    assert config["ppo"]["vf_share_layers"] is False
    assert run.name.startswith("default__phase1__0__")
    assert (run / "checkpoints" / "latest").read_text().strip() == "final"
    assert not list((run / "checkpoints").glob(".*partial"))
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("iteration,timesteps") and len(rows) == 3  # 2 iterations
    metrics = json.loads((run / "training_metrics.json").read_text())
    for key in (
        "episode_rewards",
        "episode_service_levels",
        "episode_stockouts",
        "episode_holding_costs",
    ):
        assert len(metrics[key]) == 2
    assert (run / "training_plots.png").stat().st_size > 10_000
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))


def test_loaded_policies_act_and_heuristics_match_the_baselines(run):
    from analysis.runs.loading import ModulePolicy, load_policies
    from baselines.evaluate import evaluate
    from baselines.policies import SSWarehouse, make_policies
    from hmarl_env import get_scenario

    policies = load_policies(run)
    assert isinstance(policies["store_1"], ModulePolicy)
    assert policies["store_1"] is policies["store_2"]  # one shared policy
    tuned = make_policies(get_scenario("default"), "tuned")
    assert policies["warehouse_1"] == tuned["warehouse_1"]
    assert isinstance(policies["warehouse_1"], SSWarehouse)
    df = evaluate("default", policies, episodes=3)
    assert np.isfinite(df["episode_reward"]).all()


def test_heuristic_modules_act_exactly_as_the_baselines():
    from ray.rllib.core.columns import Columns

    from analysis.runs.settings import Phase
    from baselines.policies import make_policies
    from experiments.common import build_config
    from hmarl_env import get_scenario, parallel_env

    sc = get_scenario("default")
    config = build_config(sc, Phase("phase1", ("store",)))
    spec = config.rl_module_spec.rl_module_specs
    env = parallel_env(sc)
    baselines = make_policies(sc, "tuned")
    for module_id, agent in (("warehouse", "warehouse_1"), ("supplier", "supplier_1")):
        module = spec[module_id].build()
        space = env.observation_space(agent)
        space.seed(3)
        obs = np.stack([space.sample() for _ in range(200)])
        got = module.forward_exploration({Columns.OBS: obs})[Columns.ACTIONS]
        np.testing.assert_array_equal(got, baselines[agent](obs))
        assert module.get_state() == {}  # nothing to update
        with pytest.raises(NotImplementedError, match="cannot be trained"):
            module.forward_train({Columns.OBS: obs})


@pytest.mark.parametrize(
    "critic, env_runner",
    [("local", "batched"), ("local", "pettingzoo"), ("central", "batched")],
)
def test_loaded_checkpoint_acts_like_the_trained_module(tmp_path, critic, env_runner):
    import ray

    from analysis.runs.loading import ModulePolicy, load_policies
    from analysis.runs.settings import Phase, PPOSettings, RunnerSettings
    from experiments.common import build_config
    from experiments.run_folder import save_checkpoint
    from hmarl_env import get_scenario, parallel_env

    sc = get_scenario("default", horizon=20)
    rules = {"warehouse": "base_stock", "supplier": "base_stock"}  # no tuned file
    phase = Phase("phase1", ("store",), heuristic=rules)
    ppo = PPOSettings(
        train_batch_size=100, minibatch_size=50, num_epochs=1, critic=critic
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(
        json.dumps(
            {
                "phase": {
                    "name": "phase1",
                    "train": ["store"],
                    "frozen": [],
                    "heuristic": rules,
                },
                "scenario": sc.to_dict(),
                "store_observation": "pipeline",
                "seed": 0,
                "timesteps": 100,
                "ppo": {"critic": critic},
            }
        )
    )
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        in_driver = RunnerSettings(0, 1, env_runner)
        algo = build_config(sc, phase, ppo, in_driver).build_algo()
        algo.train()
        trained = ModulePolicy(algo.get_module("store"), "store")
        save_checkpoint(algo, run, "final")
        algo.stop()
    finally:
        ray.shutdown()
    loaded = load_policies(run)["store_1"]
    space = parallel_env(sc).observation_space("store_1")
    space.seed(0)
    obs = np.stack([space.sample() for _ in range(500)])
    np.testing.assert_array_equal(loaded(obs), trained(obs))


def test_a_gpu_learner_without_a_gpu_is_refused_before_anything_runs(tmp_path):
    proc = script(
        "phase1",
        *TINY,
        "--output",
        str(tmp_path),
        "--num-gpus-per-learner",
        "1",
        check=False,
    )
    assert proc.returncode != 0
    assert "--num-gpus-per-learner 1 with 1 learner(s) needs 1 GPUs" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_resume_continues_a_killed_run(tmp_path):
    out = tmp_path / "runs"
    args = [
        sys.executable,
        str(ROOT / "experiments" / "phase1.py"),
        "--timesteps",
        "2000",
        "--checkpoint-interval",
        "1",
        "--eval-interval",
        "0",
        "--output",
        str(out),
        *TINY,
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.time() + 240
        latest = None
        while time.time() < deadline:
            found = list(out.glob("*/checkpoints/latest")) if out.exists() else []
            if found and found[0].read_text().strip() >= "iter_000003":
                latest = found[0]
                break
            time.sleep(0.2)
        assert latest is not None, "no checkpoint appeared"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a crash, not a clean stop
        proc.wait()
    run = only_run(out)
    killed_at = int(
        (run / "checkpoints" / "latest").read_text().strip()[len("iter_") :]
    )
    done = phase1("--resume", str(run), timeout=300)
    assert f"at iteration {killed_at}" in done.stdout
    # the resumed run keeps its recorded options: a checkpoint every iteration
    config = json.loads((run / "config.json").read_text())
    assert config["checkpoint_interval"] == 1 and config["eval"]["episodes"] == 4
    for k in range(killed_at + 1, 10):
        assert (run / "checkpoints" / f"iter_{k:06d}").is_dir(), k
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    iterations = [int(r.split(",")[0]) for r in rows]
    assert iterations == list(range(1, len(iterations) + 1))
    assert iterations[-1] == 10  # 2,000 steps in batches of 200
    assert (run / "checkpoints" / "latest").read_text().strip() == "final"


def test_remote_env_runners_as_by_default(tmp_path):
    """A run as a user starts it: remote env runners, and on the way no notice
    of a deprecated call (hmarl's own are errors: helpers.script), none of
    the two RLlib notices hmarl filters (analysis.runs.loading) and not Ray's
    line about restartable runners (experiments.train)."""
    done = phase1(
        "--timesteps",
        "200",
        "--eval-interval",
        "0",
        "--output",
        str(tmp_path),
        *TINY,
        "--num-env-runners",  # after TINY, which samples in the driver
        "2",
    )
    assert (only_run(tmp_path) / "checkpoints" / "final").is_dir()
    printed = done.stdout + done.stderr
    assert "Deprecat" not in printed and "new API stack!" not in printed, printed
    assert "core_worker" not in printed, printed  # experiments.train filters it


def test_joins_a_local_cluster_through_address(tmp_path):
    """A cluster started with `ray start --head`, joined with --address.

    `--block` keeps the head in the foreground, so killing its process group
    stops this cluster alone (`ray stop` would stop every Ray on the machine).
    """
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = "6389"
    # the cluster and its client share a token, as Ray's token auth asks
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    head = subprocess.Popen(
        [
            ray_cli,
            "start",
            "--head",
            "--block",
            "--port",
            port,
            "--num-cpus",
            "2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **auth},
    )
    try:
        deadline = time.time() + 120
        for line in head.stdout:  # wait until the head is up
            if "Ray runtime started" in line or time.time() > deadline:
                break
        done = phase1(
            "--timesteps",
            "200",
            "--eval-interval",
            "0",
            "--address",
            f"127.0.0.1:{port}",
            "--output",
            str(tmp_path),
            *TINY,
            env=auth,
        )
        assert "done:" in done.stdout
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
        # forget the cluster as `ray stop` would, or a later ray.init() without
        # an address would try to join the dead one
        record = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if record.is_file() and record.read_text().strip().endswith(f":{port}"):
            record.unlink()
    assert (only_run(tmp_path) / "checkpoints" / "final").is_dir()


def test_clear_errors(tmp_path, run, capsys):
    from analysis.runs.loading import load_policies

    with pytest.raises(ValueError, match="does not exist"):
        load_policies(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="not a complete RLlib checkpoint"):
        load_policies(empty)
    # a corrupt checkpoint: the store module's weights truncated
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(run), str(broken)], check=True)
    module_dir = (
        broken / "checkpoints" / "final" / "learner_group" / "learner" / "rl_module"
    )
    for f in (module_dir / "store").rglob("*"):
        if f.is_file() and f.suffix in (".pt", ".pkl", ".msgpack"):
            f.write_bytes(f.read_bytes()[:20])
    with pytest.raises(ValueError, match="could not be loaded"):
        load_policies(broken)
    # the command's own errors, in this process (CI time: each start of a
    # process imports RLlib)
    from experiments.phase1 import main

    def refused(*argv: str) -> str:
        capsys.readouterr()
        assert main(list(argv)) == 2
        return capsys.readouterr().err

    assert "unknown scenario 'nope'" in refused(
        "--scenario", "nope", "--output", str(tmp_path)
    )
    assert "not an hmarl run folder" in refused("--resume", str(tmp_path / "missing"))
    out = tmp_path / "many"
    assert "needs as many CPUs" in refused(
        "--num-env-runners", "64", "--output", str(out)
    )
    assert not out.exists() or not any(out.iterdir())  # nothing written


class _FakeAlgo:
    """Writes a checkpoint's shape (its module folder) and counts iterations."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def save_to_path(self, path: str) -> None:
        from analysis.runs.folder import MODULES_SUBDIR

        (Path(path) / MODULES_SUBDIR / "store").mkdir(parents=True)
        (Path(path) / "iteration").write_text(str(self.iteration))


@pytest.mark.parametrize("final_exists", [False, True])
def test_a_kill_at_any_step_of_publishing_leaves_latest_complete(
    tmp_path, monkeypatch, final_exists
):
    """Inject a failure at each filesystem step of save_checkpoint in turn (a
    kill there); every time, latest names a complete checkpoint."""
    import experiments.run_folder as train
    from analysis.runs.folder import find_checkpoint, is_finished

    def prepare(run):
        train.save_checkpoint(_FakeAlgo(1), run, "iter_000001")
        if final_exists:  # a finished run that trains on saves final again
            train.save_checkpoint(_FakeAlgo(2), run, "final")

    k = 0
    while True:  # a kill at the k-th filesystem call, until none is left
        run = tmp_path / f"{final_exists}-{k}"
        run.mkdir()
        (run / "config.json").write_text("{}")
        prepare(run)
        calls = {"n": 0}

        def maybe_die(real, calls=calls, k=k):
            def wrapped(*a, **kw):
                if calls["n"] == k:
                    raise KeyboardInterrupt(f"killed at call {k}: {real.__name__}")
                calls["n"] += 1
                return real(*a, **kw)

            return wrapped

        algo = _FakeAlgo(3)
        monkeypatch.setattr(algo, "save_to_path", maybe_die(algo.save_to_path))
        for step in ("_remove", "_rename", "_point_latest"):
            monkeypatch.setattr(train, step, maybe_die(getattr(train, step)))
        killed = True
        try:
            train.save_checkpoint(algo, run, "final")
            killed = False
        except KeyboardInterrupt:
            pass
        finally:
            monkeypatch.undo()
        ckpt, _ = find_checkpoint(run)  # latest names a complete checkpoint
        if not killed:
            assert (ckpt / "iteration").read_text() == "3"
            break
        assert (ckpt / "iteration").read_text() in ("1", "2")
        assert is_finished(run) == final_exists
        # and publishing again works and moves latest on
        done = train.save_checkpoint(_FakeAlgo(3), run, "final")
        assert find_checkpoint(run)[0] == done and is_finished(run)
        assert (done / "iteration").read_text() == "3"
        k += 1
    assert k == 5  # remove, save, remove, rename, point latest


def test_resume_skips_a_damaged_latest_checkpoint(run, tmp_path):
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    final = copy / "checkpoints" / "final"
    for f in final.rglob("*.pkl"):
        f.write_bytes(f.read_bytes()[:20])  # truncated: unpickling fails
    done = phase1("--resume", str(copy), "--timesteps", "600", timeout=300)
    assert "skipped damaged checkpoint" in done.stderr and str(final) in done.stderr
    assert "from iter_000001 at iteration 1" in done.stdout
    rows = (copy / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3]
    from analysis.runs.folder import latest_name
    from analysis.runs.loading import load_policies

    # latest named iter_000002 when final was saved again: the damaged copy
    # was stale and is replaced by one that loads
    assert latest_name(copy) == "final"
    assert load_policies(copy)["store_1"] is not None


def test_killed_at_each_step_of_publishing_then_resumed(tmp_path, monkeypatch):
    """The real trainer, killed while publishing its second checkpoint, then
    resumed: latest loads and the iterations run on without a gap or a
    repeat. Killed inside RLlib's save (step 1) and at the last step (pointing
    latest, 4); every step in turn is the fake trainer's test above (CI time:
    each real kill is a training)."""
    import experiments.run_folder as train
    from analysis.runs.folder import find_checkpoint
    from analysis.runs.loading import load_policies
    from experiments import phase1 as script

    argv = ["--timesteps", "600", "--checkpoint-interval", "1", "--eval-interval"]
    argv += ["0", *TINY, "--gate-episodes", "0"]
    real = {s: getattr(train, s) for s in ("_remove", "_rename", "_point_latest")}
    real_save = train.save_checkpoint
    for k in (1, 4):  # of remove, save, remove, rename, point latest
        out = tmp_path / f"kill{k}"
        state = {"saves": 0, "n": 0}

        def dying(fn, state=state, k=k):
            def wrapped(*a, **kw):
                if state["saves"] == 2:  # publishing the second checkpoint
                    if state["n"] == k:
                        raise KeyboardInterrupt(f"killed at step {k}")
                    state["n"] += 1
                return fn(*a, **kw)

            return wrapped

        def save(algo, run_dir, name, state=state):
            state["saves"] += 1
            algo.save_to_path = dying(type(algo).save_to_path.__get__(algo))
            return real_save(algo, run_dir, name)

        monkeypatch.setattr(train, "save_checkpoint", save)
        for step, fn in real.items():
            monkeypatch.setattr(train, step, dying(fn))
        with pytest.raises(KeyboardInterrupt):
            script.main([*argv, "--output", str(out)])
        monkeypatch.undo()
        run = only_run(out)
        find_checkpoint(run)  # latest names a complete checkpoint
        assert script.main(["--resume", str(run)]) == 0
        rows = (run / "metrics.csv").read_text().splitlines()[1:]
        assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3], k
        assert load_policies(run)["store_1"] is not None


def test_phase1_trains_a_single_stage_instance_on_order_quantities(tmp_path, run):
    """The phase-1 machinery on Zipkin's instances: one store ordering whole
    units, the 'orders' observation, the gate against the order-up-to store."""
    from analysis.runs.loading import load_policies
    from analysis.runs.record import read_run_config
    from experiments.phase1 import main

    out = tmp_path / "single"
    argv = ["--scenario", "lost_sales_L1_p4", "--store-observation", "orders"]
    argv += ["--policy-head", "normal", "--lr-end", "1e-4", "--timesteps", "400"]
    assert main([*argv, "--output", str(out), *TINY]) == 0  # in this process
    folder = only_run(out)
    config = read_run_config(folder)
    assert config.store_observation == "orders"
    assert config.scenario.actions.store_max_order == 11
    assert config.ppo.policy_head == "normal" and config.ppo.lr_end == 1e-4
    with (folder / "metrics.csv").open() as fh:
        lrs = [float(r["store_lr"]) for r in csv.DictReader(fh)]
    # annealed over the 400 steps: 1e-3 at 0, 5.5e-4 at 200, 1e-4 at 400
    assert len(lrs) == 2 and lrs[1] < lrs[0] and lrs[1] <= 5.5e-4 + 1e-9
    gate = json.loads((folder / "gate.json").read_text())
    assert gate["roles"]["store"]["against"] == "rule_based"
    policies = load_policies(folder)
    assert set(policies) == {"store_1", "supplier_1"}
    obs = np.zeros((3, 4), dtype=np.float32)  # on hand, backlog, on order, 1 ahead
    actions = policies["store_1"](obs)
    assert actions.shape == (3,) and ((actions >= 0) & (actions <= 11)).all()
    assert policies["store_1"].module.pi.net.mlp[-1].out_features == 2
    # a comparison, its plots included, in the run's own observation layout
    from analysis.compare import main as compare

    assert compare(["--run", str(folder), "--episodes", "2", "--acting", "mean"]) == 0
    summary = json.loads(
        (folder / "comparison" / "comparison_summary.json").read_text()
    )
    assert summary["acting"] == "mean"
    assert (folder / "comparison" / "episode_trajectory.png").is_file()
    # a later phase keeps the layout of the run it starts from
    bad = refused(
        "phase2",
        "--from",
        str(run),
        "--store-observation",
        "orders",
        "--output",
        str(tmp_path / "p2"),
    )
    assert bad.returncode == 2
    assert "observes the 'pipeline' layout (store_observation)" in bad.stderr


def test_a_hybrid_store_trains_on_covers_and_the_lot_sizing_benchmark_finds_it(
    tmp_path, monkeypatch, capsys
):
    """Phase 1 on ``<instance>_cover`` (the store picks a cover, the planner
    sizes the lot): the run records the covers and acts greedily, and
    benchmarks/lot_sizing.py --runs judges it as the instance's hybrid store
    (no quantity run there: no learned column)."""
    import importlib.util

    from analysis.runs.loading import load_policies
    from analysis.runs.record import read_run_config
    from experiments.phase1 import main

    out = tmp_path / "hybrid"
    argv = ["--scenario", "backorder_L1_p9_K10_cover", "--store-observation"]
    argv += ["orders", "--acting", "greedy", "--timesteps", "200"]
    assert main([*argv, "--output", str(out), *TINY]) == 0
    folder = only_run(out)
    config = read_run_config(folder)
    assert config.scenario.actions.store_lot_cover[1] == 0.2
    assert config.ppo.acting == "greedy"
    n = config.scenario.actions.store_max_order + 1
    actions = load_policies(folder)["store_1"](np.zeros((3, 4), np.float32))
    assert ((actions >= 0) & (actions < n)).all()
    spec = importlib.util.spec_from_file_location(
        "lot_sizing", ROOT / "benchmarks" / "lot_sizing.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setenv("HMARL_RESULTS", str(tmp_path / "results"))
    args = ["--instances", "backorder_L1_p9_K10", "--episodes", "2"]
    args += ["--horizon", "30", "--train-episodes", "2", "--runs", str(out)]
    assert bench.main(args) == 0
    table = capsys.readouterr().out
    assert "| hybrid gap % |" in table and "learned gap %" not in table
    written = json.loads(
        (tmp_path / "results" / "benchmarks" / "lot_sizing.json").read_text()
    )
    (row,) = written["rows"]
    assert row["trained"]["hybrid"]["run"] == str(folder)
    assert row["trained"]["hybrid"]["acting"] == "greedy"
    assert set(row["gap_pct"]) >= {"best_ss", "hybrid"}


def test_a_serial_chain_trains_with_echelon_warehouses(tmp_path, monkeypatch):
    """--warehouse-observation echelon on a serial preset (orders by
    offsets): the run records the layout, the heuristic warehouse acts by
    echelon base-stock on it, loading gives every module its layout's
    shapes, and a later phase asking for another layout is refused."""
    from analysis.runs.loading import load_policies
    from analysis.runs.record import read_run_config
    from baselines.policies import EchelonWarehouse
    from experiments.phase1 import main

    monkeypatch.setenv("HMARL_RESULTS", str(tmp_path / "results"))
    out = tmp_path / "serial"
    argv = ["--scenario", "serial_N2", "--warehouse-observation", "echelon"]
    argv += ["--reward-mode", "system", "--timesteps", "200", "--acting", "mean"]
    argv += ["--gate-episodes", "4", "--eval-interval", "0"]
    # the supplier's tuned heuristic needs a tuned file: one episode of tuning
    from baselines.tune import main as tune

    grids = ["--grid", "store.cover_offset=0", "--grid", "store.safety_factor=1"]
    grids += ["--grid", "warehouse.s_days=3", "--grid", "warehouse.gap_days=1"]
    tuning = ["--scenario", "serial_N2", "--reward-mode", "system", "--episodes"]
    assert tune([*tuning, "2", "--held-out", "2", *grids]) == 0
    assert main([*argv, "--output", str(out), *TINY]) == 0  # in this process
    folder = only_run(out)
    config = read_run_config(folder)
    assert config.observations == {
        "store_observation": "orders",  # the default where orders are offsets
        "warehouse_observation": "echelon",
    }
    policies = load_policies(folder)
    assert isinstance(policies["warehouse_1"], EchelonWarehouse)
    # seven adjustments -3 .. 3 of the demand just served
    assert policies["store_1"].module.pi.net.mlp[-1].out_features == 7
    bad = refused(
        "phase2",
        "--from",
        str(folder),
        "--warehouse-observation",
        "local",
        "--output",
        str(tmp_path / "p2"),
    )
    assert bad.returncode == 2
    assert "observes the 'echelon' layout (warehouse_observation)" in bad.stderr


def test_the_warehouses_of_a_level_share_one_module(tmp_path):
    """With --warehouse-modules per_level the two regional warehouses of a
    three-level tree learn one module, as stores do: the run records the
    mapping, its checkpoint holds the level's module, and loading it gives
    both warehouses the same policy; a phase that loads them keeps it."""
    from analysis.runs.loading import load_policies
    from analysis.runs.record import read_run_config
    from analysis.runs.settings import PHASES, Phase
    from experiments.options import PhaseOptions
    from experiments.resolve import new_config
    from experiments.train import main_for

    chain = ROOT / "examples" / "three_level.toml"
    both = Phase("phase1", ("store", "warehouse"), heuristic={"supplier": "rule_based"})
    argv = ["--scenario", str(chain), "--warehouse-modules", "per_level"]
    argv += ["--timesteps", "200", *TINY, "--gate-episodes", "0"]
    argv += ["--eval-interval", "0", "--output", str(tmp_path)]
    assert main_for(both, "train stores and warehouses", argv) == 0
    run = only_run(tmp_path)
    config = read_run_config(run)
    assert config.phase.train == ("store", "warehouse", "warehouse_2")
    assert config.phase.modules == {"warehouse_3": "warehouse_2"}
    saved = {p.name for p in (run / "checkpoints" / "final").rglob("*") if p.is_dir()}
    assert {"warehouse", "warehouse_2"} <= saved and "warehouse_3" not in saved
    policies = load_policies(run)
    assert policies["warehouse_3"] is policies["warehouse_2"]
    assert policies["warehouse_1"] is not policies["warehouse_2"]
    phase3 = PhaseOptions(source=str(run), warehouse_modules="per_node")
    with pytest.raises(ValueError, match="maps them per_level"):
        new_config(phase3, replace(PHASES["phase3"], source="phase1"))
