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
