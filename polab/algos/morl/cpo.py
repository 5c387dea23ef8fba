"""Constrained Policy Optimization's step (Achiam, Held, Tamar, Abbeel, ICML 2017), for ``P``
policies at once — C-MORL's ``cpo`` extension form (../shared/cards/04_cmorl.md, from the
authors' code), and :func:`cpo_update`, that form's update of a C-MORL population.

One CPO step solves, around the current policy, the trust-region problem

    max_x  gᵀx   s.t.   c + bᵀx ≤ 0,   ½ xᵀ H x ≤ δ                              (CPO eq. 10)

with ``g`` the objective's surrogate gradient, ``b`` the gradient of the constraint's *cost*
(here the negated constrained return), ``c`` the current violation (``> 0``: infeasible), ``H``
the Fisher matrix (Hessian of the KL) and ``δ`` the KL radius. With ``v = H⁻¹g`` and
``w = H⁻¹b`` (conjugate gradients on Fisher-vector products) and ``q = gᵀv``, ``r = gᵀw``,
``s = bᵀw``, its dual has a closed form (CPO appendix 10.2, :func:`cpo_dual`) and the step is
``x = (v - ν w) / λ``, or the pure recovery ``x = -√(2δ/s) w`` when no point of the trust
region is feasible.

Parameters of the ``P`` stacked policies carry the member in their first dimension, so every
vector here is a list of tensors ``(P, ...)`` and every dot product is ``(P,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from polab.algos.morl.config import CPO_CG_ITERATIONS, CPO_DAMPING
from polab.algos.morl.losses import standardize
from polab.algos.morl.networks import clip_grad_norm_per_member
from polab.core.distributions import categorical_kl, gaussian_kl

if TYPE_CHECKING:
    from polab.algos.morl.population import Population

Vector = list[torch.Tensor]


def member_dot(x: Vector, y: Vector) -> torch.Tensor:
    """Per-member dot product of two stacked parameter vectors: ``(P,)``."""
    return sum((a * b).flatten(1).sum(1) for a, b in zip(x, y, strict=True))


def _scaled(x: Vector, scale: torch.Tensor) -> Vector:
    return [t * scale.view(-1, *([1] * (t.dim() - 1))) for t in x]


def conjugate_gradient(hvp: Callable[[Vector], Vector], rhs: Vector, iterations: int = 10,
                       tol: float = 1e-10) -> Vector:
    """Solve ``H x = rhs`` for every member at once (``H`` block-diagonal over members) by
    conjugate gradients, ``iterations`` steps from ``x = 0``."""
    x = [torch.zeros_like(t) for t in rhs]
    r = [t.clone() for t in rhs]
    p = [t.clone() for t in rhs]
    rr = member_dot(r, r)
    for _ in range(iterations):
        hp = hvp(p)
        alpha = rr / member_dot(p, hp).clamp_min(tol)
        x = [a + b for a, b in zip(x, _scaled(p, alpha), strict=True)]
        r = [a - b for a, b in zip(r, _scaled(hp, alpha), strict=True)]
        rr_new = member_dot(r, r)
        beta = rr_new / rr.clamp_min(tol)
        p = [a + b for a, b in zip(r, _scaled(p, beta), strict=True)]
        rr = rr_new
    return x


def cpo_dual(q: torch.Tensor, r: torch.Tensor, s: torch.Tensor, c: torch.Tensor,
             max_kl: float, eps: float = 1e-8) -> dict[str, torch.Tensor]:
    """The closed-form dual of CPO's trust-region problem, elementwise over members.

    With ``x = (v - ν w)/λ`` the dual is ``max_{λ,ν≥0} -(q - 2νr + ν²s)/(2λ) + νc - λδ``
    (CPO eq. 12), whose optimal ``ν = ((λc + r)/s)₊``; substituting gives two branches, each
    maximised over the ``λ`` where it holds (CPO appendix 10.2, derived here with
    ``r = gᵀH⁻¹b`` as defined above, which fixes the signs of ``r``):

    * ``ν > 0``: ``f_a(λ) = -(A/λ + Bλ)/2 + rc/s`` with ``A = q - r²/s``, ``B = 2δ - c²/s``,
      maximised at ``λ = √(A/B)`` projected on ``{λ: λc + r > 0}``;
    * ``ν = 0``: ``f_b(λ) = -(q/λ + 2δλ)/2`` (the TRPO step), at ``λ = √(q/2δ)`` projected on
      ``{λ: λc + r ≤ 0}``.

    Returns ``lam`` (λ), ``nu`` (ν) and ``case``: 4 — the constraint gradient vanishes and the
    policy is feasible, or 3 — feasible and the whole trust region satisfies the constraint
    (``B < 0``): the TRPO step; 2 — feasible, 1 — infeasible, and the constraint's boundary
    cuts the trust region (``B ≥ 0``): the dual above; 0 — infeasible and not recoverable
    inside the trust region: the recovery step ``-√(2δ/s) w``, returned as ``lam = 0``,
    ``nu = √(2δ/s)``."""
    delta2 = 2.0 * max_kl
    a = (q - r * r / (s + eps)).clamp_min(0.0)
    b = delta2 - c * c / (s + eps)
    trpo_lam = torch.sqrt(q.clamp_min(0.0) / delta2)
    infeasible = c > 0
    c_safe = torch.where(c == 0, torch.full_like(c, -eps), c)
    edge = (-r / c_safe).clamp_min(0.0)  # where λc + r changes sign
    inf, zero = torch.full_like(c, torch.inf), torch.zeros_like(c)
    # ν > 0 holds for λ > edge when c > 0, for λ < edge when c < 0
    lo_a, hi_a = torch.where(infeasible, edge, zero), torch.where(infeasible, inf, edge)
    lo_b, hi_b = torch.where(infeasible, zero, edge), torch.where(infeasible, edge, inf)
    lam_a = torch.maximum(lo_a, torch.minimum(hi_a, torch.sqrt(a / b.clamp_min(eps))))
    lam_b = torch.maximum(lo_b, torch.minimum(hi_b, trpo_lam))
    f_a = -0.5 * (a / (lam_a + eps) + b * lam_a) + r * c / (s + eps)
    f_b = -0.5 * (q / (lam_b + eps) + delta2 * lam_b)
    lam_12 = torch.where(f_a >= f_b, lam_a, lam_b)
    nu_12 = (lam_12 * c + r).clamp_min(0.0) / (s + eps)
    case = torch.where(
        (s <= eps) & ~infeasible, 4,
        torch.where(~infeasible & (b < 0), 3,
                    torch.where(b >= 0, torch.where(infeasible, 1, 2), 0)))
    lam = torch.where(case >= 3, trpo_lam, torch.where(case > 0, lam_12, zero))
    nu = torch.where(case >= 3, zero, torch.where(case > 0, nu_12,
                                                  torch.sqrt(delta2 / (s + eps))))
    return {"lam": lam, "nu": nu, "case": case}


def cpo_direction(v: Vector, w: Vector, dual: dict[str, torch.Tensor],
                  eps: float = 1e-8) -> Vector:
    """The step ``(v - ν w)/λ`` (cases 1–4) or ``-ν w`` (case 0), per member."""
    lam, nu, case = dual["lam"], dual["nu"], dual["case"]
    moved = [a - b for a, b in zip(v, _scaled(w, nu), strict=True)]
    inv_lam = torch.where(case > 0, 1.0 / (lam + eps), torch.zeros_like(lam))
    recover = torch.where(case > 0, torch.zeros_like(nu), -nu)
    return [a + b for a, b in zip(_scaled(moved, inv_lam), _scaled(w, recover), strict=True)]


def cpo_update(pop: Population, ro: dict[str, torch.Tensor], adv: torch.Tensor,
               ret: torch.Tensor) -> dict[str, float]:
    """C-MORL's ``cpo`` extension form on the population ``pop``: one CPO step per iteration for
    every member's actor — objective ``l``'s standardised advantage as ``g``; the other
    objective's return estimate ``Ĝ_i = Ĵ_i + H·mean((ρ-1)Â_i)`` (as in the barrier form)
    as the constraint, violation ``c = b_i - Ĵ_i`` — then the critics by Adam."""
    c, net, pm = pop.config, pop.net, pop._per_member
    obs, actions, old_logp = pm(ro["obs"]), pm(ro["actions"]), pm(ro["logp"])
    adv, ret = pm(adv), pm(ret)
    params = [*net.actor.parameters(), *([net.log_std] if net.log_std is not None else [])]
    objective = pop.weights.argmax(1)
    other = 1 - objective  # two objectives (a config rule)
    rows = torch.arange(net.members, device=pop.device)
    out = net.actor(obs)
    old_out = out.detach()  # the policy that sampled: the step has not moved it yet
    new_logp, _ = net.evaluate(obs, actions, out)
    ratio = (new_logp - old_logp).exp()
    a_obj = standardize(adv[rows, :, objective])
    gain = (ratio * a_obj).mean(1)
    estimate = pop.member_lengths * ((ratio - 1.0) * adv[rows, :, other]).mean(1)
    g = torch.autograd.grad(gain.sum(), params, retain_graph=True)
    b = torch.autograd.grad(-estimate.sum(), params, retain_graph=True)
    if net.discrete:
        kl = categorical_kl(old_out, out).mean(1).sum()
    else:
        log_std = net.log_std.detach().expand_as(out)
        kl = gaussian_kl(old_out, log_std, out, net.log_std.expand_as(out)).mean(1).sum()
    grad_kl = torch.autograd.grad(kl, params, create_graph=True)

    def fisher(v: list[torch.Tensor]) -> list[torch.Tensor]:
        hv = torch.autograd.grad(member_dot(list(grad_kl), v).sum(), params,
                                 retain_graph=True)
        return [h + CPO_DAMPING * x for h, x in zip(hv, v, strict=True)]

    v = conjugate_gradient(fisher, list(g), CPO_CG_ITERATIONS)
    w = conjugate_gradient(fisher, list(b), CPO_CG_ITERATIONS)
    current = torch.nan_to_num(pop.member_returns)[rows, other]
    violation = pop.thresholds[rows, other] - current
    dual = cpo_dual(member_dot(list(g), v), member_dot(list(g), w), member_dot(list(b), w),
                    violation, c.cpo_max_kl)
    with torch.no_grad():
        for p, step in zip(params, cpo_direction(v, w, dual), strict=True):
            p.add_(step)
    v_losses = []
    for mb in pop._minibatches(obs.shape[1]):
        v_loss = 0.5 * ((net.values(obs[:, mb]) - ret[:, mb]) ** 2).mean((1, 2))
        pop.optimizer.zero_grad(set_to_none=True)
        (c.vf_coef * v_loss).sum().backward()
        clip_grad_norm_per_member(list(net.critic.parameters()), c.max_grad_norm)
        pop.optimizer.step()
        v_losses.append(v_loss.mean().detach())
    with torch.no_grad():
        entropy = net.evaluate(obs, actions)[1].mean()
    return {"losses/value_loss": float(torch.stack(v_losses).mean()),
            "losses/entropy": float(entropy),
            "morl/cpo_infeasible_share": float((violation > 0).float().mean()),
            "morl/cpo_recovery_share": float((dual["case"] == 0).float().mean()),
            "morl/feasible_share": float((violation <= 0).float().mean())}
