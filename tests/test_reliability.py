"""What a run folder holds can be trusted: each case a careless or unlucky
user met, named after it (a test that failed before the fix)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference" / "default__phase1__0"
STORE = Path("checkpoints/final/learner_group/learner/rl_module/store")


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the committed phase-1 reference run."""
    dst = tmp_path / REFERENCE.name
    shutil.copytree(REFERENCE, dst)
    return dst


def _state(run: Path) -> dict:
    import ray.cloudpickle as pickle

    return pickle.loads((run / STORE / "module_state.pkl").read_bytes())


def _write_state(run: Path, state: dict) -> None:
    import ray.cloudpickle as pickle

    (run / STORE / "module_state.pkl").write_bytes(pickle.dumps(state))


# ------------------------------------------ 1. corrupted weights load silently
def test_case1_an_empty_module_state_is_refused(copy):
    from analysis.runs.loading import load_policies

    _write_state(copy, {})
    with pytest.raises(ValueError, match=r"module 'store'.*lacks .* parameters"):
        load_policies(copy)


def test_case1_a_state_without_a_layer_is_refused(copy):
    from analysis.runs.loading import load_policies

    state = _state(copy)
    layer = sorted(k for k in state if k.endswith("weight"))[0]
    del state[layer]
    _write_state(copy, state)
    with pytest.raises(ValueError, match=rf"lacks \['{layer}'\]"):
        load_policies(copy)


def test_case1_nan_weights_are_refused(copy):
    from analysis.runs.loading import load_policies

    state = _state(copy)
    layer = sorted(k for k in state if k.endswith("weight"))[0]
    state[layer] = np.full_like(np.asarray(state[layer]), np.nan)
    _write_state(copy, state)
    with pytest.raises(ValueError, match=rf"{layer}.*NaN or infinite"):
        load_policies(copy)


def test_case1_a_weight_of_another_shape_is_refused(copy):
    from analysis.runs.loading import load_policies

    state = _state(copy)
    layer = sorted(k for k in state if k.endswith("weight"))[0]
    state[layer] = np.zeros((3, 3), dtype=np.float32)
    _write_state(copy, state)
    with pytest.raises(
        ValueError, match=r"(?s)module .store.*size mismatch for .*weight"
    ):
        load_policies(copy)


def test_case1_swapped_module_folders_are_refused_before_acting(copy):
    from analysis.runs.loading import load_policies

    modules = copy / STORE.parent
    (modules / "store").rename(modules / "tmp")
    (modules / "warehouse").rename(modules / "store")
    (modules / "tmp").rename(modules / "warehouse")
    with pytest.raises(ValueError, match=r"module 'store'.*observes \(6,\).*\(8,\)"):
        load_policies(copy)


def test_case1_the_whole_reference_run_still_loads(copy):
    from analysis.runs.loading import load_policies

    assert load_policies(copy)["store_1"].role == "store"


# --------------------------------- 6. checkpoints/latest is followed anywhere
@pytest.mark.parametrize("name", ["/etc", "../../other_run/checkpoints/final", ".."])
def test_case6_latest_names_only_a_checkpoint_of_its_own_run(copy, name):
    from analysis.runs.folder import find_checkpoint
    from analysis.runs.loading import load_policies

    (copy / "checkpoints" / "latest").write_text(name + "\n")
    with pytest.raises(ValueError, match="not a checkpoint inside"):
        find_checkpoint(copy)
    with pytest.raises(ValueError, match="not a checkpoint inside"):
        load_policies(copy)


# ------------------------------------------ 8. simultaneous starts, one folder
def test_case8_simultaneous_starts_get_a_folder_each(tmp_path):
    from experiments.run_folder import new_run_folder

    made: list[Path] = []
    lock = threading.Lock()

    def start() -> None:
        folder = new_run_folder(tmp_path, "default__phase1__0")
        with lock:
            made.append(folder)

    threads = [threading.Thread(target=start) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == len(set(made)) == 24
    assert all(p.is_dir() and not any(p.iterdir()) for p in made)


def test_case8_the_reference_config_is_untouched_by_these_tests():
    json.loads((REFERENCE / "config.json").read_text())


# --------------------------------------- 2. two processes training one folder
def _phase1_options(**kw):
    from experiments.options import PhaseOptions

    return PhaseOptions(**kw)


def test_case2_a_resume_of_a_run_being_trained_is_refused(copy):
    from analysis.runs.settings import PHASES
    from experiments.run_folder import RunLock
    from experiments.train import run_phase

    before = (copy / "metrics.csv").read_text()
    with RunLock(copy):  # another process training into it
        with pytest.raises(ValueError, match=r"being trained by process \d+ on"):
            run_phase(PHASES["phase1"], _phase1_options(resume=str(copy)))
    assert (copy / "metrics.csv").read_text() == before


def test_case2_the_lock_is_freed_when_its_process_is_killed(copy):
    import os
    import signal
    import subprocess
    import sys

    from experiments.run_folder import RunLock

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from experiments.run_folder import RunLock; "
            f"lock = RunLock(Path({str(copy)!r})).__enter__(); "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=f"process {holder.pid} "):
            RunLock(copy).__enter__()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with RunLock(copy):  # the kernel freed it
        pass


# ------------------------------------------------ 3. resume that loses history
def test_case3_checkpoints_replaced_by_a_file_is_refused_and_nothing_changes(copy):
    from analysis.runs.settings import PHASES
    from experiments.train import run_phase

    before = (copy / "metrics.csv").read_text()
    shutil.rmtree(copy / "checkpoints")
    (copy / "checkpoints").write_text("not a folder")
    with pytest.raises(ValueError, match="is not a folder.*nothing was changed"):
        run_phase(PHASES["phase1"], _phase1_options(resume=str(copy)))
    assert (copy / "metrics.csv").read_text() == before


def test_case3_deleted_checkpoints_are_refused_instead_of_training_again(copy):
    from analysis.runs.settings import PHASES
    from experiments.train import run_phase

    before = (copy / "metrics.csv").read_text()
    rows = len(before.splitlines()) - 1
    shutil.rmtree(copy / "checkpoints")
    with pytest.raises(ValueError, match=rf"has {rows} iterations in metrics.csv"):
        run_phase(PHASES["phase1"], _phase1_options(resume=str(copy)))
    assert (copy / "metrics.csv").read_text() == before


# ------------------------------------ 5. a kill while the final plots are drawn
@pytest.mark.slow
def test_case5_a_resume_draws_the_plots_a_kill_interrupted(copy):
    from analysis.runs.settings import PHASES
    from experiments.train import run_phase

    (copy / "training_plots.png").unlink()
    stray = copy / ".training_plots.png.abc123.tmp"
    stray.write_bytes(b"")  # what the kill left
    run_phase(
        PHASES["phase1"],
        _phase1_options(resume=str(copy), num_env_runners=0, gate_episodes=0),
    )
    assert (copy / "training_plots.png").stat().st_size > 0
    assert not stray.exists()


# --------------------------------------------------- 9. comparisons that mislead
def test_case9_a_comparison_of_two_episodes_writes_valid_json(tmp_path):
    from analysis.compare import compare_runs, write_comparison

    result = compare_runs([REFERENCE], episodes=2)
    write_comparison(result, tmp_path)

    def refuse(name):
        raise AssertionError(f"{name} in the JSON")

    text = (tmp_path / "comparison_summary.json").read_text()
    json.loads(text, parse_constant=refuse)


def test_case9_the_same_run_twice_or_runs_of_other_phases_are_refused(tmp_path):
    from analysis.compare import compare_runs

    with pytest.raises(ValueError, match="given more than once"):
        compare_runs([REFERENCE, REFERENCE], episodes=2)
    phase2 = ROOT / "results/reference/default__pipeline__0/default__phase2__0"
    with pytest.raises(ValueError, match="must be of one phase"):
        compare_runs([REFERENCE, phase2], episodes=2)


# ------------------------------------------------------- 11. reproducibility
@pytest.mark.slow
def test_case11_a_seeded_run_is_the_same_whatever_environment_it_starts_in(tmp_path):
    """The same seeded phase-1 command, then again with HOME unset, another
    numba cache and from another folder (all at once: each start is a
    training, CI time): bit-identical metrics (but wall-clock), with 0 env
    runners (experiments.seeding says why it once differed)."""
    import csv
    import os
    import subprocess
    import sys

    args = ["--timesteps", "400", "--train-batch-size", "200", "--minibatch-size"]
    args += ["100", "--num-epochs", "1", "--num-env-runners", "0"]
    args += ["--num-envs-per-env-runner", "2", "--eval-interval", "0"]
    args += ["--gate-episodes", "0", "--seed", "3"]
    base = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    home_less = {k: v for k, v in base.items() if k != "HOME"}
    other = tmp_path / "elsewhere"
    other.mkdir()
    elsewhere = {**home_less, "NUMBA_CACHE_DIR": str(tmp_path / "nb")}
    starts = {"plain": (base, ROOT), "elsewhere": (elsewhere, other)}
    metrics = {}
    for name, (env, cwd) in starts.items():
        out = tmp_path / name
        subprocess.run(
            [sys.executable, str(ROOT / "experiments" / "phase1.py"), *args]
            + ["--output", str(out)],
            env=env,
            cwd=cwd,
            check=True,
            capture_output=True,
            timeout=300,
        )
        run = next(out.iterdir())
        with (run / "metrics.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        timing = ("seconds", "env_steps_per_s")
        metrics[name] = [{k: v for k, v in r.items() if k not in timing} for r in rows]
        assert json.loads((run / "config.json").read_text())["python_hash_seed"] == "0"
    first = metrics["plain"]
    assert len(first) == 2
    for name, rows in metrics.items():
        assert rows == first, name


# ------------------------------------------ 4. an address where nothing answers
def test_case4_an_address_where_nothing_answers_is_refused_within_seconds():
    import socket
    import time

    from experiments.train import CONNECT_TIMEOUT_S, start_ray

    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(
        ValueError, match=f"nothing answers at --address '127.0.0.1:{port}'"
    ):
        start_ray(f"127.0.0.1:{port}")
    assert time.perf_counter() - start < CONNECT_TIMEOUT_S + 2
    with pytest.raises(ValueError, match="is not host:port"):
        start_ray("somewhere")


# ----------------------------------------------- 7. numbers and files at the edge
def test_case7_a_lead_time_past_what_the_simulator_holds_is_refused():
    from dataclasses import replace

    from hmarl_env import get_scenario

    store = get_scenario("default").nodes[0]
    with pytest.raises(ValueError, match=r"lead_time must be at most 10,000.*GiB"):
        replace(store, lead_time=10**9)


def test_case7_a_full_disk_while_checkpointing_says_what_survived(tmp_path):
    from experiments.run_folder import save_checkpoint

    class Algo:
        iteration = 3

        def save_to_path(self, path):
            Path(path).mkdir(parents=True)
            (Path(path) / "half").write_bytes(b"x")
            raise OSError(28, "No space left on device")

    class Good(Algo):
        def save_to_path(self, path):
            from analysis.runs.folder import MODULES_SUBDIR

            (Path(path) / MODULES_SUBDIR / "store").mkdir(parents=True)

    save_checkpoint(Good(), tmp_path, "iter_000001")
    with pytest.raises(
        ValueError, match=r"No space left on device.*still 'iter_000001'"
    ):
        save_checkpoint(Algo(), tmp_path, "iter_000003")
    left = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert left == ["iter_000001", "latest"]  # no .partial stays


def test_case7_a_file_where_tensorboard_goes_is_refused_before_anything(copy):
    from analysis.runs.settings import PHASES
    from experiments.train import run_phase

    shutil.rmtree(copy / "tensorboard", ignore_errors=True)
    (copy / "tensorboard").write_text("not a folder")
    options = _phase1_options(resume=str(copy), timesteps=10**6)
    with pytest.raises(ValueError, match="tensorboard is not a folder"):
        run_phase(PHASES["phase1"], options)


SCENARIO = 'extends = "default"\nhorizon = 30\n'


@pytest.mark.parametrize(
    "encoding, ok",
    [("utf-8-sig", True), ("utf-16", False), ("latin-1", False)],
)
def test_case7_scenario_files_of_other_encodings(tmp_path, encoding, ok):
    from hmarl_env import get_scenario

    path = tmp_path / "chain.toml"
    text = SCENARIO + "# caf\u00e9 \u00e0 la cr\u00e8me\n"
    path.write_bytes(text.encode(encoding))
    if ok:  # a byte-order mark, as spreadsheet programs write
        assert get_scenario(path).horizon == 30
    else:
        with pytest.raises(ValueError, match=rf"scenario file '{path}' is (not )?UTF"):
            get_scenario(path)


def test_case7_traces_with_a_bom_or_of_other_encodings_or_not_files(tmp_path):
    from hmarl_env.demand import read_trace_csv

    bom = tmp_path / "bom.csv"
    bom.write_bytes("store_1\n5\n7\n".encode("utf-8-sig"))
    assert read_trace_csv(bom, "store_1").values == (5.0, 7.0)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("store_1,caf\u00e9\n5,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=f"trace CSV '{latin}' is not UTF-8"):
        read_trace_csv(latin, "store_1")
    with pytest.raises(ValueError, match="is a folder, not a file"):
        read_trace_csv(tmp_path, "store_1")
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(ValueError, match="cannot be read: Too many levels"):
        read_trace_csv(loop, "store_1")


def test_case7_an_unknown_agent_and_bad_reset_options_are_named():
    import hmarl_env

    env = hmarl_env.parallel_env("default")
    with pytest.raises(KeyError, match="'store_9' is not an agent of this env"):
        env.observation_space("store_9")
    with pytest.raises(KeyError, match="'store_9' is not an agent"):
        env.action_space("store_9")
    with pytest.raises(ValueError, match="reset options must be a dict or None"):
        env.reset(seed=0, options=["reset_all"])


# ------------------------------------------------- 10. messages that do not help
def test_case10_the_tune_hint_names_the_scenario_file_given(tmp_path, capsys):
    from baselines.evaluate import main

    path = tmp_path / "mine.toml"
    path.write_text(SCENARIO)
    with pytest.raises(SystemExit) as exc:
        main(["--scenario", str(path), "--policy", "tuned", "--episodes", "2"])
    assert exc.value.code == 2
    assert f"hmarl tune --scenario {path}" in capsys.readouterr().err


def test_case10_a_refused_run_leaves_no_output_folder_behind(tmp_path, capsys):
    from analysis.runs.settings import PHASES
    from experiments.train import main_for

    out = tmp_path / "runs" / "new"
    assert (
        main_for(PHASES["phase1"], "x", ["--scenario", "nope", "--output", str(out)])
        == 2
    )
    assert "unknown scenario 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_case10_a_run_whose_checkpoints_all_fail_says_why(copy):
    from experiments.run_folder import restore_newest

    class Algo:
        def restore_from_path(self, path):
            raise EOFError("Ran out of input")

    with pytest.raises(
        ValueError, match=r"could be restored: final \(EOFError: Ran out"
    ):
        restore_newest(Algo(), copy)


def test_case10_an_instance_off_zipkins_table_is_solved_without_a_figure(
    tmp_path, monkeypatch, capsys
):
    import importlib.util

    monkeypatch.setenv("HMARL_RESULTS", str(tmp_path))
    spec = importlib.util.spec_from_file_location(
        "optimality_gap", ROOT / "benchmarks" / "optimality_gap.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = ["--instances", "1,9", "--episodes", "2", "--horizon", "50"]
    assert bench.main(args) == 0
    assert "| lost_sales_L1_p9 | - / - |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["--instances", "3"])
    assert "'3' is not L,p" in capsys.readouterr().err
