"""Exercise (T-PPO, card 8): EGAE by hand on a cut response.

A response was cut after 3 tokens; the critic says ``V(s_0..s_3)``. The learner writes the
three advantages EGAE gives (γ = 1, λ given), bootstrapping the last δ with ``V(s_3)``, and
says what the "truncated = reward 0" ablation would give for the last token instead.
Taught in notebooks/04_token_level_control.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from polab.algos.token_control.critic import egae
from polab.core.exercises import Check


def check_egae(values: Sequence[float], lam: float, answer: Sequence[float],
               zero_last: float) -> Check:
    """The verdict on ``answer``, the EGAE advantages of a cut response with
    ``values`` ``V(s_0) … V(s_n)`` (n tokens, bootstrap ``V(s_n)``), ``zero_last`` the last
    token's advantage under ``truncated_adv="zero"``. Tolerance 1e-3."""
    v = torch.as_tensor([list(values)], dtype=torch.float64)
    n = v.shape[1] - 1
    if len(answer) != n:
        return False, f"give {n} advantages, one per token; got {len(answer)}"
    length, no_reward = torch.tensor([n]), torch.zeros(1, dtype=torch.float64)
    adv = egae(v, no_reward, length, torch.tensor([False]), 1.0, lam)[0][0]
    zero = egae(v, no_reward, length, torch.tensor([True]), 1.0, lam)[0][0, -1]
    want = [round(float(a), 4) for a in adv]
    if any(abs(a - b) > 1e-3 for a, b in zip(answer, want, strict=True)):
        last = float(v[0, n] - v[0, n - 1])
        return Check(False, f"EGAE gives {want}: δ_t = V(s_t+1) - V(s_t) (no reward before the "
                     f"cut), the last one bootstrapped, δ_{n - 1} = {last:.4f}, then "
                     f"A_t = δ_t + λ A_t+1")
    if abs(zero_last - float(zero)) > 1e-3:
        return Check(False, f"advantages right; but with reward 0 at the cut the last token gets "
                     f"0 - V(s_{n - 1}) = {float(zero):.4f}: the ablation calls every cut "
                     "answer wrong")
    return Check(True, f"right: {want}; and {float(zero):.4f} when the cut counts as a wrong end, "
                 "which pushes long answers down whatever their quality")
