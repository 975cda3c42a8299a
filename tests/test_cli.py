"""``hmarl <command>``: one entry point, each command its module's main."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from experiments.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference" / "default__phase1__0"


def test_the_usage_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_a_module_with_a_main(command):
    module = importlib.import_module(COMMANDS[command][0])
    assert callable(getattr(module, "main", None)) or command in (
        "train",
        "freeze",
        "config",
    )


def test_an_unknown_command_or_a_missing_phase_is_refused(capsys):
    assert main(["nonsense"]) == 2
    assert "unknown command 'nonsense'" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "name the phase to train" in capsys.readouterr().err
    assert main(["train", "phase9"]) == 2


def test_config_prints_a_run_as_json(capsys):
    assert main(["config", str(REFERENCE)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["phase"]["name"] == "phase1" and "scenario" not in record
    assert main(["config", str(ROOT / "nowhere")]) == 2
    assert "not an hmarl run folder" in capsys.readouterr().err


def test_evaluate_runs_through_the_entry_point(capsys):
    assert main(["evaluate", "--policy", "rule_based", "--episodes", "2"]) == 0
    assert "policy 'rule_based'" in capsys.readouterr().out
    # the old name of the policy set is still accepted
    assert main(["evaluate", "--policy", "seed", "--episodes", "2"]) == 0
