"""CAPO — curvature-aware token masking before each optimiser step ("CAPO-lite").

Melo, Abate & Gal 2025, *Stabilizing Policy Gradients for Sample-Efficient Reinforcement
Learning in LLM Reasoning*, arXiv 2510.00819; ../shared/cards/06_capo.md. The paper's code is
not public: the formulas below are the card's reconstruction of the mechanism its abstract
describes ("a tractable last-layer curvature model to anticipate unstable updates and enforce a
local trust region").

Before each real optimiser step (``update_epochs × num_minibatches`` per iteration), with the
pure functions of :mod:`polab.algos.token_control.last_layer`:

1. one no-grad forward with ``return_hidden=True`` gives, per completion token ``t``, the
   final hidden state ``h_t`` (detached: the last-layer model treats it as fixed, pitfall 4),
   the policy ``p_t = softmax(z_t / T)`` and the ratio ``r_t = π_θ / π_old``;
2. the closed-form last-layer gradient of the loss the trainer really minimises
   (:func:`head_gradient`, card 6 "per-token last-layer gradient"),
   ``G = Σ_t c_t (e_{a_t} − p_t) h_tᵀ`` with ``c_t = −w_t A_t r_t 1[unclipped] / T``
   (:func:`surrogate_coefficients`; ``w_t`` the loss's own normaliser weight);
3. the update the optimiser *itself* would make to the head weight from ``G``
   (:func:`optimizer_update`: AdamW with its state, or SGD; pitfall 1), the predicted logit
   change ``dz_t = dW h_t`` (:func:`predicted_logit_change`), the per-token predicted KL
   ``k_t = ½ δ_tᵀ (diag p_t − p_t p_tᵀ) δ_t`` with ``δ_t = dz_t / T``
   (:func:`predicted_kl`, computed with the *batch* update, pitfall 2) and the predicted
   surrogate change ``dJ_t`` (:func:`predicted_surrogate_change`);
4. iterative rejection (:func:`rejection_round`, :func:`capo_mask`): tokens (or whole
   sequences) with the largest ``k_t`` are masked, ``dW`` is recomputed from the kept ones,
   until the mean predicted KL over the batch's tokens is ``≤ delta`` and no kept token has
   ``k_t > delta_tok`` (or ``max_rounds`` are spent);
5. the real step: GRPO's clipped surrogate with the mask AND-ed into ``batch.mask``.

Choices made here (say so when you teach it):

* **What the prediction covers.** The tiny GPT ties its head to the token embedding
  (``lm_head.weight is wte.weight``). The prediction is the change of that matrix *in its head
  role* with ``h`` fixed. The real step also moves it as the input embedding, moves every lower
  layer (so ``h`` moves), and clips the whole gradient's norm (``max_grad_norm``), none of which
  the prediction sees; the optimiser state it reads (AdamW's moments) is the real one, built
  from the full gradients. ``capo/realised_kl`` (a no-grad forward after the step) against
  ``capo/predicted_kl`` measures how good the proxy is (pitfall 5); ``capo/realised_head_kl``
  (the head's real change alone, ``h`` fixed) separates the two errors. On the shipped
  ``addition`` base the head-role prediction is right to a factor of a few (exact once Adam's
  moments are warm), but the whole step's KL is 10³–10⁴ times larger: the last layer is a
  small part of this tiny model's move, and AdamW's first steps are ``≈ lr · sign(g)`` on every
  parameter, which no token mask can shrink.
* **Which tokens the KL is averaged over.** Both are means over *all* the batch's loss tokens
  (the states the batch visits), not over the kept ones: a rejected token's distribution moves
  too, and a mean over kept tokens would fall just by dropping the large ``k_t`` without the
  update becoming smaller.
* **The normaliser (pitfall 3).** With the default ``loss_type="dapo"`` GRPO divides by the
  loss tokens of the whole batch counted *before* CAPO's mask (``GroupBatch.loss_normalizer``),
  a constant: a rejected token just leaves the sum, the kept tokens' gradients keep their
  scale. ``bnpo``/``grpo`` divide by the kept count instead; :func:`aggregation_weights` reads
  the weights off the trainer's own ``aggregate`` either way.
* **Not PPO clipping (pitfall 6).** Clipping zeroes a token's gradient after its ratio has
  moved; CAPO drops tokens before the step, on the predicted move of the whole batch update.

``use_capo=False`` is plain GRPO (same numbers, same seed). Not reproduced: the paper's
monotonic-improvement guarantee and its MATH-scale runs. Taught in
notebooks/04_token_level_control.ipynb.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from polab.algos.group.batch import GroupBatch
from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.token_control.last_layer import (
    MaskUnit,
    Precond,
    aggregation_weights,
    capo_mask,
    completion_states,
    head_gradient,
    optimizer_update,
    predicted_kl,
    predicted_logit_change,
    predicted_surrogate_change,
    surrogate_coefficients,
)
from polab.config import param
from polab.lm.generate import Samples
from polab.lm.model import GPT

_CARD = "Melo, Abate & Gal 2025 (CAPO), card 6"


@dataclass(frozen=True)
class CAPOConfig(GRPOConfig):
    """GRPO's knobs plus CAPO's; defaults are the card's aggressive arm (lr 3e-3, 16 × 8)."""

    learning_rate: float = param(3e-3, help="Adam learning rate (CAPO's aggressive regime: "
                                 "10× polab's GRPO default)", low=1e-6, high=1e-2, log=True,
                                 paper=_CARD + " (aggressive regime)")
    generation_batch_size: int = param(128, help="completions per iteration: prompts × G "
                                       "(16 × 8, a quarter of GRPO's)", low=1, high=65_536,
                                       paper=_CARD + " (aggressive regime)")
    use_capo: bool = param(True, help="mask tokens by predicted KL before each step "
                           "(off = plain GRPO)", paper=_CARD)
    delta: float = param(1e-2, help="trust-region radius δ on the batch-mean predicted KL",
                         low=1e-6, high=1e9, paper=_CARD)
    delta_tok: float = param(0.0, help="per-token cap on the predicted KL (0 = 10 × delta)",
                             low=0.0, high=1e9, paper=_CARD)
    mask_unit: MaskUnit = param("token", help="reject single tokens, or whole sequences by "
                                "their summed predicted KL", paper=_CARD)
    precond: Precond = param("adam", help="preconditioner of the prediction: the trainer's "
                             "AdamW (its moments), or plain SGD (−lr·G; ablation)",
                             paper=_CARD + ", pitfall 1")
    max_rounds: int = param(8, help="most rejection rounds before each step", low=1, high=64)

    @property
    def token_cap(self) -> float:
        """The per-token cap in force: ``delta_tok``, or ``10 × delta`` when it is 0."""
        return self.delta_tok or 10.0 * self.delta

    def rules(self) -> list[tuple[bool, str]]:
        on = self.use_capo
        return super().rules() + [
            (not on or self.importance_sampling_level == "token",
             f"use_capo needs importance_sampling_level='token' (the card's token surrogate), "
             f"not {self.importance_sampling_level!r}"),
            (not on or self.beta == 0.0,
             f"use_capo predicts the surrogate's step only: beta must be 0, not {self.beta}"),
            (not on or self.entropy_coef == 0.0,
             f"use_capo predicts the surrogate's step only: entropy_coef must be 0, not "
             f"{self.entropy_coef}"),
            (self.delta_tok == 0.0 or self.delta_tok >= self.delta,
             f"delta_tok={self.delta_tok} must be 0 (= 10 × delta) or at least "
             f"delta={self.delta}"),
        ]


@dataclass
class _Pending:
    """The last step's data, to measure its realised KL once the parameters have moved."""

    samples: Samples
    logp_before: torch.Tensor  # (B, N, V) log π before the step
    mask: torch.Tensor         # (B, N) the loss tokens the KL is averaged over
    h: torch.Tensor            # (B, N, d) hidden states before the step
    head: torch.Tensor         # (V, d) head weight before the step


class CAPO(GRPO):
    """GRPO whose every optimiser step first masks the tokens that the last-layer model
    predicts would move the policy out of the trust region; see the module docstring.

    Logs per iteration (means over its steps) ``capo/reject_rate`` (share of loss tokens
    masked), ``capo/predicted_kl`` (after masking), ``capo/realised_kl`` (mean
    ``KL(π_before ‖ π_after)`` over the same tokens, measured after the step),
    ``capo/realised_head_kl`` (the same KL from the head's real change alone, ``h`` fixed),
    ``capo/predicted_dJ`` and ``capo/rounds``; ``steps`` keeps one record per step, and
    ``last_keep``, ``last_mask``, ``last_kl`` the last step's masks and per-token predicted KL
    (for the figures).
    """

    config: CAPOConfig

    def __init__(self, config: CAPOConfig, task: Any = "addition",
                 device: str | torch.device | None = None, model: GPT | None = None):
        super().__init__(config, task, device, model)
        self.steps: list[dict[str, float]] = []
        self.last_keep: torch.Tensor | None = None
        self.last_mask: torch.Tensor | None = None
        self.last_kl: torch.Tensor | None = None
        self._pending: _Pending | None = None
        self._iteration_steps: list[dict[str, float]] = []

    def loss(self, batch: GroupBatch) -> dict[str, torch.Tensor]:
        """Mask the risky tokens (card 6), then GRPO's loss on the kept ones."""
        if not self.config.use_capo:
            return super().loss(batch)
        keep = self.capo_keep(batch)
        return super().loss(dataclasses.replace(batch, mask=batch.mask & keep))

    @torch.no_grad()
    def capo_keep(self, batch: GroupBatch) -> torch.Tensor:
        """``(B, T)`` tokens CAPO keeps for the next step (and the step's records)."""
        c, s = self.config, batch.samples
        logits, h = completion_states(self.model, s)
        self._settle(s, logits)  # the previous step's realised KL: the parameters have moved
        mask = batch.mask.bool()
        logp_all = torch.log_softmax(logits / c.temperature, -1)
        probs = logp_all.exp()
        actions = s.completion_ids
        logp = logp_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        old = self.old_logprobs(batch, logp)
        head = self.model.lm_head.weight
        state = self.optimizer.state.get(head, {})

        def kl_and_dz(keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            weights = aggregation_weights(mask & keep, c.loss_type,
                                          max_completion_length=self.max_new_tokens,
                                          normalizer=batch.loss_normalizer)
            coef = surrogate_coefficients(logp, old, batch.advantages, weights,
                                          epsilon=c.epsilon, epsilon_high=c.epsilon_high,
                                          temperature=c.temperature)
            dW = optimizer_update(head_gradient(coef, actions, probs, h), head, state,
                                  precond=c.precond, lr=c.learning_rate,
                                  betas=(c.adam_beta1, c.adam_beta2), weight_decay=c.weight_decay)
            dz = predicted_logit_change(dW, h)
            return predicted_kl(dz, probs, c.temperature), dz

        keep, k, rounds = capo_mask(lambda kept: kl_and_dz(kept)[0], mask, delta=c.delta,
                                    delta_tok=c.token_cap, unit=c.mask_unit,
                                    max_rounds=c.max_rounds)
        dz = kl_and_dz(keep)[1]
        dJ = predicted_surrogate_change(dz, actions, probs, batch.advantages, c.temperature)
        n = mask.sum().clamp(min=1)
        self._iteration_steps.append({
            "capo/reject_rate": float((mask & ~keep).sum() / n),
            "capo/predicted_kl": float(torch.where(mask, k, 0.0).sum() / n),
            "capo/predicted_dJ": float(torch.where(mask, dJ, 0.0).sum() / n),
            "capo/rounds": float(rounds)})
        self._pending = _Pending(s, logp_all, mask, h, head.detach().clone())
        self.last_keep, self.last_mask, self.last_kl = keep, mask, k
        return keep

    @torch.no_grad()
    def _settle(self, samples: Samples | None = None, logits: torch.Tensor | None = None
                ) -> None:
        """Record the pending step's realised ``KL(π_before ‖ π_after)`` (mean over its loss
        tokens), and ``capo/realised_head_kl``: the KL of the head's *real* change alone,
        with ``h`` fixed (what the last-layer model models). ``logits`` of the current
        parameters on ``samples`` are reused if they are the pending step's data, else one
        no-grad forward computes them."""
        p = self._pending
        if p is None:
            return
        if samples is not p.samples:
            logits = completion_states(self.model, p.samples)[0]
        T, n = self.config.temperature, p.mask.sum().clamp(min=1)
        moved_head = predicted_logit_change(self.model.lm_head.weight - p.head, p.h)
        record = self._iteration_steps[-1]
        for key, after in (("capo/realised_kl", torch.log_softmax(logits / T, -1)),
                           ("capo/realised_head_kl",
                            torch.log_softmax(p.logp_before + moved_head / T, -1))):
            kl = (p.logp_before.exp() * (p.logp_before - after)).sum(-1)
            record[key] = float(torch.where(p.mask, kl, 0.0).sum() / n)
        self._pending = None

    def after_update(self, batch: GroupBatch) -> dict[str, float]:
        """The last step's realised KL, and the iteration's CAPO metrics (means over steps)."""
        out = super().after_update(batch)
        self._settle()
        records, self._iteration_steps = self._iteration_steps, []
        for r in records:
            r["iteration"] = float(self.iteration + 1)
        self.steps.extend(records)
        if records:
            out.update({k: sum(r[k] for r in records) / len(records) for k in records[0]
                        if k != "iteration"})
        return out
