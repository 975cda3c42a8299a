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
def run(tmp_path) -> Path:
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
def test_case1_an_empty_module_state_is_refused(run):
    from analysis.runs.loading import load_policies

    _write_state(run, {})
    with pytest.raises(ValueError, match=r"module 'store'.*lacks .* parameters"):
        load_policies(run)


def test_case1_a_state_without_a_layer_is_refused(run):
    from analysis.runs.loading import load_policies

    state = _state(run)
    layer = sorted(k for k in state if k.endswith("weight"))[0]
    del state[layer]
    _write_state(run, state)
    with pytest.raises(ValueError, match=rf"lacks \['{layer}'\]"):
        load_policies(run)


def test_case1_nan_weights_are_refused(run):
    from analysis.runs.loading import load_policies

    state = _state(run)
    layer = sorted(k for k in state if k.endswith("weight"))[0]
    state[layer] = np.full_like(np.asarray(state[layer]), np.nan)
    _write_state(run, state)
    with pytest.raises(ValueError, match=rf"{layer}.*NaN or infinite"):
        load_policies(run)


def test_case1_a_weight_of_another_shape_is_refused(run):
    from analysis.runs.loading import load_policies

    state = _state(run)
    layer = sorted(k for k in state if k.endswith("weight"))[0]
    state[layer] = np.zeros((3, 3), dtype=np.float32)
    _write_state(run, state)
    with pytest.raises(ValueError, match=r"(?s)module .store.*size mismatch for .*weight"):
        load_policies(run)


def test_case1_swapped_module_folders_are_refused_before_acting(run):
    from analysis.runs.loading import load_policies

    modules = run / STORE.parent
    (modules / "store").rename(modules / "tmp")
    (modules / "warehouse").rename(modules / "store")
    (modules / "tmp").rename(modules / "warehouse")
    with pytest.raises(ValueError, match=r"module 'store'.*observes \(6,\).*\(8,\)"):
        load_policies(run)


def test_case1_the_whole_reference_run_still_loads(run):
    from analysis.runs.loading import load_policies

    assert load_policies(run)["store_1"].role == "store"


# --------------------------------- 6. checkpoints/latest is followed anywhere
@pytest.mark.parametrize("name", ["/etc", "../../other_run/checkpoints/final", ".."])
def test_case6_latest_names_only_a_checkpoint_of_its_own_run(run, name):
    from analysis.runs.folder import find_checkpoint
    from analysis.runs.loading import load_policies

    (run / "checkpoints" / "latest").write_text(name + "\n")
    with pytest.raises(ValueError, match="not a checkpoint inside"):
        find_checkpoint(run)
    with pytest.raises(ValueError, match="not a checkpoint inside"):
        load_policies(run)


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
