"""Losses shared by more than one family, as pure functions.

* :func:`clipped_surrogate` — PPO's clipped surrogate objective (Schulman et al., "Proximal
  Policy Optimization Algorithms", 2017, eq. 7), used by C-MORL's population
  (:mod:`polab.algos.morl.population`); PPO's loss (:mod:`polab.algos.pg.ppo`) is its
  negation on a flat batch.
"""

from __future__ import annotations

import torch


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor,
                      clip_coef: float) -> torch.Tensor:
    """``L^CLIP = mean_B min(ρ A, clip(ρ, 1-ε, 1+ε) A)`` over the last dimension (the batch):
    ``(B,) -> ()``, or ``(P, B) -> (P,)`` for ``P`` stacked policies (PPO eq. 7, maximised)."""
    return torch.min(ratio * advantages,
                     ratio.clamp(1 - clip_coef, 1 + clip_coef) * advantages).mean(-1)
