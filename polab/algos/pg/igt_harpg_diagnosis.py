"""Why the LQR miniature's ordering differs from the theory of Fatkhullin et al. (2023,
"Stochastic Policy Gradient Methods: Improved Sample Complexity for Fisher-non-degenerate
Policies"; ../shared/cards/10_pg_igt_harpg.md): the spread of the one-trajectory gradient and
Hessian-vector estimates, the tracking error they predict for N-HARPG, and how far normalised
steps can carry the iterate. Used by benchmarks/igt_harpg.py and notebook 02.
"""

from __future__ import annotations

import math

import torch

from polab.algos.pg.igt_harpg import gpomdp_gradient, hessian_vector_estimate, schedule
from polab.envs.lqr import LQR, gaussian_log_prob_hvp, gaussian_score


def path_length(iterations: int, scale: float, exponent: float) -> float:
    """``Σ_{t<iterations} γ_t``: how far normalised steps (each of length ``γ_t``) can carry
    the iterate at most. With ``exponent = 1`` it grows only like ``2·scale·ln t``."""
    return sum(schedule(t, scale, exponent) for t in range(iterations))


def recursive_error_rms(iterations: int, gamma_0: float, hvp_std: float,
                        grad_std: float) -> float:
    """Predicted root-mean-square tracking error ``‖d_t - ∇J(θ_t)‖`` of N-HARPG after ``t``
    iterations with ``η_t = 2/(t+2)`` and normalised steps ``γ_t = 2 gamma_0/(t+2)``.

    With ``e_t = d_t - ∇J(θ_t)``, the recursion ``e_t = (1-η_t)(e_{t-1} + ξ^B_t) + η_t ξ^g_t``
    (``ξ^B`` the Hessian-vector noise, std ``hvp_std·‖u‖`` along a step ``‖u‖ = γ_{t-1}``;
    ``ξ^g`` the one-trajectory gradient noise, std ``grad_std``) gives, multiplied by
    ``(t+1)(t+2)``, a sum of independent terms: ``E‖e_t‖² ≈ (4/3)(gamma_0² hvp_std² +
    grad_std²)/t``. The first term is what the Hessian correction costs.
    """
    return math.sqrt(4.0 / 3.0 * (gamma_0 ** 2 * hvp_std ** 2 + grad_std ** 2) / iterations)


def estimator_spread(lqr: LQR, K: torch.Tensor, direction: torch.Tensor, n: int,
                     generator: torch.Generator | None = None) -> tuple[float, float]:
    """Spread ``sqrt(tr Cov)`` of the one-trajectory GPOMDP gradient ``g(τ, K)`` and of the
    Hessian-vector estimate ``B(τ, K) u`` along ``u = direction`` (shape of ``K``), from ``n``
    trajectories at the gain ``K (m, n_s)``."""
    traj = lqr.rollout(K, generator, batch_shape=(n,))
    scores = gaussian_score(K, traj.states, traj.actions, lqr.policy_std).flatten(-2)
    hvps = gaussian_log_prob_hvp(traj.states, direction, lqr.policy_std).flatten(-2)
    g = gpomdp_gradient(scores, traj.rewards, lqr.gamma)
    Bu = hessian_vector_estimate(scores, hvps, traj.rewards, lqr.gamma,
                                 direction.reshape(-1).expand(n, -1))
    return g.var(0).sum().sqrt().item(), Bu.var(0).sum().sqrt().item()
