"""Exact references for INPO on the preference game (card 16; issue 16).

Pure functions over a batch of preference matrices ``P [n, K, K]``:

* the KL-regularised Nash by exact OMD to a fixed-point residual < 1e-10, exploitability, win
  rates and one OMD step: the game's own (:mod:`polab.envs.preference.game`, re-exported here
  because the testbed's metrics need them and ``polab.envs`` cannot import ``polab.algos``);
* :func:`unregularised_nash`: the ``τ → 0`` Nash, one linear programme
  (``scipy.optimize.linprog``) for all prompts;
* :func:`omd_trajectory`: exact OMD with oracle win rates, the ideal INPO tracks;
* :func:`expected_inpo_loss`: INPO's loss ``L_t`` in expectation over ordered pairs
  ``(y, y′) ~ π_t ⊗ π_t`` labelled ∝ ``P``, whose minimiser is the OMD target (card 16, the
  "key trick").
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize, sparse

from polab.algos.preference.losses import inpo_loss
from polab.envs.preference.game import (
    exploitability,
    kl,
    nash_residual,
    omd_step,
    regularised_nash,
    win_rates,
)

__all__ = ["exploitability", "expected_inpo_loss", "kl", "nash_residual", "omd_step",
           "omd_trajectory", "regularised_nash", "unregularised_nash", "win_rates"]


def unregularised_nash(P: torch.Tensor) -> torch.Tensor:
    """A Nash policy of the symmetric game ``P(π ≻ π′)`` per prompt, probabilities ``[n, K]``:
    ``min v`` s.t. ``P(y ≻ π) − ½ ≤ v`` for every ``y``, ``Σ π = 1``, ``π ≥ 0``, one
    block-diagonal ``linprog`` over all prompts (its value is 0: ``P − ½`` is skew-symmetric).
    """
    n, k, _ = P.shape
    A = (P.double() - 0.5).cpu().numpy()
    # variables: π (n·K) then v (n); minimise Σ v
    a_ub = sparse.hstack([sparse.block_diag(list(A)), -sparse.kron(sparse.eye(n), np.ones((k, 1)))])
    a_eq = sparse.hstack([sparse.kron(sparse.eye(n), np.ones((1, k))), sparse.csr_matrix((n, n))])
    cost = np.concatenate([np.zeros(n * k), np.ones(n)])
    bounds = [(0, None)] * (n * k) + [(None, None)] * n
    res = optimize.linprog(cost, A_ub=a_ub, b_ub=np.zeros(n * k), A_eq=a_eq, b_eq=np.ones(n),
                           bounds=bounds, method="highs")
    if not res.success:
        raise RuntimeError(f"linprog failed: {res.message}")
    probs = torch.as_tensor(res.x[: n * k], dtype=torch.float64).reshape(n, k).clamp_min(0.0)
    return (probs / probs.sum(-1, keepdim=True)).to(P.device)


def omd_trajectory(P: torch.Tensor, logp_ref: torch.Tensor, eta: float, tau: float,
                   iterations: int) -> torch.Tensor:
    """Exact OMD from ``π_0 = π_ref`` with oracle win rates (card 16, "OMD target"): the
    log-probabilities of ``π_0 … π_T``, ``[T + 1, n, K]``."""
    logps = [torch.log_softmax(logp_ref.double(), -1)]
    for _ in range(iterations):
        logps.append(omd_step(logps[-1], logps[0], P.double(), eta, tau))
    return torch.stack(logps)


def expected_inpo_loss(logp: torch.Tensor, anchor: torch.Tensor, logp_t: torch.Tensor,
                       P: torch.Tensor, eta: float) -> torch.Tensor:
    """INPO's ``L_t(π)`` exactly (card 16): ``E_{y, y′ ~ π_t} E_{(y_w, y_l) ~ λ_P}
    (h_t(π, y_w, y_l) − η/2)²`` with ``h_t = log π/anchor (y_w) − log π/anchor (y_l)`` and
    the anchor ``ητ·log π_ref + (1 − ητ)·log π_t`` (:func:`~polab.algos.preference.losses.
    geometric_reference`). Ordered pairs ``(y, y′)`` weigh ``π_t(y)·π_t(y′)``; ``y`` wins with
    probability ``P(y ≻ y′)``, so ``E = 2 Σ_{y≠y′} π_t(y) π_t(y′) P(y ≻ y′)(h(y, y′) − η/2)²``
    (identical pairs dropped, as the oracle does). Mean over prompts; ``logp``, ``anchor``,
    ``logp_t`` ``[n, K]``.

    Its minimiser over tabular ``π`` is ``log π = anchor + η·P(y ≻ π_t) + const``, the OMD
    target: the stationarity condition per response reads ``h̄(y) − E_{π_t} h̄ = η(P(y ≻ π_t)
    − ½)`` with ``h̄ = log π − anchor``: the per-pair optimum ``h = η(P(y ≻ y′) − ½)``
    averaged over ``y′ ~ π_t``. (``η/2``, not ``η``: with ``η`` the target would be a
    doubled OMD step.)
    """
    s = logp - anchor
    h = s[:, :, None] - s[:, None, :]
    w = logp_t.exp()
    weight = w[:, :, None] * w[:, None, :] * P.to(logp.dtype)
    weight = weight * (1.0 - torch.eye(P.shape[-1], dtype=logp.dtype, device=logp.device))
    return 2.0 * (weight * inpo_loss(h, eta)).sum((-1, -2)).mean()
