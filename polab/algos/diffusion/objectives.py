"""The ELBO-ratio objectives of BGPO (../shared/cards/41_bgpo.md, "Core update") as pure
functions.

Inputs, for B responses scored with n_mc Monte-Carlo ELBO samples:

* ``delta`` ``[n_mc, B]``: per-sample log-ratio terms ``δ_j = ℓ_θ^(j) − ℓ_old^(j)``, the
  current and the old policy's ELBO sample on the *same* masking level ``t_j`` and pattern
  (card 41, pitfall 1: otherwise δ is dominated by MC noise);
* ``advantages`` ``[B]``: one group advantage per response
  (:func:`polab.core.advantages.group_advantages`).

Per response i, with ``m_i = (1/n) Σ_j δ_ij`` (card 41, "Core update")::

    exact   A_i · exp(m_i)                                  the ELBO-ratio objective
    bgpo    A_i ≥ 0:  A_i · (1 + m_i)                       tangent line, exp(z) ≥ 1 + z
            A_i < 0:  A_i · (1/n) Σ_j exp(δ_ij)             Jensen, exp(mean) ≤ mean exp
    naive   A_i · (1 + m_i)                                 linear in δ for every sign

``bgpo`` and ``naive`` are sums over j of per-sample terms (:func:`bgpo_terms`,
:func:`naive_terms`), so sample j's term can be backpropagated alone and the gradients
accumulated with memory flat in n (one graph at a time); ``exact`` is not (the exponential of
a mean couples every sample: all graphs are kept, VRPO-style). At θ = θ_old (δ = 0) all three
equal A_i in value, and bgpo's and exact's gradients agree (``A_i (1/n) Σ_j ∇ℓ_θ^(j)``);
off-policy ``bgpo ≤ exact`` for every response (the "boundary"), while ``naive`` lies *above*
exact for A < 0 (a linear under-estimate of exp times a negative number), which is why BGPO
branches on the sign of A per response — never per token or per batch (card 41, pitfall 3).

The objectives are maximised; :func:`objective_values` returns the per-response values, and a
trainer's loss is ``−Σ_i value_i / B`` (or the per-sample terms divided by B, accumulated).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

Objective = Literal["bgpo", "exact", "naive"]
OBJECTIVES: tuple[Objective, ...] = ("bgpo", "exact", "naive")


def _check(delta: torch.Tensor, advantages: torch.Tensor) -> None:
    if delta.dim() != 2:
        raise ValueError(f"delta must be [n_mc, B], got shape {tuple(delta.shape)}")
    if advantages.shape != delta.shape[1:]:
        raise ValueError(f"advantages must be [B] = [{delta.shape[1]}], got shape "
                         f"{tuple(advantages.shape)}")


def _n(delta: torch.Tensor, n_mc: int | None) -> int:
    n = delta.shape[0] if n_mc is None else n_mc
    if n < 1 or n < delta.shape[0]:
        raise ValueError(f"n_mc={n_mc} must be >= 1 and >= the {delta.shape[0]} samples given")
    return n


def exact_objective(delta: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """``[B]`` values ``A_i · exp((1/n) Σ_j δ_ij)`` — the ELBO-based importance-ratio
    objective (card 41, "ELBO-based objective"; no clipping needed on-policy)."""
    _check(delta, advantages)
    return advantages.detach() * torch.exp(delta.mean(0))


def bgpo_terms(delta: torch.Tensor, advantages: torch.Tensor, n_mc: int | None = None
               ) -> torch.Tensor:
    """``[k, B]`` per-sample terms of BGPO's lower bound (card 41, "BGPO lower bound"):
    ``A_i (1 + δ_ij)/n`` where ``A_i ≥ 0`` and ``A_i exp(δ_ij)/n`` where ``A_i < 0``, the
    branch chosen per *response* by the sign of its advantage.

    ``delta`` holds k of the n = ``n_mc`` samples (default: all, k = n); the terms of all n
    samples sum over j to the bound, so a trainer may pass one sample at a time
    (``delta[j:j+1]``, ``n_mc=n``) and accumulate its gradient.
    """
    _check(delta, advantages)
    n = _n(delta, n_mc)
    adv = advantages.detach()
    positive = adv >= 0
    # exp only where it is used: a large δ on the linear branch must not become inf · 0 = nan
    jensen = torch.exp(torch.where(positive, torch.zeros_like(delta), delta))
    return adv * torch.where(positive, 1.0 + delta, jensen) / n


def naive_terms(delta: torch.Tensor, advantages: torch.Tensor, n_mc: int | None = None
                ) -> torch.Tensor:
    """``[k, B]`` per-sample terms ``A_i (1 + δ_ij)/n`` of the naive linearisation
    ``A_i (1 + m_i)`` (card 41's ``naive`` widget: the tangent line for every sign — an upper
    estimate of the objective where A < 0, so no bound)."""
    _check(delta, advantages)
    n = _n(delta, n_mc)
    return advantages.detach() * (1.0 + delta) / n


def objective_values(objective: Objective, delta: torch.Tensor, advantages: torch.Tensor
                     ) -> torch.Tensor:
    """``[B]`` per-response values of ``objective`` (``"bgpo"``, ``"exact"`` or
    ``"naive"``) from all n samples ``delta`` ``[n, B]``."""
    if objective == "exact":
        return exact_objective(delta, advantages)
    if objective == "bgpo":
        return bgpo_terms(delta, advantages).sum(0)
    if objective == "naive":
        return naive_terms(delta, advantages).sum(0)
    raise ValueError(f"objective={objective!r}: expected one of {OBJECTIVES}")


def sample_terms(objective: Objective, delta: torch.Tensor, advantages: torch.Tensor,
                 n_mc: int) -> torch.Tensor:
    """``[k, B]`` per-sample terms of a sum-of-terms objective (``"bgpo"`` or ``"naive"``);
    ``"exact"`` is not one (a named error)."""
    if objective == "bgpo":
        return bgpo_terms(delta, advantages, n_mc)
    if objective == "naive":
        return naive_terms(delta, advantages, n_mc)
    raise ValueError(f"objective={objective!r} is not a sum of per-sample terms (the exact "
                     "ratio couples all samples); expected 'bgpo' or 'naive'")


def elbo_estimate_variance(ell: torch.Tensor) -> torch.Tensor:
    """Variance of the n-sample ELBO estimate ``(1/n) Σ_j ℓ^(j)``, from its own samples
    ``ell`` ``[n, B]``: the per-response sample variance over j divided by n, averaged over
    the B responses (needs n ≥ 2; ``nan`` for one sample)."""
    if ell.dim() != 2:
        raise ValueError(f"ell must be [n_mc, B], got shape {tuple(ell.shape)}")
    n = ell.shape[0]
    if n < 2:
        return torch.full((), float("nan"), dtype=ell.dtype, device=ell.device)
    return (ell.var(0) / n).mean()


def backward_objective(objective: Objective, score: Callable[[int], torch.Tensor],
                       old: torch.Tensor, advantages: torch.Tensor, scale: float = 1.0
                       ) -> torch.Tensor:
    """Backpropagate ``−scale · Σ_i value_i`` of ``objective`` and return the ``[B]``
    values (detached).

    ``score(j)`` returns ``ℓ_θ^(j)`` ``[B]`` (with gradient) on MC sample j, and ``old``
    ``[n, B]`` the old policy's ``ℓ_old^(j)`` on the same samples. ``"bgpo"`` and
    ``"naive"`` call ``score(j)`` and ``backward()`` once per sample, so one sample's graph
    is alive at a time (card 41: "loop over j, call backward() per sample, accumulate");
    ``"exact"`` keeps all n graphs for one backward. Gradients accumulate into ``.grad``
    (the caller zeroes them); with ``scale = 1/B`` the accumulated gradient is that of the
    mean over responses, the same scale for every objective (card 41, pitfall 4).
    """
    n = old.shape[0]
    if objective == "exact":
        delta = torch.stack([score(j) for j in range(n)]) - old.detach()
        values = exact_objective(delta, advantages)
        (-scale * values.sum()).backward()
        return values.detach()
    total = torch.zeros_like(advantages, dtype=old.dtype)
    for j in range(n):
        delta_j = (score(j) - old[j].detach()).unsqueeze(0)
        terms = sample_terms(objective, delta_j, advantages, n)[0]
        (-scale * terms.sum()).backward()
        total = total + terms.detach()
    return total
