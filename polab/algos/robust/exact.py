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
