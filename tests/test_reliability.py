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
    """The same seeded phase-1 command with HOME unset, with another numba
    cache and from another folder: bit-identical metrics (but wall-clock),
    with 0 env runners (experiments.seeding says why it once differed)."""
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
    starts = {
        "plain": (base, ROOT),
        "no_home_other_folder": (home_less, other),
        "numba_cache": ({**base, "NUMBA_CACHE_DIR": str(tmp_path / "nb")}, ROOT),
    }
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
