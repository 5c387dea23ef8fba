"""CAPO's last-layer model (card 6, "CAPO-lite"): pure functions, no trainer.

How far would the next optimiser step move each token's distribution, if only the head moved
and the final hidden states ``h_t`` stayed fixed? :func:`head_gradient` gives the closed-form
head gradient of the surrogate the trainer minimises, :func:`optimizer_update` the step the
optimiser itself (AdamW with its state, or SGD) would take from it, :func:`predicted_kl` the
per-token KL of the resulting logit change, and :func:`capo_mask` rejects tokens (or
sequences) until the batch's mean predicted KL is inside the trust region. The trainer that
uses them is :class:`polab.algos.token_control.capo.CAPO` (its docstring says what the
prediction covers). Taught in notebooks/04_token_level_control.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from polab.algos.group.losses import LossType, aggregate
from polab.lm.generate import Samples
from polab.lm.model import GPT

MaskUnit = Literal["token", "sequence"]
Precond = Literal["adam", "sgd"]


def aggregation_weights(mask: torch.Tensor, loss_type: LossType, *,
                        max_completion_length: int | None = None,
                        normalizer: float | torch.Tensor | None = None) -> torch.Tensor:
    """``(B, T)`` weights ``w_t = ∂ aggregate(L) / ∂ L_t`` of the trainer's token reduction
    (``polab.algos.group.losses.aggregate``, linear in ``L``), read off by autograd so the
    prediction divides by exactly what the real loss divides by (card 6, pitfall 3)."""
    x = torch.zeros(mask.shape, device=mask.device, requires_grad=True)
    with torch.enable_grad():
        total = aggregate(x, mask, loss_type, max_completion_length=max_completion_length,
                          normalizer=normalizer)
        (w,) = torch.autograd.grad(total, x)
    return w


def surrogate_coefficients(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                           weights: torch.Tensor, *, epsilon: float, epsilon_high: float,
                           temperature: float = 1.0) -> torch.Tensor:
    """``(B, T)`` coefficients ``c_t = ∂L / ∂z_t`` along ``(e_{a_t} − p_t)``: for the token
    surrogate ``L = Σ_t w_t · −min(r_t A_t, clip(r_t, 1−ε, 1+ε_high) A_t)`` (card 6, base
    objective) and ``log π = log_softmax(z / T)``,

        c_t = −w_t A_t r_t 1[unclipped_t] / T,

    ``1[unclipped_t]`` true where the ``r_t A_t`` branch is the minimum (inside the clip range,
    or outside it on the pessimistic side). ``advantages`` is ``(B,)`` or ``(B, T)``; the
    weights carry the mask."""
    adv = advantages.unsqueeze(-1) if advantages.dim() == 1 else advantages
    ratio = torch.exp(logp - old_logp)
    clipped = ratio.clamp(1.0 - epsilon, 1.0 + epsilon_high)
    unclipped = ratio * adv <= clipped * adv  # equal inside the range: the ratio branch
    return torch.where(weights != 0, -weights * adv * ratio * unclipped / temperature, 0.0)


def head_gradient(coef: torch.Tensor, actions: torch.Tensor, probs: torch.Tensor,
                  h: torch.Tensor) -> torch.Tensor:
    """``(V, d)`` last-layer gradient in closed form (card 6, "per-token last-layer gradient",
    summed): ``G = Σ_t c_t (e_{a_t} − p_t) h_tᵀ`` over ``coef`` ``(B, T)``, sampled ``actions``
    ``(B, T)``, policies ``probs`` ``(B, T, V)`` and detached hidden states ``h`` ``(B, T, d)``;
    a token with ``c_t = 0`` (masked) adds nothing."""
    resid = -probs * coef.unsqueeze(-1)
    resid = resid.scatter_add(-1, actions.unsqueeze(-1), coef.unsqueeze(-1))
    return torch.einsum("btv,btd->vd", resid, h)


def optimizer_update(grad: torch.Tensor, weight: torch.Tensor, state: dict[str, Any], *,
                     precond: Precond, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                     eps: float = 1e-8, weight_decay: float = 0.0) -> torch.Tensor:
    """The change ``dW`` the optimiser's next step makes to ``weight`` given gradient ``grad``
    (card 6, "proposed last-layer update with the real optimiser's preconditioner"):

    * ``"sgd"``: ``dW = −lr · G``;
    * ``"adam"``: what ``torch.optim.AdamW.step`` does with its ``state`` (``exp_avg``,
      ``exp_avg_sq``, ``step``; empty before the first step)::

          m = β1 m + (1 − β1) G;  v = β2 v + (1 − β2) G²;  s = step + 1
          dW = −lr·wd·W − lr / (1 − β1^s) · m / (√v / √(1 − β2^s) + eps)

    The state is read, never written."""
    if precond == "sgd":
        return -lr * grad
    if precond != "adam":
        raise ValueError(f"precond={precond!r}: expected 'adam' or 'sgd'")
    b1, b2 = betas
    m = state.get("exp_avg", torch.zeros_like(grad))
    v = state.get("exp_avg_sq", torch.zeros_like(grad))
    step = float(state.get("step", 0.0)) + 1.0
    m = m * b1 + grad * (1.0 - b1)
    v = v * b2 + grad * grad * (1.0 - b2)
    denom = v.sqrt() / (1.0 - b2 ** step) ** 0.5 + eps
    return -lr * weight_decay * weight - lr / (1.0 - b1 ** step) * m / denom


def predicted_logit_change(dW: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``(B, T, V)`` predicted logit change ``dz_t = dW h_t`` with ``h`` fixed (card 6)."""
    return h @ dW.T


def predicted_kl(dz: torch.Tensor, probs: torch.Tensor, temperature: float = 1.0
                 ) -> torch.Tensor:
    """``(B, T)`` per-token predicted KL ``k_t = ½ δᵀ (diag p − p pᵀ) δ`` with ``δ = dz / T``
    (card 6, "softmax Fisher/curvature"): half the variance of ``δ`` under ``p``, the second-
    order KL between ``softmax((z + dz)/T)`` and ``softmax(z/T)``, either direction."""
    d = dz / temperature
    mean = (probs * d).sum(-1)
    return 0.5 * ((probs * d * d).sum(-1) - mean * mean)


def predicted_surrogate_change(dz: torch.Tensor, actions: torch.Tensor, probs: torch.Tensor,
                               advantages: torch.Tensor, temperature: float = 1.0
                               ) -> torch.Tensor:
    """``(B, T)`` predicted second-order change of the token objective ``A_t log π(a_t)``
    (card 6): ``dJ_t = A_t (e_{a_t} − p_t)ᵀ δ_t − ½ A_t δ_tᵀ F_t δ_t``, ``δ = dz / T``. The
    curvature term has sign ``−A_t``: negative-advantage tokens have positive curvature."""
    adv = advantages.unsqueeze(-1) if advantages.dim() == 1 else advantages
    d = dz / temperature
    first = d.gather(-1, actions.unsqueeze(-1)).squeeze(-1) - (probs * d).sum(-1)
    return adv * first - adv * predicted_kl(dz, probs, temperature)


def rejection_round(k: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor, *, delta: float,
                    delta_tok: float, unit: MaskUnit = "token") -> torch.Tensor:
    """One round of card 6's masking; returns the new ``keep`` ``(B, T)``.

    ``k`` is the predicted KL of every token under the current update, ``mask`` the batch's
    loss tokens (the mean runs over them), ``keep ⊆ mask`` the tokens still in the loss. Drops
    kept tokens with ``k_t > delta_tok``, then, while the mean ``k`` over ``mask`` exceeds
    ``delta``, the fewest largest-``k`` kept units whose own ``k`` covers the excess
    ``Σ k − delta · |mask|``. With ``unit="sequence"`` a sequence is scored by the sum of its
    kept tokens' ``k`` and dropped whole (also when one of its kept tokens is over the cap)."""
    k = torch.where(mask, k, 0.0)
    excess = k.sum() - delta * mask.sum()
    over = keep & (k > delta_tok)
    if unit == "sequence":
        score = torch.where(keep, k, 0.0).sum(-1, keepdim=True)
        alive, over = keep.any(-1, keepdim=True), over.any(-1, keepdim=True)
    else:
        score, alive = k, keep
    alive = alive & ~over
    flat = torch.where(alive, score, -1.0).flatten()
    order = flat.argsort(descending=True)
    covered = flat[order].clamp(min=0.0).cumsum(0)
    count = torch.where(excess > 0, (covered < excess).sum() + 1, 0)
    count = count.clamp(max=int(alive.sum()))
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(len(order), device=order.device)
    drop = (ranks < count).view_as(alive) | over
    return keep & ~drop


def capo_mask(kl_of: Callable[[torch.Tensor], torch.Tensor], mask: torch.Tensor, *,
              delta: float, delta_tok: float, unit: MaskUnit = "token", max_rounds: int = 8
              ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Card 6's iterative rejection: ``kl_of(keep)`` is the per-token predicted KL ``(B, T)``
    of the update computed from the kept tokens; round after round (:func:`rejection_round`)
    until the mean over ``mask`` is ``≤ delta`` and every kept ``k_t ≤ delta_tok``, or
    ``max_rounds`` rejections are spent. Returns ``(keep, k under keep, rejection rounds)``."""
    keep = mask.clone()
    k = kl_of(keep)
    for rounds in range(max_rounds + 1):
        n = mask.sum().clamp(min=1)
        done = (torch.where(mask, k, 0.0).sum() / n <= delta) and not (keep & (k > delta_tok)).any()
        if done or rounds == max_rounds:
            return keep, k, rounds
        keep = rejection_round(k, mask, keep, delta=delta, delta_tok=delta_tok, unit=unit)
        k = kl_of(keep)
    raise AssertionError("unreachable")


def completion_states(model: GPT, samples: Samples) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, h)`` ``(B, N, V)``, ``(B, N, d)`` at the positions that predict each
    completion token (as ``completion_logprobs``), by one forward with ``return_hidden``."""
    P = samples.prompt_ids.shape[1]
    padded = not bool(samples.prompt_mask.all())
    logits, h = model(samples.ids, samples.attention_mask if padded else None,
                      return_hidden=True)
    return logits[:, P - 1:-1].float(), h[:, P - 1:-1].float()


# --- config and trainer ----------------------------------------------------------------------
