"""Reptile over a family's instances, around RLlib's training iterations.

A run with ``--reptile INNER,STEP`` (:class:`analysis.runs.settings.Reptile`)
trains in tasks of ``INNER`` iterations. At a task's start every env runner
pins its replicas to the task's instance (drawn from the run's seed and the
task's number, so a resumed run draws the same tasks) and the trained
modules' weights are remembered; at its end each trained module's weights
move ``STEP`` of the way from the remembered ones to where the task's PPO
updates took them, and every env runner gets them before the next task.
The optimiser keeps its state across tasks (first-order Reptile with Adam,
as Nichol et al. ran it). Checkpoints fall between tasks
(:func:`experiments.resolve.new_config` makes the interval a multiple of
``INNER``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.runs.settings import Reptile
from experiments.curriculum import learner_weights, push_weights
from hmarl_env.scenario.family import Family

__all__ = ["ReptileTasks", "task_instance"]

#: keeps the tasks' draws apart from every other stream of the run's seed
_STREAM = 0x726570  # "rep"


def task_instance(family: Family, seed: int, task: int) -> Family:
    """The family pinned to task ``task``'s instance of a run seeded ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, task, _STREAM]))
    values = family.draw(int(rng.integers(2**31)))
    return family.at({k: values[k] for k in family.varied})


class ReptileTasks:
    """Reptile's outer loop around ``algo.train()`` (see the module).

    Args:
        reptile: the settings.
        family: the run's family.
        seed: the run's seed.
        modules: the module IDs the run trains.
    """

    def __init__(
        self, reptile: Reptile, family: Family, seed: int, modules: tuple[str, ...]
    ) -> None:
        self.reptile, self.family, self.seed = reptile, family, seed
        self.modules = tuple(modules)
        self._start: dict[str, dict[str, np.ndarray]] = {}

    def before(self, algo: Any, iteration: int) -> None:
        """Before iteration ``iteration`` (1-based): at a task's start, pin the
        runners to its instance and remember the weights."""
        if (iteration - 1) % self.reptile.inner:
            return
        task = (iteration - 1) // self.reptile.inner
        name = task_instance(self.family, self.seed, task).name
        algo.env_runner_group.foreach_env_runner(lambda r: r.pin_family(name))
        self._start = {m: learner_weights(algo, m) for m in self.modules}

    def after(self, algo: Any, iteration: int) -> None:
        """After iteration ``iteration``: at a task's end, Reptile's step."""
        if iteration % self.reptile.inner or not self._start:
            return
        step = self.reptile.step
        state = {}
        for m in self.modules:
            start, now = self._start[m], learner_weights(algo, m)
            state[m] = {k: start[k] + step * (now[k] - start[k]) for k in now}
        algo.learner_group.set_state({"learner": {"rl_module": state}})
        push_weights(algo, self.modules)
        self._start = {}
