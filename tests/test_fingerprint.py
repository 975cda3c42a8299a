"""Behaviour is bit-identical to the recorded fingerprint (tests/fingerprint.py).

A change that is meant to alter what the env or the evaluator produce records
the new behaviour with ``python -m tests.fingerprint --write`` and says why in
its commit; a refactoring never does.
"""

from __future__ import annotations

import json

import pytest

from tests import fingerprint as fp

STORED = json.loads(fp.STORED.read_text())


@pytest.mark.parametrize(
    "key", sorted(k for k in STORED if not k.startswith("reference/"))
)
def test_env_and_evaluator_unchanged(key):
    kind, preset, variant = key.split("/")
    if kind == "env":
        now = fp.env_fingerprint(preset, variant)
    else:
        now = fp.evaluate_fingerprint(preset, variant)
    assert now == STORED[key], f"{key} differs from the recorded fingerprint"


def test_reference_run_evaluates_unchanged():
    pytest.importorskip("torch")
    assert fp.reference_fingerprint() == STORED["reference/phase1"]
