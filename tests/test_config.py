"""A run's configuration as a typed record: round trips, old folders, errors."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields, replace
from pathlib import Path

import pytest

from analysis.runs import record
from analysis.runs.record import RunConfig, read_run_config
from analysis.runs.settings import PHASES
from baselines.tuned import load_tuned
from hmarl_env.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
REFERENCES = sorted((ROOT / "results" / "reference").glob("*/*__phase*"))
REFERENCES += sorted((ROOT / "results" / "reference").glob("*__phase1__*"))


@pytest.mark.parametrize("folder", REFERENCES, ids=lambda p: p.name)
def test_a_committed_run_reads_and_writes_back_unchanged(folder):
    data = json.loads((folder / "config.json").read_text())
    config = read_run_config(folder)
    assert isinstance(config, RunConfig)
    # the phase's row as it is now, but for the default budget, which grew
    # with the batched runner's preset: a run keeps the budget it recorded
    row = PHASES[config.phase.name]
    assert replace(config.phase, timesteps=row.timesteps) == row
    out = json.loads(json.dumps(config.to_dict()))
    # what the folder records comes back as it was; fields added since (the
    # phase's default budget and PPO changes, the scenario's reward mode) come
    # back with the values those runs had (every committed run: a local critic)
    assert {k: out["phase"][k] for k in data["phase"]} == data["phase"]
    assert {k: out["ppo"][k] for k in data["ppo"]} == data["ppo"]
    assert out["ppo"]["critic"] == "local"
    assert scenario_from_dict(out["scenario"]) == scenario_from_dict(data["scenario"])
    assert out["scenario"]["rewards"]["mode"] == "local" or "hierarchy" in folder.name
    # runner settings added since come back as those runs sampled and learned
    assert {k: out["runners"][k] for k in data["runners"]} == data["runners"]
    assert out["runners"]["env_runner"] == "pettingzoo"
    assert out["runners"]["num_learners"] == 0
    assert out["runners"]["num_gpus_per_learner"] == 0
    rest = set(data) - {"phase", "scenario", "ppo", "runners"}
    assert {k: out[k] for k in rest} == {k: data[k] for k in rest}


def _old_run(tmp_path: Path, **changes) -> Path:
    run = tmp_path / "old_run"
    run.mkdir()
    data = json.loads(
        (ROOT / "results/reference/default__phase1__0/config.json").read_text()
    )
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    (run / "config.json").write_text(json.dumps(data))
    return run


def test_a_run_made_before_options_were_recorded_reads_their_history(tmp_path):
    run = _old_run(
        tmp_path,
        ppo_preset=None,
        eval=None,
        checkpoint_interval=None,
        gate_episodes=None,
        runners=None,
    )
    config = read_run_config(run)
    # every run before presets used the reference design's
    assert config.ppo_preset == "reference"
    defaults = {f.name: f.default for f in fields(RunConfig)}
    assert config.options == {k: defaults[k] for k in record.RUN_OPTIONS}


def test_unfrozen_tuned_parameters_get_the_command_that_freezes_them(tmp_path, capsys):
    run = _old_run(tmp_path)
    data = json.loads((run / "config.json").read_text())
    data["heuristic_params"] = None
    (run / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="hmarl freeze"):
        read_run_config(run)
    from experiments.cli import main

    assert main(["freeze", str(run)]) == 0
    config = read_run_config(run)
    assert config.heuristic_params == load_tuned(config.scenario)["params"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"phase": {"name": "phase1", "train": ["store"], "nonsense": 1}}, "nonsense"),
        ({"seed": "zero"}, "zero"),
        ({"ppo": {"learning_rate": 1.0}}, "unknown PPO settings"),
    ],
)
def test_a_bad_record_is_refused_with_the_file_named(tmp_path, change, message):
    run = _old_run(tmp_path, **change)
    with pytest.raises(ValueError, match=message) as exc:
        read_run_config(run)
    assert "config.json" in str(exc.value)


def test_each_phase_script_runs_its_row_of_the_table():
    from experiments import phase1, phase2, phase3, phase4

    for module in (phase1, phase2, phase3, phase4):
        assert module.PHASE is PHASES[module.__name__.rsplit(".", 1)[1]]


def test_a_copied_run_folder_loads_from_anywhere(tmp_path):
    src = ROOT / "results" / "reference" / "default__phase1__0"
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    assert read_run_config(dst) == read_run_config(src)
