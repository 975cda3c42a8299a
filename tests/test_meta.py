"""Reptile over a family's instances (experiments/meta.py): its tasks, its
step on the weights (against a stand-in for RLlib's algorithm), a tiny run
that records it, and what it refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.runs.settings import Reptile
from experiments.meta import ReptileTasks, task_instance
from hmarl_env.scenario.family import LOST_SALES
from tests.helpers import TINY, refused

SMALL = [*TINY[:6], "--num-envs-per-env-runner", "4"]


def test_tasks_are_pinned_instances_drawn_from_the_seed_and_the_task():
    first = [task_instance(LOST_SALES, 0, t) for t in range(6)]
    assert [task_instance(LOST_SALES, 0, t) for t in range(6)] == first
    assert all(f.pin and f.name.startswith("lost_sales_family@") for f in first)
    assert len({f.name for f in first}) == 6
    assert task_instance(LOST_SALES, 1, 0) != first[0]
    for f in first:  # instances of the family, within its ranges
        LOST_SALES.values_of(f.sample(0))


class _Group:
    """What ReptileTasks uses of RLlib's learner group: module weights."""

    def __init__(self, weights):
        self.weights = weights

    def get_state(self, components=None, inference_only=False):
        return {"learner": {"rl_module": {m: dict(w) for m, w in self.weights.items()}}}

    def set_state(self, state):
        for m, w in state["learner"]["rl_module"].items():
            self.weights[m] = {k: np.asarray(v) for k, v in w.items()}


class _Runners:
    def __init__(self):
        self.pinned, self.weights = [], None

    def foreach_env_runner(self, fn):
        fn(self)

    def pin_family(self, name):
        self.pinned.append(name)

    def set_state(self, state):
        self.weights = state["rl_module"]


class _Algo:
    def __init__(self):
        self.learner_group = _Group({"store": {"w": np.zeros(3)}})
        self.env_runner_group = _Runners()


def test_each_task_pins_the_runners_then_moves_the_weights_step_of_the_way():
    algo, tasks = _Algo(), ReptileTasks(Reptile(2, 0.25), LOST_SALES, 0, ("store",))
    for iteration in (1, 2, 3, 4):
        tasks.before(algo, iteration)
        algo.learner_group.weights["store"]["w"] = (
            algo.learner_group.weights["store"]["w"] + 4.0  # "PPO's update"
        )
        tasks.after(algo, iteration)
        if iteration == 2:  # a task's end: 0 + 0.25 * (8 - 0)
            np.testing.assert_allclose(algo.learner_group.weights["store"]["w"], 2.0)
            np.testing.assert_allclose(algo.env_runner_group.weights["store"]["w"], 2.0)
    # second task: 2 + 0.25 * (10 - 2)
    np.testing.assert_allclose(algo.learner_group.weights["store"]["w"], 4.0)
    names = [task_instance(LOST_SALES, 0, t).name for t in (0, 1)]
    assert algo.env_runner_group.pinned == names  # once per task, at its start


@pytest.mark.slow  # trains with RLlib
def test_a_reptile_run_records_its_settings_and_checkpoints_between_tasks(tmp_path):
    proc = refused(
        "phase1", "--family", "lost_sales_family", "--reptile", "2,0.5",
        "--timesteps", "800", "--output", str(tmp_path), *SMALL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    config = json.loads((run / "config.json").read_text())
    assert config["reptile"] == {"inner": 2, "step": 0.5}
    assert config["checkpoint_interval"] % 2 == 0
    assert (run / "checkpoints" / "final").is_dir()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--family", "lost_sales_family", "--reptile", "4"], "takes INNER,STEP"),
        (
            ["--family", "lost_sales_family", "--reptile", "0,0.5"],
            "iterations must be >= 1",
        ),
        (["--family", "lost_sales_family", "--reptile", "4,1.5"], "step must be in"),
        (["--reptile", "4,0.5"], "give --family"),
        (
            ["--family", "lost_sales_family@lead_time=5,mean=5,penalty=9"]
            + ["--reptile", "4,0.5"],
            "is pinned to one",
        ),
        (
            ["--family", "lost_sales_family", "--reptile", "4,0.5"]
            + ["--env-runner", "pettingzoo"],
            "needs --env-runner batched",
        ),
        (
            ["--family", "lost_sales_family", "--reptile", "4,0.5"]
            + ["--checkpoint-interval", "6"],
            "multiple of --reptile's 4",
        ),
    ],
)
def test_reptile_refuses_what_it_cannot_honour(tmp_path, args, message):
    proc = refused("phase1", *args, "--output", str(tmp_path), *SMALL)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not list(tmp_path.iterdir())
