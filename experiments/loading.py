"""Learned policies out of RLlib, with the baselines' interface; no Ray cluster.

:func:`load_policies` turns a run folder or a checkpoint folder into a mapping
from agent to policy (observation batch -> action batch) that
:func:`baselines.evaluate.evaluate` and the PettingZoo env accept. Learned
modules act greedily (the most probable action); heuristic modules act with the
baselines policy the run used.

Layout of a run folder (written by :mod:`experiments.train`)::

    config.json            the resolved config (scenario, phase, PPO, seed, ...)
    checkpoints/latest     name of the newest complete checkpoint
    checkpoints/<name>/    Algorithm.save_to_path(); its modules are under
                           learner_group/learner/rl_module/<module id>/
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from baselines.policies import make_policies
from experiments.config import read_run_config
from hmarl_env import parallel_env
from hmarl_env.registry import module_id
from hmarl_env.scenario import get_scenario

__all__ = [
    "ACTING",
    "ModulePolicy",
    "assemble_policies",
    "complete_checkpoints",
    "find_checkpoint",
    "is_finished",
    "latest_name",
    "load_module",
    "load_policies",
]

MODULES_SUBDIR = Path("learner_group") / "learner" / "rl_module"


#: how a learned module acts (:class:`ModulePolicy`)
ACTING = ("greedy", "mean", "sampled")


class ModulePolicy:
    """A torch RLModule as a policy: observations ``(B, dim)`` -> actions.

    Args:
        module: the RLModule (its action distribution inputs are logits).
        role: the module ID.
        acting: ``"greedy"`` (the most probable action), ``"mean"`` (the
            policy's expected action index, rounded to the nearest action) or
            ``"sampled"`` (drawn from the policy's distribution with its own
            generator, seeded by ``seed``: the same seed and observations give
            the same actions, so comparisons on common random numbers still
            hold). ``"mean"`` is the deterministic policy for ordered, evenly
            spaced actions (order quantities ``0..K``): a PPO policy ends
            spread over neighbouring quantities, and its most probable one
            jumps between favoured neighbours where its mean moves smoothly
            (on Zipkin's lost-sales instances acting by the mean cut every
            learned store's gap to the optimum, by up to half; README,
            Against the optimum).
        seed: the sampling generator's seed.
    """

    def __init__(
        self, module: Any, role: str, acting: str = "greedy", seed: int = 0
    ) -> None:
        if acting not in ACTING:
            raise ValueError(f"acting must be one of {list(ACTING)}, got {acting!r}")
        self.module = module
        self.role = role
        self.acting = acting
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        import torch
        from ray.rllib.core.columns import Columns

        x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: x})
        logits = out[Columns.ACTION_DIST_INPUTS].cpu().numpy().astype(np.float64)
        if self.acting == "greedy":
            return logits.argmax(axis=-1).astype(np.int64)
        p = np.exp(logits - logits.max(axis=-1, keepdims=True))
        if self.acting == "mean":
            mean = (p @ np.arange(p.shape[1])) / p.sum(axis=-1)
            return np.rint(mean).astype(np.int64)
        cdf = np.cumsum(p, axis=-1)
        u = self._rng.random(len(cdf))[:, None] * cdf[:, -1:]
        return np.minimum((u >= cdf).sum(axis=-1), cdf.shape[1] - 1).astype(np.int64)

    def __repr__(self) -> str:
        return f"ModulePolicy(role={self.role!r}, acting={self.acting!r})"


FINAL = "final"


def latest_name(run: str | Path) -> str | None:
    """The checkpoint ``<run>/checkpoints/latest`` names, or None."""
    latest = Path(run) / "checkpoints" / "latest"
    return latest.read_text().strip() if latest.is_file() else None


def is_finished(run: str | Path) -> bool:
    """Whether a run reached its budget: its latest checkpoint is a final one
    (``final``, or ``final-<iteration>`` when a finished run trained on)."""
    name = latest_name(run)
    return name is not None and (name == FINAL or name.startswith(FINAL + "-"))


def complete_checkpoints(run: str | Path) -> list[Path]:
    """A run's complete checkpoints, newest first (finals, then by iteration)."""

    def order(p: Path) -> tuple[int, int]:
        digits = p.name.rsplit("-", 1)[-1].rsplit("_", 1)[-1]
        number = int(digits) if digits.isdigit() else 0
        return (p.name.startswith(FINAL), number)

    root = Path(run) / "checkpoints"
    found = [
        p
        for p in (root.iterdir() if root.is_dir() else [])
        if p.is_dir() and not p.name.startswith(".") and (p / MODULES_SUBDIR).is_dir()
    ]
    return sorted(found, key=order, reverse=True)


def find_checkpoint(path: str | Path) -> tuple[Path, Path | None]:
    """(checkpoint folder, run folder or None) for a run folder or a checkpoint.

    A run folder resolves to its newest complete checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"checkpoint path {str(path)!r} does not exist")
    if (path / "config.json").is_file():  # a run folder
        latest = path / "checkpoints" / "latest"
        if not latest.is_file():
            raise ValueError(
                f"run {str(path)!r} has no complete checkpoint yet "
                "(checkpoints/latest is missing)"
            )
        ckpt = path / "checkpoints" / latest.read_text().strip()
        run = path
    else:
        ckpt = path
        parent = path.parent.parent
        run = parent if (parent / "config.json").is_file() else None
    if not (ckpt / MODULES_SUBDIR).is_dir():
        raise ValueError(
            f"{str(ckpt)!r} is not a complete RLlib checkpoint: no {MODULES_SUBDIR}/ "
            "inside (interrupted while saving, or not a checkpoint)"
        )
    return ckpt, run


def load_module(checkpoint: str | Path, module_id: str):
    """One RLModule from a checkpoint, with a clear error if it is not there."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    ckpt, _ = find_checkpoint(checkpoint)
    path = ckpt / MODULES_SUBDIR / module_id
    if not path.is_dir():
        have = sorted(p.name for p in (ckpt / MODULES_SUBDIR).iterdir() if p.is_dir())
        raise ValueError(
            f"checkpoint {str(ckpt)!r} has no module {module_id!r}; it has {have}"
        )
    try:
        return RLModule.from_checkpoint(str(path.resolve()))  # pyarrow wants absolute
    except Exception as exc:  # pickle, torch and RLlib errors alike
        raise ValueError(
            f"module {module_id!r} in {str(ckpt)!r} could not be loaded "
            f"(corrupt checkpoint?): {type(exc).__name__}: {exc}"
        ) from None


def load_policies(
    path: str | Path, scenario: Any = None, acting: str = "greedy", seed: int = 0
) -> dict[str, Any]:
    """Every agent's policy from a run folder or a checkpoint of one.

    Args:
        path: a run folder (its newest checkpoint) or a checkpoint folder inside
            a run's ``checkpoints/``.
        scenario: optionally the scenario to act in; it must have the run's
            agents and spaces (checked), else the run's own scenario is used.
        acting: how learned modules act, ``"greedy"``, ``"mean"`` or
            ``"sampled"`` (:class:`ModulePolicy`).
        seed: the sampling generator's seed (``"sampled"`` only).
    """
    ckpt, run = find_checkpoint(path)
    if run is None:
        raise ValueError(
            f"checkpoint {str(ckpt)!r} is not inside a run folder, so its "
            "scenario and heuristics are unknown"
        )
    config = read_run_config(run)
    scenario = config.scenario if scenario is None else get_scenario(scenario)
    check_spaces(config.scenario, scenario, config.store_observation)
    return assemble_policies(
        scenario,
        learned=set(config.learned),
        heuristic=config.phase.heuristic,
        module=lambda mid: load_module(ckpt, mid),
        heuristic_params=config.heuristic_params,
        store_observation=config.store_observation,
        acting=acting,
        seed=seed,
    )


def assemble_policies(
    scenario: Any,
    learned: set[str],
    heuristic: Mapping[str, str],
    module: Any,
    heuristic_params: Any = None,
    store_observation: str = "pipeline",
    acting: str = "greedy",
    seed: int = 0,
) -> dict[str, Any]:
    """Agent -> policy: a :class:`ModulePolicy` over ``module(mid)`` for learned
    module IDs (one per module, shared by its agents, acting as ``acting``
    says), else the baselines set ``heuristic[mid]`` (tuned by default)."""
    env = parallel_env(scenario, store_observation=store_observation)
    modules: dict[str, ModulePolicy] = {}
    rules: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for agent in env.possible_agents:
        mid = module_id(agent)
        if mid in learned:
            if mid not in modules:
                modules[mid] = ModulePolicy(module(mid), mid, acting, seed)
            out[agent] = modules[mid]
        else:
            kind = heuristic.get(mid, "tuned")
            if kind not in rules:
                rules[kind] = make_policies(
                    scenario, kind, heuristic_params, store_observation
                )
            out[agent] = rules[kind][agent]
    return out


def check_spaces(run_scenario: Any, scenario: Any, store_observation: str) -> None:
    """Refuse a scenario whose agents or observation shapes differ from the run's."""
    a = parallel_env(run_scenario, store_observation=store_observation)
    b = parallel_env(scenario, store_observation=store_observation)
    if a.possible_agents != b.possible_agents:
        raise ValueError(
            f"scenario {scenario.name!r} has agents {b.possible_agents}, but "
            f"the run was trained on {a.possible_agents}"
        )
    for agent in a.possible_agents:
        sa, sb = a.observation_space(agent).shape, b.observation_space(agent).shape
        if sa != sb or a.action_space(agent) != b.action_space(agent):
            raise ValueError(
                f"scenario {scenario.name!r} does not match the run's spaces: {agent} "
                f"observes {sb} and acts in {b.action_space(agent)}, the run had {sa} "
                f"and {a.action_space(agent)}"
            )
