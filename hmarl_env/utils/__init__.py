"""Helpers every layer of hmarl shares: atomic writes and the results folder
(:mod:`hmarl_env.utils.io`), confidence intervals (:mod:`hmarl_env.utils.stats`).
They import nothing else of hmarl's."""
