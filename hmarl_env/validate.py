"""Pre-training validation of the env (the reference design's mandatory step 1).

How to run:
    python -m hmarl_env.validate [--scenario default] [--steps 10] [--seed 0]

Resets the env, plays random actions (every action of every agent at least
once), and checks observations, rewards and the reconciliation ledger. Prints
one PASS or FAIL line per check; exits 1 if any check fails. A scenario with
products is checked as a catalogue (:func:`run_catalogue_checks`).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

import numpy as np

from hmarl_env.catalogue_env import CatalogueEnv
from hmarl_env.env import SupplyChainEnv
from hmarl_env.ledger import CAPACITY_FIELDS, NODE_FIELDS, SUPPLIER_FIELDS
from hmarl_env.observations import STORE_OBSERVATIONS, default_store_observation
from hmarl_env.registry import SUPPLIER, role_of
from hmarl_env.rewards import (
    NODE_INFO_KEYS,
    SUPPLIER_INFO_KEYS,
    ExpectedStoreCosts,
    mix,
    role_reward,
    system_reward,
)
from hmarl_env.scenario import get_scenario
from hmarl_env.seeding import check_seed


def _expected_rewards(
    env: SupplyChainEnv, infos: dict[str, dict[str, float]]
) -> dict[str, tuple[float, float, float]]:
    """Each agent's (received, local, system) reward by the formulas, from the
    period's infos (the kernel's results are checked against them)."""
    nodes = [a for a in infos if a != SUPPLIER]
    system = float(
        system_reward(
            {"total_cost": np.array([[infos[a]["total_cost"] for a in nodes]])},
            {
                k: np.array([infos[SUPPLIER][k]])
                for k in ("stockout_penalty", "overtime_cost")
            },
        )[0]
    )
    sc = env.scenario
    if sc.rewards.expected_store_costs:  # realised store costs -> expected
        names = {"closing": "inventory", "lost": "lost_sales"}
        node = {
            column: np.array(
                [[infos[n][names.get(column, column)] for n in sc.node_names]]
            )
            for column in ("closing", "backlog", "lost", "demand")
        }
        system += float(ExpectedStoreCosts(sc).correction(node)[0])
    out = {}
    for agent, info in infos.items():
        role = role_of(agent)
        local = role_reward(role, role.weights(env.scenario.rewards), info)
        out[agent] = (
            mix(env.scenario.rewards.system_share, local, system),
            local,
            system,
        )
    return out


def run_checks(
    env: SupplyChainEnv, steps: int = 10, seed: int = 0
) -> list[tuple[bool, str]]:
    """Run every check; returns (passed, message) pairs."""
    results: list[tuple[bool, str]] = []

    def check(name: str, fn: Callable[[], str]) -> bool:
        try:
            detail = fn()
            results.append((True, f"{name}: {detail}"))
            return True
        except Exception as exc:  # a check reports, never crashes the run
            results.append((False, f"{name}: {type(exc).__name__}: {exc}"))
            return False

    steps = min(steps, env.scenario.horizon)
    rng = np.random.default_rng(seed)
    # each agent's actions: every action at least once, in random order
    plan = {}
    length = max([steps] + [env.action_space(a).n for a in env.possible_agents])
    for a in env.possible_agents:
        n = env.action_space(a).n
        plan[a] = rng.permutation(np.resize(np.arange(n), length))
    record: dict = {}

    def reset() -> str:
        obs, infos = env.reset(seed=seed)
        _check_observations(env, obs)
        for a in env.possible_agents:
            keys = SUPPLIER_INFO_KEYS if a == SUPPLIER else NODE_INFO_KEYS
            assert set(infos[a]) == set(keys), f"{a}'s reset infos have other keys"
        return f"{len(obs)} agents, observations inside their spaces"

    def step() -> str:
        record["steps"] = []
        for k in range(len(next(iter(plan.values())))):
            if not env.agents:
                env.reset(seed=seed + 1 + k)
            actions = {a: int(plan[a][k]) for a in env.agents}
            obs, rewards, terms, truncs, infos = env.step(actions)
            _check_observations(env, obs)
            record["steps"].append((rewards, infos, env.history[-1]))
        return f"{len(record['steps'])} steps with random actions"

    def rewards() -> str:
        worst = 0.0
        for rewards, infos, _ in record["steps"]:
            expected = _expected_rewards(env, infos)
            for a, r in rewards.items():
                assert math.isfinite(r), f"{a}'s reward is {r}"
                got = (r, infos[a]["local_reward"], infos[a]["system_reward"])
                for what, x, y in zip(
                    ("reward", "local", "system"), got, expected[a], strict=True
                ):
                    gap = abs(x - y)
                    assert gap <= 1e-9 * (1 + abs(x)), (
                        f"{a}'s {what} reward {x} differs by {gap}"
                    )
                    worst = max(worst, gap)
        return f"finite, and recomputed from infos to within {worst:.1e}"

    def reconciliation() -> str:
        worst = 0.0
        for _, infos, led in record["steps"]:
            for name in (*NODE_FIELDS, *SUPPLIER_FIELDS):
                v = getattr(led, name)
                assert np.isfinite(v).all(), f"{name} is not finite"
                assert (v >= 0).all(), f"{name} is negative"
            worst = max(worst, led.balance_error())
            assert worst < 1e-6, (
                f"closing != opening + received - shipped - sold ({worst})"
            )
            for a, info in infos.items():
                assert 0.0 <= info["service_level"] <= 1.0, f"{a}'s service level"
        return f"ledger balances (largest gap {worst:.1e}), nothing negative or NaN"

    def coverage() -> str:
        played = len(record["steps"])
        missing = [
            f"{a}:{k}"
            for a in plan
            for k in range(env.action_space(a).n)
            if k not in set(plan[a][:played].tolist())
        ]
        assert not missing, f"actions never taken: {missing}"
        return "every action of every agent taken at least once"

    if check("reset", reset) and check("step", step):
        check("rewards", rewards)
        check("reconciliation", reconciliation)
        check("action coverage", coverage)
    return results


def run_catalogue_checks(
    env: CatalogueEnv, steps: int = 10, seed: int = 0
) -> list[tuple[bool, str]]:
    """The checks of a catalogue's env: PettingZoo's API test, observations
    inside their spaces, rewards equal to minus the ledger's costs (by reward
    mode), every ledger field finite and non-negative, every node and product
    balanced, and every capacity kept."""
    from pettingzoo.test import parallel_api_test

    results: list[tuple[bool, str]] = []
    sc = env.scenario
    volume = sc.product_table[0]
    storage = np.array([n.storage for n in sc.nodes])

    def check(name: str, fn: Callable[[], str]) -> None:
        try:
            results.append((True, f"{name}: {fn()}"))
        except Exception as exc:  # a check reports, never crashes the run
            results.append((False, f"{name}: {type(exc).__name__}: {exc}"))

    def api() -> str:
        parallel_api_test(env, num_cycles=min(steps, sc.horizon))
        return "PettingZoo's parallel API test passes"

    def play() -> str:
        obs, _ = env.reset(seed=seed)
        _check_observations(env, obs)
        worst = 0.0
        share = sc.rewards.system_share
        for k in range(steps):
            if not env.agents:
                obs, _ = env.reset(seed=seed + 1 + k)
            actions = {a: env.action_space(a).sample() for a in env.agents}
            obs, rewards, _, _, infos = env.step(actions)
            _check_observations(env, obs)
            led = env.history[-1]
            for name in (*NODE_FIELDS, *SUPPLIER_FIELDS, *CAPACITY_FIELDS):
                v = getattr(led, name)
                assert np.isfinite(v).all() and (v >= 0).all(), f"{name}: {v.min()}"
            worst = max(worst, led.balance_error())
            assert worst < 1e-6, f"a node and product does not balance ({worst})"
            held = (led.by_product("closing")[0] * volume).sum(axis=1)
            assert (held <= storage * (1 + 1e-9)).all(), "a storage is exceeded"
            chain = -sum(float(infos[a]["total_cost"].sum()) for a in infos)
            chain -= float(led.supplier[0, 1:].sum())
            for a, r in rewards.items():
                own = -float(infos[a]["total_cost"].sum())
                if a not in env._roles.node_of:
                    own = -float(led.supplier[0, 1:].sum())
                expected = (1 - share) * own + share * chain
                assert abs(r - expected) <= 1e-9 * (1 + abs(r)), f"{a}'s reward {r}"
        return (
            f"{steps} steps: observations inside their spaces, rewards from the "
            f"ledger, every product balanced (largest gap {worst:.1e}), storage kept"
        )

    check("pettingzoo", api)
    check("play", play)
    return results


def _check_observations(env: SupplyChainEnv, obs: dict) -> None:
    missing = set(env.agents) - set(obs)
    assert not missing, f"no observation for {sorted(missing)}"
    for a, o in obs.items():
        space = env.observation_space(a)
        assert o.dtype == np.float32, f"{a}'s observation is {o.dtype}, not float32"
        assert space.contains(o), f"{a}'s observation {o} is outside {space}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default", help="preset name or file")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--store-observation",
        default=None,
        choices=STORE_OBSERVATIONS,
        help="the stores' layout (default: pipeline; orders for stores that "
        "order by offsets)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    try:
        check_seed(args.seed, "--seed")
        scenario = get_scenario(args.scenario)
        if scenario.products:
            env = CatalogueEnv(scenario)
        else:
            env = SupplyChainEnv(
                scenario,
                store_observation=args.store_observation
                or default_store_observation(scenario),
            )
    except ValueError as exc:
        parser.error(str(exc))
    if scenario.products:
        results, expected = run_catalogue_checks(env, args.steps, args.seed), 2
    else:
        results, expected = run_checks(env, args.steps, args.seed), 5
    for ok, message in results:
        print(f"{'PASS' if ok else 'FAIL'}: {message}")
    failed = sum(not ok for ok, _ in results)
    if failed or len(results) < expected:
        print(f"VALIDATION FAILED ({failed} of {len(results)} checks)")
        return 1
    ready = (
        "its env is ready (hmarl catalogue tunes its heuristics)"
        if scenario.products
        else "ready for training"
    )
    print(
        f"ALL {len(results)} VALIDATIONS PASSED: scenario {env.scenario.name!r}: "
        f"{ready}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
