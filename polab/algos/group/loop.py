"""LOOP — leave-one-out PPO (../shared/cards/14_loop.md), here on the tiny-LM tasks.

Chen et al. 2025, *Reinforcement Learning for Long-Horizon Interactive LLM Agents*,
arXiv 2502.01600; code github.com/apple/ml-loop (``phi_agents/rl/train.py``,
``conf/rl/params/default.yaml``). A lean PPO with no value network, no reference model and
one copy of the LLM: per task, K rollouts scored by the environment; the baseline of each is
the mean return of the *other* K−1; rollouts with ``|A| < 0.01`` are dropped; then a few
epochs of per-token clipped PPO over minibatches shuffled across tasks.

LOOP is :class:`~polab.algos.group.grpo.GRPO` with other defaults and one hook changed:

* ``baseline="leave_one_out"``, ``scale_rewards="none"`` (``adv_normalization: false``):
  ``A_i = R_i - mean_{j≠i} R_j`` (``polab.core.advantages.group_advantages``);
* ``select_rows`` = ``polab.core.advantages.small_advantage_filter`` with ``abs_adv_threshold``;
* per-token ratio clipped to ``[1/(1+ε), 1+ε]`` with ε = 0.1 — stored as TRL's pair
  ``(epsilon, epsilon_high) = loop_clip_epsilons(0.1) = (0.1/1.1, 0.1)``;
* ``loss_type="grpo"`` (mean over each rollout's tokens, then over the minibatch:
  ``pg_per_token``); ``importance_sampling_level="trajectory"`` gives ``pg_per_trajectory``;
* 2 epochs (``update_epochs``) of shuffled minibatches; AdamW with weight decay 0.01.

What this version keeps and changes:

1. The stateful multi-app environment (AppWorld) belongs to the agents chapter; here the
   "tasks" are the tiny LM's verifiable problems, so tool-output masking is the generic
   ``Samples.loss_mask``.
2. Gradient clip 1 and learning rate 1e-4 suit the tiny LM, not the 32B model's (AdamW lr
   5e-5, clip 0.1): with 8 Adam steps per batch, 1e-4 beat GRPO's 3e-4 on 3 of 3 seeds
   (held-out pass@1 +1.6 to +5 points after 40-60 iterations). K = 8 rollouts per task (the
   paper's 6) so that runs match GRPO's samples.
3. The minibatch count, not its size (32 rollouts), is fixed: the filter changes how many
   rollouts remain. The authors' "abort if KL > 20" guard is not implemented.

Ablations (the card's list and ml-loop's switches; ``LOOP_ABLATIONS`` names one arm each):

* **baseline** — ``"leave_one_out"`` (LOOP), ``"group_mean"`` (ml-loop's ``leave_none_out``)
  or ``"none"``: ``A = R``, REINFORCE on the raw return (not in ml-loop; the card's "no
  baseline", against which the LOO baseline should lower gradient variance);
* **ppo_clip** — ``False`` is ml-loop's ``do_ppo_clipping: false``: REINFORCE with the LOO
  baseline, ``loss = -A · mean_t log π_θ(y_t)``, no importance ratio at all (the card's "without
  clipping = RLOO"). It equals the unclipped surrogate ``-w A`` only while θ = θ_old; ml-loop
  then ignores ``loss_type``, so polab asks for ``importance_sampling_level="token"``;
* **ratio level** — ``importance_sampling_level="trajectory"`` (ml-loop ``pg_per_trajectory``:
  one ratio per rollout, ``-min(W A, clip(W) A)`` with no mean over tokens);
* **normalisation** — ``loss_type="grpo"`` is LOOP's per-trajectory normalisation (mean over
  each rollout's tokens, then over the rollouts, as ml-loop's ``loss.mean()`` per rollout);
  ``loss_type="bnpo"`` normalises per token (one mean over the minibatch's tokens);
* ``scale_rewards="group"`` is ml-loop's ``adv_normalization: true`` (see
  ``polab.core.advantages.group_advantages`` for the std convention); ``abs_adv_threshold=0``
  switches the filter off.

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from polab.algos.group.grpo import GRPO, GroupBatch, GRPOConfig
from polab.algos.group.losses import LossType, loop_clip_epsilons
from polab.config import param
from polab.core.advantages import small_advantage_filter

LOOP_EPSILON = 0.1
"""ml-loop's ``ppo_eps``; the clip interval is ``[1/(1+ε), 1+ε]``."""
_EPS_LOW, _EPS_HIGH = loop_clip_epsilons(LOOP_EPSILON)


@dataclass(frozen=True)
class LOOPConfig(GRPOConfig):
    """GRPO's fields with LOOP's defaults, plus the small-advantage threshold."""

    baseline: Literal["group_mean", "leave_one_out", "none"] = param(
        "leave_one_out", help="subtract the mean of the other G-1 (LOOP), the group mean "
        "(ml-loop's leave_none_out) or nothing (REINFORCE: A = R)",
        paper="Chen et al. 2025 (LOOP) §3")
    scale_rewards: Literal["group", "batch", "none"] = param(
        "none", help="LOOP does not normalise advantages (adv_normalization: false)")
    loss_type: LossType = param("grpo", help="mean over each rollout's tokens, then over the "
                                "minibatch (LOOP's pg_per_token)")
    epsilon: float = param(_EPS_LOW, help="lower clip: LOOP's 1 - 1/(1+ε) = ε/(1+ε), ε = 0.1",
                           low=0.0, high=1.0)
    epsilon_high: float = param(_EPS_HIGH, help="upper clip: LOOP's ε = 0.1", low=0.0,
                                high=1.0)
    learning_rate: float = param(1e-4, help="AdamW learning rate (a third of GRPO's: LOOP takes "
                                 "8 steps per batch, GRPO 2)", low=1e-6, high=1e-2, log=True)
    update_epochs: int = param(2, help="epochs over each batch", low=1, high=16)
    num_minibatches: int = param(4, help="shuffled minibatches per epoch (across tasks)",
                                 low=1, high=64)
    weight_decay: float = param(0.01, help="AdamW weight decay", low=0.0, high=1.0)
    prefix_grouper: bool = param(False, help="LOOP filters single rollouts, so groups are not "
                                 "kept whole: the shared-prompt forward is off")
    abs_adv_threshold: float = param(0.01, help="drop rollouts with |A| below this",
                                     low=0.0, high=0.5, paper="Chen et al. 2025 (LOOP) §3")
    ppo_clip: bool = param(True, help="clipped PPO ratio; off = REINFORCE with no ratio "
                           "(ml-loop's do_ppo_clipping: false, i.e. RLOO)",
                           paper="Chen et al. 2025 (LOOP) §3")

    def rules(self) -> list[tuple[bool, str]]:
        return super().rules() + [
            (not self.prefix_grouper, "LOOP filters single rollouts: prefix_grouper needs "
             "whole groups"),
            (self.baseline != "none" or self.scale_rewards == "none",
             "baseline='none' trains on the raw rewards: scale_rewards must be 'none'"),
            (self.ppo_clip or self.importance_sampling_level == "token",
             "ppo_clip=False has no importance ratio: importance_sampling_level='token'"),
        ]


LOOP_ABLATIONS: dict[str, dict[str, Any]] = {
    "LOOP": {},
    "no baseline": {"baseline": "none"},
    "no clipping (RLOO)": {"ppo_clip": False},
    "per-trajectory ratio": {"importance_sampling_level": "trajectory"},
    "per-token normalisation": {"loss_type": "bnpo"},
}
"""The card's ablations, each one change to :class:`LOOPConfig` (``config.replace(**v)``)."""


def pass_at_1_noise(num_seeds: int, p: float = 0.4, problems: int = 512) -> float:
    """Two standard errors of a difference of two arms' pass@1, each a median (≈ mean) of
    ``num_seeds`` runs scored on ``problems`` held-out problems (binomial; seed-to-seed
    training noise comes on top): about 4.3 points for one seed, 3.5 for three."""
    return 2 * (p * (1 - p) / problems) ** 0.5 * (2 / num_seeds) ** 0.5


def ablation_verdicts(s: dict[str, dict[str, float]], num_seeds: int) -> list[str]:
    """The card's expectations next to what was measured, one line each. ``s`` maps each arm
    of ``LOOP_ABLATIONS`` to its median final held-out ``"pass@1"`` over ``num_seeds`` seeds
    and its mean clipped share ``"clipped"``."""
    loop, tol = s["LOOP"]["pass@1"], pass_at_1_noise(num_seeds)

    def beats(other: str) -> str:
        d = loop - s[other]["pass@1"]
        return ("reproduced" if d > tol else
                "not reproduced (LOOP is behind)" if d < -tol else
                f"not shown (within noise, ±{tol:.3f})")

    traj = s["per-trajectory ratio"]
    clip_ratio = traj["clipped"] / max(s["LOOP"]["clipped"], 1e-12)
    return [
        f"per-token ratio beats per-trajectory: LOOP {loop:.3f} vs {traj['pass@1']:.3f} -> "
        f"{beats('per-trajectory ratio')}",
        f"per-trajectory ratio clipped far more often: {traj['clipped']:.3f} vs "
        f"{s['LOOP']['clipped']:.3f} ({clip_ratio:.1f}x) -> "
        f"{'reproduced' if clip_ratio > 2 else 'not reproduced'}",
        f"clipping (PPO epochs) beats RLOO: LOOP {loop:.3f} vs "
        f"{s['no clipping (RLOO)']['pass@1']:.3f} -> {beats('no clipping (RLOO)')}",
        f"a baseline beats none: LOOP {loop:.3f} vs {s['no baseline']['pass@1']:.3f} -> "
        f"{beats('no baseline')}",
        f"normalisation per token = per trajectory here (equal lengths): LOOP {loop:.3f} vs "
        f"{s['per-token normalisation']['pass@1']:.3f} -> "
        f"{'agree' if abs(loop - s['per-token normalisation']['pass@1']) <= tol else 'differ'}",
    ]


class LOOP(GRPO):
    """GRPO's trainer with LOOP's defaults and its small-|A| rollout filter."""

    config: LOOPConfig

    def compute_advantages(self, batch: GroupBatch) -> torch.Tensor:
        """GRPO's group advantages, or the raw rewards with ``baseline="none"``."""
        if self.config.baseline == "none":
            return batch.rewards.clone()
        return super().compute_advantages(batch)

    def select_rows(self, batch: GroupBatch) -> torch.Tensor:
        return small_advantage_filter(batch.advantages, self.config.abs_adv_threshold)

    def old_logprobs(self, batch: GroupBatch, logp: torch.Tensor) -> torch.Tensor:
        """With ``ppo_clip=False`` the current log-probs, detached: ``w = 1`` and the gradient
        is REINFORCE's ``-A ∇ log π`` (ml-loop's ``do_ppo_clipping: false``); ``approx_kl``
        and ``logprob_mismatch`` still compare the current policy with the sampler."""
        return super().old_logprobs(batch, logp) if self.config.ppo_clip else logp.detach()
