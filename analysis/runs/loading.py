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

import gymnasium as gym
import numpy as np

from analysis.runs.folder import MODULES_SUBDIR, find_checkpoint
from analysis.runs.record import read_run_config
from analysis.runs.settings import ACTING
from baselines.catalogue import catalogue_actions, fixed_actions
from baselines.policies import make_policies
from hmarl_env import parallel_env
from hmarl_env.catalogue_roles import CatalogueRoles, offset_actions, with_reference
from hmarl_env.family_env import FamilyLayout
from hmarl_env.registry import SUPPLIER, module_id
from hmarl_env.scenario import get_scenario
from hmarl_env.scenario.family import get_family

__all__ = [
    "ModulePolicy",
    "assemble_policies",
    "check_spaces",
    "ModuleExpectation",
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
            (docs/results.md: what it does on Zipkin's instances).
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
            mean = (p @ np.arange(p.shape[-1])) / p.sum(axis=-1)
            return np.rint(mean).astype(np.int64)
        cdf = np.cumsum(p, axis=-1)
        u = self._rng.random(cdf.shape[:-1])[..., None] * cdf[..., -1:]
        return np.minimum((u >= cdf).sum(axis=-1), cdf.shape[-1] - 1).astype(np.int64)

    def __repr__(self) -> str:
        return f"ModulePolicy(role={self.role!r}, acting={self.acting!r})"


def load_module(checkpoint: str | Path, module_id: str, expect: Any = None):
    """One RLModule from a checkpoint, checked before anything acts with it.

    RLlib loads a module's weights non-strictly, so a state file that is
    empty, lacks a layer or holds other shapes would leave random weights
    without a word. Here every parameter the module has must be in the file,
    with its shape, and finite; with ``expect`` (:class:`ModuleExpectation`)
    the module's spaces and hidden layers must be those of its role in the
    run. Anything else is a ``ValueError`` naming the module, the file and
    what differs.
    """
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
        module = RLModule.from_checkpoint(str(path.resolve()))  # pyarrow: absolute
        saved = _saved_state(path)
    except Exception as exc:  # pickle, torch and RLlib errors alike
        raise ValueError(
            f"module {module_id!r} in {str(ckpt)!r} could not be loaded "
            f"(corrupt checkpoint?): {type(exc).__name__}: {exc}"
        ) from None
    where = f"module {module_id!r} ({path})"
    if expect is not None:
        expect.check(module, where)
    _check_weights(module, saved, where)
    return module


def _saved_state(path: Path) -> dict[str, Any]:
    """The parameters a module folder's state file holds, as numpy arrays."""
    import ray.cloudpickle as pickle

    files = sorted(path.glob("module_state.*"))
    if not files:
        raise FileNotFoundError(f"no module_state file in {path}")
    if files[0].suffix == ".msgpack":
        import msgpack
        import msgpack_numpy

        with files[0].open("rb") as fh:
            state = msgpack.load(fh, object_hook=msgpack_numpy.decode)
    else:
        with files[0].open("rb") as fh:
            state = pickle.load(fh)
    if not isinstance(state, dict):
        raise ValueError(f"{files[0]} holds a {type(state).__name__}, not a state")
    return state


def _check_weights(module: Any, saved: dict[str, Any], where: str) -> None:
    """Every parameter of ``module`` in ``saved``, of its shape, finite."""
    own = {
        k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        for k, v in module.get_state().items()
        if hasattr(v, "shape")
    }
    missing = sorted(set(own) - set(saved))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ValueError(
            f"{where}: the checkpoint lacks {missing[:3]}{more} of the module's "
            f"{len(own)} parameters (a damaged or foreign state file); it would "
            "act with random weights"
        )
    for k, want in own.items():
        got = np.asarray(saved[k])
        if got.shape != want.shape:
            raise ValueError(
                f"{where}: parameter {k!r} has shape {got.shape} in the checkpoint, "
                f"the module {want.shape}"
            )
        if got.dtype.kind == "f" and not np.isfinite(got).all():
            raise ValueError(
                f"{where}: parameter {k!r} holds {int((~np.isfinite(got)).sum())} "
                "values that are NaN or infinite"
            )


#: a central critic's module observes a dict: the agent's own observation
#: under OWN, the env's global state under STATE (:mod:`experiments.critic`)
OWN_KEY, STATE_KEY = "obs", "state"


class ModuleExpectation:
    """What a learned module of a run must be: its role's spaces in the run's
    env and the run's hidden layers.

    Args:
        observation_space, action_space: the spaces of the module's first agent.
        hiddens: the run's ``PPOSettings.hiddens``.
    """

    def __init__(self, observation_space: Any, action_space: Any, hiddens: Any):
        self.observation_space = observation_space
        self.action_space = action_space
        self.hiddens = list(hiddens)

    def check(self, module: Any, where: str) -> None:
        obs = getattr(module, "observation_space", None)
        if isinstance(obs, gym.spaces.Dict) and OWN_KEY in obs.spaces:
            obs = obs.spaces[OWN_KEY]  # a central critic: its actor's own part
        want = self.observation_space
        if obs is None or getattr(obs, "shape", None) != want.shape:
            raise ValueError(
                f"{where} observes {getattr(obs, 'shape', obs)}, but its role in "
                f"the run observes {want.shape} (modules of other roles swapped?)"
            )
        if module.action_space != self.action_space:
            raise ValueError(
                f"{where} acts in {module.action_space}, but its role in the run "
                f"acts in {self.action_space}"
            )
        config = module.model_config
        get = (
            config.get
            if isinstance(config, dict)
            else (lambda k, d=None: getattr(config, k, d))
        )
        hiddens = get("fcnet_hiddens", None) or get("hiddens", None)
        if hiddens is not None and list(hiddens) != self.hiddens:
            raise ValueError(
                f"{where} has hidden layers {list(hiddens)}, the run's settings "
                f"{self.hiddens}"
            )


def load_policies(
    path: str | Path, scenario: Any = None, acting: str | None = None, seed: int = 0
) -> dict[str, Any]:
    """Every agent's policy from a run folder or a checkpoint of one.

    Args:
        path: a run folder (its newest checkpoint) or a checkpoint folder inside
            a run's ``checkpoints/``.
        scenario: optionally the scenario to act in; it must have the run's
            agents and spaces (checked), else the run's own scenario is used.
        acting: how learned modules act, ``"greedy"``, ``"mean"`` or
            ``"sampled"`` (:class:`ModulePolicy`); ``None``: as the run
            records (``ppo.acting``; greedy for runs recorded before it).
        seed: the sampling generator's seed (``"sampled"`` only).
    """
    ckpt, run = find_checkpoint(path)
    if run is None:
        raise ValueError(
            f"checkpoint {str(ckpt)!r} is not inside a run folder, so its "
            "scenario and heuristics are unknown"
        )
    config = read_run_config(run)
    if config.family:
        return family_policies(config, ckpt, scenario, acting, seed)
    scenario = config.scenario if scenario is None else get_scenario(scenario)
    if config.scenario.products or scenario.products:
        check_catalogue(config.scenario, scenario)
        rows = CatalogueRoles(config.scenario).row_spaces(config.ppo.residual)
        expect = ModuleExpectation(
            rows["observation_space"], rows["action_space"], config.ppo.hiddens
        )
        return catalogue_policies(
            config,
            scenario,
            lambda mid: load_module(ckpt, mid, expect),
            acting,
            seed,
        )
    check_spaces(config.scenario, scenario, **config.observations)
    env = parallel_env(config.scenario, **config.observations)
    return _run_policies(
        config,
        ckpt,
        scenario,
        env.possible_agents,
        lambda a: (env.observation_space(a), env.action_space(a)),
        acting,
        seed,
    )


def _run_policies(config, ckpt, scenario, agents, spaces, acting, seed):
    """A run's policies on ``scenario``: its learned modules from ``ckpt``,
    each checked against ``spaces(agent)`` (observation and action space) of
    its first agent among ``agents``; the other agents by the run's rules."""
    first: dict[str, str] = {}
    for agent in agents:
        first.setdefault(config.phase.module_of(agent), agent)

    def expect(mid: str) -> ModuleExpectation:
        return ModuleExpectation(*spaces(first[mid]), config.ppo.hiddens)

    return assemble_policies(
        scenario,
        learned=set(config.learned),
        heuristic=config.phase.heuristic,
        module=lambda mid: load_module(ckpt, mid, expect(mid)),
        heuristic_params=config.heuristic_params,
        acting=config.ppo.acting if acting is None else acting,
        seed=seed,
        module_of=config.phase.module_of,
        **config.observations,
    )


def family_policies(
    config: Any, ckpt: Path, scenario: Any, acting: str | None, seed: int = 0
) -> dict[str, Any]:
    """A family run's policies on ``scenario``, an instance of its family's
    kind (its parameters read back by :meth:`Family.values_of`, a clear
    error for a scenario that is not one; outside the family's ranges too,
    zero-shot, where the layout makes room for it): each learned module acts
    on the agent's observation in the instance padded and followed by the
    instance's context, as it trained (:class:`hmarl_env.family_env.FamilyLayout`); the
    other agents by the run's rules."""
    family = get_family(config.family)
    if scenario is None:
        raise ValueError(
            f"the run trained on family {family.name!r}: name the instance to act "
            "on (scenario=family.instance(values), or a scenario the family "
            "has)"
        )
    scenario = get_scenario(scenario)
    # an instance outside the family's ranges acts with the context there
    # (extrapolated); the layout must make room for it (a clear error if not)
    values = family.values_of(scenario, within=False)
    context = family.context(values)
    layout = FamilyLayout(family.at(values), config.observations, config.family_units)
    policies = _run_policies(
        config,
        ckpt,
        scenario,
        layout.agents,
        lambda a: (layout.observation_spaces[a], layout.action_spaces[a]),
        acting,
        seed,
    )
    units = layout.units_of(scenario)
    return {
        a: (
            InstancePolicy(p, layout, a, context, units[a])
            if config.phase.module_of(a) in config.learned
            else p
        )
        for a, p in policies.items()
    }


class InstancePolicy:
    """A family policy acting on one instance: the agent's observations
    ``(B, w)`` in the family's units (``units``: the instance's factor,
    :meth:`FamilyLayout.units_of`), padded to the family's width and followed
    by the instance's context before its module acts."""

    def __init__(
        self,
        policy: Any,
        layout: Any,
        agent: str,
        context: Any,
        units: float | None = None,
    ) -> None:
        self.policy, self.layout, self.agent = policy, layout, agent
        self.context = np.asarray(context, dtype=np.float32)
        self.units = units

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.policy(self.layout.pad(self.agent, obs, self.context, self.units))


def catalogue_policies(
    config: Any, scenario: Any, module: Any, acting: str | None, seed: int = 0
) -> dict[str, Any]:
    """A catalogue run's policies on ``scenario`` (a catalogue
    :func:`check_catalogue` accepts): the store module (``module(mid)``)
    acts on each product's row, so on any number of products; the
    warehouses by the run's catalogue heuristic tuned on ``scenario``; the
    supplier fulfils. Node policies take ``(B, P, F)`` observations
    (:class:`baselines.catalogue.EnvActions` runs them); the supplier's
    entry is its action."""
    # the run's frozen heuristics act in its own scenario; another is tuned
    frozen = config.heuristic_params if scenario == config.scenario else None
    acting = config.ppo.acting if acting is None else acting
    learned = set(config.learned)
    out: dict[str, Any] = {}
    modules: dict[str, ModulePolicy] = {}
    tuned: dict[str, np.ndarray] = {}
    roles = CatalogueRoles(scenario)
    residual = config.ppo.residual
    for agent, i in roles.node_of.items():
        mid = config.phase.module_of(agent)
        if mid in learned:
            if mid not in modules:
                modules[mid] = ModulePolicy(module(mid), mid, acting, seed)
            out[agent] = modules[mid]
            if residual:
                if "tuned" not in tuned:
                    tuned["tuned"] = catalogue_actions(scenario, "tuned", frozen)
                out[agent] = ResidualPolicy(
                    modules[mid], tuned["tuned"][i], residual, roles.n_choices
                )
        else:
            kind = config.phase.heuristic.get(mid, "tuned")
            if kind not in tuned:
                tuned[kind] = catalogue_actions(scenario, kind, frozen)
            out[agent] = fixed_actions(tuned[kind][i])
    out[SUPPLIER] = 0
    return out


class ResidualPolicy:
    """A catalogue store module that acts in offsets from a reference: it
    observes each product's row with the reference action's column and its
    offsets become env actions (``reference`` ``(P,)``: the tuned
    capacity-aware heuristic's actions at the node; :attr:`PPOSettings.residual`)."""

    def __init__(
        self, policy: ModulePolicy, reference: Any, residual: int, choices: int
    ) -> None:
        self.policy = policy
        self.module = policy.module
        self.reference = np.asarray(reference, dtype=np.int64)
        self.residual = residual
        self.choices = choices

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        rows = with_reference(np.asarray(obs), self.reference, self.choices)
        offsets = self.policy(rows)
        return offset_actions(offsets, self.reference, self.residual, self.choices)


def check_catalogue(run_sc: Any, scenario: Any) -> None:
    """Refuse a scenario a catalogue run's modules cannot act in (or a
    catalogue for a single-product run): another kind of scenario, other
    agents, other per-product actions. The number of products may differ."""

    if not (run_sc.products and scenario.products):
        trained, given = (
            ("a catalogue", "a single-product scenario")
            if run_sc.products
            else ("a single-product scenario", "a catalogue")
        )
        raise ValueError(
            f"the run was trained on {trained} ({run_sc.name!r}); scenario "
            f"{scenario.name!r} is {given}: a catalogue's store module acts "
            "on one row per product, a single-product store on its own "
            "observation, and neither acts in the other's env"
        )
    mine, theirs = CatalogueRoles(run_sc), CatalogueRoles(scenario)
    if mine.agents != theirs.agents:
        raise ValueError(
            f"scenario {scenario.name!r} has agents {list(theirs.agents)}, but "
            f"the run was trained on {list(mine.agents)}"
        )
    if (
        run_sc.actions.catalogue_safety != scenario.actions.catalogue_safety
        or run_sc.actions.catalogue_safety is None
        and run_sc.actions.catalogue_cover != scenario.actions.catalogue_cover
    ):
        raise ValueError(
            f"scenario {scenario.name!r} acts per product with "
            f"{_catalogue_action_text(scenario)}; the run's store module chose "
            f"from {_catalogue_action_text(run_sc)}"
        )


def _catalogue_action_text(scenario: Any) -> str:
    z = scenario.actions.catalogue_safety
    if z is not None:
        return f"safety factors {list(z)}"
    return f"periods of cover {list(scenario.actions.catalogue_cover)}"


def assemble_policies(
    scenario: Any,
    learned: set[str],
    heuristic: Mapping[str, str],
    module: Any,
    heuristic_params: Any = None,
    store_observation: str = "pipeline",
    acting: str = "greedy",
    seed: int = 0,
    module_of: Any = module_id,
    warehouse_observation: str = "local",
) -> dict[str, Any]:
    """Agent -> policy: a :class:`ModulePolicy` over ``module(mid)`` for learned
    module IDs (one per module, shared by its agents, acting as ``acting``
    says), else the baselines set ``heuristic[mid]`` (tuned by default), in
    the observation layouts named."""
    layouts = {
        "store_observation": store_observation,
        "warehouse_observation": warehouse_observation,
    }
    env = parallel_env(scenario, **layouts)
    modules: dict[str, ModulePolicy] = {}
    rules: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for agent in env.possible_agents:
        mid = module_of(agent)
        if mid in learned:
            if mid not in modules:
                modules[mid] = ModulePolicy(module(mid), mid, acting, seed)
            out[agent] = modules[mid]
        else:
            kind = heuristic.get(mid, "tuned")
            if kind not in rules:
                rules[kind] = make_policies(scenario, kind, heuristic_params, **layouts)
            out[agent] = rules[kind][agent]
    return out


def check_spaces(
    run_scenario: Any,
    scenario: Any,
    store_observation: str,
    warehouse_observation: str = "local",
) -> None:
    """Refuse a scenario whose agents or observation shapes differ from the
    run's (in the run's observation layouts)."""
    layouts = {
        "store_observation": store_observation,
        "warehouse_observation": warehouse_observation,
    }
    a = parallel_env(run_scenario, **layouts)
    b = parallel_env(scenario, **layouts)
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
