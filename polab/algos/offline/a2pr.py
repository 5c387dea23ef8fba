"""A2PR — Adaptive Advantage-Guided Policy Regularization (Liu, Li, Lan, Gao, Pan, Xu, ICML
2024, arXiv 2405.19909; card 26, "Core update" as in the authors' ``A2PR.py``).

TD3+BC (:mod:`polab.algos.offline.td3_bc`) plus a value net and an advantage-filtered VAE;
the actor is pulled toward the better of the data action and the VAE's reconstruction of its
own action, and only where that has a non-negative advantage:

    value    y_V = min(r + γ(1−d) min_k Q_k(s', a'), y),  L_V = mean (V(s) − y_V)²   (step 2)
    VAE      L = mean(w · 1[Q1(s,a) − V(s) > ε] · ||â − a||²) + ½ KL(N(μ, σ) || N(0, I))  (3)
    actor    a_vae = VAE(s, π(s)),  A_x = Q1(s, x) − V(s)
             target = a_vae if A_vae ≥ A_data else a
             m = mask_coef · (1[A_vae ≥ 0] + 1[A_data > 0])      ∈ {0, 1, 2} · mask_coef
             L = −λ mean Q1(s, π(s)) + mean(m · ||π(s) − target||²),  λ = α / mean|Q1|  (4)

No gradient is stopped through ``a_vae`` (as in the code). Variants: ``use_vae_target=False``
keeps the data action as the target (advantage-filtered BC regularisation); with
``advantage_mask=False`` too (``m = mask_coef`` everywhere) it is TD3+BC exactly.
Differences from the code: 2×64 networks, a few thousand steps (CPU), ε = ``adv_threshold``
× mean|V| (the card's widget; the code's threshold is 0, the default here).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from polab.algos.offline.td3_bc import TD3BC, TD3BCConfig, regularised_actor_loss
from polab.config import param
from polab.core.networks import mlp
from polab.core.replay import Transitions


class VAE(nn.Module):
    """BCQ's conditional VAE (used by A2PR): encoder ``(s, a) → N(μ, σ)`` over a latent of
    ``2·|A|`` dims, decoder ``(s, z) → bias + scale · tanh(·)``; ``log σ`` clipped to
    ``[−4, 15]``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, scale: torch.Tensor,
                 bias: torch.Tensor):
        super().__init__()
        self.latent = 2 * act_dim
        self.encoder = mlp([obs_dim + act_dim, hidden, hidden, 2 * self.latent], 1.0, nn.ReLU)
        self.decoder = mlp([obs_dim + self.latent, hidden, hidden, act_dim], 1.0, nn.ReLU)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", bias)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor,
                generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The reconstruction of ``actions`` (a reparameterised latent sample), ``μ``, ``σ``."""
        mean, log_std = self.encoder(torch.cat((obs, actions), -1)).chunk(2, -1)
        std = log_std.clamp(-4, 15).exp()
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        return self.decode(obs, mean + std * eps), mean, std

    def decode(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.bias + self.scale * torch.tanh(self.decoder(torch.cat((obs, z), -1)))

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """A free sample: latent ``N(0, I)`` clipped to ±0.5 (BCQ), decoded."""
        z = torch.randn((len(obs), self.latent), generator=generator, device=obs.device)
        return self.decode(obs, z.clamp(-0.5, 0.5))


def value_target(q_current_next: torch.Tensor, rewards: torch.Tensor,
                 terminated: torch.Tensor, gamma: float, y: torch.Tensor) -> torch.Tensor:
    """Card 26 step 2: ``min(r + γ(1−d) min_k Q_k(s', a'), y)`` (current- and target-critic
    backups, element-wise); ``q_current_next`` is ``min_k Q_k(s', a')`` of the current
    critic."""
    current = rewards + gamma * (~terminated).to(rewards.dtype) * q_current_next
    return torch.minimum(current, y)


def vae_loss(recon: torch.Tensor, actions: torch.Tensor, mean: torch.Tensor,
             std: torch.Tensor, good: torch.Tensor, weight: float) -> dict[str, torch.Tensor]:
    """Card 26 step 3: ``mean(w · 1[good] · ||â − a||²) + ½ KL(N(μ, σ) || N(0, I))`` (the
    squared error averaged over action dims, the KL over latent dims, as BCQ)."""
    recon_term = (weight * good.to(recon.dtype)[:, None] * (recon - actions) ** 2).mean()
    kl = (-0.5 * (1 + torch.log(std**2) - mean**2 - std**2)).mean()
    return {"loss": recon_term + 0.5 * kl, "recon": recon_term.detach(), "kl": kl.detach()}


def a2pr_target_and_mask(actions: torch.Tensor, a_vae: torch.Tensor, q_data: torch.Tensor,
                         q_vae: torch.Tensor, v: torch.Tensor, mask_coef: float,
                         use_vae_target: bool = True, advantage_mask: bool = True
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Card 26 step 4: the actor's BC target, the weight ``m`` and whether the VAE target
    was chosen (per sample). ``target = a_vae`` where ``A_vae ≥ A_data`` else ``a``;
    ``m = mask_coef · (1[Q1(s, a_vae) ≥ V] + 1[Q1(s, a) > V])`` — a sum, 0, 1 or 2.
    ``use_vae_target=False``: target ``a``, ``m = mask_coef · 1[Q1(s, a) > V]``;
    ``advantage_mask=False``: ``m = mask_coef`` everywhere."""
    adv_data, adv_vae = q_data - v, q_vae - v
    chose_vae = (adv_vae >= adv_data) if use_vae_target else torch.zeros_like(adv_data,
                                                                               dtype=torch.bool)
    target = torch.where(chose_vae[:, None], a_vae, actions)
    count = (adv_data > 0).to(actions.dtype)
    if use_vae_target:
        count = count + (adv_vae >= 0).to(actions.dtype)
    m = mask_coef * (count if advantage_mask else torch.ones_like(count))
    return target, m, chose_vae


@dataclass(frozen=True)
class A2PRConfig(TD3BCConfig):
    """A2PR's knobs (card 26's widgets) on top of TD3+BC's."""

    mask_coef: float = param(1.0, help="BC weight per advantage-positive indicator (m ∈ "
                             "{0, 1, 2}·mask_coef)", low=0.0, high=2.0, paper="Liu et al. 2024")
    vae_weight: float = param(1.0, help="weight w of the advantage-filtered reconstruction",
                              low=0.0, high=2.0, paper="Liu et al. 2024")
    vae_learning_rate: float = param(1e-3, help="Adam learning rate of the VAE", low=1e-5,
                                     high=1e-1, log=True, paper="Liu et al. 2024 (code)")
    adv_threshold: float = param(0.0, help="ε_A of the VAE's filter, × mean|V|", low=-0.5,
                                 high=0.5)
    use_vae_target: bool = param(True, help="off: the target is always the data action "
                                 "(advantage-filtered BC)")
    advantage_mask: bool = param(True, help="off: m = mask_coef on every sample (with "
                                 "use_vae_target off: TD3+BC)")


class A2PR(TD3BC):
    """A2PR: TD3+BC with a value net, an advantage-filtered VAE and the adaptive BC target."""

    config: A2PRConfig
    state_parts = (*TD3BC.state_parts, "v", "vae", "value_optimizer", "vae_optimizer")

    def build(self) -> None:
        super().build()
        c = self.config
        self.v = mlp([self.obs_dim, c.hidden, c.hidden, 1], 1.0, nn.ReLU).to(self.device)
        self.vae = VAE(self.obs_dim, self.act_dim, c.hidden, self.act_scale,
                       self.act_bias).to(self.device)
        self.value_optimizer = torch.optim.Adam(self.v.parameters(), lr=c.learning_rate)
        self.vae_optimizer = torch.optim.Adam(self.vae.parameters(), lr=c.vae_learning_rate)

    @property
    def agent(self) -> nn.ModuleList:
        return nn.ModuleList([self.actor, self.q, self.v, self.vae])

    def extra_updates(self, batch: Transitions, y: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        # --- VALUE NET on the min of two backups (step 2) ---
        with torch.no_grad():
            next_action = torch.max(torch.min(
                self.actor_target(batch.next_obs) + self.smoothing_noise(batch.actions.shape),
                self.high), self.low)
            q_next = self.q(batch.next_obs, next_action).min(0).values
            y_v = value_target(q_next, batch.rewards, batch.terminated, c.gamma, y)
        v = self.v(batch.obs).squeeze(-1)
        value_loss = ((v - y_v) ** 2).mean()
        self.value_optimizer.zero_grad(set_to_none=True)
        value_loss.backward()
        self.value_optimizer.step()
        # --- ADVANTAGE-FILTERED VAE (step 3) ---
        with torch.no_grad():
            v_now = self.v(batch.obs).squeeze(-1)
            good = self.q(batch.obs, batch.actions)[0] - v_now > c.adv_threshold * v_now.abs(
            ).mean()
        recon, mean, std = self.vae(batch.obs, batch.actions, self.generator)
        terms = vae_loss(recon, batch.actions, mean, std, good, c.vae_weight)
        self.vae_optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.vae_optimizer.step()
        return {"value_loss": value_loss.detach(), "vae_loss": terms["loss"].detach(),
                "vae_good_share": good.float().mean()}

    def actor_loss(self, batch: Transitions, pi: torch.Tensor, q_pi: torch.Tensor
                   ) -> dict[str, torch.Tensor]:
        """Step 4: the BC target and weight from :func:`a2pr_target_and_mask`."""
        c = self.config
        a_vae = self.vae(batch.obs, pi, self.generator)[0]  # gradient flows (as in the code)
        with torch.no_grad():
            v = self.v(batch.obs).squeeze(-1)
            q_data = self.q(batch.obs, batch.actions)[0]
            q_vae = self.q(batch.obs, a_vae)[0]
        target, m, chose_vae = a2pr_target_and_mask(batch.actions, a_vae, q_data, q_vae, v,
                                                    c.mask_coef, c.use_vae_target,
                                                    c.advantage_mask)
        terms = regularised_actor_loss(q_pi, pi, target, m, c.alpha)
        level = (m / c.mask_coef).round() if c.mask_coef > 0 else torch.zeros_like(m)
        return {**terms, "vae_target_share": chose_vae.float().mean(),
                **{f"mask_{k}": (level == k).float().mean() for k in range(3)}}
