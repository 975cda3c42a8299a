"""Carrying modules from one curriculum phase to the next, checked exactly.

Phase 2 starts from a phase-1 run, phase 3 from a phase-2 run, phase 4 from a
phase-3 run (:attr:`analysis.runs.settings.Phase.source`). A phase restores only
the modules it names (``Phase.load``) from that run's checkpoint, never the
whole algorithm: a full restore would bring back the old run's set of trained
modules. RLlib loads module weights non-strictly (a module whose architecture
differs keeps random weights for what does not match), so every restore here
is checked: the checkpoint's and the new module's weights must have the same
names and shapes before loading, and the same values after, in the learner and
in every env runner.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from analysis.runs.folder import MODULES_SUBDIR, find_checkpoint, is_finished
from analysis.runs.record import read_run_config

__all__ = [
    "find_source_run",
    "learner_weights",
    "push_weights",
    "restore_modules",
    "saved_weights",
]

STATE_FILE = "module_state.pkl"


def find_source_run(root: str | Path, phase: str, scenario: str | None = None) -> Path:
    """The newest finished run of ``phase`` under ``root`` (of ``scenario`` if
    given). A run is finished when its latest checkpoint is ``final``."""
    root = Path(root)
    candidates = []
    if root.is_dir():
        for config_path in root.glob("*/config.json"):
            run = config_path.parent
            try:
                config = read_run_config(run)
            except ValueError:
                continue
            if config.phase.name != phase:
                continue
            if scenario is not None and config.scenario.name != scenario:
                continue
            if not is_finished(run):
                continue
            candidates.append((config.record.get("created", ""), run.name, run))
    if not candidates:
        of = f" of scenario {scenario!r}" if scenario else ""
        raise ValueError(
            f"no finished {phase} run{of} in {str(root)!r}: run "
            f"`python experiments/{phase}.py` first, or name one with --from RUN"
        )
    return max(candidates)[2]


def saved_weights(checkpoint: str | Path, module: str) -> dict[str, np.ndarray]:
    """A module's weights as its checkpoint holds them, by parameter name."""
    ckpt, _ = find_checkpoint(checkpoint)
    root = ckpt / MODULES_SUBDIR
    path = root / module / STATE_FILE
    if not path.is_file():
        have = sorted(p.name for p in root.iterdir() if (p / STATE_FILE).is_file())
        raise ValueError(
            f"checkpoint {str(ckpt)!r} has no module {module!r}; it has {have}"
        )
    try:
        with path.open("rb") as fh:
            state = pickle.load(fh)
    except Exception as exc:  # truncated or foreign pickle
        raise ValueError(
            f"module {module!r} in {str(ckpt)!r} could not be read (corrupt "
            f"checkpoint?): {type(exc).__name__}: {exc}"
        ) from None
    if not state:
        raise ValueError(
            f"module {module!r} in {str(ckpt)!r} has no weights: that run did not "
            "learn it (it followed a heuristic)"
        )
    return {k: np.asarray(v) for k, v in state.items()}


def learner_weights(algo: Any, module: str) -> dict[str, np.ndarray]:
    """The weights the learner trains (copies)."""
    state = algo.learner_group.get_state(components=f"learner/rl_module/{module}")
    return {k: np.array(v) for k, v in state["learner"]["rl_module"][module].items()}


def _runner_weights(algo: Any, module: str) -> list[dict[str, np.ndarray]]:
    """Every env runner's acting weights of ``module`` (value heads excluded:
    RLlib syncs runners inference-only)."""
    states = algo.env_runner_group.foreach_env_runner(
        lambda runner: runner.module[module].get_state(inference_only=True)
    )
    return [{k: np.asarray(v) for k, v in s.items()} for s in states]


def push_weights(algo: Any, modules: Iterable[str] | None = None) -> None:
    """Copy the learner's acting weights of ``modules`` (all by default) to every
    env runner, and wait until they have them.

    RLlib's own sync after a restore is fire-and-forget for remote env runners
    and can be dropped, leaving a runner to sample with the weights it was
    built with; this call is synchronous.
    """
    components = (
        "learner/rl_module"
        if modules is None
        else [f"learner/rl_module/{m}" for m in modules]
    )
    state = algo.learner_group.get_state(components=components, inference_only=True)
    weights = state["learner"]["rl_module"]
    algo.env_runner_group.foreach_env_runner(
        lambda runner: runner.set_state({"rl_module": weights})
    )


def _describe(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> str:
    missing = sorted(set(b) - set(a))
    extra = sorted(set(a) - set(b))
    shapes = sorted(k for k in set(a) & set(b) if a[k].shape != b[k].shape)
    parts = []
    if missing:
        parts.append(f"missing from the checkpoint: {missing}")
    if extra:
        parts.append(f"not in the new module: {extra}")
    if shapes:
        parts.append(
            "other shapes: "
            + ", ".join(f"{k} {a[k].shape} vs {b[k].shape}" for k in shapes)
        )
    return "; ".join(parts)


def restore_modules(algo: Any, checkpoint: str | Path, modules: Iterable[str]) -> None:
    """Load ``modules`` from ``checkpoint`` into ``algo``'s learner and env
    runners; raise ``ValueError`` unless every weight then equals the saved one."""
    ckpt, _ = find_checkpoint(checkpoint)
    for module in modules:
        saved = saved_weights(ckpt, module)
        current = learner_weights(algo, module)
        mismatch = _describe(saved, current)
        if mismatch:
            raise ValueError(
                f"module {module!r} of {str(ckpt)!r} does not fit this phase's "
                f"{module!r} module ({mismatch}); was it trained with other "
                "hidden sizes, activation, vf_share_layers, critic or policy "
                "head, or another scenario?"
            )
        algo.restore_from_path(
            str((ckpt / MODULES_SUBDIR / module).resolve()),
            component=f"learner_group/learner/rl_module/{module}",
        )
        push_weights(algo, [module])
        bad = [
            k
            for k, v in learner_weights(algo, module).items()
            if not np.array_equal(v, saved[k])
        ]
        for runner in _runner_weights(algo, module):
            bad += [k for k, v in runner.items() if not np.array_equal(v, saved[k])]
        if bad:
            raise ValueError(
                f"restoring module {module!r} from {str(ckpt)!r} left weights "
                f"that differ from the checkpoint: {sorted(set(bad))}"
            )
