"""An RLlib env runner for catalogues: every product decision is a row.

A store of a catalogue decides ``P`` products a period. A store module that
took the whole ``(P, F)`` observation and returned ``P`` actions would get one
reward for all of them: a store's cost summed over thousands of products,
the same very noisy advantage for every product's decision. Here each
product decision of each store is a row of its own, as MABIM treats each
SKU as an agent with shared parameters:

* **one network for every product** (and store): the store module is an MLP
  over a row of :data:`hmarl_env.catalogue_roles.CATALOGUE_FEATURES`, the
  product's own state, what describes the product (its demand's size and
  variability, its claim on shared volume, its critical ratio, the lead
  time) and the context it shares with the others (each shared capacity's
  use, the volume committed against the shelf, the catalogue's mean stock
  and lost sales). Nothing in it depends on the number of products or their
  order: permuting products permutes the actions, and a module trained on
  one catalogue acts on another;
* **each decision's own reward and value**: a row's reward is its product's
  own cost at the store plus its share of the shared costs
  (:meth:`hmarl_env.catalogue_roles.CatalogueRoles.product_rewards`: the
  write-offs of a full shelf split by the volume each product brought in),
  divided by the product's cost scale
  (:meth:`~hmarl_env.catalogue_roles.CatalogueRoles.product_scales`) so a slow
  mover's signal is not drowned by a fast mover's; its value is the module's
  value of that row: a value per product. GAE and PPO's loss run per row, as
  RLlib runs them per agent.

:class:`CatalogueEnvRunner` holds its ``B`` replicas
(``num_envs_per_env_runner``) in the batched core and at each period observes
every node of every replica at once, runs each module once on all its rows
(the stores' module on ``B x stores x P`` rows; the warehouse and supplier
modules act by their rule on ``B`` observations each), decodes and steps all
replicas in one call. Fragments become one RLlib ``SingleAgentEpisode`` chunk
per replica, store and product (agent ``store_1#17``: product 17 of
``store_1``), through the same builders as
:class:`experiments.batched_runner.BatchedEnvRunner`, whose sampling loop,
seeding (:func:`experiments.batched_runner.replica_generators`) and step
metrics it shares. Episode metrics are in the scenario's money: each agent's
return is its env reward (:meth:`CatalogueRoles.score`); the KPIs are the
stores' fill rate, units discarded and cost per episode.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.metrics import NUM_EPISODES, NUM_EPISODES_LIFETIME

from experiments.batched_runner import BatchedEnvRunner, _chunk, replica_generators
from hmarl_env.catalogue_roles import CatalogueRoles, offset_actions, with_reference
from hmarl_env.core import Simulation
from hmarl_env.registry import SUPPLIER, role_of
from hmarl_env.scenario import scenario_from_dict

__all__ = ["CatalogueEnvRunner"]


class _NodeGroup:
    """The node agents of one module: their names and node indices."""

    def __init__(self, mid: str, agents: list[str], nodes: list[int]) -> None:
        self.mid = mid
        self.agents = agents
        self.nodes = nodes


class CatalogueEnvRunner(BatchedEnvRunner):
    """RLlib's env runner over a catalogue's batched core, one row per product
    decision (see the module's docstring). The env config is hmarl's
    (:func:`experiments.common.env_creator`) with a catalogue scenario."""

    #: a train batch's env step gives the store module a row per product
    ROWS_PER_PRODUCT = True

    def make_env(self) -> None:
        replicas = self.config.num_envs_per_env_runner
        self.config.num_envs_per_env_runner = 1
        try:
            super(BatchedEnvRunner, self).make_env()  # RLlib's, for its checks
        finally:
            self.config.num_envs_per_env_runner = replicas
        self.num_envs = B = replicas
        scenario = scenario_from_dict(self.config.env_config["scenario"])
        self._sim = Simulation(scenario, batch_size=B)
        self._roles = roles = CatalogueRoles(scenario, B)
        self._horizon = scenario.horizon
        self._rngs = replica_generators(self.config.seed, self.worker_index or 0, B)
        mapping = self.config.policy_mapping_fn
        by_module: dict[str, tuple[list[str], list[int]]] = {}
        for agent, node in roles.node_of.items():
            agents, nodes = by_module.setdefault(mapping(agent, None), ([], []))
            agents.append(agent)
            nodes.append(node)
        self._groups = [_NodeGroup(m, a, n) for m, (a, n) in by_module.items()]
        self._supplier = _NodeGroup(mapping(SUPPLIER, None), [SUPPLIER], [])
        for g in self._groups:
            if self._trained(g.mid) and any(
                role_of(a).name != "store" for a in g.agents
            ):
                raise ValueError(
                    f"module {g.mid!r} of {g.agents} learns, but on a catalogue "
                    "only the stores' module learns (one row per product "
                    "decision); the warehouse and supplier act by their rule"
                )
        if self._trained(self._supplier.mid):
            raise ValueError(
                "the supplier's module learns, but on a catalogue only the "
                "stores' module learns"
            )
        self._scales = roles.product_scales()
        env_config = self.config.env_config
        self._residual = int(env_config.get("residual", 0))
        self._reference = (
            np.asarray(env_config["reference"], dtype=np.int64)
            if self._residual
            else None
        )
        self._store_nodes = np.array(scenario.store_index, dtype=np.intp)
        self._agents = (*roles.node_of, SUPPLIER)
        self._t = -1
        self._episode_ids: list[str] = []
        self._returns = np.zeros((B, len(self._agents)))
        self._kpis = np.zeros((B, 3))  # sold, demand, discarded at the stores
        self._store_cost = np.zeros(B)
        self._started = time.perf_counter()

    def _reset(self) -> None:
        self._sim.reset(self._rngs)
        self._roles.reset(self._sim)
        self._t = 0
        self._episode_ids = [uuid.uuid4().hex for _ in range(self.num_envs)]
        self._returns[:] = 0.0
        self._kpis[:] = 0.0
        self._store_cost[:] = 0.0
        self._started = time.perf_counter()

    def _fragment(self, length: int, explore: bool) -> list[SingleAgentEpisode]:
        sim, roles, B = self._sim, self._roles, self.num_envs
        N, P = roles.n_nodes, roles.n_products
        t0 = self._t
        trained = [g for g in self._groups if self._trained(g.mid)]
        F = roles.observation_spaces[self._agents[0]].shape[-1]
        F += 1 if self._residual else 0
        C = roles.n_choices
        obs = {
            g.mid: np.empty((length + 1, B, len(g.nodes), P, F), np.float32)
            for g in trained
        }
        actions = {
            g.mid: np.empty((length, B, len(g.nodes), P), np.int64) for g in trained
        }
        rewards = {
            g.mid: np.empty((length, B, len(g.nodes), P), np.float32) for g in trained
        }
        extras: dict[str, dict[str, np.ndarray]] = {g.mid: {} for g in trained}
        node_actions = np.zeros((B, N, P), np.int64)
        stores = self._store_nodes
        for k in range(length + 1):
            features = roles.node_features(sim)  # (B, N, P, F)
            for g in trained:
                obs[g.mid][k] = self._rows(features, g)
            if k == length:
                break
            for g in self._groups:
                rows = features[:, g.nodes]  # (B, n, P, F)
                if g in trained:
                    rows = obs[g.mid][k]
                    acts, outputs = self._act_rows(g.mid, rows.reshape(-1, F), explore)
                    for col, value in outputs.items():
                        buf = extras[g.mid].setdefault(
                            col,
                            np.empty(
                                (length, B, len(g.nodes), P, *value.shape[1:]),
                                value.dtype,
                            ),
                        )
                        buf[k] = value.reshape(B, len(g.nodes), P, *value.shape[1:])
                    acts = np.asarray(acts).reshape(B, len(g.nodes), P)
                    actions[g.mid][k] = acts
                    if self._residual:
                        acts = offset_actions(
                            acts, self._reference[g.nodes], self._residual, C
                        )
                else:
                    acts, _ = self._act_rows(
                        g.mid, rows.reshape(B * len(g.nodes), P, -1), explore
                    )
                    acts = np.asarray(acts).reshape(B, len(g.nodes), P)
                node_actions[:, g.nodes] = acts
            supplier, _ = self._act_rows(
                self._supplier.mid, roles.supplier_features(sim), explore
            )
            orders, fulfil = roles.decode(
                sim, node_actions, np.asarray(supplier).reshape(B)
            )
            ledger = sim.step(orders, fulfil)
            roles.update(sim, ledger)
            own = roles.product_rewards(ledger)  # (B, N, P) money
            for g in trained:
                rewards[g.mid][k] = own[:, g.nodes] / self._scales[g.nodes]
            self._returns += roles.score(ledger)
            self._kpis[:, 0] += ledger.node_total("sold")[:, stores].sum(axis=1)
            self._kpis[:, 1] += ledger.node_total("demand")[:, stores].sum(axis=1)
            self._kpis[:, 2] += ledger.node_total("discarded")[:, stores].sum(axis=1)
            self._store_cost += ledger.node_total("total_cost")[:, stores].sum(axis=1)
        self._t += length
        done = self._t >= self._horizon
        self._log_steps(length)
        episodes = []
        for g in trained:
            episodes += self._product_chunks(
                g, obs[g.mid], actions[g.mid], rewards[g.mid], extras[g.mid], t0, done
            )
        if done:
            self._log_catalogue_episodes()
        return episodes

    def _rows(self, features: np.ndarray, g: _NodeGroup) -> np.ndarray:
        """A trained group's rows ``(B, n, P, F)``, with the reference
        action's column where the module acts in offsets from it."""
        rows = features[:, g.nodes]
        if self._residual:
            rows = with_reference(rows, self._reference[g.nodes], self._roles.n_choices)
        return rows

    def _product_chunks(self, g, obs, actions, rewards, extras, t0, done):
        """One chunk per replica, node and product of a trained group."""
        out = []
        B, P = self.num_envs, self._roles.n_products
        for j, agent in enumerate(g.agents):
            for b in range(B):
                episode = f"{self._episode_ids[b]}_{t0}"
                for p in range(P):
                    out.append(
                        _chunk(
                            obs[:, b, j, p],
                            actions[:, b, j, p],
                            rewards[:, b, j, p],
                            {c: v[:, b, j, p] for c, v in extras.items()},
                            f"{agent}#{p}",
                            g.mid,
                            episode,
                            t0,
                            done,
                        )
                    )
        return out

    def _log_catalogue_episodes(self) -> None:
        """RLlib's episode metrics (money) and the stores' KPIs
        (``env_runners/kpi/<name>``: fill rate, units discarded, cost)."""
        B, m = self.num_envs, self.metrics
        m.log_value(NUM_EPISODES, B, reduce="sum")
        m.log_value(NUM_EPISODES_LIFETIME, B, reduce="lifetime_sum")
        seconds = (time.perf_counter() - self._started) / B
        cols = {a: k for k, a in enumerate(self._agents)}
        for b in range(B):
            modules: dict[str, float] = {}
            for g in [*self._groups, self._supplier]:
                modules[g.mid] = modules.get(g.mid, 0.0) + float(
                    sum(self._returns[b, cols[a]] for a in g.agents)
                )
            self._log_episode_metrics(
                self._horizon,
                float(self._returns[b].sum()),
                seconds,
                dict(zip(self._agents, self._returns[b].tolist(), strict=True)),
                modules,
                dict.fromkeys(self._agents, self._horizon),
            )
            sold, demand, discarded = self._kpis[b]
            values = {
                "fill_rate": sold / demand if demand > 0 else 1.0,
                "discarded": discarded,
                "store_cost": self._store_cost[b],
            }
            for key, value in values.items():
                m.log_value(("kpi", key), float(value), reduce="mean", window=100)
