"""TD3+BC (Fujimoto & Gu 2021, "A Minimalist Approach to Offline Reinforcement Learning"):
TD3 with a behaviour-cloning term in the actor and normalised states,

    critic   y = r + γ (1 − d) min_k Q'_k(s', clip(π'(s') + clip(N(0, σ²), ±c), box))
    actor    min  −λ mean Q1(s, π(s)) + mean ||π(s) − a||²,   λ = α / mean|Q1(s, π(s))|

(λ detached), the actor and the Polyak targets every ``policy_freq`` critic steps. TD3's
defaults (σ = 0.2, c = 0.5, delay 2, τ = 0.005), α = 2.5; CORL's 2×256 nets shrink to 2×64
and 1M steps to a few thousand (a CPU's budget). The actor loss is
:func:`regularised_actor_loss`, whose per-sample target and weight A2PR changes
(:mod:`polab.algos.offline.a2pr`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from polab.algos.offline.base import OfflineAlgorithm, OfflineConfig
from polab.config import param
from polab.core.continuous import TwinQ
from polab.core.replay import Transitions


def regularised_actor_loss(q_pi: torch.Tensor, pi: torch.Tensor, target: torch.Tensor,
                           weight: torch.Tensor | float, alpha: float
                           ) -> dict[str, torch.Tensor]:
    """``−λ mean Q(s, π(s)) + mean(m · ||π(s) − target||²)``, ``λ = α / mean|Q|`` detached
    (Fujimoto & Gu 2021, eq. 3 with ``m = 1``, ``target = a``; card 26 step 4 in general);
    the squared error is averaged over action dimensions too (``F.mse_loss``)."""
    lam = alpha / q_pi.abs().mean().detach()
    weight = torch.as_tensor(weight, dtype=pi.dtype, device=pi.device)
    weight = weight[:, None] if weight.dim() == 1 else weight
    bc = (weight * (pi - target) ** 2).mean()
    q_term = -lam * q_pi.mean()
    return {"loss": q_term + bc, "q_term": q_term.detach(), "bc_term": bc.detach(),
            "lambda": lam}


def td3_target(q_target: TwinQ, actor_target: torch.nn.Module, batch: Transitions,
               gamma: float, noise: torch.Tensor, low: torch.Tensor, high: torch.Tensor
               ) -> torch.Tensor:
    """TD3's clipped double-Q target with target-policy smoothing (``noise`` already
    clipped): ``r + γ (1 − d) min_k Q'_k(s', clip(π'(s') + noise, box))``."""
    next_action = torch.max(torch.min(actor_target(batch.next_obs) + noise, high), low)
    next_q = q_target(batch.next_obs, next_action).min(0).values
    return batch.rewards + gamma * (~batch.terminated).to(batch.rewards.dtype) * next_q


@dataclass(frozen=True)
class TD3BCConfig(OfflineConfig):
    """TD3+BC's knobs on top of the offline loop's."""

    alpha: float = param(2.5, help="weight α of the Q term (λ = α / mean|Q|)", low=0.0,
                         high=100.0, paper="Fujimoto & Gu 2021")
    policy_noise: float = param(0.2, help="target-policy smoothing noise σ (× action scale)",
                                low=0.0, high=2.0, paper="Fujimoto et al. 2018")
    noise_clip: float = param(0.5, help="clip c of the smoothing noise (× action scale)",
                              low=0.0, high=2.0, paper="Fujimoto et al. 2018")
    policy_freq: int = param(2, help="critic steps per actor step (delayed updates)", low=1,
                             high=100, paper="Fujimoto et al. 2018")
    tau: float = param(0.005, help="Polyak rate of the target networks", low=0.0, high=1.0)


class TD3BC(OfflineAlgorithm):
    """TD3+BC; subclasses change :meth:`actor_terms` (the BC target and weight) and may add
    networks trained in :meth:`extra_updates`."""

    config: TD3BCConfig
    state_parts = ("actor", "actor_target", "q", "q_target", "actor_optimizer",
                   "critic_optimizer", "generator", "updates")

    def build(self) -> None:
        c = self.config
        self.actor = self.deterministic_actor()
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.q = TwinQ(self.obs_dim, self.act_dim, c.hidden).to(self.device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.learning_rate)
        self.critic_optimizer = torch.optim.Adam(self.q.parameters(), lr=c.learning_rate)
        self.low, self.high = self.act_bias - self.act_scale, self.act_bias + self.act_scale
        self.updates = 0

    @property
    def agent(self) -> torch.nn.ModuleList:
        return torch.nn.ModuleList([self.actor, self.q])

    def smoothing_noise(self, shape: torch.Size) -> torch.Tensor:
        """TD3's clipped Gaussian noise, in action units."""
        c = self.config
        noise = torch.randn(shape, generator=self.generator, device=self.device)
        return (noise * c.policy_noise).clamp(-c.noise_clip, c.noise_clip) * self.act_scale

    def update(self, batch: Transitions) -> dict[str, torch.Tensor]:
        c = self.config
        with torch.no_grad():
            y = td3_target(self.q_target, self.actor_target, batch, c.gamma,
                           self.smoothing_noise(batch.actions.shape), self.low, self.high)
        q = self.q(batch.obs, batch.actions)
        critic_loss = ((q - y) ** 2).sum(0).mean()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        out = {"critic_loss": critic_loss.detach(), "q_mean": q[0].mean().detach(),
               **self.extra_updates(batch, y)}
        self.updates += 1
        if self.updates % c.policy_freq == 0:
            pi = self.actor(batch.obs)
            q_pi = self.q(batch.obs, pi)[0]
            terms = self.actor_loss(batch, pi, q_pi)
            self.actor_optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            self.actor_optimizer.step()
            with torch.no_grad():
                for net, target in ((self.actor, self.actor_target), (self.q, self.q_target)):
                    for p_t, p in zip(target.parameters(), net.parameters(), strict=True):
                        p_t.lerp_(p, c.tau)
            out |= {("actor_loss" if k == "loss" else k): v.detach() for k, v in terms.items()}
        return out

    def extra_updates(self, batch: Transitions, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Further networks' steps after the critic's (A2PR: the value net and the VAE)."""
        return {}

    def actor_loss(self, batch: Transitions, pi: torch.Tensor, q_pi: torch.Tensor
                   ) -> dict[str, torch.Tensor]:
        """TD3+BC's: the BC target is the data action, weight 1 on every sample."""
        return regularised_actor_loss(q_pi, pi, batch.actions, 1.0, self.config.alpha)
