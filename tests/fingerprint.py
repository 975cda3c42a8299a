"""A fingerprint of hmarl's behaviour: hashes of what the env and the evaluator
produce on every preset, to show that a refactoring changed nothing.

How to run:
    python -m tests.fingerprint            # compare with tests/data/fingerprint.json
    python -m tests.fingerprint --write    # record the current behaviour

Each entry hashes the exact bytes of what it covers (float64 where the code
computes in float64, float32 observations as the env returns them), so "equal"
means bit-identical:

* ``env/<preset>/<store_observation>``: two episodes of the PettingZoo env under
  seeded random actions: observations, rewards, infos, ``state()`` and every
  period's ledger blocks.
* ``evaluate/<preset>/<policy set>``: the batched evaluator's per-episode KPIs
  for the rule-based, base-stock, tuned and constant policy sets, 24 held-out
  episodes.
* ``reference/phase1``: the committed phase-1 reference run's learned store
  (loaded without Ray) through the evaluator, 16 held-out episodes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from hmarl_env.seeding import HELD_OUT_SEED

ROOT = Path(__file__).resolve().parent.parent
STORED = ROOT / "tests" / "data" / "fingerprint.json"


def _digest(parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(str(p.dtype).encode())
            h.update(str(p.shape).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True).encode())
    return h.hexdigest()


def env_fingerprint(preset: str, store_observation: str) -> str:
    from hmarl_env import parallel_env

    env = parallel_env(preset, store_observation=store_observation)
    rng = np.random.default_rng(7)
    parts = []
    for episode in range(2):
        obs, infos = env.reset(seed=HELD_OUT_SEED + episode)
        parts += [obs[a] for a in env.possible_agents]
        parts += [infos, env.state()]
        while env.agents:
            actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
            obs, rewards, term, trunc, infos = env.step(actions)
            parts += [obs[a] for a in env.possible_agents]
            parts += [rewards, infos, env.state(), term, trunc]
        for led in env.history:
            parts += [np.asarray(led.nodes), np.asarray(led.supplier)]
    return _digest(parts)


def evaluate_fingerprint(preset: str, kind: str) -> str:
    from baselines.evaluate import evaluate
    from baselines.policies import make_policies
    from hmarl_env import get_scenario

    scenario = get_scenario(preset)
    df = evaluate(scenario, make_policies(scenario, kind), 24, seed=HELD_OUT_SEED)
    return _digest([list(df.columns), df.to_numpy(dtype=object).tolist()])


def reference_fingerprint() -> str:
    from analysis.runs.loading import load_policies
    from analysis.runs.record import read_run_config
    from baselines.evaluate import evaluate

    run = ROOT / "results" / "reference" / "default__phase1__0"
    scenario = read_run_config(run).scenario
    df = evaluate(scenario, load_policies(run), 16, seed=HELD_OUT_SEED)
    return _digest([list(df.columns), df.to_numpy(dtype=object).tolist()])


def compute(reference: bool = True) -> dict[str, str]:
    from hmarl_env.scenario import PRESETS

    out = {}
    for preset in PRESETS:
        for layout in ("pipeline", "reference"):
            out[f"env/{preset}/{layout}"] = env_fingerprint(preset, layout)
        for kind in ("rule_based", "base_stock", "tuned", "constant"):
            out[f"evaluate/{preset}/{kind}"] = evaluate_fingerprint(preset, kind)
    if reference:
        out["reference/phase1"] = reference_fingerprint()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record, not compare")
    args = parser.parse_args(argv)
    now = compute()
    if args.write:
        STORED.parent.mkdir(parents=True, exist_ok=True)
        STORED.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"{len(now)} fingerprints written to {STORED}")
        return 0
    stored = json.loads(STORED.read_text())
    bad = sorted(k for k in stored.keys() | now.keys() if stored.get(k) != now.get(k))
    for k in bad:
        print(f"differs: {k}")
    print(f"{len(now) - len(bad)} of {len(now)} fingerprints equal")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
