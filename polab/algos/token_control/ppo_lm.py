"""PPO with a critic on the tiny LM — synchronous, T-PPO's baseline (card 8, "Miniature").

Standard LLM-PPO (Ouyang et al. 2022; the VC-PPO / VAPO lineage the T-PPO paper compares
with), built on the group core's hooks rather than a new loop: ``PPOLM`` is
:class:`~polab.algos.group.grpo.GRPO` with one completion per prompt (no groups) and

* ``compute_advantages`` — per-token GAE (γ = 1, λ = ``lambda_policy``) from a value model
  (:class:`~polab.algos.token_control.critic.ValueModel`, a copy of the base with a scalar
  head) and the terminal verifiable reward (:func:`~polab.algos.token_control.critic.egae`
  with every row finished);
* ``after_update`` — the critic's own AdamW steps on Monte-Carlo targets ``G_t = R``
  (γ = λ_critic = 1) of the finished responses
  (:func:`~polab.algos.token_control.critic.value_loss`).

Synchronous: every iteration generates ``generation_batch_size`` full responses to L_max
(``max_completion_length`` = 64) and waits for the longest, so the slots of the short ones
sit idle; ``slot_utilisation`` logs the active share per generation step. The x-axis
(``global_step``) counts **generation steps** (forward passes of the batch while sampling).

What this version keeps and changes:

1. Token-level averaging (``loss_type="dapo"``, card 8 pitfall 5), clip 0.2 / 0.28
   (DAPO's clip-higher), no KL, no advantage normalisation (rewards are 0/1). One epoch at
   lr 3e-5: of the three recipes tried on seed 0 (3e-4 × 2 epochs, 1e-4 × 1, 3e-5 × 1) it
   gave this baseline its best final pass@1 (0.74 from 0.66 in 1 850 generation steps; 3e-4
   fell to 0.47 after one update). T-PPO uses the same recipe.
2. The critic starts from the policy's base with a zero head (V = 0), then fits
   ``value_warmup`` batches sampled from the base before RL (a value warm-up, as in VC-PPO);
   those samples are not counted in ``global_step``.
3. Responses that reach L_max without ``<eos>`` are finished with reward 0 (their return is
   known), as in T-PPO.

Taught in notebooks/04_token_level_control.ipynb (T-PPO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from polab.algos.group.grpo import GRPO, GroupBatch, GRPOConfig
from polab.algos.group.losses import LossType
from polab.algos.token_control.critic import ValueModel, egae, value_loss
from polab.config import param
from polab.lm.generate import Samples
from polab.lm.model import GPT
from polab.lm.pretrain import load_base
from polab.lm.tasks import AdditionTask, Task


def long_tailed_addition(device: str | torch.device = "cpu") -> tuple[GPT, AdditionTask]:
    """The ``addition-scratch`` base and its task with digit counts ∝ 2^-d (1–6 digits,
    completions 9–63 tokens): T-PPO's testbed (issue 15)."""
    model, tokenizer, _ = load_base("addition-scratch", device)
    return model, AdditionTask(digits=6, min_digits=1, scratchpad=True,
                               digit_dist="geometric", tokenizer=tokenizer)


@dataclass(frozen=True)
class PPOLMConfig(GRPOConfig):
    """GRPO's fields with PPO's defaults (one completion per prompt), plus the critic's."""

    num_generations: int = param(1, help="completions per prompt (1: no groups, a critic "
                                 "gives the baseline)", low=1, high=256)
    generation_batch_size: int = param(32, help="responses generated per iteration (the "
                                       "pool of slots)", low=1, high=4096)
    max_completion_length: int = param(64, help="L_max: most tokens per response",
                                       low=1, high=512, paper="Fan et al. 2025 (T-PPO)")
    epsilon_high: float = param(0.28, help="upper clip ε_high (DAPO's clip-higher)", low=0.0,
                                high=1.0, paper="Yu et al. 2025 (DAPO) §3.1")
    loss_type: LossType = param("dapo", help="token-level mean (card 8, pitfall 5)")
    prefix_grouper: bool = param(False, help="no groups: the shared-prompt forward is off")
    learning_rate: float = param(3e-5, help="the policy's AdamW learning rate (per-token "
                                 "critic advantages are noisier than group ones: GRPO's 3e-4 "
                                 "and 1e-4 lowered pass@1 here)", low=1e-6, high=1e-2, log=True)
    update_epochs: int = param(1, help="passes over each batch", low=1, high=16)
    lambda_policy: float = param(0.95, help="GAE λ of the policy's advantages (γ = 1)",
                                 low=0.0, high=1.0, paper="Fan et al. 2025 (T-PPO), EGAE")
    critic_learning_rate: float = param(1e-3, help="the critic's own AdamW learning rate",
                                        low=1e-6, high=1e-2, log=True)
    critic_epochs: int = param(2, help="critic steps per batch of finished responses",
                               low=1, high=16)
    value_warmup: int = param(4, help="batches sampled from the base to fit the critic "
                              "before RL (not counted in the generation steps)", low=0,
                              high=100, paper="Yuan et al. 2025 (VC-PPO), value pretraining")
    num_iterations: int = param(40, help="iterations (generation batches) in a run", low=1,
                                high=100_000)
    eval_every: int = param(5, help="updates between held-out greedy pass@1 checks", low=0,
                            high=100_000)

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (not self.prefix_grouper, "prefix_grouper needs groups: PPO-LM samples one "
             "completion per prompt"),
        ]


class PPOLM(GRPO):
    """Synchronous PPO with a critic; see the module docstring. ``task`` is a base name
    (``"addition-scratch"`` gives the long-tailed task) or a :class:`Task` with its model."""

    state_parts = (*GRPO.state_parts, "critic", "critic_optimizer", "completions")
    x_label = "generation steps"
    config: PPOLMConfig

    def __init__(self, config: PPOLMConfig, task: Task | str = "addition-scratch",
                 device: str | torch.device | None = None, model: GPT | None = None):
        if task == "addition-scratch":
            model, task = long_tailed_addition(device or "cpu")
        super().__init__(config, task, device, model)
        c = self.config
        self.max_new_tokens = c.max_completion_length  # L_max (the task's answers fit in 63)
        self.critic = ValueModel(self.model).to(self.device)
        self.critic_optimizer = torch.optim.AdamW(self.critic.parameters(),
                                                  lr=c.critic_learning_rate)
        self.completions = 0
        self.values: torch.Tensor | None = None  # V(s_0..s_T) of the last batch (for EGAE)
        self.utilisation: list[float] = []
        self.occupancy: list[torch.Tensor] = []
        for _ in range(c.value_warmup):  # --- VALUE WARM-UP (samples from the base) ---
            batch = self.draw()[0]
            self.update_critic(batch.samples, batch.rewards,
                               torch.ones_like(batch.rewards, dtype=torch.bool))

    # --- hooks ---------------------------------------------------------------------------

    def finished(self, batch: GroupBatch) -> torch.Tensor:
        """``(B,)`` rows whose response ended (all of them: generation runs to L_max)."""
        return torch.ones_like(batch.rewards, dtype=torch.bool)

    def terminal(self, batch: GroupBatch) -> torch.Tensor:
        """``(B,)`` rows whose last token gets the reward and no bootstrap."""
        return self.finished(batch)

    def compute_advantages(self, batch: GroupBatch) -> torch.Tensor:
        """``(B, T)`` GAE advantages from the current critic (EGAE; no cut rows here)."""
        with torch.no_grad():
            values = self.values = self.critic(batch.samples)
        rewards = torch.where(self.terminal(batch), batch.rewards, 0.0)
        return egae(values, rewards, batch.samples.lengths, self.terminal(batch), 1.0,
                    self.config.lambda_policy)[0]

    def after_update(self, batch: GroupBatch) -> dict[str, float]:
        """The critic's update on the finished responses (its own optimiser)."""
        finished = self.finished(batch)
        self.completions += int(finished.sum())
        out = self.update_critic(batch.samples, batch.rewards, finished)
        return {**out, "completions": float(self.completions)}

    def update_critic(self, samples: Samples, rewards: torch.Tensor, finished: torch.Tensor
                      ) -> dict[str, float]:
        """``critic_epochs`` AdamW steps on :func:`value_loss` (finished rows only)."""
        if not bool(finished.any()):
            return {}
        T = samples.completion_ids.shape[1]
        for _ in range(self.config.critic_epochs):
            loss = value_loss(self.critic(samples)[:, :T], rewards, samples.loss_mask, finished)
            self.critic_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.critic.parameters(),
                                           self.config.max_grad_norm or float("inf"))
            self.critic_optimizer.step()
        return {"losses/value_loss": float(loss.detach())}

    def collect(self) -> tuple[GroupBatch, int, dict[str, float]]:
        """GRPO's batch; counts its generation steps and the slots active at each."""
        batch, _, stats = super().collect()
        active = batch.samples.completion_mask
        self.record_schedule(active.sum(0).float() / active.shape[0],
                             torch.where(active.cpu(), torch.arange(
                                 self.completions, self.completions + len(active))[:, None], -1))
        return batch, active.shape[1], {**stats,
                                        "slot_utilisation": float(active.float().mean())}

    def record_schedule(self, utilisation: torch.Tensor, occupancy: torch.Tensor) -> None:
        """Keep the per-step active share and the ``slot × step`` occupancy (sequence ids)."""
        self.utilisation.extend(utilisation.tolist())
        self.occupancy.append(occupancy)

    def occupancy_matrix(self) -> torch.Tensor:
        """``(slots, generation steps)``: the sequence id in each slot at each step, -1 idle."""
        return torch.cat(self.occupancy, 1) if self.occupancy else torch.zeros(0, 0)

    def batch_metrics(self, batch: GroupBatch) -> dict[str, Any]:
        """GRPO's metrics; ``reward`` over the finished responses only."""
        out = super().batch_metrics(batch)
        finished = self.finished(batch)
        out["reward"] = float(batch.rewards[finished].mean()) if finished.any() else 0.0
        return out
