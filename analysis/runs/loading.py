"""Learned policies out of a run folder, with the baselines' interface; no Ray
cluster (RLlib's module classes and torch are imported when a module loads).

:func:`load_policies` turns a run folder or a checkpoint folder
(:mod:`analysis.runs.folder`) into a mapping from agent to policy
(observation batch -> action batch) that :func:`baselines.evaluate.evaluate`
and the PettingZoo env accept. Learned modules act greedily (the most
probable action) unless asked otherwise; heuristic modules act with the
baselines policy the run used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from analysis.runs.folder import MODULES_SUBDIR, find_checkpoint
from analysis.runs.record import read_run_config
from baselines.policies import make_policies
from hmarl_env import parallel_env
from hmarl_env.registry import module_id
from hmarl_env.scenario import get_scenario

__all__ = [
    "ACTING",
    "ModulePolicy",
    "assemble_policies",
    "check_spaces",
    "load_module",
    "load_policies",
    "quiet_ray_notices",
]


class _RayNotices(logging.Filter):
    """Drops two notices RLlib 2.60 logs that no caller can prevent: PPO on
    the new API stack (logged on every build, though that stack is the only
    one hmarl uses), and the deprecated ``RLModuleConfig`` (built by
    ``RLModule.__init__`` itself for every module)."""

    MESSAGES = (
        "You are running PPO on the new API stack!",
        "RLModule(config=[RLModuleConfig object])",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(m in text for m in self.MESSAGES)


_NOTICES = _RayNotices()


def quiet_ray_notices() -> None:
    """Install the filter of :class:`_RayNotices` on the loggers RLlib logs
    those notices with (once; other messages pass)."""
    for name in ("ray.rllib.algorithms.algorithm_config", "ray._common.deprecation"):
        logger = logging.getLogger(name)
        if _NOTICES not in logger.filters:
            logger.addFilter(_NOTICES)


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
            learned store's gap to the optimum, by up to half; docs/results.md).
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


def load_module(checkpoint: str | Path, module_id: str):
    """One RLModule from a checkpoint, with a clear error if it is not there."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    quiet_ray_notices()
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
