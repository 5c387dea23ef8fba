"""Exercise (D^3S, card 15): predict which rollouts of a group the max-variance subset keeps.

Given one group's rewards and ``k``, the learner names the ``k`` rollouts (indices) that
:func:`polab.algos.token_control.d3s.max_variance_subset` keeps from the group's GRPO
advantages. Any subset of maximal variance is right (ties are common with 0/1 rewards).
Taught in notebooks/04_token_level_control.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from polab.algos.token_control.d3s import max_variance_subset
from polab.core.advantages import group_advantages
from polab.core.exercises import Check


def check_subset(rewards: Sequence[float], k: int, answer: Sequence[int]) -> Check:
    """The verdict on the learner's ``answer`` (``k`` distinct indices into the
    group ``rewards``): right when its advantages' variance is the largest any ``k`` rollouts
    of the group reach."""
    r = torch.as_tensor(rewards, dtype=torch.float64)
    adv = group_advantages(r, len(r))
    picked = sorted({int(i) for i in answer})
    if len(picked) != k or len(picked) != len(answer) or not all(0 <= i < len(r)
                                                                 for i in picked):
        return Check(False, f"name {k} distinct rollouts, indices 0 to {len(r) - 1}; got "
                     f"{list(answer)}")
    best = max_variance_subset(adv.view(1, -1), k)[0]
    target = float(adv[best].var(unbiased=False))
    got = float(adv[picked].var(unbiased=False))
    chosen = best.nonzero().squeeze(1).tolist()
    if got >= target - 1e-9:
        return Check(True, f"right: advantages {[round(float(adv[i]), 2) for i in picked]} have "
                     f"the largest variance any {k} rollouts reach ({target:.3f}); the "
                     f"sort-and-scan keeps {chosen}")
    return Check(False, f"not the maximum: your rollouts' advantage variance is {got:.3f}, but "
                 f"{chosen} reach {target:.3f}: the optimum takes rollouts from both ends "
                 "of the sorted advantages (the j largest and k - j smallest)")
