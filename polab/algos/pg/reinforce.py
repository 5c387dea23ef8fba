"""REINFORCE — the score-function policy gradient with reward-to-go (Williams 1992).

Paper: https://doi.org/10.1007/BF00992696. Pseudocode followed: Spinning Up's VPG
(https://spinningup.openai.com/en/latest/algorithms/vpg.html).

What this version keeps and changes:

1. Each iteration plays one complete episode in every environment copy (``num_envs``
   episodes per batch, all copies stepped at once) and uses the reward-to-go
   ``G_t = Σ_{k≥t} γ^{k-t} r_k`` as the weight of ``∇ log π(a_t|s_t)``.
2. ``baseline=True`` subtracts a learned ``V(s_t)`` (trained by regression on ``G_t``): the
   gradient stays unbiased and its variance drops (see ``gradient_variance``).
3. No advantage normalisation by default, so the two variants differ only by the baseline.

Taught in notebooks/01_policy_gradients.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from polab.config import Config, param
from polab.core.advantages import discounted_returns
from polab.core.algorithm import Algorithm
from polab.core.networks import ActorCritic
from polab.core.rollout import (
    EpisodeTracker,
    Rollout,
    batched_env,
    collect,
    first_episode_mask,
)
from polab.envs.base import BatchedEnv


@dataclass(frozen=True)
class ReinforceConfig(Config):
    """REINFORCE's knobs (Spinning Up VPG names where they exist)."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    num_iterations: int = param(100, help="policy updates in the whole run", low=1, high=100_000)
    num_envs: int = param(32, help="episodes per batch (one per environment copy)",
                          low=1, high=65_536)
    learning_rate: float = param(1e-2, help="Adam learning rate of the policy",
                                 low=1e-5, high=1.0, log=True)
    gamma: float = param(0.99, help="discount factor γ", low=0.0, high=1.0)
    baseline: bool = param(False, help="subtract a learned value V(s) from the return")
    vf_learning_rate: float = param(1e-2, help="Adam learning rate of the baseline V(s)",
                                    low=1e-5, high=1.0, log=True)
    norm_adv: bool = param(False, help="normalise the weights (G - b) per batch")
    hidden: int = param(64, help="hidden units per layer", low=4, high=1024)


def reinforce_loss(logp: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                   values: torch.Tensor | None = None, norm_adv: bool = False
                   ) -> dict[str, torch.Tensor]:
    """The REINFORCE surrogate over the valid steps of a batch.

        A_t = G_t - b(s_t)                    (b = V, or 0 without a baseline)
        loss_policy = -Σ_t m_t log π(a_t|s_t) A_t / Σ_t m_t
        loss_value  = ½ Σ_t m_t (V(s_t) - G_t)² / Σ_t m_t

    Its gradient is the policy-gradient estimate ``-ĝ``; the baseline enters only through the
    detached weights, so the estimate stays unbiased (Williams 1992; Sutton & Barto eq. 13.11).
    """
    m = mask.to(logp.dtype)
    n = m.sum().clamp_min(1.0)
    adv = returns if values is None else returns - values.detach()
    if norm_adv:
        mean = (adv * m).sum() / n
        std = (((adv - mean) ** 2 * m).sum() / n).sqrt()
        adv = (adv - mean) / (std + 1e-8)
    out = {"loss_policy": -(logp * adv * m).sum() / n, "advantages": adv}
    out["loss_value"] = (0.5 * ((values - returns) ** 2 * m).sum() / n if values is not None
                         else torch.zeros((), device=logp.device))
    out["loss"] = out["loss_policy"] + out["loss_value"]
    return out


class Reinforce(Algorithm):
    """REINFORCE with reward-to-go, with or without a learned baseline."""

    config: ReinforceConfig
    state_parts = ("agent", "optimizer", "generator", "tracker")

    def __init__(self, config: ReinforceConfig, env: BatchedEnv | str = "CartPole-v1",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        self.env = batched_env(self.config, env, self.device)
        c = self.config
        self.agent = ActorCritic(self.env.obs_dim, self.env.action_dim, self.env.is_discrete,
                                 c.hidden, critic=c.baseline).to(self.device)
        groups = [{"params": [p for n, p in self.agent.named_parameters()
                              if not n.startswith("critic")], "lr": c.learning_rate}]
        if c.baseline:
            groups.append({"params": self.agent.critic.parameters(), "lr": c.vf_learning_rate})
        self.optimizer = torch.optim.Adam(groups)
        self.tracker = EpisodeTracker(c.num_envs, self.device)

    def play_episodes(self) -> tuple[Rollout, torch.Tensor, torch.Tensor]:
        """One episode per copy: ``(rollout, mask of its valid steps, reward-to-go)``."""
        obs = self.env.reset()
        rollout, _ = collect(self.env, self.agent, obs, self.env.max_episode_steps,
                             self.generator, until_all_done=True)
        mask = first_episode_mask(rollout.dones)
        returns = discounted_returns(rollout.rewards * mask, rollout.dones, self.config.gamma)
        return rollout, mask, returns

    def losses(self, rollout: Rollout, mask: torch.Tensor, returns: torch.Tensor
               ) -> dict[str, torch.Tensor]:
        logp, entropy = self.agent.evaluate(rollout.obs, rollout.actions)
        values = self.agent.value(rollout.obs) if self.config.baseline else None
        terms = reinforce_loss(logp, returns, mask, values, self.config.norm_adv)
        terms["entropy"] = (entropy * mask).sum() / mask.sum()
        return terms

    def step(self) -> dict[str, Any]:
        # --- ROLLOUT ---
        rollout, mask, returns = self.play_episodes()
        self.tracker.update(rollout, valid=mask)
        self.global_step += int(mask.sum())
        self.iteration += 1
        # --- LOSS ---
        terms = self.losses(rollout, mask, returns)
        # --- UPDATE ---
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizer.step()
        # --- LOGGING (plumbing) ---
        return {**self.tracker.metrics(),
                "losses/policy_loss": float(terms["loss_policy"].detach()),
                "losses/value_loss": float(terms["loss_value"].detach()),
                "losses/entropy": float(terms["entropy"].detach()),
                "loss": float(terms["loss"].detach()),
                "advantages": terms["advantages"][mask].detach()}


def gradient_variance(algo: Reinforce, batches: int = 16) -> dict[str, float]:
    """Measure the spread of the policy-gradient estimate with and without the baseline.

    Plays ``batches`` independent batches with the current policy and computes, on the same
    episodes, the estimate ``ĝ`` weighted by ``G_t`` and by ``G_t - V(s_t)``. Returns the total
    variance ``E‖ĝ - E ĝ‖²`` of each and the squared norm of their mean (the signal). Needs
    ``baseline=True`` (a critic to subtract).
    """
    if not algo.config.baseline:
        raise ValueError("gradient_variance needs a Reinforce built with baseline=True")
    actor = [p for n, p in algo.agent.named_parameters() if not n.startswith("critic")]
    grads: dict[str, list[torch.Tensor]] = {"no_baseline": [], "baseline": []}
    for _ in range(batches):
        rollout, mask, returns = algo.play_episodes()
        logp, _ = algo.agent.evaluate(rollout.obs, rollout.actions)
        with torch.no_grad():
            values = algo.agent.value(rollout.obs)
        for name, v in (("no_baseline", None), ("baseline", values)):
            loss = reinforce_loss(logp, returns, mask, v)["loss_policy"]
            g = torch.autograd.grad(loss, actor, retain_graph=True)
            grads[name].append(torch.cat([x.flatten() for x in g]))
    out = {}
    for name, gs in grads.items():
        stack = torch.stack(gs)
        out[f"variance/{name}"] = float(((stack - stack.mean(0)) ** 2).sum(1).mean())
        out[f"signal/{name}"] = float((stack.mean(0) ** 2).sum())
    return out
