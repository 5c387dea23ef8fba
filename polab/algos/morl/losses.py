"""C-MORL's losses and selection rules as pure functions (Liu et al., "C-MORL: Multi-Objective
Reinforcement Learning through Efficient Discovery of Pareto Front", ICLR 2025;
../shared/cards/04_cmorl.md): advantage standardisation, the log barrier of the extension
problems, their constraint levels (eq. 3), crowding-distance selection and policy assignment.
The clipped surrogate they share with PPO is :func:`polab.core.losses.clipped_surrogate`.
"""

from __future__ import annotations

import numpy as np
import torch

from polab.envs.mo.metrics import crowding_distance


def standardize(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` along ``dim`` (per policy)."""
    return (x - x.mean(dim, keepdim=True)) / (x.std(dim, keepdim=True) + eps)


def barrier_terms(ratio: torch.Tensor, advantages: torch.Tensor, current: torch.Tensor,
                  thresholds: torch.Tensor, horizon: torch.Tensor, barrier_t: float,
                  floor: float = 1e-3) -> dict[str, torch.Tensor]:
    """C-MORL's log barrier (the IPO form of ../shared/cards/04_cmorl.md) for ``P`` policies
    and ``K`` objectives.

    ``ratio`` ``(P, B)``; ``advantages`` raw vector advantages ``(P, B, K)``; ``current`` the
    returns ``Ĵ`` ``(P, K)``; ``thresholds`` ``b`` ``(P, K)`` (``-inf`` where unconstrained);
    ``horizon`` ``H`` ``(P,)``. Estimates ``Ĝ_i = Ĵ_i + H · mean_B((ρ-1) Â_i)`` and returns
    ``{"estimate": Ĝ, "slack": Ĝ - b, "barrier": (1/t) Σ_i log(max(Ĝ_i - b_i, floor))}``
    (constrained objectives only; the clamp guards the log at infeasible iterates).
    """
    change = ((ratio - 1.0).unsqueeze(-1) * advantages).mean(1)
    estimate = current + horizon[:, None] * change
    slack = estimate - thresholds
    constrained = torch.isfinite(thresholds)
    logs = torch.log(slack.clamp_min(floor)).masked_fill(~constrained, 0.0)
    return {"estimate": estimate, "slack": slack, "barrier": logs.sum(1) / barrier_t}


def objective_advantages(advantages: torch.Tensor, weights: torch.Tensor,
                         per_objective: torch.Tensor) -> torch.Tensor:
    """The advantage each policy ascends, standardised per policy ``(P, B)``.

    ``advantages`` ``(P, B, K)``; ``weights`` ``(P, K)``; ``per_objective`` ``(P,)`` bools.
    Scalarised policies (stage 1, baseline): ``wᵀ Â`` in raw units. Extension policies
    (``per_objective``): ``Σ_k w_k Ā_k`` with each objective's advantage standardised first
    (card pitfall 2; the code's CPO variant standardises per objective too)."""
    raw = (advantages * weights[:, None, :]).sum(-1)
    normed = (standardize(advantages) * weights[:, None, :]).sum(-1)
    return standardize(torch.where(per_objective[:, None], normed, raw))


def extension_thresholds(parents: np.ndarray, front: np.ndarray, reference: np.ndarray,
                          objectives: np.ndarray, beta: float) -> np.ndarray:
    """The constraint levels ``b`` ``(P, K)`` of the extension problems (C-MORL eq. 3).

    Member ``p`` starts from returns ``G = parents[p]`` and maximises objective
    ``objectives[p]`` subject to ``G_i(π) ≥ b_i = G_i - (1-β) s_i`` for every other ``i``, with
    ``s_i = max_front G_i - ref_i`` the extent of objective ``i`` between the reference point and
    the best point of the current ``front``; its own objective gets ``-inf`` (no constraint).
    The paper's ``b_i = β G_i`` relaxes by a share of the parent's own value, which depends on
    where zero is and tightens a negative objective (a time penalty); ``s_i`` is the scale the
    hypervolume already measures objective ``i`` in (pitfall 2 of the card)."""
    scale = front.max(0) - reference
    out = parents - (1.0 - beta) * scale[None, :]
    out[np.arange(len(parents)), objectives] = -np.inf
    return out


def crowding_selection(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` points with the largest crowding distance (boundary points
    first, ties by index); cycles through the points if there are fewer than ``count``."""
    order = np.argsort(-crowding_distance(points), kind="stable")
    return order[np.arange(count) % len(order)]


def assign_policy(returns: np.ndarray, preference: np.ndarray) -> int:
    """C-MORL's policy assignment: ``argmax_π wᵀ G(π)`` over the rows of ``returns``."""
    return int(np.argmax(np.asarray(returns) @ np.asarray(preference)))
