"""Reward centring: the running mean reward a learner subtracts before it
computes advantages (``PPOSettings.reward_centering``; Naik et al., "Reward
Centering", 2024). RLlib's learner (:mod:`experiments.learner`) and the other
libraries' recipes (:mod:`experiments.recipes`) keep one per trained policy.
"""

from __future__ import annotations

__all__ = ["RunningMean"]


class RunningMean:
    """An exponential average of the batches' mean rewards with step ``rate``,
    started at the first batch's mean."""

    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"centring rate must be in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.value: float | None = None

    def update(self, batch_mean: float) -> float:
        """Take in a batch's mean reward; the mean to subtract from that batch."""
        old = self.value
        self.value = batch_mean if old is None else old + self.rate * (batch_mean - old)
        return self.value
