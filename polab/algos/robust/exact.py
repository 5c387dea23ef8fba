"""Exact robust dynamic programming: the worst case inside a total-variation ball.

The building block every robust backup of chapter 11 shares is the inner problem

    min_{q ∈ Δ_S, TV(q, p) ≤ ρ}  q·v,      TV(q, p) = ½‖q − p‖₁,

the worst expected next value when an adversary may move mass ρ of the nominal next-state
distribution ``p``. Two exact answers, batched over any leading dimensions:

* :func:`tv_inner_min` by sorting: move ``δ = min(ρ, 1 − p(s_min))`` of mass from the
  highest-value states onto the lowest-value one (the greedy transport is optimal for a
  linear objective);
* :func:`tv_dual` by card 32's α-dual (Shi & Chi 2022; Liu & Xu 2024, d-rectangular linear
  DRMDPs): ``max_{α ∈ [min v, max v]} E_p[min(v, α)] − ρ·(α − min_s v(s))``, piecewise linear
  in α, so its maximum sits at one of the values ``v(s)``.

Robust value iteration for sa-rectangular sets and the d-rectangular linear set build on these.
"""

from __future__ import annotations

import torch


def _check_rho(rho: float | torch.Tensor) -> torch.Tensor:
    rho = torch.as_tensor(rho, dtype=torch.float64)
    if bool(((rho < 0) | (rho > 1)).any()):
        raise ValueError(f"rho={rho.tolist()}: a total-variation radius lies in [0, 1]")
    return rho


def tv_inner_min(p: torch.Tensor, v: torch.Tensor, rho: float | torch.Tensor
                 ) -> torch.Tensor:
    """``min_{TV(q, p) ≤ ρ} q·v`` over the simplex, by sorting (module docstring).

    ``p`` is ``[..., S]`` (rows sum to 1), ``v`` broadcasts against it, ``ρ`` a float or a
    tensor broadcasting against ``p[..., 0]``. Returns ``[...]``."""
    rho_t = _check_rho(rho).to(p.device, p.dtype)
    v = v.expand_as(p)
    v_min, i_min = v.min(-1)
    delta = torch.minimum(rho_t, 1 - p.gather(-1, i_min.unsqueeze(-1)).squeeze(-1))
    order = v.argsort(-1, descending=True)
    vs, ps = v.gather(-1, order), p.gather(-1, order)
    above = ps.cumsum(-1) - ps  # mass of strictly higher-ranked states
    removed = (delta.unsqueeze(-1) - above).clamp_min(0).minimum(ps)
    return ((ps - removed) * vs).sum(-1) + delta * v_min


def tv_worst_distribution(p: torch.Tensor, v: torch.Tensor, rho: float | torch.Tensor
                          ) -> torch.Tensor:
    """The minimiser ``q`` of :func:`tv_inner_min`, ``[..., S]`` (the adversary's kernel row)."""
    rho_t = _check_rho(rho).to(p.device, p.dtype)
    v = v.expand_as(p)
    i_min = v.argmin(-1, keepdim=True)
    delta = torch.minimum(rho_t, 1 - p.gather(-1, i_min).squeeze(-1))
    order = v.argsort(-1, descending=True)
    ps = p.gather(-1, order)
    above = ps.cumsum(-1) - ps
    removed = (delta.unsqueeze(-1) - above).clamp_min(0).minimum(ps)
    q = p - torch.zeros_like(p).scatter(-1, order, removed)
    return q.scatter_add(-1, i_min, delta.unsqueeze(-1))


def tv_dual(p: torch.Tensor, v: torch.Tensor, rho: float | torch.Tensor) -> torch.Tensor:
    """Card 32's α-dual of the same inner problem:
    ``max_α E_p[min(v, α)] − ρ(α − min_s v(s))`` with α over the values of ``v``."""
    rho_t = _check_rho(rho).to(p.device, p.dtype)
    v = v.expand_as(p)
    alphas = v.unsqueeze(-2)                                     # [..., 1, S] candidates
    truncated = (p.unsqueeze(-1) * torch.minimum(v.unsqueeze(-1), alphas)).sum(-2)
    penalty = rho_t.unsqueeze(-1) * (alphas.squeeze(-2) - v.min(-1, keepdim=True).values)
    return (truncated - penalty).max(-1).values


# --- d-rectangular linear robust DP (card 32) -------------------------------------------------

def d_rect_expected_next(phi: torch.Tensor, mu: torch.Tensor, v_next: torch.Tensor,
                         rho: float) -> torch.Tensor:
    """``inf_{P ∈ 𝒰^ρ(s,a)} P·V = Σ_i φ_i(s, a) · min_{TV(μ_i, μ⁰_i) ≤ ρ} μ_i·V``, ``[S, A]``:
    the adversary perturbs each factor μ⁰_i separately (d-rectangular set; card 32, pitfall 1),
    not the mixture ``P⁰(·|s, a)`` as a whole. ``phi [S, A, d]``, ``mu [d, S]``, ``v_next [S]``."""
    return phi @ tv_inner_min(mu, v_next, rho)


def d_rect_worst_kernel(phi: torch.Tensor, mu: torch.Tensor, v_next: torch.Tensor,
                        rho: float) -> torch.Tensor:
    """The adversary's kernel ``[S, A, S]`` attaining :func:`d_rect_expected_next`:
    ``Σ_i φ_i(s, a) q_i`` with ``q_i`` the worst distribution in factor i's TV ball."""
    return torch.einsum("sad,dt->sat", phi, tv_worst_distribution(mu, v_next, rho))


def soft_value(q: torch.Tensor, policy: torch.Tensor, pi_ref: torch.Tensor,
               lambda_kl: float | None) -> torch.Tensor:
    """``V(s) = Σ_a π(a|s) Q(s, a) − (1/λ_KL) KL(π(·|s) ‖ π_ref(·|s))`` (card 32 step 2, the
    regularised value; pitfall 5); ``lambda_kl=None`` drops the KL term (plain ``E_π Q``)."""
    v = (policy * q).sum(-1)
    if lambda_kl is None:
        return v
    kl = (policy * (policy.clamp_min(1e-300).log() - pi_ref.log())).sum(-1)
    return v - kl / lambda_kl


def d_rect_robust_dp(phi: torch.Tensor, mu: torch.Tensor, reward: torch.Tensor, horizon: int,
                     rho: float, lambda_kl: float | None = None,
                     pi_ref: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Exact robust DP on the d-rectangular linear set: ``Q_h = r + inf_P P·V_{h+1}``,
    ``V_h = max_a Q_h`` (the robust optimum), or with ``lambda_kl`` the KL-regularised optimum
    ``π_h ∝ π_ref exp(λ_KL Q_h)``, ``V_h = (1/λ_KL) log Σ_a π_ref exp(λ_KL Q_h)`` (the fixed
    point of card 32 step 3). Returns ``V [H+1, S]``, ``Q [H, S, A]``, ``policy [H, S, A]``."""
    S, A = reward.shape
    if pi_ref is None:
        pi_ref = torch.full_like(reward, 1.0 / A)
    V = torch.zeros(horizon + 1, S, dtype=reward.dtype, device=reward.device)
    Q = torch.zeros(horizon, S, A, dtype=reward.dtype, device=reward.device)
    policy = torch.zeros_like(Q)
    for h in reversed(range(horizon)):
        Q[h] = reward + d_rect_expected_next(phi, mu, V[h + 1], rho)
        if lambda_kl is None:
            policy[h] = torch.nn.functional.one_hot(Q[h].argmax(-1), A).to(Q.dtype)
            V[h] = Q[h].max(-1).values
        else:
            logits = lambda_kl * Q[h] + pi_ref.log()
            policy[h] = torch.softmax(logits, -1)
            V[h] = torch.logsumexp(logits, -1) / lambda_kl
    return {"V": V, "Q": Q, "policy": policy}


def d_rect_policy_evaluation(phi: torch.Tensor, mu: torch.Tensor, reward: torch.Tensor,
                             policy: torch.Tensor, rho: float, lambda_kl: float | None = None,
                             pi_ref: torch.Tensor | None = None) -> torch.Tensor:
    """Robust value ``V^π_ρ [H+1, S]`` of a policy ``[H, S, A]`` on the d-rectangular set
    (the adversary answers each step; rectangularity makes that the worst kernel sequence),
    minus the KL term when ``lambda_kl`` is given (the regularised objective)."""
    horizon, (S, A) = policy.shape[0], reward.shape
    if pi_ref is None:
        pi_ref = torch.full_like(reward, 1.0 / A)
    V = torch.zeros(horizon + 1, S, dtype=reward.dtype, device=reward.device)
    for h in reversed(range(horizon)):
        q = reward + d_rect_expected_next(phi, mu, V[h + 1], rho)
        V[h] = soft_value(q, policy[h], pi_ref, lambda_kl)
    return V
