"""HAPO — Heterogeneous Adaptive Policy Optimization (../shared/cards/11_hapo_hetero.md).

Liu, Liu, Wen, Cai, Cui, He, Zhang 2025, *From Uniform to Heterogeneous: Tailoring Policy
Optimization to Every Token's Nature*, arXiv 2509.16591; the authors' code is a verl fork
(github.com/starriver030515/HAPO: ``verl/trainer/ppo/core_algos.py`` — ``compute_entropy_h``,
``ada_clip``, ``ada_advantage``, ``compute_hapo_outcome_advantage``, ``compute_policy_loss`` —
and the patched vLLM sampler ``vllm/v1/sample/sampler.py``).

One normalised entropy score ``ĥ_t ∈ [-1, 1]`` per token (:func:`normalized_entropy`, card 11
"Normalised entropy score") drives four components, each with its own toggle:

1. **Adaptive temperature** (``adaptive_temperature``, ``temperature_tau``): the sampler draws
   token t at ``T_t = T (1 + τ ĥ_t)`` (:func:`adaptive_temperature`), ĥ_t from the current
   logits' entropy and the *previous* batch's statistics (none at step 0: fixed T). The
   trainer keeps scoring at the base T (card pitfall 6): ``temp/abs_dev`` logs mean |T_t − T|.
2. **Token-level group average** (``adv_norm="token"``): the group's mean and std weight each
   response by its length (:func:`token_group_advantages`); groups with any |A| ≥ 5 fall back to
   GRPO's advantages; ``adv_norm="sequence"`` is GRPO.
3. **Asymmetric adaptive clip** (``adaptive_clip``, ``clip_alpha``): low-entropy tokens get a
   wider lower range, high-entropy tokens a wider upper one (:func:`adaptive_clip_ranges`).
4. **Differential advantage redistribution** (``adaptive_advantage``, ``adv_beta``):
   ``A (1 + β ĥ)`` inside or outside a neutral ratio zone, by entropy sign
   (:func:`redistribute_advantages`, under no_grad).

plus verl's **dual clip** for negative advantages (``dual_clip_c``, ``clip_ratio_c``; 0 = off),
``polab.algos.group.losses.clipped_surrogate_loss(dual_clip=...)``. The rest is DAPO-lite, the
baseline: token-mean loss, dynamic sampling, overlong filtering, no KL.

What this version keeps and changes (read against the authors' code):

1. **Sign of ĥ below the pivot.** ``compute_entropy_h`` sets ``scale_neg = 1 / min(h_neg)``, a
   negative number, so ``h · scale_neg`` is *positive* for low-entropy tokens and the code's ĥ
   lies in [0, 1] (the lowest-entropy token gets ĥ = 1, like the highest). The card says
   ĥ ∈ [−1, 1] with ĥ < 0 below the pivot, and every component is described for that
   (wider lower clip and damped advantage when ĥ ≤ 0); polab follows the card:
   ``h / |min(h_neg)|``, and ``low_entropy_sign="as_code"`` runs the code's version (then
   almost every token has ĥ > 0: hotter sampling, a wider *upper* clip and an amplified
   advantage outside the neutral zone nearly everywhere). The rest of ``compute_entropy_h``
   is kept: log-entropy clamped at 1e-8, the pivot as a ``"nearest"`` quantile over the
   response tokens, the RMS about the pivot (variance clamped at 1e-8), each side's extreme
   clamped at ±1e-8.
2. **Which entropies.** In the loss, ĥ is computed per minibatch from the current forward's
   entropies (as verl's ``compute_policy_loss``); the sampler's statistics are those of the
   last training batch's sampled tokens (at the base temperature) — the card's "stored from the
   previous training batch".
3. **Fallback.** The |A| ≥ 5 fallback uses polab's GRPO advantages
   (``polab.core.advantages.group_advantages``: std + 1e-4) where verl's uses its own GRPO
   estimator (std + 1e-6); the token-level statistic itself uses +1e-6, as verl.
4. **Dual clip** ``c = 10`` is the card's recipe value; verl's ``compute_policy_loss`` default is
   3. Base clips 0.2 / 0.2 (the card's recipe; DAPO-lite keeps clip-higher 0.28).
5. **Scale.** 32 prompts × 8 completions of ≤ 64 tokens on the tiny ``addition-scratch`` base,
   lr 3e-4, 2 epochs of one full-batch step (so ratios move and the clip ranges matter), where
   the recipe (``recipe/qwen2.5_math_7b.sh``, read) takes 512 × 16 of ≤ 10k tokens at lr 1e-6
   in one epoch of 16 minibatches; no overlong penalty (the task's own limit, 63 tokens, fills
   the 64-token budget, so no buffer fits beyond it); held-out pass@1 is greedy (the recipe
   validates with 8 samples at T = 0.5, top-p 0.7). The recipe's HAPO values (τ = 0.05,
   pivot 0.8, α = β = 1, clips 0.2 / 0.2, ``clip_ratio_c = 10``) are the defaults here.

Taught in notebooks/04_token_level_control.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import torch

from polab.algos.group.batch import GroupBatch
from polab.algos.group.grpo import GRPO, GRPOConfig
from polab.algos.group.presets import PRESETS
from polab.config import param
from polab.lm.generate import Samples, generate, log_softmax_entropy

AdvNorm = Literal["token", "sequence"]
LowSide = Literal["negative", "as_code"]
NO_STATS = torch.zeros(0)
"""Sampler statistics before the first update: none, so the sampler keeps the fixed T."""
BRANCHES = ("high H, neutral: A", "high H, outside: A·(1+βĥ)", "low H, neutral: A·(1+βĥ)",
            "low H, outside: A")
"""The four cases of :func:`redistribute_advantages`, indexed by its ``branch`` output."""


# --- the math (card 11, "Core update") ----------------------------------------------------------

def entropy_statistics(entropy: torch.Tensor, mask: torch.Tensor, pivot: float,
                       eps: float = 1e-8, low_side: LowSide = "negative") -> torch.Tensor:
    """Card 11, normalised entropy score: ``(m, std, scale_pos, scale_neg)`` of the tokens on
    ``mask`` — ``e = log(max(H, eps))``, ``m`` its ``pivot`` quantile (nearest rank, as verl),
    ``std = sqrt(mean((e - m)^2))``, ``scale_pos = 1 / max(h_pos)`` and
    ``scale_neg = 1 / |min(h_neg)|`` of ``h = (e - m) / std`` (extremes clamped at ±eps).
    ``low_side="as_code"`` takes the authors' ``scale_neg = 1 / min(h_neg)`` (negative), so
    ĥ comes out positive below the pivot too (module docstring, item 1)."""
    mask = mask.bool()
    e = torch.log(entropy.float().clamp_min(eps))
    if not mask.any():
        raise ValueError("entropy_statistics needs at least one token on the mask")
    m = torch.quantile(e[mask], pivot, interpolation="nearest")
    std = ((e - m).pow(2)[mask].mean()).clamp_min(eps).sqrt()
    h = (e - m) / std
    pos = torch.where(mask & (h > 0), h, 0.0).max().clamp_min(eps)
    neg = torch.where(mask & (h < 0), h, 0.0).min().clamp_max(-eps)
    return torch.stack([m, std, 1.0 / pos, (1.0 if low_side == "as_code" else -1.0) / neg])


def h_hat(entropy: torch.Tensor, stats: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Card 11: ``ĥ = h · scale_pos`` if ``h > 0`` else ``h · scale_neg``, clamped to [−1, 1],
    with ``h = (log max(H, eps) − m) / std`` and ``stats = (m, std, scale_pos, scale_neg)``
    from :func:`entropy_statistics` (this batch's, or the last one's in the sampler)."""
    m, std, scale_pos, scale_neg = stats
    h = (torch.log(entropy.float().clamp_min(eps)) - m) / std
    return torch.where(h > 0, h * scale_pos, h * scale_neg).clamp(-1.0, 1.0)


def normalized_entropy(entropy: torch.Tensor, mask: torch.Tensor, pivot: float = 0.8,
                       low_side: LowSide = "negative") -> tuple[torch.Tensor, torch.Tensor]:
    """``(ĥ, stats)``: card 11's score of every token from the statistics of the tokens on
    ``mask``; 0 at the pivot quantile, 1 at the highest entropy, −1 at the lowest (+1 with
    ``low_side="as_code"``)."""
    stats = entropy_statistics(entropy, mask, pivot, low_side=low_side)
    return h_hat(entropy, stats), stats


def adaptive_temperature(h: torch.Tensor, temperature: float, tau: float) -> torch.Tensor:
    """Card 11, adaptive temperature sampling: ``T_t = T (1 + τ ĥ_t)``."""
    return temperature * (1.0 + tau * h)


def token_group_advantages(rewards: torch.Tensor, lengths: torch.Tensor, group_size: int,
                           fallback: torch.Tensor, eps: float = 1e-6, limit: float = 5.0
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Card 11, token-level group average: per group of ``group_size`` adjacent responses,
    ``μ = Σ L_i R_i / Σ L_i``, ``σ² = Σ L_i (R_i − μ)² / Σ L_i`` and ``A_i = (R_i − μ) /
    (σ + eps)``; a group with any ``|A_i| ≥ limit`` takes its rows of ``fallback`` (GRPO's
    advantages) instead. Returns ``(B,)`` advantages and ``(P,)`` True where a group fell back."""
    r = rewards.float().view(-1, group_size)
    w = lengths.float().view(-1, group_size)
    mu = (w * r).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1.0)
    var = (w * (r - mu) ** 2).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1.0)
    adv = (r - mu) / (var.sqrt() + eps)
    fell_back = (adv.abs() >= limit).any(1)
    adv = torch.where(fell_back[:, None], fallback.view(-1, group_size).to(adv), adv)
    return adv.flatten(), fell_back


def adaptive_clip_ranges(h: torch.Tensor, eps_low: float, eps_high: float, alpha: float
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Card 11, asymmetric adaptive clipping (verl ``ada_clip``): ``ε_low,t = ε_low (1 − α ĥ)``
    where ``ĥ ≤ 0`` (more room to lower confident tokens), ``ε_high,t = ε_high (1 + α ĥ)`` where
    ``ĥ > 0`` (more room to raise forking tokens); the other side keeps its base value."""
    low = torch.where(h <= 0, eps_low * (1.0 - alpha * h), torch.full_like(h, eps_low))
    high = torch.where(h > 0, eps_high * (1.0 + alpha * h), torch.full_like(h, eps_high))
    return low, high


@torch.no_grad()
def redistribute_advantages(adv: torch.Tensor, h: torch.Tensor, ratio: torch.Tensor,
                            eps_low: torch.Tensor, eps_high: torch.Tensor, beta: float
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Card 11, differential advantage redistribution (verl ``ada_advantage``): with
    ``A_ent = A (1 + β ĥ)`` and the neutral zone ``1 − ε_low,t/2 < w < 1 + ε_high,t/2`` (open),
    a high-entropy token (ĥ > 0) keeps A inside the zone and takes the amplified A_ent outside
    it; a low-entropy token takes the damped A_ent inside and keeps A outside. Runs under
    no_grad (pitfall 5: the zone test reads the current ratio). Returns the ``(B, T)``
    advantages and the branch index into :data:`BRANCHES`."""
    adv = adv.unsqueeze(-1) if adv.dim() == 1 else adv
    adv_ent = adv * (1.0 + beta * h)
    neutral = (ratio > 1.0 - eps_low / 2) & (ratio < 1.0 + eps_high / 2)
    high = h > 0
    out = torch.where(high, torch.where(neutral, adv, adv_ent),
                      torch.where(neutral, adv_ent, adv))
    branch = torch.where(high, torch.where(neutral, 0, 1), torch.where(neutral, 2, 3))
    return out, branch


# --- config and trainer ----------------------------------------------------------------------

_DAPO = PRESETS["DAPO"].as_dict()


@dataclass(frozen=True)
class HAPOConfig(GRPOConfig):
    """DAPO-lite's fields (token-mean loss, dynamic sampling, overlong filtering, no KL) with
    HAPO's clips 0.2 / 0.2, 32 prompts × 8, and one knob or toggle per HAPO component."""

    generation_batch_size: int = param(256, help="completions per iteration: 32 prompts × 8",
                                       low=1, high=65_536)
    max_completion_length: int = param(64, help="most tokens generated per completion "
                                       "(addition-scratch answers take up to 63)", low=1,
                                       high=4096)
    epsilon: float = param(0.2, help="base lower clip ε_low (widened per token by "
                           "adaptive_clip)", low=0.0, high=1.0, paper="HAPO recipe: 0.2")
    epsilon_high: float = param(0.2, help="base upper clip ε_high (widened per token by "
                                "adaptive_clip; DAPO-lite: 0.28)", low=0.0, high=1.0,
                                paper="HAPO recipe: 0.2")
    loss_type: Literal["grpo", "bnpo", "dr_grpo", "dapo"] = param(
        _DAPO["loss_type"], help="token-mean over the generation batch (DAPO's)")
    mask_truncated_completions: bool = param(_DAPO["mask_truncated_completions"],
                                             help="leave completions cut at the limit out "
                                             "of the loss (DAPO's overlong filtering)")
    dynamic_sampling: bool = param(_DAPO["dynamic_sampling"], help="redraw until every group's "
                                   "rewards differ (DAPO §3.2, kept by HAPO's recipe)")
    adaptive_temperature: bool = param(True, help="component 1: sample token t at "
                                       "T(1 + τ ĥ_t) (previous batch's statistics)",
                                       paper="Liu et al. 2025 (HAPO) §3.1")
    temperature_tau: float = param(0.05, help="τ of the adaptive temperature (0 = fixed T)",
                                   low=0.0, high=0.3, paper="HAPO recipe: 0.05")
    entropy_pivot: float = param(0.8, help="quantile of the log-entropy where ĥ = 0 (most "
                                 "tokens fall below it)", low=0.5, high=0.95,
                                 paper="HAPO recipe: 0.8")
    low_entropy_sign: LowSide = param(
        "negative", help="ĥ below the pivot: 'negative' (paper and card, ĥ in [-1, 0]) or "
        "'as_code' (the authors' code: scale_neg = 1/min h flips it to (0, 1])",
        choices=("negative", "as_code"), paper="HAPO code, core_algos.compute_entropy_h")
    adv_norm: AdvNorm = param("token", help="component 2: length-weighted (token-level) "
                              "group mean and std, or GRPO's per-response ones ('sequence')",
                              choices=("token", "sequence"), paper="Liu et al. 2025 (HAPO) §3.2")
    adaptive_clip: bool = param(True, help="component 3: per-token asymmetric clip ranges "
                                "from ĥ", paper="Liu et al. 2025 (HAPO) §3.4")
    clip_alpha: float = param(1.0, help="α: clip widening (up to (1+α)× the base range; 0 = "
                              "DAPO's fixed clip)", low=0.0, high=2.0, paper="HAPO recipe: 1.0")
    adaptive_advantage: bool = param(True, help="component 4: amplify / damp A by (1 + β ĥ) "
                                     "inside or outside the neutral ratio zone",
                                     paper="Liu et al. 2025 (HAPO) §3.3")
    adv_beta: float = param(1.0, help="β of the advantage redistribution (0 = none)",
                            low=0.0, high=2.0, paper="HAPO recipe: 1.0")
    dual_clip_c: float = param(10.0, help="dual clip for A < 0: loss ≤ −A·c (0 = off; else "
                               "> 1)", low=0.0, high=100.0,
                               paper="HAPO recipe (verl clip_ratio_c): 10")
    num_iterations: int = param(40, help="iterations (generation batches) in a run", low=1,
                                high=100_000)

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (self.dual_clip_c == 0 or self.dual_clip_c > 1,
             f"dual_clip_c={self.dual_clip_c} must be 0 (off) or > 1"),
            (not (self.adaptive_temperature and self.temperature_tau > 0)
             or self.temperature > 0,
             "adaptive_temperature needs temperature > 0 (greedy sampling has no temperature)"),
            (self.importance_sampling_level == "token",
             "HAPO's clip ranges and advantages are per token: importance_sampling_level must "
             "be 'token'"),
        ]


def dapo_lite(config: HAPOConfig) -> GRPOConfig:
    """The baseline on the same budget: the DAPO preset (clip-higher 0.2 / 0.28, dynamic
    sampling, token-mean loss, overlong filtering, no KL) without the overlong penalty (no room
    for a buffer beyond the task's limit), with ``config``'s shared fields."""
    shared = {f.name: getattr(config, f.name) for f in fields(GRPOConfig)}
    return PRESETS["DAPO"].apply(GRPOConfig(**shared)).replace(overlong_penalty_factor=0.0)


class HAPO(GRPO):
    """GRPO's trainer with HAPO's four entropy-aware components; see the module docstring."""

    state_parts = (*GRPO.state_parts, "entropy_stats")
    config: HAPOConfig

    def __init__(self, config: HAPOConfig, *args: Any, **kwargs: Any):
        super().__init__(config, *args, **kwargs)
        self.entropy_stats = NO_STATS.to(self.device)
        self.token_view: dict[str, torch.Tensor] = {}

    @property
    def samples_adaptively(self) -> bool:
        """Whether the next rollout draws at per-token temperatures (needs last batch's stats)."""
        c = self.config
        return c.adaptive_temperature and c.temperature_tau > 0 and self.entropy_stats.numel() > 0

    def temperature_fn(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B,)`` temperatures ``T(1 + τ ĥ)`` of the next tokens, ĥ from the logits' entropy
        at the base temperature and the last batch's statistics (the authors' sampler)."""
        c = self.config
        entropy = log_softmax_entropy(logits, c.temperature)[1]
        return adaptive_temperature(h_hat(entropy, self.entropy_stats), c.temperature,
                                    c.temperature_tau)

    def rollout(self, problems: Any) -> Samples:
        """GRPO's rollout, with :meth:`temperature_fn` once the first batch's statistics exist."""
        if not self.samples_adaptively:
            return super().rollout(problems)
        ids, mask = self.task.encode_prompts(problems, self.device)
        self.model.eval()
        out = generate(self.model, ids, mask, max_new_tokens=self.max_new_tokens,
                       eos_id=self.tokenizer.eos_id, pad_id=self.tokenizer.pad_id,
                       temperature=self.config.temperature, generator=self.sample_generator,
                       temperature_fn=self.temperature_fn)
        self.model.train()
        return out

    def compute_advantages(self, batch: GroupBatch) -> torch.Tensor:
        """``(B,)`` token-level group averages (``adv_norm="token"``) or GRPO's."""
        grpo = super().compute_advantages(batch)
        if self.config.adv_norm == "sequence":
            return grpo
        adv, fell_back = token_group_advantages(batch.rewards, batch.samples.lengths,
                                                self.config.num_generations, grpo)
        self._fallback_share = float(fell_back.float().mean())
        return adv

    def surrogate_inputs(self, batch: GroupBatch, logp: torch.Tensor, old: torch.Tensor,
                         entropy: torch.Tensor) -> dict[str, Any]:
        """Per-token clip ranges and redistributed advantages from this minibatch's ĥ (current
        entropies, verl's ``compute_policy_loss``), and the dual clip."""
        c = self.config
        inputs = super().surrogate_inputs(batch, logp, old, entropy)
        if c.dual_clip_c > 0:
            inputs["dual_clip"] = c.dual_clip_c
        m = batch.mask
        h = (normalized_entropy(entropy, m, c.entropy_pivot, c.low_entropy_sign)[0] if m.any()
             else torch.zeros_like(entropy))
        ratio = torch.exp(torch.where(m, logp - old, 0.0))
        eps_low, eps_high = (adaptive_clip_ranges(h, c.epsilon, c.epsilon_high, c.clip_alpha)
                             if c.adaptive_clip else
                             (torch.full_like(h, c.epsilon), torch.full_like(h, c.epsilon_high)))
        adv, branch = redistribute_advantages(batch.advantages, h, ratio, eps_low, eps_high,
                                              c.adv_beta)
        if c.adaptive_clip:
            inputs.update(epsilon=eps_low, epsilon_high=eps_high)
        if c.adaptive_advantage:
            inputs["advantages"] = adv
        a = inputs["advantages"]
        a = a.unsqueeze(-1) if a.dim() == 1 else a
        clipped = (((ratio < 1 - eps_low) & (a < 0)) | ((ratio > 1 + eps_high) & (a > 0))) & m
        high = m & (h > 0)
        low = m & (h <= 0)
        self.token_view = {"ratio": ratio[m], "h_hat": h[m], "branch": branch[m]}
        self._loss_metrics = {
            "hapo/clip_frac_high_entropy": (clipped & high).sum() / high.sum().clamp(min=1),
            "hapo/clip_frac_low_entropy": (clipped & low).sum() / low.sum().clamp(min=1),
            "hapo/frac_high_entropy": high.sum() / m.sum().clamp(min=1),
            **{f"hapo/branch_{i}": ((branch == i) & m).sum() / m.sum().clamp(min=1)
               for i in range(len(BRANCHES))}}
        return inputs

    def loss(self, batch: GroupBatch) -> dict[str, torch.Tensor]:
        """GRPO's loss with :meth:`surrogate_inputs`, plus HAPO's per-token metrics."""
        terms = super().loss(batch)
        terms.update(self._loss_metrics)
        return terms

    def after_update(self, batch: GroupBatch) -> dict[str, float]:
        """Store this batch's entropy statistics for the next rollout's sampler; log the
        temperatures the batch was drawn at and the fallback share."""
        c, s = self.config, batch.samples
        m = s.loss_mask
        out: dict[str, float] = {"hapo/adaptive_sampling": float(s.temperatures is not None)}
        dev = (s.temperatures - c.temperature).abs() if s.temperatures is not None else None
        out["temp/abs_dev"] = 0.0 if dev is None else float(dev[m].mean())
        out["temp/mean"] = (c.temperature if s.temperatures is None
                            else float(s.temperatures[m].mean()))
        if c.adv_norm == "token":
            out["hapo/fallback_groups"] = self._fallback_share
        if m.any():
            self.entropy_stats = entropy_statistics(s.entropies, m, c.entropy_pivot,
                                                    low_side=c.low_entropy_sign)
        return out
