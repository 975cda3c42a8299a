"""The roles of the supply chain, in one registry.

A *role* is a kind of agent: ``store``, ``warehouse`` or ``supplier``. For each,
:data:`ROLES` says how its agents are named, what they observe (named features
with exported indices), what their actions mean, which ledger terms make their
reward and with which weights, which RLlib module they act with and which
heuristic a learned agent of the role is judged against. Every part of hmarl
that needs to know an agent's role asks here (:func:`role_of`), never parses a
name itself.

Adding a role: a :class:`Role` entry here; its observation features in
:mod:`hmarl_env.observations`, its action decoding in :mod:`hmarl_env.actions`,
its reward terms in :mod:`hmarl_env.rewards`; its heuristic's builder in
``baselines.policies.HEURISTICS``. Adding a reward term: the role's
``reward_terms`` here, its weight in :mod:`hmarl_env.scenario.types`, its
column in the period table (:mod:`hmarl_env.rewards`: a name and its formula).

Feature indices: heuristics read ``obs[:, StoreFeature.inventory]``, never a
bare column number. Only this module imports nothing else of hmarl's, so the
scenario's node-name rules come from here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from hmarl_env.scenario import Scenario

__all__ = [
    "ROLES",
    "SUPPLIER",
    "Role",
    "StoreFeature",
    "StoreOrderFeature",
    "SupplierFeature",
    "WarehouseFeature",
    "agent_names",
    "agents_of",
    "node_agents",
    "module_id",
    "agent_modules",
    "WAREHOUSE_MODULES",
    "role_of",
    "role_of_module",
]


class StoreFeature(IntEnum):
    """A store's observation columns (``inbound_pipeline`` only in the
    ``pipeline`` layout, the default; the reference design's 7-D layout stops
    before it)."""

    inventory = 0
    forecast = 1
    demand_uncertainty = 2
    days_of_cover = 3
    last_day_stockout = 4
    warehouse_ratio = 5
    recent_service_level = 6
    inbound_pipeline = 7


class StoreOrderFeature(IntEnum):
    """A store's observation columns in the ``orders`` layout (stores ordering
    quantities): these three, then from ``arriving`` on one column per period
    of its lead time but the last (what arrives in 1, 2, .., L - 1 periods)."""

    inventory = 0
    backlog = 1
    on_order = 2
    arriving = 3


class EchelonFeature(IntEnum):
    """A warehouse's observation columns in the ``echelon`` layout
    (``warehouse_observation="echelon"``): these three, then from ``arriving``
    on one column per period of its lead time but the last."""

    echelon_inventory = 0
    echelon_position = 1
    on_order = 2
    arriving = 3


class WarehouseFeature(IntEnum):
    """A warehouse's observation columns: these three, then each child's
    inventory from ``child_inventory`` on (one column per child), then the mean
    service level of the stores below it (the last column)."""

    aggregate_store_demand = 0
    inventory = 1
    inbound_pipeline = 2
    child_inventory = 3


class SupplierFeature(IntEnum):
    """The supplier's observation columns."""

    warehouse_order = 0
    backlog = 1
    days_until_delivery = 2


@dataclass(frozen=True)
class Role:
    """What hmarl knows of a kind of agent.

    Attributes:
        name: the role's name (``infos``, the evaluator's ``role`` column).
        prefix: its agents are named ``<prefix>_<n>``.
        is_node: whether its agents are nodes of the scenario (the supplier is
            not: it stands above the root).
        faces_demand: whether its nodes are leaves that serve customer demand
            (stores) rather than internal nodes that serve their children.
        action_values: the field of ``scenario.actions`` its actions index
            (:mod:`hmarl_env.actions` decodes them).
        reward_weights: the field of ``scenario.rewards`` holding its weights.
        reward_terms: ``(period table column, weight field, sign)`` for each
            term of its reward: ``reward = sum(sign * weight * column)``
            (:func:`hmarl_env.rewards.role_reward`).
        module: the RLlib module ID its agents share (``None``: each agent has
            its own module, named after it, except the role's first agent,
            which uses the role's name).
        baseline: the :mod:`baselines` policy set a learned agent of this role
            must beat (the curriculum gate); its heuristics are built by
            ``baselines.policies.HEURISTICS[name]``.
    """

    name: str
    prefix: str
    is_node: bool
    faces_demand: bool
    action_values: str
    reward_weights: str
    reward_terms: tuple[tuple[str, str, float], ...]
    module: str | None
    baseline: str

    def module_of(self, agent: str) -> str:
        """The RLlib module ID ``agent`` acts with."""
        if self.module is not None:
            return self.module
        return self.name if agent == f"{self.prefix}_1" else agent

    def weights(self, rewards: Any) -> Any:
        """This role's reward weights out of ``scenario.rewards``."""
        return getattr(rewards, self.reward_weights)


_NODE_TERMS = (
    ("service_level", "service_level", 1.0),
    ("holding_cost", "holding_cost", -1.0),
    ("stockout_penalty", "stockout_penalty", -1.0),
    ("excess_inventory", "excess_inventory", -1.0),
)

STORE = Role(
    name="store",
    prefix="store",
    is_node=True,
    faces_demand=True,
    action_values="store_order_multipliers",
    reward_weights="store",
    reward_terms=_NODE_TERMS,
    module="store",
    baseline="rule_based",
)
WAREHOUSE = Role(
    name="warehouse",
    prefix="warehouse",
    is_node=True,
    faces_demand=False,
    action_values="warehouse_order_lots",
    reward_weights="warehouse",
    reward_terms=_NODE_TERMS,
    module=None,
    baseline="tuned",
)
SUPPLIER_ROLE = Role(
    name="supplier",
    prefix="supplier",
    is_node=False,
    faces_demand=False,
    action_values="supplier_fulfil_fractions",
    reward_weights="supplier",
    reward_terms=(
        ("service_level", "service_level", 1.0),
        ("stockout_penalty", "backlog", -1.0),
        ("overtime_cost", "overtime", -1.0),
    ),
    module="supplier",
    baseline="tuned",
)

#: every role, in agent order (a scenario's agents: stores, warehouses, supplier)
ROLES: Mapping[str, Role] = {r.name: r for r in (STORE, WAREHOUSE, SUPPLIER_ROLE)}
#: the one supplier agent
SUPPLIER = f"{SUPPLIER_ROLE.prefix}_1"


def role_of(agent: str) -> Role:
    """The role of an agent (or of a node) named ``<prefix>_<n>``."""
    prefix, _, number = str(agent).rpartition("_")
    for role in ROLES.values():
        if prefix == role.prefix and number.isdigit():
            return role
    raise ValueError(
        f"{agent!r} is no agent of hmarl's: agents are named "
        f"{[r.prefix + '_<n>' for r in ROLES.values()]}"
    )


def module_id(agent: str) -> str:
    """The RLlib module ID an agent acts with (stores share ``store``)."""
    return role_of(agent).module_of(agent)


def role_of_module(module: str) -> Role:
    """The role whose agents act with ``module``."""
    for role in ROLES.values():
        if module in (role.name, role.module):
            return role
    return role_of(module)


def agents_of(scenario: Scenario) -> dict[str, tuple[str, ...]]:
    """Role name -> its agents in ``scenario``, in agent order."""
    out: dict[str, tuple[str, ...]] = {}
    for role in ROLES.values():
        if role.is_node:
            out[role.name] = tuple(
                n.name for n in scenario.nodes if role_of(n.name) is role
            )
        else:
            out[role.name] = (f"{role.prefix}_1",)
    return out


#: how warehouses map to RLlib modules: each its own (``per_node``: the first
#: warehouse's named ``warehouse``), or one module for the warehouses at each
#: level of the tree (``per_level``: like regional warehouses share one, as
#: stores do)
WAREHOUSE_MODULES = ("per_node", "per_level")


def agent_modules(scenario: Scenario, warehouse_modules: str = "per_node") -> dict:
    """Agent -> the RLlib module ID it acts with, in agent order: stores share
    ``store``, the supplier has ``supplier``; warehouses as
    ``warehouse_modules`` says (:data:`WAREHOUSE_MODULES`), a level's shared
    module named as its first warehouse's own would be (``warehouse`` for
    ``warehouse_1``)."""
    if warehouse_modules not in WAREHOUSE_MODULES:
        raise ValueError(
            f"warehouse_modules must be one of {list(WAREHOUSE_MODULES)}, got "
            f"{warehouse_modules!r}"
        )
    out = {a: module_id(a) for a in agent_names(scenario)}
    if warehouse_modules == "per_node":
        return out
    parent = {n.name: n.parent for n in scenario.nodes}
    first: dict[int, str] = {}
    for agent in agents_of(scenario)["warehouse"]:
        depth, node = 0, agent
        while parent[node] is not None:
            depth, node = depth + 1, parent[node]
        out[agent] = first.setdefault(depth, out[agent])
    return out


def node_agents(scenario: Scenario) -> dict[str, int]:
    """Agent -> its node index, for the agents that are nodes, in agent order."""
    index = {name: i for i, name in enumerate(scenario.node_names)}
    return {
        a: index[a]
        for role, agents in agents_of(scenario).items()
        if ROLES[role].is_node
        for a in agents
    }


def agent_names(scenario: Scenario) -> tuple[str, ...]:
    """Every agent of ``scenario``, in agent order (the env's)."""
    return tuple(a for agents in agents_of(scenario).values() for a in agents)
