"""Phase 1 on a scenario family: one tiny run (trained in this process, a few
seconds) that records its family, whose checkpoint loads without Ray and
acts on single instances of the family, a run that fine-tunes it on an
instance outside the family's ranges, and the options a family run
refuses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import TINY, refused

#: tiny batches, one epoch (TINY's), four replicas; no monitor or gate
SMALL = [*TINY[:6], "--num-envs-per-env-runner", "4"]


@pytest.fixture(scope="module")
def family_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("family_runs")
    proc = refused(
        "phase1",
        "--family",
        "lost_sales_family",
        "--timesteps",
        "400",
        "--output",
        str(out),
        *SMALL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


#: an instance beyond the family's lead times (1-4), within its room (6)
PINNED = "lost_sales_family@lead_time=5,mean=5,penalty=9"


@pytest.fixture(scope="module")
def tuned_run(family_run, tmp_path_factory):
    """The family run fine-tuned on :data:`PINNED` (a learning rate so small
    that its weights stay within 1e-5 of where they started)."""
    out = tmp_path_factory.mktemp("tuned_runs")
    proc = refused(
        "phase1",
        "--family",
        PINNED,
        "--from",
        str(family_run),
        "--timesteps",
        "200",
        "--lr",
        "1e-7",
        "--output",
        str(out),
        *SMALL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def test_a_family_run_records_its_family_and_trains_on_its_instances(family_run):
    config = json.loads((family_run / "config.json").read_text())
    assert config["family"] == "lost_sales_family"
    assert config["family_units"] == "demand"
    assert config["store_observation"] == "orders"
    assert config["eval"]["interval"] == 0 and config["gate_episodes"] == 0
    # the agents it does not train act by their untuned rules
    assert config["phase"]["heuristic"]["supplier"] == "base_stock"
    assert (family_run / "checkpoints" / "final").is_dir()


def test_a_family_checkpoint_acts_on_instances_of_its_family(family_run):
    """Without Ray: the module sees the instance's observation padded and
    followed by the instance's context (each instance its own); a scenario
    that is not an instance of the family is refused."""
    import ray

    from analysis.runs.loading import load_policies
    from hmarl_env import get_scenario
    from hmarl_env.family_env import FamilyEnv
    from hmarl_env.scenario.family import LOST_SALES

    assert not ray.is_initialized()
    values = {"lead_time": 2.0, "penalty": 39.0, "mean": 5.0}
    scenario = LOST_SALES.instance(values)
    policies = load_policies(family_run, scenario, acting="mean")
    store = policies["store_1"]
    # what FamilyEnv shows the module for the same instance and state
    env = FamilyEnv(LOST_SALES, "orders")
    obs = np.array([[3.0, 0.0, 5.0, 5.0]], np.float32)  # on hand, backlog, orders
    units = env.layout.units_of(scenario)["store_1"]
    assert units == pytest.approx(4.0)  # L 2: (L + 2) mean demands a scale
    padded = env.layout.pad("store_1", obs, LOST_SALES.context(values), units)
    np.testing.assert_array_equal(store.policy(padded), store(obs))
    cheap = LOST_SALES.instance({"lead_time": 2.0, "penalty": 4.0, "mean": 5.0})
    other = load_policies(family_run, cheap, acting="mean")["store_1"]
    assert other.context.tolist() != store.context.tolist()
    with pytest.raises(ValueError, match="name the instance"):
        load_policies(family_run)
    with pytest.raises(ValueError, match="lost_sales_family"):
        load_policies(family_run, get_scenario("lost_sales_L2_p39"))


def _first_layers(weights: dict) -> dict:
    """The store module's first layers on the observation (actor, critic)."""
    return {
        k: v
        for k, v in weights.items()
        if k.endswith("encoder.net.mlp.0.weight") and v.ndim == 2
    }


def test_inputs_no_instance_fills_keep_zero_weights_through_training(
    family_run, tuned_run
):
    """The family's room for lead times 5-6 (positions 7, 8 of the store's
    observation) is zero in every instance it draws: the first layers'
    weights there start at zero and stay so, while every other input's are
    trained; fine-tuning on lead time 5 fills position 7 and trains it."""
    from experiments.curriculum import saved_weights

    family = _first_layers(saved_weights(family_run, "store"))
    assert len(family) == 2  # the actor's and the critic's
    for w in family.values():
        assert w.shape[1] == 12  # 9 wide, then the 3 context features
        assert not w[:, 7:9].any()
        assert (np.abs(w[:, :7]).sum(axis=0) > 0).all()
    tuned = _first_layers(saved_weights(tuned_run, "store"))
    for w in tuned.values():
        assert w[:, 7].any()  # lead time 5 fills it: trained
        assert not w[:, 8].any()  # lead time 6 still not


def test_zeroed_inputs_refuse_a_position_the_observation_lacks():
    from gymnasium import spaces
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from experiments.heads import CategoricalPPOModule

    config = {**DefaultModelConfig(fcnet_hiddens=[8]).__dict__, "unfilled_inputs": [5]}
    with pytest.raises(ValueError, match=r"unfilled_inputs \[5\] lie outside"):
        CategoricalPPOModule(
            observation_space=spaces.Box(0, 1, (4,)),
            action_space=spaces.Discrete(3),
            model_config=config,
        )


def test_a_family_run_recorded_before_units_acts_as_it_trained(family_run, tmp_path):
    """A run whose config.json has no family_units trained on the stock as
    the instance's env shows it: it loads so, and acts on those inputs."""
    import shutil

    from analysis.runs.loading import load_policies
    from analysis.runs.record import read_run_config
    from hmarl_env.scenario.family import LOST_SALES

    old = tmp_path / family_run.name
    shutil.copytree(family_run, old)
    config = json.loads((old / "config.json").read_text())
    del config["family_units"]
    (old / "config.json").write_text(json.dumps(config))
    assert read_run_config(old).family_units == "scenario"
    scenario = LOST_SALES.instance({"lead_time": 2.0, "penalty": 39.0, "mean": 5.0})
    store = load_policies(old, scenario, acting="mean")["store_1"]
    assert store.units is None
    obs = np.array([[3.0, 0.0, 5.0, 5.0]], np.float32)
    padded = store.layout.pad("store_1", obs, store.context)
    np.testing.assert_array_equal(store.policy(padded), store(obs))
    config["family_units"] = "cases"
    (old / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="family_units must be one of"):
        read_run_config(old)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scenario", "serial"], "--scenario is not an option with --family"),
        (["--gate-episodes", "10"], "--gate-episodes"),
        (["--eval-interval", "5"], "--eval-interval"),
        (["--critic", "central"], "local critic"),
        (["--reward-mode", "local"], "--reward-mode"),
    ],
)
def test_family_runs_refuse_what_they_cannot_honour(tmp_path, args, message):
    proc = refused(
        "phase1",
        "--family",
        "lost_sales_family",
        "--output",
        str(tmp_path),
        *SMALL,
        *args,
    )
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not list(tmp_path.iterdir())


def test_an_unknown_family_is_refused_with_the_families(tmp_path):
    proc = refused("phase1", "--family", "nope", "--output", str(tmp_path))
    assert proc.returncode != 0
    assert "lost_sales_family" in proc.stdout + proc.stderr


@pytest.mark.parametrize("script", ["phase2", "pipeline"])
def test_only_phase_1_offers_a_family(tmp_path, script):
    proc = refused(script, "--family", "lost_sales_family", "--output", str(tmp_path))
    assert proc.returncode == 2
    assert "unrecognized arguments: --family" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_fine_tuning_starts_from_the_family_policy_on_the_pinned_instance(
    family_run, tuned_run
):
    """The run records its pinned family and its source, starts from the
    source's store weights (restores are checked weight by weight: the run
    fails otherwise), trains on, and its checkpoint acts on the instance."""
    from analysis.runs.loading import load_policies
    from analysis.runs.record import read_run_config
    from experiments.curriculum import saved_weights
    from hmarl_env.scenario.family import get_family

    config = read_run_config(tuned_run)
    assert config.family == PINNED
    assert config.source["run"] == str(family_run.resolve())
    assert config.source["modules"] == ["store"]
    assert config.scenario.nodes[0].lead_time == 6  # L = 5
    assert config.ppo.hiddens == read_run_config(family_run).ppo.hiddens
    before = saved_weights(family_run, "store")
    after = saved_weights(tuned_run, "store")
    assert before.keys() == after.keys()
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # trained
    for k in before:  # from the source's weights, not from new ones
        np.testing.assert_allclose(after[k], before[k], atol=1e-5)
    instance = get_family(PINNED).sample(0)
    obs = np.array([[3.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0]], np.float32)
    for run in (family_run, tuned_run):  # zero-shot, and fine-tuned
        store = load_policies(run, instance, acting="mean")["store_1"]
        np.testing.assert_allclose(store.context, [4 / 3, 2 / 5, 4 / 7], rtol=1e-6)
        assert 0 <= int(store(obs)[0]) <= 17


def test_an_instance_beyond_the_familys_room_is_refused_by_name(family_run):
    from analysis.runs.loading import load_policies
    from hmarl_env.scenario.family import LOST_SALES

    far = LOST_SALES.instance({"lead_time": 8.0, "penalty": 9.0, "mean": 5.0})
    with pytest.raises(ValueError, match="makes room for"):
        load_policies(family_run, far)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hiddens", "8"], "keeps the architecture of the run it starts from"),
        (["--store-observation", "pipeline"], "observes the 'orders' layout"),
    ],
)
def test_fine_tuning_refuses_what_does_not_fit_its_source(
    family_run, tmp_path, args, message
):
    proc = refused(
        "phase1", "--family", PINNED, "--from", str(family_run),
        "--output", str(tmp_path), *SMALL, *args,
    )  # fmt: skip
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not list(tmp_path.iterdir())


def test_fine_tuning_needs_a_family_and_a_run_of_it(family_run, tmp_path):
    proc = refused("phase1", "--from", str(family_run), "--output", str(tmp_path))
    assert proc.returncode != 0
    assert "give --family" in proc.stdout + proc.stderr
    proc = refused(
        "phase1", "--family", "default_chain_family", "--from", str(family_run),
        "--output", str(tmp_path), *SMALL,
    )  # fmt: skip
    assert proc.returncode != 0
    assert (
        "fine-tunes a policy of family 'default_chain_family'"
        in proc.stdout + proc.stderr
    )
    assert not list(tmp_path.iterdir())


def test_the_adaptation_benchmark_counts_env_steps_to_the_target(family_run, tmp_path):
    """benchmarks/adaptation.py on a fine-tuning and a from-scratch run of one
    instance outside the family: the fine-tuning curve starts with the
    family policy at 0 env steps, checkpoints follow in order, and the steps
    to 1% are those of the first point within it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import adaptation

    name = "lost_sales_family@lead_time=1,mean=5,penalty=69"
    common = ["--family", name, "--timesteps", "400", "--checkpoint-interval", "1"]
    for extra in (["--from", str(family_run)], []):
        out = ["--output", str(tmp_path), *SMALL]
        proc = refused("phase1", *common, *extra, *out)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    row = adaptation.one(name, [tmp_path], episodes=2, horizon=30, held_out=2)
    (tuned,), scratch = row["fine_tuned"], row["scratch"]
    assert tuned["curve"][0]["env_steps"] == 0.0
    assert tuned["curve"][0]["checkpoint"] == str(family_run.resolve())
    assert tuned["start"] == "family run, 400 env steps"
    for run in (tuned, scratch):
        steps = [p["env_steps"] for p in run["curve"]]
        assert steps == sorted(steps) and steps[-1] == run["env_steps"] >= 400
        first = [p["env_steps"] for p in run["curve"] if p["gap_pct"]["mean"] <= 1.0]
        assert run["steps_to_target"] == (first[0] if first else None)
    assert tuned["zero_shot_gap_pct"] == tuned["curve"][0]["gap_pct"]
    # without the whole curve: up to the first point within the target, the
    # same steps to it and the same final judgement
    short = adaptation.one(name, [tmp_path], 2, 30, 2, whole=False)
    for full, cut in ((tuned, short["fine_tuned"][0]), (scratch, short["scratch"])):
        gaps = [p["gap_pct"]["mean"] for p in cut["curve"]]
        assert all(g > 1.0 for g in gaps[:-1])
        assert cut["curve"] == full["curve"][: len(gaps)]
        assert cut["steps_to_target"] == full["steps_to_target"]
        assert cut["held_out_gap_pct"] == full["held_out_gap_pct"]
    assert adaptation.steps_to([{"env_steps": 5.0, "gap_pct": {"mean": 0.9}}]) == 5.0
    assert adaptation.steps_to([{"env_steps": 5.0, "gap_pct": {"mean": 1.1}}]) is None


def test_the_generalization_benchmark_chooses_on_validation_instances(family_run):
    """benchmarks/generalization.py --choose: the checkpoint judged on the
    test instances is the one of the run's last N with the lowest mean gap
    on validation instances drawn with the monitoring seeds, never a test
    instance."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import generalization

    from benchmarks._runs import checkpoints
    from hmarl_env.scenario.family import LOST_SALES

    points = checkpoints(family_run)
    chosen, acting, record = generalization.choose(
        family_run, LOST_SALES, 2, 2, 2, 30, ("mean", "greedy")
    )
    judged = record["checkpoints"]
    assert [(c["checkpoint"], c["acting"]) for c in judged] == [
        (str(p), a) for _, p in points[-2:] for a in ("mean", "greedy")
    ]
    best = min(judged, key=lambda c: c["mean_gap_pct"])
    assert str(chosen) == record["chosen"] == best["checkpoint"]
    assert acting == record["chosen_acting"] == best["acting"]
    tests = {tuple(v.items()) for _, v in generalization.test_instances(LOST_SALES, 8)}
    assert len(record["instances"]) == 2
    assert not tests & {tuple(i["params"].items()) for i in record["instances"]}
    # a fresh test set: draws from another seed on, without Zipkin's
    fresh = generalization.test_instances(LOST_SALES, 3, first=8, zipkin=False)
    assert [label for label, _ in fresh] == [
        f"draw {3_000_000 + k}" for k in (8, 9, 10)
    ]
    assert [v for _, v in fresh] == [LOST_SALES.draw(3_000_000 + k) for k in (8, 9, 10)]
    assert not tests & {tuple(v.items()) for _, v in fresh}


def test_a_policys_training_cost_counts_the_runs_it_started_from(family_run, tuned_run):
    """The fine-tuned policy cost its own env steps and its source's; up to a
    checkpoint, only the iterations before it."""
    from analysis.runs.folder import read_metrics, training_cost

    own, source = read_metrics(tuned_run), read_metrics(family_run)
    cost = training_cost(tuned_run)
    assert cost["sources"] == [str(tuned_run), str(family_run.resolve())]
    assert cost["env_steps"] == own[-1]["timesteps"] + source[-1]["timesteps"]
    assert cost["seconds"] == pytest.approx(
        sum(r["seconds"] for r in own) + sum(r["seconds"] for r in source)
    )
    assert len(source) == 2  # two iterations: up to the first, its steps
    part = training_cost(family_run, family_run / "checkpoints" / "iter_000001")
    assert part["env_steps"] == source[0]["timesteps"] < cost["env_steps"]
    assert training_cost(family_run)["sources"] == [str(family_run)]
