"""Running a phase: the training loop every phase script shares.

A run writes into its own folder ``<results>/<scenario>__<phase>__<seed>__<time>``
(the layout: :mod:`analysis.runs.folder`; written by
:mod:`experiments.run_folder`). Its config is resolved first
(:mod:`experiments.resolve`), the algorithm is built and the modules it loads
are restored, and only then is the folder made, so an incompatible run leaves
no folder. Each iteration appends a metrics row (:mod:`experiments.monitor`)
and, every ``checkpoint_interval`` iterations and at the end, publishes a
checkpoint; the curriculum gate (:mod:`analysis.gate`) judges the run at the
end.

A phase with a source (phases 2-4) starts from a run of the previous phase
(``--from RUN``, default the newest finished one): it takes that run's
scenario, heuristics and network architecture, and restores the modules it
names, checked weight by weight (:mod:`experiments.curriculum`).

``--resume RUN`` continues an interrupted run from its latest checkpoint: the
iteration count and timesteps carry on, and rows logged after that checkpoint
are dropped before training resumes.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import socket
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from analysis.gate import GATE_FILE, format_gate, gate_run
from analysis.plots import PLOTS_FILE, training_plots
from analysis.runs.folder import FINAL, complete_checkpoints, latest_name, read_metrics
from analysis.runs.record import RunConfig, read_run_config
from analysis.runs.settings import MONITOR_SEED, Phase, RunnerSettings
from experiments import run_folder
from experiments.common import build_config
from experiments.curriculum import push_weights, restore_modules
from experiments.monitor import (
    REFERENCES_FILE,
    Progress,
    monitor,
    monitor_references,
    row_from_result,
)
from experiments.options import PhaseOptions, parse_phase_args
from experiments.resolve import new_config, resumed_config
from experiments.seeding import worker_env
from hmarl_env.registry import role_of_module
from hmarl_env.utils.io import check_output_dir, results_dir, write_json_atomic

__all__ = ["main_for", "run_phase", "start_ray"]

log = logging.getLogger("hmarl.train")


def main_for(phase: Phase, doc: str, argv: list[str] | None = None) -> int:
    """A phase script's ``main``: parse, train, report errors without a traceback."""
    args = parse_phase_args(phase, argv, doc.splitlines()[0])
    try:
        run_phase(phase, PhaseOptions.from_args(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def start_ray(address: str | None) -> bool:
    """Start Ray unless it runs already; True if this call started it.

    Without an address, always a fresh local instance: never a cluster some
    earlier ``ray start`` left recorded on this machine.
    """
    import ray

    if ray.is_initialized():
        return False
    if address not in (None, "auto", "local"):
        _check_answers(address)
    try:
        ray.init(
            address=address or "local",
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            # remote env runners hash strings as the driver does
            runtime_env={"env_vars": worker_env()},
        )
    except ConnectionError as exc:  # 'auto' with no cluster on this machine
        raise ValueError(f"cannot join a Ray cluster at {address!r}: {exc}") from None
    return True


#: seconds a cluster's address has to answer before --address is refused
CONNECT_TIMEOUT_S = 10.0


def _check_answers(address: str) -> None:
    """Refuse, within :data:`CONNECT_TIMEOUT_S`, a cluster address where
    nothing answers (Ray itself retries for minutes, printing only its
    attempts)."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(
            f"--address {address!r} is not host:port (or 'auto' for the cluster "
            "this machine started)"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ValueError(
            f"nothing answers at --address {address!r} ({exc.strerror or exc}) "
            f"within {CONNECT_TIMEOUT_S:g} s: is the cluster's head running? "
            "`ray start --head` prints the address to give"
        ) from None


def _check_cpus(runners: RunnerSettings) -> None:
    """Each remote env runner and learner takes a CPU of the cluster, a GPU
    learner its GPUs: with fewer, Ray would wait for them forever."""
    import ray

    resources = ray.cluster_resources()
    cpus = resources.get("CPU", 0)
    if runners.num_env_runners > cpus:
        raise ValueError(
            f"--num-env-runners {runners.num_env_runners} needs as many CPUs, the "
            f"Ray cluster has {cpus:g}: use --num-env-runners {int(cpus)} or fewer "
            "(0 samples in the driver)"
        )
    learners = max(runners.num_learners, 1)  # 0: the driver's own learner
    gpus = runners.num_gpus_per_learner * learners
    if gpus > resources.get("GPU", 0):
        raise ValueError(
            f"--num-gpus-per-learner {runners.num_gpus_per_learner:g} with "
            f"{learners} learner(s) needs {gpus:g} GPUs, the Ray cluster has "
            f"{resources.get('GPU', 0):g}: use --num-gpus-per-learner 0 (learn "
            "on the CPU)"
        )
    if runners.num_gpus_per_learner == 0 and (
        runners.num_learners + runners.num_env_runners > cpus
    ):
        raise ValueError(
            f"--num-learners {runners.num_learners} and --num-env-runners "
            f"{runners.num_env_runners} take a CPU each, the Ray cluster has "
            f"{cpus:g}"
        )


#: the one line of Ray's core worker that :func:`_without_restart_notice` drops
RESTART_NOTICE = b"has constructor arguments in the object store and max_restarts"


@contextlib.contextmanager
def _without_restart_notice():
    """Drop one line from this process's stderr while the algorithm builds.

    Ray's core worker (C++, so Python's logging never sees it) writes an
    error-level line for every remote env runner RLlib 2.60 creates: RLlib
    passes the runners' config through the object store and lets them restart
    (``max_restarts > 0``), which Ray cautions against in case the config were
    lost; RLlib holds it for as long as the runners live. hmarl cannot avoid
    the line without giving up the restart of a failed runner, so it filters
    that line (and nothing else) out of file descriptor 2.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        yield
        return
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        with os.fdopen(read, "rb") as lines:
            for line in lines:
                if RESTART_NOTICE not in line:
                    os.write(saved, line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the pump ends
        thread.join(timeout=5)
        os.close(saved)


def _new_run(args: PhaseOptions, config: RunConfig) -> Path:
    root = Path(args.output) if args.output else results_dir()
    stem = f"{config.scenario.name}__{config.phase.name}__{config.seed}"
    run_dir = run_folder.new_run_folder(root, stem)
    write_json_atomic(run_dir / "config.json", config.to_dict())
    return run_dir


def run_phase(
    phase: Phase, args: PhaseOptions, extra_config: dict | None = None
) -> Path:
    """Train ``phase`` as the options say, then gate it; returns the run folder.

    The phase's own PPO changes (phase 4's learning rate) apply over the
    preset; options given on the command line override both. The process
    holds the run's lock (:class:`experiments.run_folder.RunLock`) from the
    moment it writes into the folder until the gate has judged it.
    """
    with contextlib.ExitStack() as held:
        return _run_phase(phase, args, extra_config, held)


def _resumable(run_dir: Path) -> Path | None:
    """``run_dir`` if it has a complete checkpoint to resume from; None if it
    has none and no history either (a run killed before its first
    iteration); else an error that says what it found, before anything
    changes."""
    root = run_dir / "checkpoints"
    if root.exists() and not root.is_dir():
        raise ValueError(
            f"{root} is not a folder, so the run's checkpoints are not there and "
            "it cannot resume; nothing was changed"
        )
    if complete_checkpoints(run_dir):
        return run_dir
    rows = read_metrics(run_dir)
    if rows:
        found = (
            "no checkpoints/ folder"
            if not root.exists()
            else ("no complete checkpoint in checkpoints/")
        )
        raise ValueError(
            f"{run_dir} has {len(rows)} iterations in metrics.csv but {found} to "
            "resume them from: resuming would train it again from iteration 1 "
            "over that history. Start a new run, or move metrics.csv out of the "
            "folder to train this one again from the start; nothing was changed"
        )
    return None


class _Best:
    """The learned modules of the monitored iteration with the best reward
    on the monitoring episodes (the trained roles' ``eval_<role>_reward``
    summed), kept in memory; :meth:`restore` puts them back in the learner
    and the env runners before the final checkpoint. A resumed run starts
    keeping again from where it resumes."""

    def __init__(self, modules: tuple[str, ...]) -> None:
        self.modules = modules
        self.score = -math.inf
        self.iteration = 0
        self.state: dict[str, Any] = {}

    def offer(self, algo: Any, row: dict[str, Any]) -> None:
        roles = {role_of_module(m).name for m in self.modules}
        values = [row.get(f"eval_{r}_reward") for r in roles]
        if any(v is None or not math.isfinite(v) for v in values):
            return
        score = float(sum(values))
        if score > self.score:
            state = algo.learner_group.get_state(
                components=[f"learner/rl_module/{m}" for m in self.modules]
            )
            self.state = copy.deepcopy(state["learner"]["rl_module"])
            self.score, self.iteration = score, int(row["iteration"])

    def restore(self, algo: Any, iteration: int) -> str | None:
        if not self.state or self.iteration == iteration:
            return None
        algo.learner_group.set_state({"learner": {"rl_module": self.state}})
        push_weights(algo, self.modules)
        return (
            f"keeping the modules of iteration {self.iteration}, the best on the "
            f"monitoring episodes (reward {self.score:,.1f})"
        )


def _run_phase(
    phase: Phase,
    args: PhaseOptions,
    extra_config: dict | None,
    held: contextlib.ExitStack,
) -> Path:
    import ray

    # RLlib registers its multi-agent wrapper with gymnasium on every build
    warnings.filterwarnings(
        "ignore", message=".*Overriding environment rllib-multi-agent-env-v0"
    )
    if args.timesteps is not None and args.timesteps < 1:
        raise ValueError(f"--timesteps must be at least 1, got {args.timesteps}")
    check_output_dir(
        Path(args.resume) if args.resume else (args.output or results_dir()),
        "the run folder" if args.resume else "--output",
    )
    resuming = run_dir = None
    if args.resume:
        run_dir = Path(args.resume)
        read_run_config(run_dir)  # a run folder hmarl wrote, or a clear error
        held.enter_context(run_folder.RunLock(run_dir))
        for stray in run_folder.clean_strays(run_dir):
            print(f"removed {stray.name}, left half-written by an interrupted run")
        config = resumed_config(args, phase, run_dir)
        resuming = _resumable(run_dir)
        events = run_dir / "tensorboard"
        if events.exists() and not events.is_dir():
            raise ValueError(
                f"{events} is not a folder: the run's TensorBoard events go there "
                "(move it away, then --resume); nothing was changed"
            )
    else:
        config = new_config(args, phase, extra_config)
    phase, runners, scenario = config.phase, config.runners, config.scenario
    options, target = config.options, config.timesteps
    algo_config = build_config(
        scenario,
        phase,
        config.ppo,
        runners,
        seed=config.seed,
        heuristic_params=config.heuristic_params,
        timesteps=target,
        family=config.family,
        family_units=config.family_units,
        **config.observations,
    )

    started_ray = start_ray(args.address)
    writer = None
    try:
        _check_cpus(runners)
        with _without_restart_notice():
            algo = algo_config.build_algo()
        if config.source:  # on resume too: a run killed before its first
            # checkpoint has only the source to start from
            source = config.source
            restore_modules(algo, source["checkpoint"], source["modules"])
        if run_dir is None:  # a new run: everything it needs has loaded
            run_dir = _new_run(args, config)
            held.enter_context(run_folder.RunLock(run_dir))
        rows: list[dict[str, Any]] = []
        if resuming is not None:
            ckpt = run_folder.restore_newest(algo, run_dir)
            if latest_name(run_dir) != ckpt.name:  # a kill before it was named
                run_folder.point_latest(run_dir, ckpt.name)
            push_weights(algo)  # remote runners must not sample with stale weights
            rows = read_metrics(run_dir, algo.iteration)
            print(
                f"resumed {run_dir.name} from {ckpt.name} at iteration {algo.iteration}"
            )
        timesteps = rows[-1]["timesteps"] if rows else 0.0
        batch = config.ppo.train_batch_size
        iterations = math.ceil(target / batch)
        rounded = (
            ""
            if iterations * batch == target
            else f" (rounded up to {iterations:,} iterations of {batch:,}: "
            f"{iterations * batch:,})"
        )
        print(
            f"{phase.name}: training {list(phase.train)} on {scenario.name!r} for "
            f"{target:,} env steps{rounded} -> {run_dir}"
        )
        progress = Progress(phase, target, timesteps)
        best = _Best(phase.train) if options["keep_best"] else None
        if options["eval_interval"] and not (run_dir / REFERENCES_FILE).is_file():
            write_json_atomic(
                run_dir / REFERENCES_FILE,
                {
                    "first_seed": MONITOR_SEED,
                    "episodes": options["eval_episodes"],
                    "reward_per_agent": monitor_references(
                        algo, config, options["eval_episodes"]
                    ),
                },
            )
        if timesteps < target:
            from tensorboardX import SummaryWriter

            writer = SummaryWriter(str(run_dir / "tensorboard"))
        while timesteps < target:
            start = time.perf_counter()
            res = algo.train()
            iteration = algo.iteration
            seconds = time.perf_counter() - start
            new_steps = (
                float(res.get("num_env_steps_sampled_lifetime", 0.0)) - timesteps
            )
            row = row_from_result(
                res, iteration, seconds, new_steps, scenario, phase.train
            )
            timesteps = row["timesteps"]
            if options["eval_interval"] and iteration % options["eval_interval"] == 0:
                row.update(monitor(algo, config, options["eval_episodes"]))
                if best is not None:
                    best.offer(algo, row)
            rows.append(row)
            for k, v in row.items():
                if k != "iteration" and not run_folder.is_missing(v):
                    writer.add_scalar(k, v, int(timesteps))
            writer.flush()
            print(progress.line(row), flush=True)
            run_folder.write_metrics(run_dir, rows, phase.train)
            done = timesteps >= target
            if done and best is not None:
                kept = best.restore(algo, iteration)
                if kept:
                    print(kept)
            if done or (
                options["checkpoint_interval"]
                and iteration % options["checkpoint_interval"] == 0
            ):
                run_folder.save_checkpoint(
                    algo, run_dir, FINAL if done else f"iter_{iteration:06d}"
                )
        if writer is None:  # trained: what comes after may not have finished
            print(f"{run_dir.name} had already reached {target:,} env steps")
        if writer is not None or not (run_dir / PLOTS_FILE).is_file():
            training_plots(run_dir)
        algo.stop()
    finally:
        if writer is not None:
            writer.close()
        if started_ray:
            ray.shutdown()
    if options["gate_episodes"] and (
        writer is not None or not (run_dir / GATE_FILE).is_file()
    ):
        verdict = gate_run(run_dir, options["gate_episodes"])
        print(format_gate(verdict))
    print(f"done: {run_dir}")
    return run_dir
