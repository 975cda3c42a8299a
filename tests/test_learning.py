"""What the learner sees and shows: reward scales, centering, presets,
diagnostics in a run's outputs, how loaded policies act, the constant-order
baseline. Nothing here judges how well a policy learns (benchmarks do)."""

from __future__ import annotations

import csv
import json
import math
import struct
from argparse import Namespace
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from baselines.policies import ConstantStore, make_policies
from hmarl_env import get_scenario
from hmarl_env.rewards import reward_scales

torch = pytest.importorskip("torch")


# ------------------------------------------------------------ reward scales
def test_reward_scales_come_from_the_scenario():
    sc = get_scenario("default")
    scales = reward_scales(sc)
    w = sc.rewards.store
    # full service while holding one inventory scale: 100 * (2 + 1) units
    assert scales["store_1"] == pytest.approx(
        w.service_level + w.holding_cost * 0.073 * 300
    )
    doubled = replace(  # the scale follows the weights
        sc, rewards=replace(sc.rewards, store=replace(w, service_level=20.0))
    )
    assert reward_scales(doubled)["store_1"] == pytest.approx(scales["store_1"] + 10)
    assert all(s > 0 and math.isfinite(s) for s in scales.values())


def test_learner_scales_per_module_and_mode():
    from analysis.runs.settings import PPOSettings

    sc = get_scenario("default")
    period = reward_scales(sc)
    assert PPOSettings(reward_scaling="none").learner_reward_scales(sc) == {}
    got = PPOSettings(reward_scaling="period").learner_reward_scales(sc)
    assert set(got) == {"store", "warehouse", "supplier"}
    assert got["store"] == pytest.approx(period["store_1"])
    # a return of order one: times min(horizon, 1 / (1 - gamma))
    got = PPOSettings(reward_scaling="return", gamma=0.9).learner_reward_scales(sc)
    assert got["warehouse"] == pytest.approx(period["warehouse_1"] * 10)
    short = get_scenario("default", horizon=20)
    got = PPOSettings(reward_scaling="return", gamma=0.99).learner_reward_scales(short)
    assert got["store"] == pytest.approx(period["store_1"] * 20)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"reward_scaling": "max"}, "reward_scaling"),
        ({"gamma": 1.0}, "gamma"),
        ({"vf_clip_param": -1.0}, "vf_clip_param"),
        ({"reward_centering": 2.0}, "reward_centering"),
        ({"num_epochs": 0}, "num_epochs"),
        ({"lr_end": -1e-4}, "lr_end"),
        ({"entropy_coeff_end": float("nan")}, "entropy_coeff_end"),
    ],
)
def test_bad_ppo_settings_name_the_field(bad, match):
    from analysis.runs.settings import PPOSettings

    with pytest.raises(ValueError, match=match):
        PPOSettings(**bad)


def test_scale_rewards_divides_and_centres_only_the_learner_batch():
    from ray.rllib.core.columns import Columns

    from experiments.learner import ScaleRewards

    def batch():
        return {
            "store": {
                Columns.REWARDS: torch.tensor([10.0, 20.0, 30.0, 0.0]),
                Columns.LOSS_MASK: torch.tensor([True, True, True, False]),
            },
            "warehouse": {Columns.REWARDS: torch.tensor([4.0])},
        }

    piece = ScaleRewards(scales={"store": 10.0})
    out = piece(rl_module=None, batch=batch(), episodes=[])
    assert out["store"][Columns.REWARDS].tolist() == [1.0, 2.0, 3.0, 0.0]
    assert out["warehouse"][Columns.REWARDS].tolist() == [4.0]  # no scale: as is
    centred = ScaleRewards(scales={"store": 10.0}, center_rate=0.5)
    out = centred(rl_module=None, batch=batch(), episodes=[])
    # the first batch's mean over the masked steps (2.0); the padding stays 0
    assert out["store"][Columns.REWARDS].tolist() == [-1.0, 0.0, 1.0, 0.0]
    b = batch()
    b["store"][Columns.REWARDS] = b["store"][Columns.REWARDS] * 2  # mean 4
    out = centred(rl_module=None, batch=b, episodes=[])
    assert centred.means["store"] == pytest.approx(3.0)  # 2 + 0.5 * (4 - 2)
    assert out["store"][Columns.REWARDS].tolist() == [-1.0, 1.0, 3.0, 0.0]
    with pytest.raises(ValueError, match="finite and > 0"):
        ScaleRewards(scales={"store": 0.0})


def test_the_learner_gets_the_scales_and_the_config_the_clips():
    from analysis.runs.settings import PPO_PRESETS, Phase
    from experiments.common import build_config
    from experiments.learner import CENTER_RATE_KEY, REWARD_SCALES_KEY, HmarlPPOLearner

    sc = get_scenario("default")
    phase = Phase("phase1", ("store",))
    cfg = build_config(sc, phase, PPO_PRESETS["hmarl"])
    assert cfg.learner_class is HmarlPPOLearner
    want = PPO_PRESETS["hmarl"].learner_reward_scales(sc)
    assert cfg.learner_config_dict[REWARD_SCALES_KEY] == want
    assert (
        cfg.learner_config_dict[CENTER_RATE_KEY]
        == PPO_PRESETS["hmarl"].reward_centering
    )
    seeds = build_config(sc, phase, PPO_PRESETS["reference"])
    assert seeds.learner_config_dict[REWARD_SCALES_KEY] == {}
    assert seeds.vf_clip_param == 10.0 and seeds.minibatch_size == 64
    if PPO_PRESETS["hmarl"].vf_clip_param is None:
        assert cfg.vf_clip_param == math.inf


def test_annealing_reaches_rllib_as_a_schedule_over_the_budget():
    from analysis.runs.settings import Phase, PPOSettings
    from experiments.common import build_config

    sc = get_scenario("default")
    phase = Phase("phase1", ("store",))
    constant = build_config(sc, phase, PPOSettings(lr=1e-3), timesteps=1000)
    assert constant.lr == 1e-3 and constant.entropy_coeff == 0.01
    ppo = PPOSettings(lr=1e-3, lr_end=1e-4, entropy_coeff=0.01, entropy_coeff_end=0)
    cfg = build_config(sc, phase, ppo, timesteps=50_000)
    assert cfg.lr == [[0, 1e-3], [50_000, 1e-4]]
    assert cfg.entropy_coeff == [[0, 0.01], [50_000, 0.0]]
    with pytest.raises(ValueError, match="lr_end anneals lr over the run's budget"):
        build_config(sc, phase, ppo)  # no budget to anneal over


# ------------------------------------------------------------------ presets
def _args(**kw):
    """A phase's options as its command line would give them."""
    from dataclasses import fields

    from analysis.runs.settings import PPOSettings
    from experiments.options import PhaseOptions

    base = dict(
        scenario="default",
        ppo_preset=None,
        seed=0,
        timesteps=None,
        num_env_runners=0,
        num_envs_per_env_runner=1,
        eval_interval=0,
        eval_episodes=2,
        checkpoint_interval=0,
        output=None,
    )
    base.update({f.name: None for f in fields(PPOSettings)})
    base.update(kw)
    return PhaseOptions.from_args(Namespace(**base))


def test_the_preset_switch_changes_the_resolved_config():
    from analysis.runs.settings import PPO_PRESETS, Phase
    from experiments.resolve import new_config as _new_config

    phase = Phase("phase1", ("store",))
    mine = _new_config(_args(), phase, {})
    seeds = _new_config(_args(ppo_preset="reference"), phase, {})
    assert mine.ppo_preset == "hmarl" and seeds.ppo_preset == "reference"
    # the preset's old name is an alias, recorded by its name
    alias = _new_config(_args(ppo_preset="seeds"), phase, {})
    assert alias.ppo_preset == "reference" and alias.ppo == seeds.ppo
    assert seeds.ppo == PPO_PRESETS["reference"]
    assert json.loads(json.dumps(seeds.to_dict()["ppo"])) == json.loads(
        json.dumps(asdict(PPO_PRESETS["reference"]))
    )
    assert mine.ppo != seeds.ppo
    # single options override the preset, and say so in the config
    tweaked = _new_config(
        _args(ppo_preset="reference", minibatch_size=128, grad_clip=None), phase, {}
    )
    assert tweaked.ppo.minibatch_size == 128
    assert tweaked.ppo.reward_scaling == "none"


def test_runs_made_before_a_setting_existed_read_it_as_the_reference_design():
    from analysis.runs.record import ppo_from_dict as ppo_from_config
    from analysis.runs.settings import PPO_PRESETS

    old = {
        k: v
        for k, v in asdict(PPO_PRESETS["reference"]).items()
        if k not in ("reward_scaling", "vf_clip_param", "reward_centering")
    }
    assert ppo_from_config(old) == PPO_PRESETS["reference"]
    with pytest.raises(ValueError, match="unknown PPO settings"):
        ppo_from_config({**old, "learning_rate": 1.0})


# ------------------------------------------------------- a run's outputs
def _event_tags(folder) -> set[str]:
    """Scalar tags in TensorBoard event files (TFRecord framing, Event protos)."""
    from tensorboardX.proto.event_pb2 import Event

    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = Event.FromString(data[i + 12 : i + 12 + n])
            tags.update(v.tag for v in event.summary.value)
            i += 12 + n + 4
    return tags


def test_diagnostics_reach_the_csv_tensorboard_and_plots(run):
    from experiments.run_folder import LEARNER_KEYS

    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    for key in LEARNER_KEYS:
        values = [float(r[f"store_{key}"]) for r in rows]
        assert all(math.isfinite(v) for v in values), key
    assert all(-1e6 < float(r["store_vf_explained_var"]) <= 1 for r in rows)
    assert float(rows[-1]["store_lr"]) > 0
    tags = _event_tags(run / "tensorboard")
    assert {f"store_{k}" for k in LEARNER_KEYS} <= tags
    refs = json.loads((run / "monitor_references.json").read_text())
    assert set(refs["reward_per_agent"]["store"]) == {"rule_based", "tuned", "constant"}


def test_the_gate_reports_the_constant_store_and_the_tuned_one(run):
    gate = json.loads((run / "gate.json").read_text())
    store = gate["roles"]["store"]
    assert store["against"] == "rule_based"
    assert {"rule_based", "tuned", "constant"} <= set(store)


# ------------------------------------------------------------------ acting
class _Fixed(torch.nn.Module):
    """An RLModule stand-in whose logits are given (one row for every
    observation, or one row per observation)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.as_tensor(logits, dtype=torch.float32)

    def forward_inference(self, batch):
        from ray.rllib.core.columns import Columns

        n = batch[Columns.OBS].shape[0]
        if self.logits.dim() == 2:
            return {Columns.ACTION_DIST_INPUTS: self.logits}
        return {Columns.ACTION_DIST_INPUTS: self.logits.expand(n, -1)}


def test_sampled_acting_is_seeded_and_follows_the_distribution():
    from analysis.runs.loading import ModulePolicy

    p = np.array([0.1, 0.2, 0.3, 0.4])
    module = _Fixed(np.log(p))
    obs = np.zeros((20_000, 8), dtype=np.float32)
    greedy = ModulePolicy(module, "store")
    assert (greedy(obs) == 3).all()
    a = ModulePolicy(module, "store", "sampled", seed=7)(obs)
    b = ModulePolicy(module, "store", "sampled", seed=7)(obs)
    np.testing.assert_array_equal(a, b)
    freq = np.bincount(a, minlength=4) / len(a)
    np.testing.assert_allclose(freq, p, atol=0.015)
    assert not np.array_equal(a, ModulePolicy(module, "store", "sampled", 8)(obs))
    with pytest.raises(ValueError, match="acting"):
        ModulePolicy(module, "store", "random")


def test_mean_acting_orders_the_expected_action_rounded():
    from analysis.runs.loading import ModulePolicy

    # most probable 3 (0.4), expected 0.2 + 0.6 + 1.2 = 2.0
    p = np.array([[0.1, 0.2, 0.3, 0.4], [0.45, 0.05, 0.05, 0.45], [0, 0, 0.6, 0.4]])
    obs = np.zeros((3, 8), dtype=np.float32)
    with np.errstate(divide="ignore"):
        module = _Fixed(np.log(p))
    got = ModulePolicy(module, "store", "mean")(obs)
    # two modes far apart: the mean (1.5) lies between them, rounded to even
    assert got.tolist() == [2, 2, 2]
    assert ModulePolicy(module, "store")(obs).tolist() == [3, 0, 2]


# ---------------------------------------------------------------- baseline
def test_constant_store_orders_the_forecast_whatever_it_sees():
    sc = get_scenario("default")
    policies = make_policies(sc, "constant")
    assert isinstance(policies["store_1"], ConstantStore)
    obs = np.random.default_rng(0).uniform(0, 10, size=(50, 8)).astype(np.float32)
    one = sc.actions.store_order_multipliers.index(1.0)
    assert (policies["store_1"](obs) == one).all()
    seed = make_policies(sc, "rule_based")
    assert policies["warehouse_1"] == seed["warehouse_1"]


# ------------------------------------------------------ records on disk
def test_a_run_config_without_its_keys_names_the_file_and_keys(tmp_path):
    from analysis.runs.record import read_run_config

    (tmp_path / "config.json").write_text(json.dumps({"phase": {}}))
    with pytest.raises(ValueError, match=r"config.json lacks \['scenario'"):
        read_run_config(tmp_path)


def test_a_truncated_pipeline_record_names_the_file(tmp_path, capsys):
    from experiments.pipeline import main

    (tmp_path / "pipeline.json").write_text('{"scenario": "def')
    assert main(["--resume", str(tmp_path)]) == 2
    assert f"{tmp_path / 'pipeline.json'} is corrupt" in capsys.readouterr().err


def test_load_policies_takes_a_preset_name(run):
    from analysis.runs.loading import load_policies

    policies = load_policies(run, scenario="default")
    assert set(policies) == {"store_1", "store_2", "warehouse_1", "supplier_1"}


# ------------------------------------------- outputs checked before the work
def test_a_file_in_the_way_of_output_stops_a_phase_before_ray(tmp_path):
    import ray

    from tests.helpers import refused

    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    proc = refused("phase1", "--output", str(blocker), "--timesteps", "100")
    assert not ray.is_initialized()
    assert proc.returncode == 2
    assert f"--output {str(blocker)!r} is a file, not a folder" in proc.stderr
    assert "Started a local Ray instance" not in proc.stderr + proc.stdout
    assert blocker.read_text() == "not a folder"


def test_evaluate_refuses_a_csv_it_cannot_write_before_evaluating(tmp_path, capsys):
    from baselines.evaluate import main

    folder = tmp_path / "a_folder.csv"
    folder.mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["--episodes", "2", "--csv", str(folder)])
    assert exc.value.code == 2 and "is a folder, not a file" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit):
        main(["--episodes", "2", "--csv", str(blocker / "out.csv")])
    assert "is a file, not a folder" in capsys.readouterr().err


def test_compare_and_pipeline_refuse_an_output_in_the_way(run, tmp_path, capsys):
    from analysis.compare import main as compare
    from experiments.pipeline import main as pipeline

    blocker = tmp_path / "taken"
    blocker.write_text("x")
    assert compare(["--run", str(run), "--output", str(blocker / "cmp")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert pipeline(["--output", str(blocker)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "x"


def test_a_scenario_file_without_tuned_heuristics_says_how_to_tune_it(tmp_path):
    from tests.helpers import refused

    path = tmp_path / "mine.toml"
    path.write_text('extends = "default"\nhorizon = 30\n')
    out = tmp_path / "runs"
    proc = refused("phase1", "--scenario", str(path), "--output", str(out))
    assert proc.returncode == 2
    assert f"hmarl tune --scenario {path}" in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_run_freezes_the_tuned_parameters_it_acts_with():
    from analysis.runs.settings import Phase
    from baselines.tuned import load_tuned
    from experiments.resolve import new_config as _new_config

    config = _new_config(_args(), Phase("phase1", ("store",)), {})
    assert config.heuristic_params == load_tuned(get_scenario("default"))["params"]


def test_eval_episodes_zero_is_refused_before_anything_runs(capsys):
    from analysis.runs.settings import Phase
    from experiments.options import parse_phase_args

    with pytest.raises(SystemExit) as exc:
        parse_phase_args(Phase("phase1", ("store",)), ["--eval-episodes", "0"], "")
    assert exc.value.code == 2
    assert "--eval-episodes must be at least 1" in capsys.readouterr().err


def test_an_iteration_without_finished_episodes_prints_dashes_not_nan(capsys):
    from analysis.runs.settings import Phase
    from experiments.monitor import format_row

    row = dict.fromkeys(
        ("store_reward", "service_level", "lost_sales", "holding_cost"), math.nan
    )
    row.update(iteration=3, timesteps=600.0, env_steps_per_s=1000.0)
    line = format_row(row, Phase("phase1", ("store",)))
    assert "nan" not in line and "store reward         -" in line


def test_a_phase_trains_in_the_reward_mode_its_command_line_names():
    from analysis.runs.settings import Phase
    from baselines.tuned import load_tuned
    from experiments.resolve import new_config as _new_config

    phase = Phase("phase1", ("store",))
    config = _new_config(_args(scenario="hierarchy"), phase, {})
    assert config.scenario.rewards.mode == "system"  # the preset's own
    untuned = Phase(
        "phase1", ("store",), {}, {"warehouse": "rule_based", "supplier": "rule_based"}
    )
    local = _new_config(_args(scenario="hierarchy", reward_mode="local"), untuned, {})
    assert local.scenario.rewards.mode == "local"
    assert local.to_dict()["scenario"]["rewards"]["mode"] == "local"  # recorded
    # the default scenario in system mode has no tuned record: the error says
    # how to make one, in that mode
    with pytest.raises(ValueError) as exc:
        _new_config(_args(reward_mode="mixed", system_weight=0.5), phase, {})
    assert (
        "hmarl tune --scenario default --reward-mode mixed "
        "--system-weight 0.5" in str(exc.value)
    )
    assert config.heuristic_params == load_tuned(get_scenario("hierarchy"))["params"]


def test_a_bad_system_weight_is_refused_before_anything_runs(tmp_path, capsys):
    from experiments import phase1

    code = phase1.main(
        ["--reward-mode", "mixed", "--system-weight", "2", "--output", str(tmp_path)]
    )
    assert code == 2
    assert "rewards.system_weight must be a number in [0, 1]" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_resumed_run_keeps_its_reward_mode(tmp_path):
    """--resume with another --reward-mode is refused before Ray starts."""
    import shutil

    from analysis.runs.settings import PHASES
    from experiments.train import run_phase

    root = Path(__file__).resolve().parent.parent
    run = tmp_path / "run"
    shutil.copytree(root / "results" / "reference" / "default__phase1__0", run)
    with pytest.raises(ValueError, match="a resumed run keeps its reward mode"):
        run_phase(PHASES["phase1"], _args(resume=str(run), reward_mode="system"))


def test_the_printed_line_keeps_the_last_episodes_and_shows_progress():
    from analysis.runs.settings import Phase
    from experiments.monitor import Progress

    progress = Progress(Phase("phase1", ("store",)), target=1000)
    keys = ("store_reward", "service_level", "lost_sales", "holding_cost")
    first = dict.fromkeys(keys, math.nan)
    first.update(iteration=1, timesteps=200.0, env_steps_per_s=100.0, seconds=2.0)
    line = progress.line(first)
    assert "store reward         -" in line  # no episode has ended yet
    assert " 20% ETA 8s" in line
    second = {**first, "iteration": 2, "timesteps": 400.0, "store_reward": 812.5}
    progress.line(second)
    third = {**first, "iteration": 3, "timesteps": 600.0}  # no episode ended
    line = progress.line(third)
    assert "store reward     812.5" in line and " 60% ETA 4s" in line


def test_a_run_config_file_holds_options_and_the_command_line_overrides(tmp_path):
    from analysis.runs.settings import PHASES
    from experiments.options import PhaseOptions, parse_phase_args

    path = tmp_path / "experiment.toml"
    path.write_text(
        "seed = 4\neval-interval = 0\n[ppo]\ntrain_batch_size = 4096\n"
        "hiddens = [32, 32]\nlambda = 0.9\n"
    )
    args = parse_phase_args(
        PHASES["phase1"], ["--config", str(path), "--seed", "7"], ""
    )
    options = PhaseOptions.from_args(args)
    assert options.seed == 7 and options.eval_interval == 0  # the command line wins
    assert options.ppo == {
        "train_batch_size": 4096,
        "hiddens": (32, 32),
        "lambda_": 0.9,
    }
    assert options.config == str(path)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "train_batchsize = 3\n",
            "unknown option 'train_batchsize'; did you mean 'train_batch_size'",
        ),
        ("[ppo]\nlrr = 0.1\n", "unknown option [ppo] 'lrr'; did you mean 'lr'"),
        ("[phase2]\ntimesteps = 5\n", "tables are for the pipeline"),
        ("seed = \n", "is not TOML"),
        ("critic = 'global'\n", "critic: must be one of local, central"),
    ],
)
def test_a_bad_run_config_file_is_refused_with_the_option_named(
    tmp_path, capsys, text, message
):
    from analysis.runs.settings import PHASES
    from experiments.options import parse_phase_args

    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SystemExit):
        parse_phase_args(PHASES["phase1"], ["--config", str(path)], "")
    assert message in capsys.readouterr().err


def test_the_pipelines_run_config_file_may_give_each_phase_a_budget(tmp_path, capsys):
    from experiments.pipeline import main

    path = tmp_path / "pipeline.toml"
    path.write_text("[phase5]\ntimesteps = 10\n")
    with pytest.raises(SystemExit):
        main(["--config", str(path)])
    assert "[phase5] is no phase" in capsys.readouterr().err
    path.write_text("[phase2]\nlr = 0.1\n")
    with pytest.raises(SystemExit):
        main(["--config", str(path)])
    assert "may set timesteps only" in capsys.readouterr().err


def test_a_minibatch_larger_than_a_train_batch_gives_a_module_is_refused():
    from analysis.runs.settings import PHASES, PPOSettings
    from experiments.common import build_config
    from hmarl_env import get_scenario

    # two stores share the module: a train batch of 1,000 env steps is 2,000 rows
    ppo = PPOSettings(train_batch_size=1000, minibatch_size=2000)
    build_config(get_scenario("default"), PHASES["phase1"], ppo)
    with pytest.raises(ValueError, match=r"minibatch_size \(2,001\) exceeds the 2,000"):
        build_config(
            get_scenario("default"),
            PHASES["phase1"],
            PPOSettings(train_batch_size=1000, minibatch_size=2001),
        )
