"""Training hmarl agents with other MARL libraries (optional extras).

Each recipe trains the stores' shared policy with another library, with RLlib
phase 1's learning settings (:mod:`experiments.recipes._learning`), and returns
policies with the :mod:`baselines` interface, so the same evaluator scores them
against the same heuristics as RLlib's runs
(``benchmarks/recipes_quality.py``):

* :mod:`experiments.recipes.sb3_ppo` - Stable-Baselines3 PPO through SuperSuit
  (``pip install -e ".[sb3]"``);
* :mod:`experiments.recipes.torchrl_ppo` - TorchRL's ``PettingZooWrapper`` with
  agents grouped by role (``pip install -e ".[torchrl]"``);
* :mod:`experiments.recipes.benchmarl_ippo` - a BenchMARL task
  (``pip install -e ".[benchmarl]"``).
"""
