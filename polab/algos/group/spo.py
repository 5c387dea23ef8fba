"""SPO — Single-stream Policy Optimization: one completion per prompt, a persistent per-prompt
baseline, prioritised prompts (../shared/cards/37_spo.md).

Xu & Ding 2025, *Single-stream Policy Optimization*, arXiv 2509.13232; constants and order of
operations from the authors' verl recipe (``spo/spo_ray_trainer.py``). GRPO's baseline is the
mean of G samples of the same prompt; when all G agree (all right or all wrong) every
advantage is 0 and the group is wasted. SPO samples one completion per prompt and uses a
Beta(α, β) estimate ``p̂(x)`` of the prompt's success rate, kept across iterations by
:class:`~polab.algos.group.spo_tracker.SPOTracker`:

1. GROUPS — draw ``generation_batch_size`` distinct prompts of a fixed training pool with
   probability ∝ ``sqrt(p̂(1-p̂)) + 0.05`` (``prioritized``; uniform otherwise);
2. ROLLOUT, REWARDS — one completion each;
3. ADVANTAGES — ``r - p̂(x)`` with ``p̂`` read *before* this reward is folded in, then
   normalised over the whole batch (``scale_rewards="batch"``; ``"none"`` keeps ``r - p̂``);
4. LOSS + UPDATE — GRPO's clipped surrogate, token-level aggregation;
5. ``after_update`` — drift ``D`` of the policy on each prompt's previously stored response,
   forgetting ``ρ = clip(2^(-D/D_half), ρ_min, ρ_max)``, ``α ← ρα + r``, ``β ← ρβ + 1 - r``,
   then this response is stored with its log-probs under the updated policy.

The tracker starts from ``offline_samples`` completions of every pool prompt by the initial
policy (the authors use 8); they are generated when the trainer is built and are *not*
counted in ``global_step`` (``offline_samples × num_train_prompts`` extra samples, reported
as ``spo/offline_samples``).

What this version keeps and changes: GRPO's trainer (``polab.algos.group.grpo``) with its
``build_groups``, ``compute_advantages`` and ``after_update`` hooks replaced; the pool is a
fixed set of ``num_train_prompts`` problems drawn from the task (never held-out ones); the
tracker's own deviations from the authors' code are listed in ``polab.algos.group.spo_tracker``.

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from polab.algos.group.grpo import GRPO, GroupBatch, GRPOConfig
from polab.algos.group.prefix_grouper import scoring_samples
from polab.algos.group.spo_tracker import SPOTracker
from polab.config import param
from polab.core.advantages import spo_advantages
from polab.lm.evaluate import evaluate
from polab.lm.generate import completion_logprobs
from polab.lm.model import GPT
from polab.lm.tasks import Problems, Task

SPO_PAPER = "Xu & Ding 2025 (SPO)"


@dataclass(frozen=True)
class SPOConfig(GRPOConfig):
    """GRPO's fields with SPO's single stream, plus the tracker's knobs (authors' defaults).

    ``baseline`` is not used: SPO's baseline is the tracker."""

    num_generations: int = param(1, help="completions per prompt: SPO samples one", low=1,
                                 high=256, paper=SPO_PAPER)
    scale_rewards: Literal["group", "batch", "none"] = param(
        "batch", help="normalise r - p̂ over the whole batch, or not", paper=SPO_PAPER)
    num_train_prompts: int = param(2048, help="size of the fixed pool of training problems "
                                   "the tracker follows", low=1, high=1_000_000)
    prefix_grouper: bool = param(False, help="one completion per prompt: nothing to share")
    prioritized: bool = param(True, help="draw prompts ∝ sqrt(p̂(1-p̂)) + 0.05",
                              paper=SPO_PAPER)
    offline_samples: int = param(8, help="samples per pool prompt to initialise α, β "
                                 "(0 = α = β = ½)", low=0, high=64, paper=SPO_PAPER)
    rho_mode: Literal["kl", "constant"] = param("kl", help="forgetting adapted to the policy's "
                                                "drift on the prompt, or constant",
                                                paper=SPO_PAPER)
    rho_min: float = param(0.875, help="smallest forgetting factor ρ", low=0.5, high=0.99)
    rho_max: float = param(0.96, help="largest forgetting factor ρ (no drift)", low=0.5,
                           high=0.999)
    rho_constant: float = param(0.875, help="ρ when rho_mode='constant'", low=0.5, high=0.999)
    d_half: float = param(0.06, help="drift at which old evidence is halved", low=0.005,
                          high=1.0, log=True)
    exploration: float = param(0.05, help="added to every sampling weight", low=0.0, high=1.0)

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (self.num_generations == 1, "SPO samples one completion per prompt: "
             "num_generations must be 1"),
            (self.scale_rewards != "group", "SPO has no groups: scale_rewards must be "
             "'batch' (the paper) or 'none'"),
            (self.rho_min <= self.rho_max, "rho_min must not exceed rho_max"),
        ]


class SPO(GRPO):
    """GRPO's trainer with SPO's prompt sampling, tracker baseline and tracker update."""

    state_parts = (*GRPO.state_parts, "tracker")
    config: SPOConfig

    def __init__(self, config: SPOConfig, task: Task | str = "addition",
                 device: str | torch.device | None = None, model: GPT | None = None):
        super().__init__(config, task, device, model)
        c = self.config
        self.pool_prompt_ids, self.pool_prompt_mask = self.task.encode_prompts(self.pool)
        self.tracker = SPOTracker(len(self.pool), rho_mode=c.rho_mode, rho_min=c.rho_min,
                                  rho_max=c.rho_max, rho_constant=c.rho_constant,
                                  d_half=c.d_half, exploration=c.exploration,
                                  memory_len=self.max_new_tokens)
        if c.offline_samples:
            successes = evaluate(self.model, self.task, self.pool, samples=c.offline_samples,
                                 temperature=c.temperature,
                                 generator=self.sample_generator)["successes"]
            self.tracker.init_offline(successes, c.offline_samples)

    def build_groups(self) -> tuple[Problems, torch.Tensor]:
        n = self.config.generation_batch_size
        if self.config.prioritized:
            ids = self.tracker.sample(n, self.generator)
        else:
            ids = torch.randperm(len(self.pool), generator=self.generator)[:n]
        return self.pool.select(ids), ids

    def compute_advantages(self, batch: GroupBatch) -> torch.Tensor:
        p_hat = self.tracker.p_hat(batch.pool_ids).to(batch.rewards.device)
        if self.config.scale_rewards == "batch":
            return spo_advantages(batch.rewards, p_hat)
        return batch.rewards - p_hat

    @torch.no_grad()
    def after_update(self, batch: GroupBatch) -> dict[str, float]:
        """Drift on the stored responses, tracker update, then store this batch's responses
        with their log-probs under the updated policy (one forward for both)."""
        ids, s = batch.pool_ids, batch.samples
        width = self.max_new_tokens - s.completion_ids.shape[1]
        new_tokens = F.pad(s.completion_ids, (0, width), value=self.tokenizer.pad_id).cpu()
        new_mask = F.pad(s.loss_mask, (0, width)).cpu()
        old_tokens, old_mask = self.tracker.recall(ids)
        logp = self.rescore(ids.repeat(2), torch.cat([old_tokens, new_tokens]),
                            torch.cat([old_mask, new_mask]))
        n = ids.numel()
        drift = self.tracker.drift(ids, logp[:n])
        p_hat = self.tracker.p_hat(ids)
        rho = self.tracker.update(ids, batch.rewards.cpu(), drift)
        self.tracker.remember(ids, new_tokens, new_mask, logp[n:])
        return {"spo/p_hat_mean": float(p_hat.mean()), "spo/rho_mean": float(rho.mean()),
                "spo/drift_mean": float(drift.mean()),
                "spo/pool_visited": float((self.tracker.visits > 0).float().mean()),
                "spo/offline_samples": float(self.config.offline_samples * len(self.pool))}

    def rescore(self, ids: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor
                ) -> torch.Tensor:
        """Log-probs ``(n, memory_len)`` (CPU) of stored responses of pool prompts ``ids``
        under the current policy, at the sampling temperature."""
        dev = self.device
        samples = scoring_samples(self.pool_prompt_ids[ids].to(dev),
                                  self.pool_prompt_mask[ids].to(dev), tokens.to(dev),
                                  mask.to(dev))
        return completion_logprobs(self.model, samples, self.config.temperature)[0].cpu()
