"""Fixtures shared across test files, and the ``slow`` marker's one rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import tiny_run

#: modules whose every test trains with RLlib (or runs a library that does)
SLOW_MODULES = {
    "test_phase1",
    "test_curriculum",
    "test_integrations",
    "test_snippets",
    "test_batched_runner",  # builds RLlib's modules and env runners
    "test_catalogue_learning",
    "test_family_learning",
}
#: fixtures that train with RLlib or start Ray
SLOW_FIXTURES = {"run", "pipeline", "ray_local", "central_runs", "central_pipeline"}


def pytest_collection_modifyitems(config, items) -> None:
    """Mark as ``slow`` every test that trains with RLlib or starts Ray, so
    ``pytest -m 'not slow'`` runs the rest in about a minute (CI runs all)."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module in SLOW_MODULES or SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> Path:
    """A phase-1 run on a tiny budget, trained once per test session."""
    return tiny_run(tmp_path_factory.mktemp("runs"))
