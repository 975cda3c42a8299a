"""Every agent's reward, from the period's ledger only.

Reward modes (``scenario.rewards.mode``):

* ``local`` (the default, the reference design's): an agent's reward is its *local
reward*,
  :func:`role_reward`: for each term the registry lists for its role
  (:attr:`hmarl_env.registry.Role.reward_terms`), its sign times its weight
  (``scenario.rewards``) times the period table's column;
* ``system``: every agent receives the period's *system reward*,
  :func:`system_reward`: minus the whole chain's ledger cost of the period
  (every node's total cost, the supplier's backlog and overtime costs), the
  quantity the multi-echelon literature minimises;
* ``mixed``: ``(1 - system_weight) * local + system_weight * system``.

With ``rewards.expected_store_costs`` the system reward charges each store
the expectation of its holding and shortage costs over the period's demand,
given its net stock when demand arrives (:class:`ExpectedStoreCosts`), instead
of the realised ones; the period table and ``infos``' costs stay the ledger's.

``infos`` report both parts (``local_reward``, ``system_reward``) in every
mode. With the default weights, the local rewards are (the reference design's formula):

* store and warehouse: ``10 * service_level - 0.1 * holding_cost
  - 5 * stockout_penalty - 0.05 * excess_inventory``, with service level the
  fraction of what was asked of the node this period (customer demand plus
  backlog, or children's orders plus what it owed them) that it served,
  holding cost its holding plus transit cost, stockout penalty its stockout
  cost and excess inventory its closing stock above ``excess_cover_days``
  periods of expected demand;
* supplier: ``10 * service_level - 0.1 * backlog_cost - 0.1 * overtime_cost``,
  with service level the fraction of what it owed that it released.

The *period table* (:meth:`LedgerRewards.period_table`, a numba kernel) turns a
ledger into those terms and the quantities reported in ``infos``; the kernel
that scores it multiplies by a sparse matrix that :func:`reward_weights` builds
by evaluating :func:`table_rewards` (the formulas above, in plain numpy) on the
table's unit columns, so each formula exists once and the kernel is tested
against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hmarl_env._jit import kernel
from hmarl_env.core import Simulation, StateField, served
from hmarl_env.ledger import Ledger, NodeField, SupplierField
from hmarl_env.observations import csr, inventory_scales
from hmarl_env.registry import SUPPLIER, Role, node_agents, role_of
from hmarl_env.scenario import Scenario

__all__ = [
    "NODE_COPIED",
    "INFO_KEYS",
    "NODE_INFO_KEYS",
    "NODE_TABLE",
    "NODE_TERMS",
    "SUPPLIER_INFO_KEYS",
    "SUPPLIER_TABLE",
    "ExpectedStoreCosts",
    "LedgerRewards",
    "reward_scales",
    "mix",
    "reward_weights",
    "role_reward",
    "system_reward",
    "table_rewards",
]

#: Per-node columns of the period table, N each, in this order: the reward
#: terms (computed by :func:`_table`, each from the ledger by its name), then
#: ledger rows copied as they are. A reward term is one name here, its formula
#: in ``_table``, its weight in the scenario's weights and its entry in the
#: role's ``reward_terms`` (:mod:`hmarl_env.registry`); nothing else refers to
#: a column by position.
NODE_TERMS = ("service_level", "holding_cost", "stockout_penalty", "excess_inventory")
NODE_COPIED = (
    "closing",
    "lost",
    "demand",
    "sold",
    "shipped",
    "ordered",
    "received",
    "backlog",
    "in_transit",
    "total_cost",
)
NODE_TABLE = NODE_TERMS + NODE_COPIED
#: then the supplier's columns
SUPPLIER_TABLE = (
    "service_level",
    "stockout_penalty",
    "overtime_cost",
    "shipped",
    "backlog",
)
_INFO_NAMES = {"closing": "inventory", "lost": "lost_sales"}  # the reference design's
# the two parts of every agent's reward, in every mode
_REWARD_INFO = ("local_reward", "system_reward")
#: keys of every agent's infos, one schema for all: the period, the node
#: table's columns (the reward terms, then the ledger's quantities), the
#: supplier's overtime cost, the agent's local reward and the system reward.
#: A key that does not apply to a role is 0 there (a store's overtime, the
#: supplier's inventory; the supplier's ``demand`` is the root's order, its
#: ``shipped`` what it released, its ``backlog`` what it owes the root, its
#: ``stockout_penalty`` its backlog cost, its ``total_cost`` that plus its
#: overtime cost)
INFO_KEYS = (
    "period",
    *(_INFO_NAMES.get(f, f) for f in NODE_TABLE),
    "overtime_cost",
    *_REWARD_INFO,
)
NODE_INFO_KEYS = SUPPLIER_INFO_KEYS = INFO_KEYS
# short names for the kernels: led[b, _L.sold, i]
_S, _L, _SF = StateField, NodeField, SupplierField
# the ledger rows that the period table copies, in NODE_COPIED order
_COPIED = np.array([NodeField[f] for f in NODE_COPIED], dtype=np.int64)
# each column's block of the period table (node columns: block * N + node)
_N = {name: k for k, name in enumerate(NODE_TABLE)}
_SUP = {name: k for k, name in enumerate(SUPPLIER_TABLE)}
_SERVICE, _HOLDING, _STOCKOUT, _EXCESS = (_N[t] for t in NODE_TERMS)
_FIRST_COPIED = len(NODE_TERMS)
_S_SERVICE, _S_BACKLOG_COST, _S_OVERTIME, _S_SHIPPED, _S_BACKLOG = (
    _SUP[c] for c in SUPPLIER_TABLE
)


def role_reward(role: Role, weights: Any, terms: Mapping[str, Any]) -> Any:
    """The reward formula: ``sum(sign * weight * terms[column])`` over the
    role's reward terms; ``weights`` are ``scenario.rewards.<role>``, ``terms``
    the period table's columns by name (floats or arrays)."""
    return sum(
        sign * getattr(weights, weight) * terms[column]
        for column, weight, sign in role.reward_terms
    )


def system_reward(node: Mapping[str, Any], supplier: Mapping[str, Any]) -> Any:
    """Minus the period's system ledger cost: every node's total cost (``node``:
    the table's node columns, ``(B, N)``), the supplier's backlog and overtime
    costs (``supplier``: its columns, ``(B,)``)."""
    return -(
        node["total_cost"].sum(axis=1)
        + supplier["stockout_penalty"]
        + supplier["overtime_cost"]
    )


def mix(share: float, local: Any, system: Any) -> Any:
    """An agent's reward: ``(1 - share) * local + share * system`` (exactly
    ``local`` at share 0 and ``system`` at 1)."""
    return (1.0 - share) * local + share * system


def table_rewards(scenario: Scenario, table: np.ndarray) -> np.ndarray:
    """Every reward of a period table by the formulas, in plain numpy:
    ``(B, 2(N + 1) + 1)``, the rewards agents receive (every node's in node
    order, then the supplier's), their local rewards in the same order, and
    the system reward."""
    n = len(scenario.nodes)
    node, supplier = table_columns(table, n)
    local = np.empty((table.shape[0], n + 1))
    for i, name in enumerate(scenario.node_names):
        role = role_of(name)
        terms = {f: node[f][:, i] for f in NODE_TABLE}
        local[:, i] = role_reward(role, role.weights(scenario.rewards), terms)
    role = role_of(SUPPLIER)
    local[:, n] = role_reward(role, role.weights(scenario.rewards), supplier)
    system = system_reward(node, supplier)[:, None]
    received = mix(scenario.rewards.system_share, local, system)
    return np.concatenate([received, local, system], axis=1)


def reward_weights(scenario: Scenario) -> np.ndarray:
    """The matrix ``(table width, 2(N + 1) + 1)`` with ``table @ W`` =
    :func:`table_rewards`, from the formulas applied to each of the table's unit
    columns (every reward is linear in the table)."""
    width = table_width(len(scenario.nodes))
    return table_rewards(scenario, np.eye(width))


def table_width(n_nodes: int) -> int:
    return len(NODE_TABLE) * n_nodes + len(SUPPLIER_TABLE)


def table_columns(
    table: np.ndarray, n_nodes: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Named views of a period table: per node ``(B, N)``, supplier ``(B,)``."""
    n = n_nodes
    node = {f: table[:, k * n : (k + 1) * n] for k, f in enumerate(NODE_TABLE)}
    sup0 = len(NODE_TABLE) * n
    supplier = {f: table[:, sup0 + k] for k, f in enumerate(SUPPLIER_TABLE)}
    return node, supplier


def reward_scales(scenario: Scenario) -> dict[str, float]:
    """Each agent's *reward scale*: the size of one period's reward, from the
    scenario's weights and costs, for learners that want rewards of order one.

    Local part: a store or warehouse ``SL + HC * holding_cost * inventory_scale``
    (full service while holding one inventory scale of stock); the supplier
    ``FR + BC * backlog_cost * s + OC * overtime_cost * d`` with ``s`` and ``d``
    the root's inventory scale and expected demand per period. System part:
    the chain's cost holding one inventory scale at every node, with one
    inventory scale owed to the root and one period's overtime. An agent
    receives the two in its reward mode's proportions (:func:`mix`); one whose
    scale comes to 0 gets 1 (its rewards are left as they are).
    """
    w = scenario.rewards
    inv = inventory_scales(scenario)
    root, sup = scenario.root, scenario.supplier
    owed = sup.backlog_cost * float(inv[root])
    overtime = sup.overtime_cost * float(scenario.mean_demand[root])
    local: dict[str, float] = {}
    for i, node in enumerate(scenario.nodes):
        rw = role_of(node.name).weights(w)
        local[node.name] = abs(rw.service_level) + abs(
            rw.holding_cost * node.holding_cost * float(inv[i])
        )
    sw = role_of(SUPPLIER).weights(w)
    local[SUPPLIER] = (
        abs(sw.service_level) + abs(sw.backlog * owed) + abs(sw.overtime * overtime)
    )
    system = sum(
        n.holding_cost * float(inv[i]) for i, n in enumerate(scenario.nodes)
    ) + (owed + overtime)
    out = {a: mix(w.system_share, s, system) for a, s in local.items()}
    return {a: (s if s > 0 else 1.0) for a, s in out.items()}


@kernel
def _table(led, sup, excess, root):  # pragma: no cover - jit
    """The period table ``(B, len(NODE_TABLE) * N + len(SUPPLIER_TABLE))``
    (see :meth:`LedgerRewards.period_table`); each column is written by its name."""
    B, _, N = led.shape
    n_copied = _COPIED.shape[0]
    end = (_FIRST_COPIED + n_copied) * N
    out = np.empty((B, end + 5))
    for b in range(B):
        for i in range(N):
            out[b, _SERVICE * N + i] = served(
                led[b, _L.sold, i] + led[b, _L.shipped, i],
                led[b, _L.lost, i] + led[b, _L.backlog, i],
            )
            out[b, _HOLDING * N + i] = (
                led[b, _L.holding_cost, i] + led[b, _L.transit_cost, i]
            )
            out[b, _STOCKOUT * N + i] = led[b, _L.stockout_cost, i]
            out[b, _EXCESS * N + i] = max(led[b, _L.closing, i] - excess[i], 0.0)
            for c in range(n_copied):
                out[b, (_FIRST_COPIED + c) * N + i] = led[b, _COPIED[c], i]
        released = led[b, _L.inbound, root]
        owed = led[b, _L.inbound_backlog, root]
        out[b, end + _S_SERVICE] = served(released, owed)
        out[b, end + _S_BACKLOG_COST] = sup[b, _SF.supplier_backlog_cost]
        out[b, end + _S_OVERTIME] = sup[b, _SF.supplier_overtime_cost]
        out[b, end + _S_SHIPPED] = released
        out[b, end + _S_BACKLOG] = owed
    return out


@kernel
def _rewards(table, indptr, inputs, weights):  # pragma: no cover - jit
    """``table @ W`` with ``W`` given column by column (CSR)."""
    B = table.shape[0]
    R = indptr.shape[0] - 1
    out = np.empty((B, R))
    for b in range(B):
        for k in range(R):
            acc = 0.0
            for j in range(indptr[k], indptr[k + 1]):
                acc += table[b, inputs[j]] * weights[j]
            out[b, k] = acc
    return out


class ExpectedStoreCosts:
    """Each store's holding and shortage costs in expectation over a period's
    Poisson demand ``D``, given its net stock ``x`` when demand arrives:
    ``h * E(x - D)^+ + p * E(D - x)^+``, against the realised ``h * closing +
    p * (lost + backlog)``. ``x`` comes from the period table: ``closing -
    backlog + demand - lost`` (on hand after arrivals, less what was owed to
    customers). For whole-unit demand ``E(x - D)^+`` is linear between
    integers, so a table over ``0 .. top`` interpolated is exact; above
    ``top`` (where ``P(D > top) < 1e-12``) it is ``x - mean``.
    """

    def __init__(self, scenario: Scenario) -> None:
        from scipy import stats

        stores = scenario.store_index
        self.stores = stores
        nodes = [scenario.nodes[i] for i in stores]
        self.h = np.array([n.holding_cost for n in nodes])
        self.p = np.array([n.stockout_cost for n in nodes])
        self.mean = np.array([n.demand.mean for n in nodes])
        self.top = np.array([int(stats.poisson.isf(1e-12, m)) + 1 for m in self.mean])
        self.grid = []
        for m, top in zip(self.mean, self.top, strict=True):
            k = np.arange(top + 1)
            cdf = stats.poisson.cdf(k, m)
            # E(x - D)^+ at integers: sum of P(D <= j) for j < x
            self.grid.append(np.concatenate([[0.0], np.cumsum(cdf)[:-1]]))

    def over(self, x: np.ndarray) -> np.ndarray:
        """``E(x - D)^+`` per store, ``x`` of shape ``(B, stores)``."""
        out = np.empty_like(x)
        for j, (grid, top, m) in enumerate(
            zip(self.grid, self.top, self.mean, strict=True)
        ):
            col = x[:, j]
            inside = np.interp(col, np.arange(top + 1), grid, left=0.0)
            out[:, j] = np.where(col > top, col - m, inside)
        return out

    def correction(self, node: Mapping[str, np.ndarray]) -> np.ndarray:
        """Realised minus expected store costs per replica ``(B,)``, from the
        period table's node columns."""
        s = self.stores
        closing, backlog = node["closing"][:, s], node["backlog"][:, s]
        lost, demand = node["lost"][:, s], node["demand"][:, s]
        x = closing - backlog + demand - lost
        over = self.over(x)
        expected = self.h * over + self.p * (over + self.mean - x)
        realised = self.h * closing + self.p * (lost + backlog)
        return (realised - expected).sum(axis=1)


class LedgerRewards:
    """The period table, rewards and ``infos`` of a scenario's agents, from
    the ledger (the scenario's reward settings: :class:`hmarl_env.scenario.Rewards`)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = sc = scenario
        self.n_nodes = n = len(sc.nodes)
        self.root = sc.root
        self._excess = np.array(
            [
                role_of(name).weights(sc.rewards).excess_cover_days * m
                for name, m in zip(sc.node_names, sc.mean_demand, strict=True)
            ]
        )
        self._map = csr(reward_weights(sc))
        self.width = table_width(n)
        self._nodes = tuple(node_agents(sc).items())
        self._expected = (
            ExpectedStoreCosts(sc) if sc.rewards.expected_store_costs else None
        )
        self._share = sc.rewards.system_share

    def period_table(self, led: Ledger) -> np.ndarray:
        """The period's report ``(B, len(NODE_TABLE) * N + 5)``: for every
        node the reward terms and ledger quantities of :data:`NODE_TABLE` (N
        columns each), then the supplier's :data:`SUPPLIER_TABLE`."""
        if led.nodes.shape[2] != self.n_nodes:
            raise ValueError(
                f"a ledger of {led.nodes.shape[2]} nodes given to roles of "
                f"{self.n_nodes}"
            )
        return _table(led.nodes, led.supplier, self._excess, self.root)

    def score(self, table: np.ndarray) -> np.ndarray:
        """Every reward of the period ``(B, 2(N + 1) + 1)`` (the layout of
        :func:`table_rewards`): received, local, system."""
        if type(table) is not np.ndarray:
            table = np.asarray(table, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != self.width:
            raise ValueError(
                f"rewards take a period table of shape (B, {self.width}), "
                f"got {table.shape}"
            )
        scores = _rewards(table, *self._map)
        if self._expected is not None:  # realised store costs -> expected
            node, _ = table_columns(table, self.n_nodes)
            delta = self._expected.correction(node)
            scores[:, : self.n_nodes + 1] += self._share * delta[:, None]
            scores[:, -1] += delta
        return scores

    def __call__(self, table: np.ndarray) -> np.ndarray:
        """The rewards agents receive ``(B, N + 1)``: every node's (node order),
        then the supplier's."""
        return self.score(table)[:, : self.n_nodes + 1]

    def infos(
        self, table: np.ndarray, scores: np.ndarray, period: int, replica: int = 0
    ):
        """Each agent's reconciliation report for one replica (plain floats),
        from the period table and :meth:`score`'s output."""
        row = table[replica].tolist()
        n = self.n_nodes
        end = len(NODE_TABLE) * n
        period = float(period)
        keys = INFO_KEYS[1 : 1 + len(NODE_TABLE)]
        scored = scores[replica].tolist()
        local, system = scored[n + 1 : 2 * n + 2], scored[-1]
        out = {}
        for name, i in self._nodes:
            info = dict.fromkeys(INFO_KEYS, 0.0)
            info.update(zip(keys, row[i:end:n], strict=True))
            info["period"] = period
            info["local_reward"] = local[i]
            info["system_reward"] = system
            out[name] = info
        supplier = dict(zip(SUPPLIER_TABLE, row[end:], strict=True))
        info = dict.fromkeys(INFO_KEYS, 0.0)
        info.update(supplier)
        info["period"] = period
        info["demand"] = row[NODE_TABLE.index("ordered") * n + self.root]
        info["total_cost"] = supplier["stockout_penalty"] + supplier["overtime_cost"]
        info["local_reward"] = local[n]
        info["system_reward"] = system
        out[SUPPLIER] = info
        return out

    def reset_infos(self, sim: Simulation, replica: int = 0):
        """Reports at reset: the same keys, with period 0's demand so far, no costs."""
        st = sim.state_array[replica].tolist()  # one list per state field
        sold = st[_S.sold]
        out = {}
        for name, i in self._nodes:
            row = dict.fromkeys(INFO_KEYS, 0.0)
            row.update(
                service_level=served(
                    st[_S.sold][i], st[_S.lost][i] + st[_S.backlog][i]
                ),
                inventory=st[_S.on_hand][i],
                lost_sales=st[_S.lost][i],
                demand=st[_S.demand][i],
                sold=sold[i],
                received=st[_S.received][i],
                backlog=st[_S.backlog][i],
                in_transit=st[_S.in_transit][i],
            )
            out[name] = row
        out[SUPPLIER] = dict.fromkeys(INFO_KEYS, 0.0)
        out[SUPPLIER]["service_level"] = 1.0
        return out
