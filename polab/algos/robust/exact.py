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

Below them, the exact dynamic programming of card 39 (IWOCS) on finite kernels, all batched
over leading kernel dimensions: :func:`value_iteration` (one kernel or a batch),
:func:`robust_value_iteration` over a finite sa-rectangular set (candidate rows per (s, a)),
:func:`tv_robust_value_iteration` over a TV ball, :func:`robust_policy_evaluation` (the worst
kernel for a fixed policy), :func:`domain_randomised_value_iteration` (the average kernel) and
:func:`evaluate_policy` (a policy's exact value on each of a batch of kernels).
"""

from __future__ import annotations

from collections.abc import Callable

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


# --- exact dynamic programming on finite kernels (card 39) ------------------------------------

def _check_mdp(reward: torch.Tensor, gamma: float) -> None:
    if reward.dim() != 2:
        raise ValueError(f"reward must be [S, A], got shape {tuple(reward.shape)}")
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")


def _fixed_point(backup: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, tol: float,
                 max_iterations: int) -> torch.Tensor:
    """Iterate the γ-contraction ``backup`` from ``v`` until the sup-norm change is ≤ tol."""
    for _ in range(max_iterations):
        new = backup(v)
        if float((new - v).abs().max()) <= tol:
            return new
        v = new
    return v


def value_iteration(P: torch.Tensor, reward: torch.Tensor, gamma: float, tol: float = 1e-10,
                    max_iterations: int = 10_000) -> torch.Tensor:
    """``Q*`` of the kernel(s) ``P [..., S, A, S]`` (batched over the leading dimensions):
    ``Q ← r + γ P max_a Q`` to a sup-norm change ≤ ``tol``. Card 39, loop step (i), the
    static solver of the tabular toy. Returns ``[..., S, A]``."""
    _check_mdp(reward, gamma)
    if P.shape[-3:-1] != reward.shape or P.shape[-1] != P.shape[-3]:
        raise ValueError(f"P must be [..., S, A, S] matching reward {tuple(reward.shape)}, "
                         f"got {tuple(P.shape)}")
    v = torch.zeros(P.shape[:-2], dtype=P.dtype, device=P.device)
    v = _fixed_point(lambda v: (reward + gamma * (P @ v[..., None, :, None]).squeeze(-1)
                                ).max(-1).values, v, tol, max_iterations)
    return reward + gamma * (P @ v[..., None, :, None]).squeeze(-1)


def _check_candidates(candidates: torch.Tensor, reward: torch.Tensor) -> None:
    if candidates.dim() != 4 or candidates.shape[:2] != reward.shape \
            or candidates.shape[-1] != candidates.shape[0]:
        raise ValueError(f"candidates must be [S, A, K, S] matching reward "
                         f"{tuple(reward.shape)}, got {tuple(candidates.shape)}")


def robust_value_iteration(candidates: torch.Tensor, reward: torch.Tensor, gamma: float,
                           tol: float = 1e-10, max_iterations: int = 10_000) -> torch.Tensor:
    """Robust ``Q`` of a finite sa-rectangular set, the candidate rows ``[S, A, K, S]``:
    ``Q(s, a) ← r(s, a) + γ min_k P_k(·|s, a)·max_a' Q`` (Iyengar 2005; card 39's reference
    value: for sa-rectangular sets it equals ``min_T V*_T``, no duality gap)."""
    _check_mdp(reward, gamma)
    _check_candidates(candidates, reward)
    v = torch.zeros(reward.shape[0], dtype=candidates.dtype, device=candidates.device)

    def q(v: torch.Tensor) -> torch.Tensor:
        return reward + gamma * (candidates @ v).min(-1).values

    v = _fixed_point(lambda v: q(v).max(-1).values, v, tol, max_iterations)
    return q(v)


def tv_robust_value_iteration(P: torch.Tensor, reward: torch.Tensor, gamma: float,
                              rho: float | torch.Tensor, tol: float = 1e-10,
                              max_iterations: int = 10_000) -> torch.Tensor:
    """Robust ``Q`` of the sa-rectangular TV ball of radius ρ around ``P [S, A, S]``:
    ``Q(s, a) ← r + γ min_{TV(q, P(·|s,a)) ≤ ρ} q·V`` by :func:`tv_inner_min`."""
    _check_mdp(reward, gamma)
    _check_rho(rho)
    v = torch.zeros(reward.shape[0], dtype=P.dtype, device=P.device)

    def q(v: torch.Tensor) -> torch.Tensor:
        return reward + gamma * tv_inner_min(P, v, rho)

    v = _fixed_point(lambda v: q(v).max(-1).values, v, tol, max_iterations)
    return q(v)


def _policy_index(policy: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
    S, A = reward.shape
    if policy.shape != (S,) or policy.dtype != torch.long or bool(
            ((policy < 0) | (policy >= A)).any()):
        raise ValueError(f"policy must be a deterministic [S] = [{S}] tensor of actions in "
                         f"0..{A - 1}")
    return policy


def robust_policy_evaluation(candidates: torch.Tensor, reward: torch.Tensor, gamma: float,
                             policy: torch.Tensor, tol: float = 1e-10,
                             max_iterations: int = 10_000
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """The robust value of a deterministic ``policy [S]`` on a finite sa-rectangular set and
    the worst kernel for it: ``V(s) ← r(s, π(s)) + γ min_k P_k(·|s, π(s))·V``; the worst
    kernel picks, for every (s, a), the candidate row minimising ``P_k(·|s, a)·V``. Card 39,
    loop step (iv) on a rectangular set (the exact worst-case search). Returns
    ``(V [S], worst kernel [S, A, S])``; the policy's value on that kernel is ``V``."""
    _check_mdp(reward, gamma)
    _check_candidates(candidates, reward)
    pi = _policy_index(policy, reward)
    states = torch.arange(reward.shape[0], device=reward.device)
    rows, r_pi = candidates[states, pi], reward[states, pi]  # [S, K, S], [S]
    v = torch.zeros(reward.shape[0], dtype=candidates.dtype, device=candidates.device)
    v = _fixed_point(lambda v: r_pi + gamma * (rows @ v).min(-1).values, v, tol,
                     max_iterations)
    worst = (candidates @ v).argmin(-1)  # [S, A]
    kernel = candidates.gather(2, worst[..., None, None].expand(-1, -1, 1,
                                                                candidates.shape[-1]))
    return v, kernel.squeeze(2)


def evaluate_policy(kernels: torch.Tensor, reward: torch.Tensor, gamma: float,
                    policy: torch.Tensor) -> torch.Tensor:
    """``V^π_T`` of a deterministic ``policy [S]`` on each kernel ``T`` of ``[..., S, A, S]``
    exactly (one batched linear solve ``(I − γ P_π) V = r_π``). Returns ``[..., S]``."""
    _check_mdp(reward, gamma)
    pi = _policy_index(policy, reward)
    S = reward.shape[0]
    states = torch.arange(S, device=reward.device)
    P_pi = kernels[..., states, pi, :]  # [..., S, S]
    eye = torch.eye(S, dtype=kernels.dtype, device=kernels.device)
    r_pi = reward[states, pi].expand(P_pi.shape[:-1])
    return torch.linalg.solve(eye - gamma * P_pi, r_pi)


def domain_randomised_value_iteration(kernels: torch.Tensor, reward: torch.Tensor,
                                      gamma: float, weights: torch.Tensor | None = None,
                                      tol: float = 1e-10) -> torch.Tensor:
    """``Q*`` of the average kernel ``Σ_k w_k T_k`` (uniform ``weights`` by default) of
    ``kernels [K, S, A, S]``: domain randomisation's answer (card 39's baseline; the
    expected return under a random kernel is linear in the kernel only per step, so this is
    the "average model" variant)."""
    if kernels.dim() != 4:
        raise ValueError(f"kernels must be [K, S, A, S], got {tuple(kernels.shape)}")
    w = (torch.full((kernels.shape[0],), 1.0 / kernels.shape[0], dtype=kernels.dtype,
                    device=kernels.device) if weights is None else weights)
    if w.shape != kernels.shape[:1] or bool((w < 0).any()) or abs(float(w.sum()) - 1) > 1e-9:
        raise ValueError(f"weights must be a distribution over the {kernels.shape[0]} kernels")
    return value_iteration(torch.einsum("k,ksat->sat", w, kernels), reward, gamma, tol)
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
