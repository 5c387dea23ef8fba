"""Exercise (HAPO, card 11): compute the normalised entropy score ĥ of five tokens by hand.

Given the entropies :data:`EXERCISE_ENTROPIES` (nats) of one batch's five response tokens and
the pivot 0.8, write down ĥ for each (``polab.algos.token_control.hapo.normalized_entropy``
is the reference): log-entropy, the 0.8 quantile as the zero (nearest rank), the RMS about
it, each side scaled by its own extreme. :func:`check_h_hat` says what is right or wrong and,
for the common slips, which step went astray. Taught in notebooks/04_token_level_control.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from polab.algos.token_control.hapo import normalized_entropy
from polab.core.exercises import Check

EXERCISE_ENTROPIES = (0.0498, 0.1353, 0.3679, 1.0, 2.7183)
"""Five token entropies, about e^-3, e^-2, e^-1, e^0 and e^1 nats."""


def _slips(entropies: torch.Tensor, pivot: float) -> dict[str, torch.Tensor]:
    """The right answer and the common wrong ones, each with what went wrong."""
    mask = torch.ones_like(entropies, dtype=torch.bool)
    right = normalized_entropy(entropies, mask, pivot)[0]
    e = entropies.log()
    z = (e - e.mean()) / e.std(unbiased=False)
    m = torch.quantile(e, pivot, interpolation="nearest")
    h = (e - m) / (e - m).pow(2).mean().sqrt()
    raw = entropies - torch.quantile(entropies, pivot, interpolation="nearest")
    raw = raw / raw.pow(2).mean().sqrt()
    return {
        "right": right,
        "the low side lost its sign: divide by |min(h)|, so ĥ < 0 below the pivot (the "
        "authors' code divides by min(h) itself, and its low-entropy tokens come out positive)":
            right.abs(),
        "both sides scaled by one number: each side is divided by its own extreme, so the "
        "highest token gets +1 and the lowest -1": h / h.abs().max(),
        "the zero is the 0.8 quantile of the log-entropies (4th of 5), not their mean":
            torch.where(z > 0, z / z.max(), z / z.min().abs()),
        "standardise log-entropies, not raw entropies":
            torch.where(raw > 0, raw / raw.max(), raw / raw.min().abs()),
    }


def check_h_hat(answer: Sequence[float], entropies: Sequence[float] = EXERCISE_ENTROPIES,
                pivot: float = 0.8, tol: float = 0.02) -> Check:
    """Compare the learner's ĥ (one number per entropy) with card 11's, to ``tol``."""
    ent = torch.tensor(entropies, dtype=torch.float64)
    if len(answer) != len(ent):
        return Check(False, f"give one ĥ per entropy: {len(ent)} numbers, got {len(answer)}")
    got = torch.tensor([float(a) for a in answer], dtype=torch.float64)
    slips = _slips(ent, pivot)
    right = slips.pop("right")
    if ((got - right).abs() <= tol).all():
        return Check(True, "right: ĥ = " + ", ".join(f"{x:+.3f}" for x in right.tolist())
                        + " — most tokens sit below the 0.8 pivot, so most ĥ are negative")
    for why, wrong in slips.items():
        if ((got - wrong).abs() <= tol).all():
            return Check(False, f"not quite: {why}")
    off = [i for i in range(len(ent)) if abs(got[i] - right[i]) > tol]
    return Check(False, f"tokens {off} are off (by more than {tol}); recompute: e = log H, "
                    f"m = the {pivot} quantile (nearest rank), std = sqrt(mean((e - m)^2)), "
                    "h = (e - m) / std, then h / max(h) above m and h / |min(h)| below")
