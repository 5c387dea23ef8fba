"""Advantage estimators as pure functions of tensors.

Time-major rollouts: every tensor is ``(T, N)`` (time, environment copy). ``terminated`` and
``truncated`` are kept apart (README, "Environments"): a terminated step has no future, a
truncated one does, and its value is bootstrapped from ``V(final_obs)``.

The second half holds the group-relative estimators of the LLM chapters (one scalar reward per
completion, grouped by prompt) and the pure parts of SPO's value tracker.

Taught in notebooks/01_policy_gradients.ipynb (GAE) and notebooks/03_grpo_family.ipynb (groups).
"""

from __future__ import annotations

import math
from typing import Literal

import torch


def discounted_returns(rewards: torch.Tensor, dones: torch.Tensor, gamma: float,
                       last_value: torch.Tensor | None = None) -> torch.Tensor:
    """Reward-to-go ``G_t = r_t + γ (1 - d_t) G_{t+1}`` over a ``(T, N)`` rollout.

    ``dones[t]`` ends the episode after step ``t``; ``last_value`` (``(N,)``, default 0)
    bootstraps episodes still running at the end of the rollout. The loop runs over time
    steps only; all copies are updated at once.
    """
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value.to(rewards.dtype)
    out = torch.empty_like(rewards)
    keep = 1.0 - dones.to(rewards.dtype)
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * keep[t] * running
        out[t] = running
    return out


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
        terminated: torch.Tensor, truncated: torch.Tensor, gamma: float,
        gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016, eq. 16), truncation-aware.

    ``next_values[t]`` is ``V(s_{t+1})`` for the *true* next state: after a truncation it is
    ``V(final_obs)``, not the value of the reset observation. Then

        δ_t = r_t + γ (1 - terminated_t) V(s_{t+1}) - V(s_t)
        A_t = δ_t + γ λ (1 - done_t) A_{t+1},   done_t = terminated_t ∨ truncated_t

    so a termination cuts both the bootstrap and the trace, a truncation cuts only the trace.
    Returns ``(advantages, returns)`` with ``returns = advantages + values`` (the TD(λ) target).
    """
    dtype = rewards.dtype
    not_term = 1.0 - terminated.to(dtype)
    not_done = 1.0 - (terminated | truncated).to(dtype)
    deltas = rewards + gamma * not_term * next_values - values
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * gae_lambda * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


def normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` over all elements (PPO's ``norm_adv``)."""
    return (x - x.mean()) / (x.std() + eps)


# --- group-relative advantages (LLM RL: one scalar reward per completion) ---------------
#
# Rewards come as ``(num_prompts, G)`` or flat ``(num_prompts * G,)`` with
# ``num_generations=G``, completions of one prompt adjacent (TRL's layout); every function
# returns the shape it was given. Taught in notebooks/03_grpo_family.ipynb.

ScaleRewards = Literal["group", "batch", "none"]


def as_groups(rewards: torch.Tensor, num_generations: int | None = None) -> torch.Tensor:
    """View rewards as ``(num_prompts, G)``; a flat tensor needs ``num_generations``."""
    if rewards.dim() == 2 and num_generations in (None, rewards.shape[1]):
        return rewards
    if rewards.dim() == 1 and num_generations is not None:
        if num_generations < 1 or rewards.numel() % num_generations:
            raise ValueError(f"{rewards.numel()} rewards do not split into groups of "
                             f"num_generations={num_generations}")
        return rewards.view(-1, num_generations)
    raise ValueError(f"rewards of shape {tuple(rewards.shape)} with num_generations="
                     f"{num_generations}: expected (num_prompts, G), or flat with num_generations")


def _group_std(groups: torch.Tensor) -> torch.Tensor:
    """Unbiased per-group std ``(P, 1)``; zero for groups of one (TRL's convention)."""
    if groups.shape[1] == 1:
        return torch.zeros_like(groups[:, :1])
    return groups.std(dim=1, keepdim=True)


def group_advantages(rewards: torch.Tensor, num_generations: int | None = None, *,
                     scale_rewards: ScaleRewards = "group", leave_one_out: bool = False,
                     eps: float = 1e-4) -> torch.Tensor:
    """Group-relative advantages ``A_i = (r_i - b_i) / s`` (GRPO, Dr. GRPO, RLOO, LOOP).

    Baseline ``b_i``: the group mean (GRPO, DeepSeekMath §4.1.2), or with
    ``leave_one_out`` the mean of the *other* ``G-1`` rewards,
    ``b_i = (Σ_j r_j - r_i) / (G-1)`` (RLOO, Ahmadian et al. 2024; LOOP,
    ../shared/cards/14_loop.md), which equals ``G/(G-1) (r_i - mean)``: the plain mean
    shrinks advantages by ``(G-1)/G``.

    Scale ``s`` with TRL's ``scale_rewards`` (``GRPOTrainer._generate_and_score_completions``):
    ``"group"`` = the group's unbiased std ``+ eps``; ``"batch"`` = the std of all rewards
    in the batch ``+ eps`` (the mean stays per group; Lite PPO); ``"none"`` = 1 (Dr. GRPO
    §3.1: the std term weights questions by difficulty). ``eps = 1e-4`` is TRL's.

    LOOP's ``adv_normalization`` divides by the *population* std clamped at 1e-7; here
    ``leave_one_out=True, scale_rewards="group"`` uses TRL's unbiased std + 1e-4 instead,
    i.e. advantages larger by ``sqrt(G/(G-1))`` (the option is off by default in LOOP).
    """
    groups = as_groups(rewards, num_generations)
    g = groups.shape[1]
    if leave_one_out:
        if g < 2:
            raise ValueError("a leave-one-out baseline needs num_generations >= 2")
        baseline = (groups.sum(dim=1, keepdim=True) - groups) / (g - 1)
    else:
        baseline = groups.mean(dim=1, keepdim=True)
    adv = groups - baseline
    if scale_rewards == "group":
        adv = adv / (_group_std(groups) + eps)
    elif scale_rewards == "batch":
        std = groups.std() if groups.numel() > 1 else torch.zeros_like(groups[0, 0])
        adv = adv / (std + eps)
    elif scale_rewards != "none":
        raise ValueError(f"scale_rewards={scale_rewards!r}: expected 'group', 'batch' or 'none'")
    return adv.reshape(rewards.shape)


def frac_reward_zero_std(rewards: torch.Tensor, num_generations: int | None = None
                         ) -> torch.Tensor:
    """Share of groups whose rewards are all equal (zero std): their GRPO advantages are 0.

    TRL's ``frac_reward_zero_std`` with group statistics (``torch.isclose(std, 0)``); TRL
    logs the batch std's instead when ``scale_rewards="batch"``, here it is always per group.
    """
    std = _group_std(as_groups(rewards, num_generations)).squeeze(1)
    return torch.isclose(std, torch.zeros_like(std)).float().mean()


def batch_normalized_advantages(rewards: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """REINFORCE++'s global batch normalisation ``(r - mean_B r) / (std_B r + eps)``
    (Hu 2025, arXiv 2501.03262), over every element whatever the shape. SPO applies the
    same normalisation to ``r - p̂(x)`` (:func:`spo_advantages`)."""
    return normalize(rewards.flatten(), eps).view_as(rewards)


def small_advantage_filter(advantages: torch.Tensor, threshold: float = 0.01,
                           multiple_of: int = 1) -> torch.Tensor:
    """LOOP's filter (Chen et al. 2025; ``_filter_rollouts`` in ml-loop's ``train.py``): a
    boolean keep-mask over rollouts that drops those with ``|A| < threshold``.

    As in the authors' code, the kept set is the ``n_keep`` largest ``|A|``, with ``n_keep``
    the number at or above the threshold rounded *up* to a multiple of ``multiple_of`` (their
    world size), at least ``multiple_of`` and at most the largest multiple that fits: a few
    rollouts under the threshold can survive, and an all-zero batch keeps ``multiple_of``.
    """
    a = advantages.abs().flatten()
    n = a.numel()
    n_keep = int((a >= threshold).sum())
    n_keep = min(max(1, math.ceil(n_keep / multiple_of)), n // multiple_of) * multiple_of
    order = torch.argsort(a, descending=True, stable=True)
    keep = torch.zeros(n, dtype=torch.bool, device=a.device)
    keep[order[:n_keep]] = True
    return keep.view_as(advantages)


# --- SPO: a persistent per-prompt Beta value tracker (Xu & Ding 2025) ----------------------------
#
# Xu & Ding 2025, "Single-stream Policy Optimization", arXiv 2509.13232; constants from the
# authors' verl recipe (``spo/spo_ray_trainer.py``). The stateful tracker that holds α, β
# per prompt is ``polab.algos.group.spo_tracker.SPOTracker``; these are its pure parts.

def spo_offline_prior(successes: torch.Tensor, num_samples: int, rho_min: float = 0.875
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Tracker initialisation from ``num_samples`` offline samples with ``successes`` correct:
    ``N_init = 1/(1-ρ_min)``, ``α = N_init (s+½)/(N+1)``, ``β = N_init (N-s+½)/(N+1)``;
    with no samples ``α = β = ½``."""
    s = successes.float()
    if num_samples == 0:
        return torch.full_like(s, 0.5), torch.full_like(s, 0.5)
    n_init = 1.0 / (1.0 - rho_min)
    return (n_init * (s + 0.5) / (num_samples + 1),
            n_init * (num_samples - s + 0.5) / (num_samples + 1))


def spo_value(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The tracker's success-probability estimate ``p̂ = α / (α + β)``."""
    return alpha / (alpha + beta)


def spo_advantages(rewards: torch.Tensor, p_hat: torch.Tensor, eps: float = 1e-8
                   ) -> torch.Tensor:
    """``A = r - p̂(x)`` with ``p̂`` read *before* this sample updates the tracker, then
    normalised over the whole batch (all prompts): ``(A - mean_B A) / (std_B A + eps)``."""
    return batch_normalized_advantages(rewards - p_hat, eps)


def policy_drift(logp_prev: torch.Tensor, logp_cur: torch.Tensor, mask: torch.Tensor
                 ) -> torch.Tensor:
    """SPO's per-prompt drift ``D = mean_t |log π_prev(y'_t) - log π_cur(y'_t)|`` over the
    masked tokens of each row; 0 for a row with no masked token (a first visit)."""
    m = mask.to(logp_cur.dtype)
    return ((logp_prev - logp_cur).abs() * m).sum(-1) / m.sum(-1).clamp(min=1.0)


def spo_forgetting(drift: torch.Tensor, d_half: float = 0.06, rho_min: float = 0.875,
                   rho_max: float = 0.96) -> torch.Tensor:
    """KL-adaptive forgetting ``ρ = clip(2^(-D/D_half), ρ_min, ρ_max)``: the more the policy
    moved on a prompt, the faster its old evidence is discounted (D = 0 gives ``ρ_max``)."""
    return torch.pow(2.0, -drift / d_half).clamp(rho_min, rho_max)


def spo_sampling_weights(p_hat: torch.Tensor, exploration: float = 0.05) -> torch.Tensor:
    """Prioritised prompt sampling weights ``w = sqrt(p̂ (1 - p̂)) + 0.05``: prompts near
    ``p̂ = ½`` (most uncertain, most signal) are drawn most often."""
    return torch.sqrt(p_hat * (1.0 - p_hat)) + exploration
