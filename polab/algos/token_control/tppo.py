"""T-PPO — Truncated Proximal Policy Optimization (card 8), on the tiny LM.

Fan et al. 2025 (ByteDance Seed), *Truncated Proximal Policy Optimization*, arXiv 2506.15050.
No public code; the schedule and EGAE follow ../shared/cards/08_tppo.md ("Core update",
inferred from the abstract and the VC-PPO / VAPO lineage). One ``step()`` is one **round**:

1. ROLLOUT — :class:`polab.lm.windows.WindowSampler`: a pool of ``pool_size`` slots; every
   active slot generates up to ``window`` more tokens from the *current* policy (KV cache
   rebuilt by prefilling prompt + tokens so far), behaviour log-probs kept per token; slots
   that emit ``<eos>`` or reach L_max are finished and refilled with new prompts;
2. REWARDS — the verifiable reward of the finished responses (cut ones have none yet);
3. ADVANTAGES — EGAE (:func:`~polab.algos.token_control.critic.egae`): GAE (γ = 1,
   λ = ``lambda_policy``) on every row's tokens so far, bootstrapped at a cut by the current
   critic's ``V(s_t_end)``, terminal reward at ``<eos>`` / L_max;
4. LOSS + UPDATE — PPO-clip (0.2 / 0.28), token mean, on the tokens of the **latest window
   only** (``token_mask``: no token is trained twice, prompt tokens never);
5. ``after_update`` — the critic steps on the responses that finished this round (Monte-Carlo
   ``G_t = R``), never on cut ones.

The policy and the critic are thus updated on different data and schedules. ``global_step``
counts generation steps (forward passes of the pool while sampling; a round's prefill is one),
``completions`` the finished responses.

Ablations (``truncated_adv``): ``"drop"`` leaves cut rows out of the policy loss (their
earlier windows are then never trained); ``"zero"`` treats a cut as the end with reward 0
(the card's "truncated = reward 0": biases towards short answers). With ``window = L_max``
and ``refill=False`` a round is one synchronous batch and T-PPO is exactly ``ppo-lm``.

What this version keeps and changes: the paper's scale (Qwen2.5-32B, AIME) and its
wall-clock are out of reach; slot utilisation (active slots / pool per generation step) is
the CPU proxy for GPU idle time. Refill happens between rounds (a slot that finishes
mid-window idles until the round ends), the critic has its own AdamW and a value warm-up
(``value_warmup``, shared with ``ppo-lm``).

Taught in notebooks/04_token_level_control.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from polab.algos.group.grpo import GroupBatch
from polab.algos.token_control.ppo_lm import PPOLM, PPOLMConfig
from polab.config import param
from polab.lm.evaluate import evaluate
from polab.lm.model import GPT
from polab.lm.tasks import AdditionTask, Task
from polab.lm.windows import Window, WindowSampler

TruncatedAdv = Literal["egae", "drop", "zero"]


@dataclass(frozen=True)
class TPPOConfig(PPOLMConfig):
    """PPO-LM's fields plus the window schedule and the truncated-token treatment."""

    pool_size: int = param(32, help="N: slots generating at once", low=1, high=4096,
                           paper="Fan et al. 2025 (T-PPO)")
    window: int = param(16, help="l: tokens generated per slot per round (L_max/4)", low=1,
                        high=512, paper="Fan et al. 2025 (T-PPO)")
    refill: bool = param(True, help="refill finished slots with new prompts every round "
                         "(off: only when the whole pool is empty, i.e. synchronous batches)",
                         paper="Fan et al. 2025 (T-PPO), successive batching")
    truncated_adv: TruncatedAdv = param(
        "egae", help="cut responses: EGAE (bootstrap with the critic), drop them from the "
        "policy loss, or treat the cut as the end with reward 0 (ablations)",
        paper="Fan et al. 2025 (T-PPO), EGAE")
    num_iterations: int = param(160, help="rounds (windows) in a run", low=1, high=100_000)
    eval_every: int = param(20, help="rounds between held-out greedy pass@1 checks", low=0,
                            high=100_000)

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (self.window <= self.max_completion_length,
             f"window={self.window} must be at most max_completion_length="
             f"{self.max_completion_length} (L_max)"),
        ]


class TPPO(PPOLM):
    """T-PPO's rounds on PPO-LM's hooks; see the module docstring."""

    state_parts = (*PPOLM.state_parts, "sampler")
    config: TPPOConfig

    def __init__(self, config: TPPOConfig, task: Task | str = "addition-scratch",
                 device: str | torch.device | None = None, model: GPT | None = None):
        super().__init__(config, task, device, model)
        c = self.config
        self.sampler = WindowSampler(self.task, c.pool_size, c.window, self.max_new_tokens,
                                     refill=c.refill, temperature=c.temperature,
                                     generator=self.sample_generator,
                                     prompt_generator=self.generator, device=self.device)
        self.utilisation = self.sampler.utilisation
        self.window: Window | None = None
        # the critic's V(s_t_end) at every cut (by sequence) and every finished return
        self.cuts: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.returns: list[tuple[torch.Tensor, torch.Tensor]] = []

    def collect(self) -> tuple[GroupBatch, int, dict[str, float]]:
        """One round of the window sampler; rewards of the finished rows (0 for cut ones)."""
        w = self.window = self.sampler.round(self.model)
        reward = self.task.reward(w.problems, w.samples.completion_ids)
        rewards = torch.where(w.finished, reward.to(self.device), 0.0)
        util = self.sampler.utilisation[-w.steps:]
        return GroupBatch(w.problems, w.samples, rewards), w.steps, {
            "slot_utilisation": sum(util) / len(util),
            "window/cut_share": float((~w.finished).float().mean()),
            "window/trained_tokens": float(w.new.sum())}

    def finished(self, batch: GroupBatch) -> torch.Tensor:
        assert self.window is not None
        return self.window.finished

    def terminal(self, batch: GroupBatch) -> torch.Tensor:
        """Finished rows; with ``truncated_adv="zero"`` cut rows too (reward 0 at the cut)."""
        if self.config.truncated_adv == "zero":
            return torch.ones_like(self.finished(batch))
        return self.finished(batch)

    def token_mask(self, batch: GroupBatch) -> torch.Tensor:
        """The latest window's tokens only (minus cut rows with ``truncated_adv="drop"``)."""
        assert self.window is not None
        mask = super().token_mask(batch) & self.window.new
        if self.config.truncated_adv == "drop":
            mask = mask & self.window.finished[:, None]
        return mask

    def after_update(self, batch: GroupBatch) -> dict[str, float]:
        """PPO-LM's critic update, plus the record of the bootstrap values at the cuts (the
        values EGAE used, before this update) and of the returns of finished sequences."""
        out = super().after_update(batch)
        w, values = self.window, self.values
        assert w is not None and values is not None
        seq = self.sampler.seq_id[w.slots.cpu()]
        cut = (~w.finished).cpu()
        at_end = values.gather(1, batch.samples.lengths[:, None]).squeeze(1).cpu()
        self.cuts.append((seq[cut], at_end[cut]))
        self.returns.append((seq[~cut], batch.rewards.cpu()[~cut]))
        if bool(cut.any()):
            out["value/at_cut"] = float(at_end[cut].mean())
        return out

    def bootstrap_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(V(s_t_end), R)`` for every cut of a sequence that has finished since: what the
        critic bootstrapped with against the return the response then realised."""
        seq, v = (torch.cat(x) for x in zip(*self.cuts, strict=True)) if self.cuts else (
            torch.zeros(0, dtype=torch.long), torch.zeros(0))
        ret = torch.full((self.sampler.sequences,), float("nan"))
        if self.returns:
            done, r = (torch.cat(x) for x in zip(*self.returns, strict=True))
            ret[done] = r.float()
        known = ~ret[seq].isnan()
        return v[known], ret[seq][known]

    def occupancy_matrix(self) -> torch.Tensor:
        return self.sampler.occupancy_matrix()

    def batch_metrics(self, batch: GroupBatch) -> dict[str, Any]:
        """PPO-LM's metrics; ``completions/mean_length`` over the finished responses."""
        out = super().batch_metrics(batch)
        done = self.finished(batch)
        if done.any():
            out["completions/mean_length"] = float(batch.samples.lengths[done].float().mean())
        return out


def steps_to_reach(steps: list[float], scores: list[float], target: float) -> float:
    """The first x (generation steps) at which ``scores`` reaches ``target``; inf if never."""
    return next((x for x, s in zip(steps, scores, strict=True) if s >= target), math.inf)


def pass_at_1_by_digits(model: GPT, task: AdditionTask) -> dict[int, tuple[float, int]]:
    """Greedy held-out ``(pass@1, problems)`` of ``task`` per digit count of the larger
    operand (the scratchpad's column count, so the response length)."""
    problems = task.eval_problems()
    solved = evaluate(model, task, problems)["successes"].float()
    big = torch.maximum(problems.data["a"], problems.data["b"]).clamp_min(1)
    digits = big.double().log10().floor().long() + 1
    return {int(d): (float(solved[digits == d].mean()), int((digits == d).sum()))
            for d in digits.unique()}
