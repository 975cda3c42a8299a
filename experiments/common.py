"""The one builder of every RLlib config in hmarl (Ray 2.60, new API stack).

Every phase script is a thin layer over :func:`build_config`: which roles
train, which are loaded and frozen, which stay heuristic. This module also
holds the pieces they share: env registration, the policy mapping, the
heuristic RLModule that wraps :mod:`baselines` and the KPI callback (the PPO
settings and their presets: :mod:`analysis.runs.settings`). Every
config trains with :class:`experiments.learner.HmarlPPOLearner`, which scales
(and centres) each module's rewards for its critic as the settings say.

Module IDs are the registry's (:func:`hmarl_env.registry.module_id`): the
stores share ``store``, ``warehouse_1`` -> ``warehouse``, other warehouses
keep their own ID (their observations differ), ``supplier_1`` -> ``supplier``.
PPO settings, phases and run configs are plain data in :mod:`analysis.runs`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

import hmarl_env
from analysis.runs.loading import quiet_ray_notices
from analysis.runs.settings import Phase, PPOSettings, RunnerSettings
from baselines.catalogue import catalogue_actions
from baselines.policies import make_policies
from experiments.batched_runner import BatchedEnvRunner
from experiments.catalogue_runner import CatalogueEnvRunner
from experiments.critic import OWN, CentralCriticModule, CentralStateEnv
from experiments.heads import MODULES as HEAD_MODULES
from experiments.heads import ZEROED_MODULES
from experiments.kpis import KPI_WINDOW, episode_kpis
from experiments.learner import CENTER_RATE_KEY, REWARD_SCALES_KEY, HmarlPPOLearner
from hmarl_env.catalogue_roles import CatalogueRoles
from hmarl_env.family_env import FamilyEnv
from hmarl_env.observations import observation_layouts
from hmarl_env.registry import SUPPLIER, module_id, role_of
from hmarl_env.scenario import Scenario, scenario_from_dict

__all__ = [
    "ENV_NAME",
    "HeuristicRLModule",
    "KPICallback",
    "build_config",
    "env_creator",
    "ModuleMapping",
]

ENV_NAME = "hmarl_supply_chain"
quiet_ray_notices()


# ----------------------------------------------------------------------- env
def env_creator(env_config: Mapping[str, Any]) -> ParallelPettingZooEnv:
    """RLlib's view of :class:`hmarl_env.SupplyChainEnv`.

    ``env_config``: ``scenario`` (a scenario dict, as ``Scenario.to_dict`` gives),
    ``store_observation``, ``warehouse_observation``, ``critic``
    (``"central"``: every observation is paired with the global state,
    :class:`experiments.critic.CentralStateEnv`); with ``family`` (a
    family's name) the env of that family,
    :class:`hmarl_env.family_env.FamilyEnv`, a new instance every episode,
    its rewards divided by each instance's scale unless ``scale_rewards`` is
    false, its stock shown in ``family_units``
    (:data:`hmarl_env.family_env.FAMILY_UNITS`).
    """
    if env_config.get("family"):
        return ParallelPettingZooEnv(
            FamilyEnv(
                env_config["family"],
                **observation_layouts(env_config),
                scale_rewards=env_config.get("scale_rewards", True),
                units=env_config.get("family_units", "scenario"),
            )
        )
    scenario = scenario_from_dict(env_config["scenario"])
    env = hmarl_env.parallel_env(scenario, **observation_layouts(env_config))
    if env_config.get("critic", "local") == "central":
        return CentralStateEnv(env)
    return ParallelPettingZooEnv(env)


class ModuleMapping:
    """RLlib's ``policy_mapping_fn`` of a phase: agent -> module ID by the
    phase's rule (:meth:`analysis.runs.settings.Phase.module_of`), picklable
    for remote env runners."""

    def __init__(self, phase: Phase) -> None:
        self.phase = phase

    def __call__(self, agent_id: str, episode: Any = None, **kwargs: Any) -> str:
        return self.phase.module_of(agent_id)


def modules_of(
    scenario: Scenario,
    module_of: Any = module_id,
    observations: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Module ID -> the first agent that uses it (its spaces define the
    module's); every agent of a module must have the same spaces (in the
    ``observations`` layouts, the env's keywords)."""
    env = hmarl_env.parallel_env(scenario, **(observations or {}))
    out: dict[str, str] = {}
    for agent in env.possible_agents:
        first = out.setdefault(module_of(agent), agent)
        if env.observation_space(agent).shape != env.observation_space(
            first
        ).shape or env.action_space(agent) != env.action_space(first):
            raise ValueError(
                f"{agent} and {first} share module {module_of(agent)!r} but "
                f"observe {env.observation_space(agent).shape} and "
                f"{env.observation_space(first).shape} or act in "
                f"{env.action_space(agent)} and {env.action_space(first)}: a "
                "shared module needs one shape (warehouses of a level with as "
                "many children each)"
            )
    return out


# ------------------------------------------------------------------ heuristics
class HeuristicRLModule(RLModule):
    """An RLModule that acts with a :mod:`baselines` policy and never learns.

    ``model_config``: ``scenario`` (a scenario dict), ``agent`` (whose policy),
    ``kind`` (``seed``, ``base_stock`` or ``tuned``), optional ``params`` and
    ``store_observation`` and ``warehouse_observation`` (the layouts, default
    ``pipeline`` and ``local``).
    It has no weights; keep it out of ``policies_to_train``.
    """

    def setup(self) -> None:
        cfg = self.model_config
        scenario = scenario_from_dict(cfg["scenario"])
        self.policy = make_policies(
            scenario, cfg["kind"], cfg.get("params"), **observation_layouts(cfg)
        )[cfg["agent"]]

    def _forward_inference(self, batch: dict, **kwargs: Any) -> dict:
        obs = batch[Columns.OBS]
        if isinstance(obs, dict):  # paired with the global state for critics
            obs = obs[OWN]
        if hasattr(obs, "detach"):  # a torch tensor
            obs = obs.detach().cpu().numpy()
        return {Columns.ACTIONS: self.policy(np.asarray(obs))}

    def _forward_exploration(self, batch: dict, **kwargs: Any) -> dict:
        return self._forward_inference(batch, **kwargs)

    def _label(self) -> str:
        return f"the heuristic module of {self.model_config['agent']!r}"

    def _forward_train(self, batch: dict, **kwargs: Any) -> dict:
        raise NotImplementedError(
            f"{self._label()} cannot be trained; keep it out of policies_to_train"
        )

    def get_state(self, *args: Any, **kwargs: Any) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass


class FixedActionsModule(HeuristicRLModule):
    """An RLModule that always takes the same actions and never learns: a
    catalogue node's tuned heuristic as env actions (one per product,
    :func:`baselines.catalogue.heuristic_actions`), or the supplier's one.

    ``model_config``: ``actions`` (a number, or one per product) and ``label``
    (what they are, for messages). Observations ``(..., F)`` -> actions of
    shape ``(...)``.
    """

    def setup(self) -> None:
        self._actions = np.asarray(self.model_config["actions"], dtype=np.int64)
        self.policy = self._act

    def _act(self, obs: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._actions, np.shape(obs)[:-1]).copy()

    def _label(self) -> str:
        return str(self.model_config.get("label", "a fixed rule"))


# ------------------------------------------------------------------ callback
class KPICallback(RLlibCallback):
    """Logs the stores' ledger KPIs of every finished episode as RLlib metrics
    (``env_runners/kpi/<name>``, :func:`experiments.kpis.store_kpis`): mean
    service level per store-period, lost units, store-periods with a
    stockout, holding cost (stores, per episode). The batched env runner logs
    the same from its period tables."""

    def on_episode_end(
        self, *, episode, prev_episode_chunks=None, metrics_logger=None, **kwargs: Any
    ) -> None:
        if metrics_logger is None:
            return
        for key, value in episode_kpis([*(prev_episode_chunks or []), episode]).items():
            metrics_logger.log_value(
                ("kpi", key), value, reduce="mean", window=KPI_WINDOW
            )


def build_config(
    scenario: Scenario,
    phase: Phase,
    ppo: PPOSettings | None = None,
    runners: RunnerSettings | None = None,
    seed: int = 0,
    store_observation: str = "pipeline",
    heuristic_params: Mapping[str, Any] | None = None,
    timesteps: int | None = None,
    warehouse_observation: str = "local",
    family: str | None = None,
    family_units: str = "scenario",
) -> PPOConfig:
    """The PPO config of a phase.

    ``ppo`` and ``runners`` default to their settings' defaults (hmarl's PPO
    preset; the batched env runner sampling 64 replicas in the driver,
    :data:`analysis.runs.settings.RUNNER_DEFAULTS`). ``timesteps``
    (the run's budget in env steps) is needed only where the settings anneal
    the learning rate or the entropy bonus over it. ``family`` (a family's
    name; ``scenario`` is then one of its instances, for the agents and the
    heuristics): every episode plays a new instance of the family
    (:class:`hmarl_env.family_env.FamilyEnv`, each replica of the batched
    runner its own), its rewards divided by the instance's reward scale
    before the learner's horizon factor, its stock shown in ``family_units``.

    Every module that is neither trained nor frozen acts with its heuristic
    (``phase.heuristic``, tuned by default). Learned modules are PPO's default
    MLP with the settings' sizes, or with ``ppo.critic == "central"`` a
    :class:`experiments.critic.CentralCriticModule` of the same sizes.
    """
    ppo = ppo or PPOSettings()
    runners = runners or RunnerSettings()
    if scenario.products:
        return _catalogue_config(
            scenario, phase, ppo, runners, seed, timesteps, heuristic_params
        )
    layouts = {
        "store_observation": store_observation,
        "warehouse_observation": warehouse_observation,
    }
    modules = modules_of(scenario, phase.module_of, layouts)
    # a heuristic for a role the network lacks (phase 1's warehouse in a
    # single-stage network) is simply not needed; a learned one is an error
    unknown = sorted(set(phase.train) | set(phase.frozen))
    unknown = [m for m in unknown if m not in modules]
    if unknown:
        raise ValueError(
            f"phase {phase.name}: no agent uses modules {unknown}; modules "
            f"of scenario {scenario.name!r}: {sorted(modules)}"
        )
    if not phase.train:
        raise ValueError(
            f"phase {phase.name} trains nothing (RLlib cannot train an "
            "empty set of modules)"
        )
    # registered on every build: Ray forgets registrations when it shuts down
    register_env(ENV_NAME, env_creator)
    scenario_dict = scenario.to_dict()
    env_config = {
        "scenario": scenario_dict,
        **layouts,
        "critic": ppo.critic,
    }
    if family is not None:
        if ppo.critic == "central":
            raise ValueError(
                f"family {family!r}: a central critic reads one scenario's global "
                "state; train a family with the local critic"
            )
        env_config["family"] = family
        env_config["family_units"] = family_units
        env_config["scale_rewards"] = ppo.reward_scaling != "none"
    env = env_creator(env_config)  # the spaces RLlib sees
    specs: dict[str, RLModuleSpec] = {}
    if ppo.critic == "central":
        learned = {
            "module_class": CentralCriticModule,
            "model_config": {
                "hiddens": list(ppo.hiddens),
                "activation": ppo.activation,
                "policy_head": ppo.policy_head,
            },
        }
    else:
        learned = {
            **(
                {"module_class": HEAD_MODULES[ppo.policy_head]}
                if ppo.policy_head in HEAD_MODULES
                else {}
            ),
            "model_config": DefaultModelConfig(
                fcnet_hiddens=list(ppo.hiddens),
                fcnet_activation=ppo.activation,
                vf_share_layers=ppo.vf_share_layers,
            ),
        }
    for mid in phase.train:
        ppo.check_minibatch(
            sum(phase.module_of(a) == mid for a in env.par_env.possible_agents), mid
        )
    for mid, agent in modules.items():
        spaces = {
            "observation_space": env.observation_space[agent],
            "action_space": env.action_space[agent],
        }
        if mid in phase.train or mid in phase.frozen:
            specs[mid] = RLModuleSpec(**_zeroed(learned, env, agent, ppo), **spaces)
        else:
            kind = phase.heuristic.get(mid, "tuned")
            specs[mid] = RLModuleSpec(
                module_class=HeuristicRLModule,
                model_config={
                    "scenario": scenario_dict,
                    "agent": agent,
                    "kind": kind,
                    "params": dict(heuristic_params or {}) or None,
                    **layouts,
                },
                **spaces,
            )
    return _ppo_config(
        env_config,
        specs,
        phase,
        ppo,
        runners,
        seed,
        timesteps,
        BatchedEnvRunner if runners.env_runner == "batched" else None,
        ppo.learner_reward_scales(
            scenario, phase.module_of, per_instance=family is not None
        ),
    )


def _zeroed(learned: dict[str, Any], env: Any, agent: str, ppo) -> dict[str, Any]:
    """``learned``, the module spec's class and config, for ``agent`` of a
    family env whose layout leaves inputs unfilled: a module whose weights
    on them start at zero (:func:`experiments.heads.zero_inputs`)."""
    layout = getattr(getattr(env, "par_env", None), "layout", None)
    unfilled = list(getattr(layout, "unfilled", {}).get(agent, ()))
    if not unfilled or ppo.critic == "central":
        return learned
    return {
        "module_class": ZEROED_MODULES[ppo.policy_head],
        "model_config": {
            **dataclasses.asdict(learned["model_config"]),
            "unfilled_inputs": unfilled,
        },
    }


def _ppo_config(
    env_config, specs, phase, ppo, runners, seed, timesteps, runner_cls, scales
) -> PPOConfig:
    """The PPO config around the modules' specs (every phase, every scenario)."""
    config_cls = (
        CataloguePPOConfig
        if runner_cls is not None and getattr(runner_cls, "ROWS_PER_PRODUCT", False)
        else PPOConfig
    )
    return (
        config_cls()
        .environment(ENV_NAME, env_config=env_config)
        .framework("torch")
        .env_runners(
            num_env_runners=runners.num_env_runners,
            num_envs_per_env_runner=runners.num_envs_per_env_runner,
            env_runner_cls=runner_cls,
        )
        .multi_agent(
            policies=set(specs),
            policy_mapping_fn=ModuleMapping(phase),
            policies_to_train=list(phase.train),
        )
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .training(
            lr=ppo.schedule("lr", timesteps),
            gamma=ppo.gamma,
            lambda_=ppo.lambda_,
            clip_param=ppo.clip_param,
            entropy_coeff=ppo.schedule("entropy_coeff", timesteps),
            vf_loss_coeff=ppo.vf_loss_coeff,
            grad_clip=ppo.grad_clip,
            vf_clip_param=(
                math.inf if ppo.vf_clip_param is None else ppo.vf_clip_param
            ),
            minibatch_size=ppo.minibatch_size,
            num_epochs=ppo.num_epochs,
            train_batch_size_per_learner=ppo.train_batch_size,
        )
        .learners(
            num_learners=runners.num_learners,
            num_gpus_per_learner=runners.num_gpus_per_learner,
            learner_class=HmarlPPOLearner,
            learner_config_dict={
                REWARD_SCALES_KEY: scales,
                CENTER_RATE_KEY: ppo.reward_centering,
            },
        )
        .callbacks(KPICallback)
        .debugging(seed=seed)
    )


class CataloguePPOConfig(PPOConfig):
    """PPO's config for catalogues. RLlib checks that the minibatch is no
    larger than the train batch, both in env steps; a catalogue's env step
    gives the store module ``stores x P`` rows and its minibatch counts rows
    (RLlib's learner slices each module's rows), so hmarl checks the sizes in
    rows (:meth:`PPOSettings.check_minibatch`) and RLlib's check is passed
    the smaller of the two."""

    def validate(self) -> None:
        mbs, tbs = self.minibatch_size, self.train_batch_size_per_learner
        if isinstance(mbs, int) and isinstance(tbs, int) and mbs > tbs:
            self.minibatch_size = tbs
            try:
                super().validate()
            finally:
                self.minibatch_size = mbs
        else:
            super().validate()


def _catalogue_config(
    scenario: Scenario,
    phase: Phase,
    ppo: PPOSettings,
    runners: RunnerSettings,
    seed: int,
    timesteps: int | None,
    heuristic_params: Mapping[str, Any] | None = None,
) -> PPOConfig:
    """A catalogue's config: the stores' module learns on one row per product
    decision (:mod:`experiments.catalogue_runner`), the warehouse follows a
    tuned catalogue heuristic as env actions (frozen in ``heuristic_params``
    under :data:`CATALOGUE_ACTIONS_KEY`, else tuned now), the supplier
    fulfils."""
    if runners.env_runner != "batched":
        raise ValueError(
            f"scenario {scenario.name!r} is a catalogue: it trains with the "
            "batched env runner only (one row per product decision, "
            "experiments/catalogue_runner.py); RLlib's PettingZoo runner would "
            "give every product of a store one reward"
        )
    if ppo.critic != "local":
        raise ValueError(
            f"scenario {scenario.name!r} is a catalogue: its store module's "
            "critic values each product row on its own (critic 'local'), got "
            f"critic {ppo.critic!r}"
        )
    roles = CatalogueRoles(scenario)
    node_of = roles.node_of
    learned = set(phase.train) | set(phase.frozen)
    by_module: dict[str, list[str]] = {}
    for agent in (*node_of, SUPPLIER):
        by_module.setdefault(phase.module_of(agent), []).append(agent)
    wrong = {
        m: a
        for m, a in by_module.items()
        if m in learned and any(role_of(x).name != "store" for x in a)
    }
    if wrong:
        raise ValueError(
            f"phase {phase.name} learns modules {sorted(wrong)} of "
            f"{sorted(x for a in wrong.values() for x in a)}, but on a catalogue "
            "only the stores' module learns (one row per product decision); "
            "the warehouse and supplier act by their rule"
        )
    if not phase.train:
        raise ValueError(f"phase {phase.name} trains nothing")
    register_env(ENV_NAME, env_creator)
    env_config: dict[str, Any] = {"scenario": scenario.to_dict(), "critic": "local"}
    specs: dict[str, RLModuleSpec] = {}
    actions: dict[str, np.ndarray] = {}
    if ppo.residual:  # the stores act in offsets from the tuned heuristic
        actions["tuned"] = catalogue_actions(scenario, "tuned", heuristic_params)
        env_config["residual"] = ppo.residual
        env_config["reference"] = actions["tuned"].tolist()
    for mid, agents in by_module.items():
        if mid in learned:
            ppo.check_minibatch(len(agents) * scenario.n_products, mid)
            specs[mid] = RLModuleSpec(
                **(
                    {"module_class": HEAD_MODULES[ppo.policy_head]}
                    if ppo.policy_head in HEAD_MODULES
                    else {}
                ),
                model_config=DefaultModelConfig(
                    fcnet_hiddens=list(ppo.hiddens),
                    fcnet_activation=ppo.activation,
                    vf_share_layers=ppo.vf_share_layers,
                ),
                **roles.row_spaces(ppo.residual),
            )
            continue
        if agents == [SUPPLIER]:
            rule, label = 0, "the supplier's rule (fulfil everything)"
        else:
            kind = phase.heuristic.get(mid, "tuned")
            if kind not in actions:
                actions[kind] = catalogue_actions(scenario, kind, heuristic_params)
            nodes = [node_of[a] for a in agents]
            rule = actions[kind][nodes[0]].tolist()
            if any(actions[kind][i].tolist() != rule for i in nodes[1:]):
                raise ValueError(
                    f"module {mid!r} of {agents}: a fixed catalogue rule acts "
                    "alike for every agent of its module; these nodes' tuned "
                    "levels differ (give each its own module)"
                )
            label = f"{mid}'s {kind} catalogue heuristic"
        specs[mid] = RLModuleSpec(
            module_class=FixedActionsModule,
            model_config={"actions": rule, "label": label},
            observation_space=roles.observation_spaces[agents[0]],
            action_space=roles.action_spaces[agents[0]],
        )
    horizon = min(float(scenario.horizon), 1.0 / (1.0 - ppo.gamma))
    scales = {m: horizon for m in learned} if ppo.reward_scaling == "return" else {}
    return _ppo_config(
        env_config,
        specs,
        phase,
        ppo,
        runners,
        seed,
        timesteps,
        CatalogueEnvRunner,
        scales,
    )
