"""β schedules, in one place: the β a step's loss uses, from the run's base β (the value a
person set last) and its schedule. Pure Python (no torch), so the run's vocabulary
(:mod:`explorer.runs`: a run's base β and its effective β now) and the training loop
(:mod:`explorer.training`) use the same function.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import TrainConfig

@dataclass(frozen=True)
class BetaState:
    """What the loss uses at one step: β, and the capacity C or free-bits floor if any."""
    beta: float
    capacity: float | None = None
    free_bits: float = 0.0


def beta_at(t: TrainConfig, step: int, beta: float) -> BetaState:
    """β (and C, λ) at ``step`` for the schedule ``t.beta_schedule``; ``beta`` is the base value.

    * ``constant``: β.
    * ``warmup``: β · min(1, step / warmup_steps) (Bowman et al. 2016).
    * ``cyclical``: in each cycle of ``cycle_steps``, β rises linearly from 0 to β over the
      first ``cycle_ratio`` of the cycle, then stays (Fu et al. 2019).
    * ``capacity``: loss = recon + β |KL - C|, C rising linearly from 0 to ``capacity_max``
      over ``capacity_steps`` (Burgess et al. 2018).
    * ``free_bits``: loss = recon + β sum_d max(KL_d, λ) with λ = ``free_bits`` (Kingma et al. 2016).
    """
    s = t.beta_schedule
    if s == "warmup":
        return BetaState(beta * min(1.0, step / t.warmup_steps))
    if s == "cyclical":
        phase = (step % t.cycle_steps) / t.cycle_steps
        return BetaState(beta * min(1.0, phase / t.cycle_ratio))
    if s == "capacity":
        return BetaState(beta, capacity=t.capacity_max * min(1.0, step / t.capacity_steps))
    if s == "free_bits":
        return BetaState(beta, free_bits=t.free_bits)
    return BetaState(beta)
