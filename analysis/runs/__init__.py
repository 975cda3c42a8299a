"""What a run folder holds, read without Ray: the run's settings
(:mod:`~analysis.runs.settings`), its resolved record
(:mod:`~analysis.runs.record`), the folder's layout and checkpoints
(:mod:`~analysis.runs.folder`) and its learned policies
(:mod:`~analysis.runs.loading`).

Inner layers, bottom to top: ``settings``, ``record``, ``folder``, ``loading``.
"""

from analysis.runs.folder import find_checkpoint, is_finished
from analysis.runs.loading import ModulePolicy, load_policies
from analysis.runs.record import RunConfig, read_run_config
from analysis.runs.settings import PHASES, PPO_PRESETS, Phase, PPOSettings

__all__ = [
    "PHASES",
    "PPO_PRESETS",
    "ModulePolicy",
    "PPOSettings",
    "Phase",
    "RunConfig",
    "find_checkpoint",
    "is_finished",
    "load_policies",
    "read_run_config",
]
