"""Fixtures shared across test files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/helpers.py

from helpers import tiny_run  # noqa: E402


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> Path:
    """A phase-1 run on a tiny budget, trained once per test session."""
    return tiny_run(tmp_path_factory.mktemp("runs"))
