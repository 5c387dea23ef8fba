"""The group-relative core shared by GRPO, Dr. GRPO, DAPO, GSPO, RLOO, LOOP and SPO.

Pure functions over per-token tensors of shape ``(B, T)`` (B completions, T completion
positions, right-padded) and the config fields the family shares. Knob names and meanings are
TRL's (``trl/trainer/grpo_config.py``, ``GRPOTrainer._compute_loss``); where polab goes beyond
TRL (LOOP's per-trajectory ratio and ``[1/(1+ε), 1+ε]`` clip, per-token clip ranges, an
entropy bonus) the docstring says so.

* :func:`clipped_surrogate_loss` — the PPO-style clipped surrogate with ``epsilon`` /
  ``epsilon_high``, per-token / per-sequence / per-trajectory ratios, optional k3 KL to a
  reference (``beta``) and entropy bonus, aggregated by ``loss_type``; returns a dict of named
  terms with TRL's metric names.
* :func:`aggregate` — the four ``loss_type`` reductions.
* :class:`GroupConfig` — the shared fields and their cross-field rules.

Masks: ``mask`` is the completion mask (True on generated tokens up to and including EOS).
Later chapters' token selections (tool output, curvature, entropy, windows) compose with it by
logical AND before the call, and the normalisers count what is left.

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from polab.config import Config, param
from polab.core.advantages import ScaleRewards

LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo"]
Aggregation = Literal["grpo", "bnpo", "dr_grpo", "dapo", "prompt"]
"""TRL's loss types plus ScaleRL's prompt-level mean (``aggregate(..., group_size=G)``)."""
ImportanceSamplingLevel = Literal["token", "sequence", "trajectory"]


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, loss_type: Aggregation, *,
              max_completion_length: int | None = None,
              normalizer: float | torch.Tensor | None = None,
              group_size: int | None = None) -> torch.Tensor:
    """Reduce a ``(B, T)`` per-token loss to a scalar, exactly as TRL's ``loss_type``:

    * ``"grpo"``: mean over each sequence's tokens, then mean over the B sequences
      (DeepSeekMath eq. 3's ``1/|o_i|``; biased toward short correct / long wrong answers);
    * ``"bnpo"``: sum over all tokens / number of active tokens in this batch;
    * ``"dr_grpo"``: sum / ``(B · max_completion_length)``, a constant (Dr. GRPO §3.1);
    * ``"dapo"``: sum / number of active tokens in the *whole generation batch* (DAPO §3.3
      eq. 12). TRL passes that count (``num_items_in_batch``); here it is ``normalizer``
      (``GRPO.update`` passes the loss tokens of every minibatch together, so the minibatch
      losses add up to one full-batch token mean), and without one the local count is used,
      so ``"dapo"`` equals ``"bnpo"`` for a single batch;
    * ``"prompt"`` (ScaleRL, card 24 "CISPO loss, prompt-level aggregation"): each group of
      ``group_size`` adjacent rows summed and divided by *its* tokens ``Σ_g |y_g|``, then the
      mean over the groups that have a token (rows of one prompt adjacent, as GRPO lays them).

    With gradient accumulation over k micro-batches TRL also divides grpo/bnpo/dr_grpo by k;
    callers that accumulate do that themselves.
    """
    m = mask.to(per_token.dtype)
    masked = torch.where(mask.bool(), per_token, 0.0)  # padding may hold inf/nan: never multiply
    if loss_type == "grpo":
        return (masked.sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return masked.sum() / m.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        if max_completion_length is None:
            raise ValueError("loss_type='dr_grpo' needs max_completion_length")
        return masked.sum() / (per_token.shape[0] * max_completion_length)
    if loss_type == "dapo":
        return masked.sum() / (m.sum().clamp(min=1.0) if normalizer is None else normalizer)
    if loss_type == "prompt":
        if group_size is None or group_size < 1 or per_token.shape[0] % group_size:
            raise ValueError(f"loss_type='prompt' needs group_size dividing the "
                             f"{per_token.shape[0]} rows, got group_size={group_size!r}")
        sums = masked.reshape(-1, group_size * per_token.shape[1]).sum(-1)
        tokens = m.reshape(-1, group_size * per_token.shape[1]).sum(-1)
        active = tokens > 0
        return (sums[active] / tokens[active]).sum() / active.sum().clamp(min=1)
    raise ValueError(f"loss_type={loss_type!r}: expected 'grpo', 'bnpo', 'dr_grpo', 'dapo' or "
                     "'prompt'")


def log_importance_weights(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor,
                           level: ImportanceSamplingLevel = "token") -> torch.Tensor:
    """``log(π_θ / π_old)`` per token ``(B, T)``, or one per sequence ``(B, 1)``:

    * ``"token"``: ``log π_θ(y_t) - log π_old(y_t)`` (GRPO, DAPO, LOOP ``pg_per_token``);
    * ``"sequence"``: the *mean* token log-ratio, i.e. ``(π_θ(y)/π_old(y))^(1/|y|)``
      (GSPO §4.1, TRL ``importance_sampling_level="sequence"``);
    * ``"trajectory"``: the *sum*, ``π_θ(y)/π_old(y)`` (LOOP ``pg_per_trajectory``, not in
      TRL), which is clipped far more often than the per-token ratio.
    """
    log_ratio = torch.where(mask.bool(), logp - old_logp, 0.0)
    if level == "token":
        return log_ratio
    if level == "sequence":
        return (log_ratio.sum(-1) / mask.sum(-1).clamp(min=1)).unsqueeze(-1)
    if level == "trajectory":
        return log_ratio.sum(-1, keepdim=True)
    raise ValueError(f"importance_sampling_level={level!r}: expected 'token', 'sequence' "
                     "or 'trajectory'")


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token ``KL(π_θ ‖ π_ref)`` estimate ``e^(ref - logp) - (ref - logp) - 1`` ≥ 0
    (Schulman's k3; DeepSeekMath eq. 4; TRL ``per_token_kl``)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def loop_clip_epsilons(epsilon: float) -> tuple[float, float]:
    """LOOP's clip interval ``[1/(1+ε), 1+ε]`` (../shared/cards/14_loop.md, ``_ppo_loss`` in
    ml-loop) as ``(epsilon, epsilon_high)`` for :func:`clipped_surrogate_loss`:
    ``(ε/(1+ε), ε)``."""
    return epsilon / (1.0 + epsilon), epsilon


def mask_truncated(mask: torch.Tensor, truncated: torch.Tensor) -> torch.Tensor:
    """TRL's ``mask_truncated_completions``: drop every token of a completion that hit
    ``max_completion_length`` without EOS (DAPO §3.4, overlong filtering)."""
    return mask & ~truncated.unsqueeze(-1)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, x, 0.0).sum() / mask.sum().clamp(min=1)


def clipped_surrogate_loss(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
    *, epsilon: float | torch.Tensor = 0.2, epsilon_high: float | torch.Tensor | None = None,
    importance_sampling_level: ImportanceSamplingLevel = "token",
    loss_type: Aggregation = "dapo", max_completion_length: int | None = None,
    normalizer: float | torch.Tensor | None = None, group_size: int | None = None,
    beta: float = 0.0, ref_logp: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None, entropy_coef: float = 0.0,
    dual_clip: float | None = None,
) -> dict[str, torch.Tensor]:
    """The clipped surrogate of the GRPO family (TRL ``GRPOTrainer._compute_loss``).

    Per token, with ratio ``w = exp(log_importance_weights(...))`` and advantage ``A``::

        L_t = -min(w A, clip(w, 1 - ε_low, 1 + ε_high) A)  +  β · k3(π_θ ‖ π_ref)
        loss = aggregate(L) - entropy_coef · aggregate(H)

    ``logp`` (B, T) carries the gradient; ``old_logp``, ``ref_logp`` and ``advantages`` are
    detached here. ``advantages`` is ``(B,)`` (one per completion) or ``(B, T)`` (per token,
    for later chapters). ``epsilon`` (TRL's ε_low) and ``epsilon_high`` (default: ``epsilon``;
    DAPO's clip-higher, §3.1) are floats or tensors broadcastable to (B, T) for per-token clip
    ranges; :func:`loop_clip_epsilons` gives LOOP's ``[1/(1+ε), 1+ε]``. ``beta > 0`` needs
    ``ref_logp``; the ``kl`` metric is reported whenever ``ref_logp`` is given.
    ``entropy`` (B, T), with gradient, adds a bonus (polab's hook; TRL has none).
    ``dual_clip = c > 1`` bounds the loss of a negative-advantage token by ``-A·c`` (dual-clip
    PPO, Ye et al. 2020; verl's ``clip_ratio_c``, HAPO card 11): ``L_t = min(L_t, -A c)`` for
    ``A < 0``, so a ratio far above ``1 + ε_high`` no longer pushes without bound.

    Returns ``loss``, ``loss_policy``, ``approx_kl`` (k3 of π_old ‖ π_θ per token, as PPO
    logs it) and TRL's ``clip_ratio/low_mean`` (share of active tokens with ``w < 1-ε_low``
    and ``A < 0``), ``clip_ratio/high_mean`` (``w > 1+ε_high`` and ``A > 0``),
    ``clip_ratio/region_mean`` (either); plus ``loss_kl`` and ``kl`` with ``ref_logp``, and
    ``loss_entropy`` and ``entropy`` with ``entropy``, ``clip_ratio/dual_mean`` (share of
    active tokens with ``A < 0`` and ``w > c``) with ``dual_clip``. With a sequence-level
    ratio the clip shares count sequences (TRL counts every row; polab only rows with an
    active token).
    """
    mask = mask.bool()
    # zero the padding first: -inf / nan there would poison the gradient through torch.where
    logp = torch.where(mask, logp, 0.0)
    old_logp = torch.where(mask, old_logp.detach(), 0.0)
    adv = advantages.detach()
    adv = adv.unsqueeze(-1) if adv.dim() == 1 else adv
    eps_low = epsilon
    eps_high = epsilon if epsilon_high is None else epsilon_high

    log_w = log_importance_weights(logp, old_logp, mask, importance_sampling_level)
    ratio = torch.exp(log_w)
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    if dual_clip is not None:
        if not dual_clip > 1.0:
            raise ValueError(f"dual_clip={dual_clip} must be > 1 (or None for no dual clip)")
        per_token = torch.where(adv < 0, torch.minimum(per_token, -adv * dual_clip), per_token)
    per_token = per_token.expand_as(logp)
    loss_policy = aggregate(per_token, mask, loss_type,
                            max_completion_length=max_completion_length, normalizer=normalizer,
                            group_size=group_size)
    out = {"loss_policy": loss_policy}
    loss = loss_policy

    if beta != 0.0 and ref_logp is None:
        raise ValueError("beta > 0 needs ref_logp (the reference model's log-probs)")
    if ref_logp is not None:
        per_token_kl = k3_kl(logp, torch.where(mask, ref_logp.detach(), 0.0))
        out["loss_kl"] = beta * aggregate(per_token_kl, mask, loss_type,
                                          max_completion_length=max_completion_length,
                                          normalizer=normalizer, group_size=group_size)
        out["kl"] = _masked_mean(per_token_kl.detach(), mask)
        loss = loss + out["loss_kl"]
    if entropy is not None:
        entropy = torch.where(mask, entropy, 0.0)
        out["loss_entropy"] = aggregate(entropy, mask, loss_type,
                                        max_completion_length=max_completion_length,
                                        normalizer=normalizer, group_size=group_size)
        out["entropy"] = _masked_mean(entropy.detach(), mask)
        loss = loss - entropy_coef * out["loss_entropy"]
    out["loss"] = loss

    with torch.no_grad():
        token_log_ratio = logp.detach() - old_logp
        out["approx_kl"] = _masked_mean(torch.expm1(token_log_ratio) - token_log_ratio, mask)
        w = ratio.detach()
        low = (w < 1.0 - eps_low) & (adv < 0)
        high = (w > 1.0 + eps_high) & (adv > 0)
        active = mask if low.shape[-1] == mask.shape[-1] else mask.any(-1, keepdim=True)
        low, high = low.expand_as(active), high.expand_as(active)
        out["clip_ratio/low_mean"] = _masked_mean(low.float(), active)
        out["clip_ratio/high_mean"] = _masked_mean(high.float(), active)
        out["clip_ratio/region_mean"] = _masked_mean((low | high).float(), active)
        if dual_clip is not None:
            dual = ((w > dual_clip) & (adv < 0)).expand_as(active)
            out["clip_ratio/dual_mean"] = _masked_mean(dual.float(), active)
    return out


@dataclass(frozen=True)
class GroupConfig(Config):
    """The knobs every group-relative algorithm shares, with TRL's names.

    An algorithm's config subclasses this and adds its own fields and ``rules()``. Defaults
    are sized for polab's tiny character GPT on a 2-core CPU (``benchmarks/grpo.py``), not
    TRL's (lr 1e-6, 256 tokens); ``polab.algos.group.presets`` holds the papers' settings.
    """

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    num_generations: int = param(8, help="completions sampled per prompt (G)", low=1, high=256,
                                 paper="Shao et al. 2024 (DeepSeekMath) §4.1")
    generation_batch_size: int = param(512, help="completions per iteration: prompts × G",
                                       low=1, high=65_536)
    max_completion_length: int = param(16, help="most tokens generated per completion",
                                       low=1, high=4096)
    temperature: float = param(1.0, help="sampling temperature", low=0.05, high=2.0)
    learning_rate: float = param(3e-4, help="Adam learning rate", low=1e-6, high=1e-2, log=True)
    update_epochs: int = param(1, help="passes over each generated batch (μ in GRPO's "
                               "Algorithm 1)", low=1, high=16,
                               paper="Shao et al. 2024 (DeepSeekMath) Alg. 1")
    beta: float = param(0.0, help="weight of the k3 KL to the reference model (0 = no ref)",
                        low=0.0, high=1.0, paper="Shao et al. 2024 (DeepSeekMath) eq. 4")
    epsilon: float = param(0.2, help="lower clip ε: ratios under 1-ε stop pushing when A < 0",
                           low=0.0, high=1.0)
    epsilon_high: float = param(0.2, help="upper clip ε_high: ratios over 1+ε_high stop "
                                "pushing when A > 0 (DAPO: 0.28)", low=0.0, high=1.0,
                                paper="Yu et al. 2025 (DAPO) §3.1 Clip-Higher")
    loss_type: LossType = param("dapo", help="aggregation: grpo = per-sequence mean (length "
                                "bias), bnpo/dapo = per-token mean, dr_grpo = sum / constant",
                                paper="Liu et al. 2025 (Dr. GRPO) §3.1; Yu et al. 2025 (DAPO) §3.3")
    scale_rewards: ScaleRewards = param("group", help="divide advantages by the group's "
                                        "reward std, the batch's, or nothing",
                                        paper="Liu et al. 2025 (Dr. GRPO) §3.1")
    baseline: Literal["group_mean", "leave_one_out"] = param(
        "group_mean", help="subtract the group mean, or the mean of the other G-1 (RLOO)",
        paper="Ahmadian et al. 2024 (RLOO)")
    importance_sampling_level: ImportanceSamplingLevel = param(
        "token", help="ratio per token, per sequence (geometric mean, GSPO) or per "
        "trajectory (product, LOOP)", paper="Zheng et al. 2025 (GSPO) §4.1")
    mask_truncated_completions: bool = param(False, help="leave completions cut at "
                                             "max_completion_length out of the loss",
                                             paper="Yu et al. 2025 (DAPO) §3.4")
    overlong_penalty_factor: float = param(
        0.0, help="soft overlong punishment: reward falls linearly to -factor over the last "
        "overlong_buffer_len tokens before the generation limit (0 = off; DAPO: 1)", low=0.0,
        high=10.0, paper="Yu et al. 2025 (DAPO) §3.4 eq. 13")
    overlong_buffer_len: int = param(
        0, help="L_cache, the punished tokens, generated beyond the task's own limit (0 = a "
        "quarter of it, the paper's 4096 / 16384)", low=0, high=4096,
        paper="Yu et al. 2025 (DAPO) §4.1")
    dynamic_sampling: bool = param(False, help="redraw until the batch holds only groups whose "
                                   "rewards differ (all-equal groups are dropped)",
                                   paper="Yu et al. 2025 (DAPO) §3.2 eq. 11")
    max_generation_rounds: int = param(4, help="dynamic sampling: the most generation rounds "
                                       "per iteration (then train on the groups kept)",
                                       low=1, high=100)

    @property
    def num_prompts(self) -> int:
        """Distinct prompts per iteration."""
        return self.generation_batch_size // self.num_generations

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (self.generation_batch_size % self.num_generations == 0,
             f"generation_batch_size={self.generation_batch_size} must be a multiple of "
             f"num_generations={self.num_generations}"),
            (self.epsilon_high >= self.epsilon,
             f"epsilon_high={self.epsilon_high} must be >= epsilon={self.epsilon}"),
            (self.baseline != "leave_one_out" or self.num_generations >= 2,
             "baseline='leave_one_out' needs num_generations >= 2"),
            (self.importance_sampling_level != "sequence" or self.loss_type == "grpo",
             f"importance_sampling_level='sequence' needs loss_type='grpo' (GSPO's per-sequence "
             f"mean), not loss_type={self.loss_type!r}: a token sum weights each sequence's "
             "ratio by its length (TRL warns; the GSPO paper defines no such objective)"),
            (not self.dynamic_sampling or self.num_generations >= 2,
             "dynamic_sampling needs num_generations >= 2 (a group of one is never informative)"),
        ]
