"""A run's resolved configuration, as ``config.json`` records it.

Everything that reads a run (the phase scripts, the pipeline, loading, the
gate and the comparison) reads it through :class:`RunConfig`
(:func:`read_run_config`), never through string keys. The record freezes the
tuned heuristic parameters the run acts with, so re-tuning never changes how
an old run is evaluated. Runs written before a field existed read with that
field's historical value; a run whose tuned parameters were not frozen gets an
error that says how to freeze them (``hmarl freeze RUN``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from analysis.runs.settings import (
    MONITOR_SEED,
    PHASES,
    PPO_PRESETS,
    Phase,
    PPOSettings,
    RunnerSettings,
    ppo_preset,
    setting,
)
from baselines.tuned import load_tuned
from hmarl_env.family_env import FAMILY_UNITS
from hmarl_env.observations import (
    store_observation_name,
    warehouse_observation_name,
)
from hmarl_env.registry import agent_names
from hmarl_env.scenario import Scenario, scenario_from_dict
from hmarl_env.scenario.family import get_family
from hmarl_env.utils.io import read_json, write_json_atomic

__all__ = [
    "RUN_OPTIONS",
    "RunConfig",
    "freeze",
    "read_run_config",
    "tuned_params",
    "uses_tuned",
]

#: the run's options beside its PPO settings (fields of :class:`RunConfig`)
RUN_OPTIONS = (
    "eval_interval",
    "eval_episodes",
    "checkpoint_interval",
    "gate_episodes",
    "keep_best",
)
#: what every run's config.json has, whatever hmarl version wrote it
RUN_KEYS = ("phase", "scenario", "seed", "timesteps", "ppo")


def uses_tuned(phase: Phase, scenario: Scenario) -> bool:
    """Whether any of the phase's heuristic modules acts with tuned parameters
    on ``scenario`` (a module without a rule named in the phase is tuned)."""
    modules = {phase.module_of(a) for a in agent_names(scenario)}
    return any(
        phase.heuristic.get(m, "tuned") == "tuned"
        for m in modules
        if m not in phase.learned
    )


def tuned_params(
    scenario: Scenario, phase: Phase, given: str | None = None
) -> dict[str, Any] | None:
    """The tuned heuristic parameters a phase's heuristic modules act with, or
    None if none of them is tuned; a clear error with the command that tunes
    them (for the scenario as ``given`` on the command line) if the scenario
    has none."""
    if not uses_tuned(phase, scenario):
        return None
    return load_tuned(scenario, given=given)["params"]


@dataclass(frozen=True)
class RunConfig:
    """A run's resolved configuration (``config.json``).

    Attributes:
        phase: what it trains, freezes, loads and leaves heuristic.
        scenario: the supply chain.
        seed: the training seed.
        timesteps: the budget, env steps.
        ppo: its PPO settings.
        store_observation: the stores' observation layout.
        warehouse_observation: the warehouses' (``local`` or ``echelon``).
        ppo_preset: the named PPO settings it started from.
        runners: how rollouts were collected.
        heuristic_params: the tuned parameters its heuristic modules act with,
            frozen when the run was made (``None``: none of them is tuned).
        source: for a phase that starts from another run: ``run``,
            ``checkpoint`` and ``modules`` it loaded (config.json's ``from``).
        family: the scenario family it trained on, a new instance every
            episode (:mod:`hmarl_env.scenario.family`; ``scenario`` is then its
            widest instance), or ``None``.
        family_units: how the family shows a store's stock
            (:data:`hmarl_env.family_env.FAMILY_UNITS`; runs recorded before
            units read ``scenario``).
        eval_interval, eval_episodes, checkpoint_interval, gate_episodes: the
            run's options (:data:`RUN_OPTIONS`; their help text says what each
            does).
        record: what the run records beside (command, creation time, versions,
            and anything a caller adds); written as it is.
    """

    phase: Phase
    scenario: Scenario
    seed: int
    timesteps: int
    ppo: PPOSettings
    store_observation: str = "pipeline"
    warehouse_observation: str = "local"
    ppo_preset: str = "hmarl"
    runners: RunnerSettings = RunnerSettings()
    heuristic_params: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    family: str | None = None
    family_units: str = "scenario"
    eval_interval: int = setting(
        5,
        "evaluate the learned policy on monitoring episodes every N iterations "
        "(0: never)",
    )
    eval_episodes: int = setting(100, "monitoring episodes of each evaluation")
    checkpoint_interval: int = setting(
        5, "checkpoint every N iterations and at the end (0: only at the end)"
    )
    gate_episodes: int = setting(
        200, "held-out episodes of the curriculum gate at the end (0: no gate)"
    )
    keep_best: int = setting(
        0,
        "1: the run ends with the learned modules of the monitored iteration "
        "whose reward on the monitoring episodes was best (chosen on monitoring "
        "seeds, never held-out ones), 0: with the last; catalogue runs "
        "default to 1",
    )
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def learned(self) -> tuple[str, ...]:
        """Module IDs with weights: trained, then frozen."""
        return self.phase.learned

    @property
    def options(self) -> dict[str, int]:
        """The run's options (:data:`RUN_OPTIONS`)."""
        return {k: getattr(self, k) for k in RUN_OPTIONS}

    @property
    def observations(self) -> dict[str, str]:
        """The observation layouts, as the env, the rollout, the evaluator
        and the heuristics take them (``**config.observations``)."""
        return {
            "store_observation": self.store_observation,
            "warehouse_observation": self.warehouse_observation,
        }

    def uses_tuned(self) -> bool:
        """Whether any heuristic module acts with tuned parameters."""
        return uses_tuned(self.phase, self.scenario)

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` form."""
        return {
            "phase": asdict(self.phase),
            "scenario": self.scenario.to_dict(),
            "seed": self.seed,
            "timesteps": self.timesteps,
            "store_observation": self.store_observation,
            "warehouse_observation": self.warehouse_observation,
            "ppo_preset": self.ppo_preset,
            "ppo": asdict(self.ppo),
            "runners": asdict(self.runners),
            "heuristic_params": self.heuristic_params,
            "from": self.source,
            **(
                {"family": self.family, "family_units": self.family_units}
                if self.family
                else {}
            ),
            "eval": {
                "interval": self.eval_interval,
                "episodes": self.eval_episodes,
                "first_seed": MONITOR_SEED,
            },
            "checkpoint_interval": self.checkpoint_interval,
            "gate_episodes": self.gate_episodes,
            "keep_best": self.keep_best,
            **self.record,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config.json") -> RunConfig:
        """A run's config from its ``config.json`` form; a ``ValueError`` naming
        ``where`` if it is not one hmarl wrote, or if the run's heuristics act
        with tuned parameters it did not freeze."""
        missing = [k for k in RUN_KEYS if not isinstance(data, dict) or k not in data]
        if missing:
            raise ValueError(
                f"{where} lacks {missing}: not a config.json that hmarl wrote (or "
                "one edited by hand)"
            )
        known = {f.name for f in fields(cls)} | {"from", "eval"}
        defaults = {f.name: f.default for f in fields(cls) if f.name in RUN_OPTIONS}
        ev = data.get("eval", {})
        try:
            config = cls(
                phase=phase_from_dict(data["phase"]),
                scenario=scenario_from_dict(data["scenario"]),
                seed=int(data["seed"]),
                timesteps=int(data["timesteps"]),
                ppo=ppo_from_dict(data["ppo"]),
                store_observation=store_observation_name(
                    data.get("store_observation", "pipeline")
                ),
                warehouse_observation=warehouse_observation_name(
                    data.get("warehouse_observation", "local")
                ),
                ppo_preset=ppo_preset(data.get("ppo_preset") or "reference"),
                # runs recorded before the batched runner sampled with RLlib's
                runners=RunnerSettings(
                    **{"env_runner": "pettingzoo", **data.get("runners", {})}
                ),
                heuristic_params=data.get("heuristic_params"),
                source=data.get("from"),
                family=_family_name(data.get("family")),
                family_units=_family_units(data.get("family_units", "scenario")),
                eval_interval=int(ev.get("interval", defaults["eval_interval"])),
                eval_episodes=int(ev.get("episodes", defaults["eval_episodes"])),
                checkpoint_interval=int(
                    data.get("checkpoint_interval", defaults["checkpoint_interval"])
                ),
                gate_episodes=int(data.get("gate_episodes", defaults["gate_episodes"])),
                keep_best=int(data.get("keep_best", defaults["keep_best"])),
                record={k: v for k, v in data.items() if k not in known},
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(
                f"{where} is not a run config hmarl can read: {exc}"
            ) from None
        if config.heuristic_params is None and config.uses_tuned():
            raise ValueError(
                f"{where}: the run's heuristics act with tuned parameters it did not "
                "freeze (a run made before runs froze them); freeze the current "
                f"ones with: hmarl freeze {Path(where).parent}"
            )
        return config


def as_tuple(v: Any) -> Any:
    """A list read back from JSON as the tuple a settings field holds."""
    return tuple(v) if isinstance(v, list) else v


def ppo_from_dict(data: dict[str, Any]) -> PPOSettings:
    """PPO settings from their ``config.json`` form; settings a run made before
    they existed read as the reference design's (every such run used them)."""
    known = {f.name for f in fields(PPOSettings)}
    stray = sorted(set(data) - known)
    if stray:
        raise ValueError(f"unknown PPO settings {stray}")
    return replace(
        PPO_PRESETS["reference"], **{k: as_tuple(v) for k, v in data.items()}
    )


def phase_from_dict(data: dict[str, Any]) -> Phase:
    """A phase from its ``config.json`` form (older runs lack the budget, the
    PPO changes and whether the pipeline compares it: the table's row gives
    them)."""
    row = PHASES.get(data.get("name"))
    defaults = (
        {
            "timesteps": row.timesteps,
            "ppo_changes": row.ppo_changes,
            "compare": row.compare,
        }
        if row
        else {}
    )
    return Phase(**{**defaults, **{k: as_tuple(v) for k, v in data.items()}})


def read_run_config(run: str | Path) -> RunConfig:
    """The configuration of a run folder, with a clear error if it has none."""
    path = Path(run) / "config.json"
    data = read_json(path, f"{str(run)!r} is not an hmarl run folder: no config.json")
    return RunConfig.from_dict(data, str(path))


def freeze(run: str | Path) -> dict[str, Any]:
    """Write the scenario's current tuned parameters into a run's config.json
    (for runs made before runs froze them); returns them."""
    path = Path(run) / "config.json"
    data = read_json(path, f"{str(run)!r} is not an hmarl run folder: no config.json")
    scenario = scenario_from_dict(data["scenario"])
    params = load_tuned(scenario)["params"]
    data["heuristic_params"] = params
    write_json_atomic(path, data)
    return params


def describe(run: str | Path) -> str:
    """A run's config as one line of JSON, without its scenario."""
    config = read_run_config(run)
    return json.dumps({k: v for k, v in config.to_dict().items() if k != "scenario"})


def _family_name(name: Any) -> str | None:
    """A recorded family's name, checked (a family hmarl knows)."""
    if name is None:
        return None
    return get_family(name).name


def _family_units(units: Any) -> str:
    """Recorded family units, checked."""
    if units not in FAMILY_UNITS:
        raise ValueError(f"family_units must be one of {list(FAMILY_UNITS)}")
    return str(units)
