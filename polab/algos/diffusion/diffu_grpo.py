"""diffu-GRPO — d1's GRPO for masked-diffusion LMs, BGPO's baseline (card 41).

Zhao, Gupta, Zheng & Grover 2025, *d1: Scaling Reasoning in Diffusion Large Language Models
via Reinforcement Learning*, arXiv 2504.12216 (code: dllm-reasoning/d1, ``diffu-grpo/``).

d1 replaces the sequence likelihood by a **one-step** per-token estimate: the answer is masked
*entirely*, each prompt token is masked with probability ``p_mask_prompt`` (0.15), and one
forward gives ``log p_θ(y_k | x', all-mask)`` for every answer token k. Each of the μ inner
updates draws a *new* prompt mask (d1's per-iteration mask seeds), and θ_old (and the
reference) are scored on that same mask, so the per-token ratio compares like with like. The
loss is GRPO's clipped surrogate per token (``polab.algos.group.losses.clipped_surrogate_loss``,
token mean over the batch, d1's ``(per_token_loss · mask).sum() / mask.sum()``) with a k3 KL to
the initial model (β = 0.04 in d1). The prompt masking is d1's regulariser that lets μ exceed
1 without over-fitting one fixed context.

What differs from d1: no block-wise semi-autoregressive sampling (answers are 5 tokens) and no
classifier-free guidance; the loss covers the answer tokens up to and including the first
``<eos>`` (d1's completion mask). Taught in notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from polab.algos.diffusion.bgpo import DiffusionGroupConfig, DiffusionGroupRL
from polab.algos.diffusion.memory import track_saved
from polab.algos.group.losses import clipped_surrogate_loss
from polab.config import param
from polab.lm.diffusion import DiffusionLM


def sample_prompt_masks(batch: int, prompt_len: int, p_mask_prompt: float,
                        generator: torch.Generator | None = None,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """``(B, P)`` bool: each prompt position masked independently with probability
    ``p_mask_prompt`` (d1's forward process on the prompt), drawn on the CPU."""
    if not 0.0 <= p_mask_prompt < 1.0:
        raise ValueError(f"p_mask_prompt={p_mask_prompt}: must lie in [0, 1)")
    return (torch.rand((batch, prompt_len), generator=generator) < p_mask_prompt).to(device)


def one_step_logprobs(model: DiffusionLM, prompt_ids: torch.Tensor, answer_ids: torch.Tensor,
                      prompt_masked: torch.Tensor) -> torch.Tensor:
    """``(B, L)`` d1's one-step estimate ``log p_θ(y_k | x', <mask>^L)``: the prompt with
    ``prompt_masked`` positions replaced by ``<mask>``, the whole answer masked, one forward."""
    if prompt_masked.shape != prompt_ids.shape:
        raise ValueError(f"prompt_masked {tuple(prompt_masked.shape)} must match prompt_ids "
                         f"{tuple(prompt_ids.shape)}")
    P = prompt_ids.shape[1]
    x = torch.cat([prompt_ids.masked_fill(prompt_masked, model.mask_id),
                   torch.full_like(answer_ids, model.mask_id)], 1)
    logp = model(x)[:, P:].log_softmax(-1)
    return logp.gather(-1, answer_ids[..., None]).squeeze(-1)


def answer_mask(answer_ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """``(B, L)`` bool: the answer tokens up to and including the first ``<eos>`` (all of
    them if there is none): d1's completion mask."""
    is_eos = (answer_ids == eos_id).int()
    before = is_eos.cumsum(1) - is_eos  # <eos> tokens strictly before each position
    return before == 0


def diffu_grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                    mask: torch.Tensor, epsilon: float, beta: float = 0.0,
                    ref_logp: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """d1's loss: GRPO's clipped surrogate per answer token on the one-step log-probs, plus
    β·k3 KL to the reference, averaged over all active tokens of the batch (d1's
    ``(per_token_loss · mask).sum() / mask.sum()``, polab's ``loss_type="bnpo"``):
    :func:`polab.algos.group.losses.clipped_surrogate_loss`."""
    return clipped_surrogate_loss(logp, old_logp, advantages, mask, epsilon=epsilon,
                                  loss_type="bnpo", beta=beta, ref_logp=ref_logp)


@dataclass(frozen=True)
class DiffuGRPOConfig(DiffusionGroupConfig):
    """d1's diffu-GRPO knobs on top of the shared group/diffusion ones."""

    inner_updates: int = param(4, help="μ: gradient updates per generated batch, each with a "
                               "new prompt mask (d1: 12 on LLaDA-8B)", low=1, high=16,
                               paper="Zhao et al. 2025 (d1) §3.2")
    p_mask_prompt: float = param(0.15, help="probability of masking each prompt token in the "
                                 "one-step log-prob estimate", low=0.0, high=0.9,
                                 paper="Zhao et al. 2025 (d1) §3.2")
    epsilon: float = param(0.2, help="clip ε of the per-token ratio", low=0.0, high=1.0,
                           paper="Shao et al. 2024 (GRPO); Zhao et al. 2025 (d1)")
    beta: float = param(0.04, help="weight of the k3 KL to the initial model (0 = none)",
                        low=0.0, high=1.0, paper="Zhao et al. 2025 (d1) §4 (β = 0.04)")


class DiffuGRPO(DiffusionGroupRL):
    """d1's diffu-GRPO on a masked-diffusion LM (see the module docstring)."""

    config: DiffuGRPOConfig

    def __init__(self, config: DiffuGRPOConfig, task="addition-diffusion", device=None,
                 model: DiffusionLM | None = None):
        super().__init__(config, task, device, model)
        self.ref_model = None
        if self.config.beta > 0:
            self.ref_model = copy.deepcopy(self.model).eval().requires_grad_(False)

    def update(self, prompt_ids: torch.Tensor, answers: torch.Tensor,
               advantages: torch.Tensor) -> dict[str, float]:
        c = self.config
        B, P = prompt_ids.shape
        mask = answer_mask(answers, self.task.tokenizer.eos_id)
        records: list[dict[str, torch.Tensor]] = []
        peak = 0
        for _ in range(c.inner_updates):
            prompt_masked = sample_prompt_masks(B, P, c.p_mask_prompt, self.generator,
                                                self.device)
            with torch.no_grad():  # θ_old and the reference on the same prompt mask
                old = one_step_logprobs(self.old_model, prompt_ids, answers, prompt_masked)
                ref = (None if self.ref_model is None else
                       one_step_logprobs(self.ref_model, prompt_ids, answers, prompt_masked))
            self.optimizer.zero_grad(set_to_none=True)
            with track_saved(exclude=self.model.parameters()) as mem:
                logp = one_step_logprobs(self.model, prompt_ids, answers, prompt_masked)
                terms = diffu_grpo_loss(logp, old, advantages, mask, c.epsilon, c.beta, ref)
                terms["loss"].backward()
            peak = max(peak, mem.peak)
            terms["grad_norm"] = torch.tensor(self.clip_and_step())
            records.append({k: v.detach() for k, v in terms.items()})
        out = {k: float(torch.stack([r[k] for r in records]).mean()) for k in records[0]}
        out["saved_bytes"] = float(peak)
        return out
