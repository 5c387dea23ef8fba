"""The SAC update CQL and H2O share: twin Q with Polyak target networks, a squashed-Gaussian
actor and automatic entropy tuning (SAC v2, Haarnoja et al. 2018b, as in CORL's ``cql.py``
and H2O's ``SimpleSAC/sim2real_sac.py``), on a given batch.

    y       = r + γ (1 − d) min_k Q̄_k(s', a'),  a' ~ π(·|s')      (no entropy in the backup)
    L_Q     = Σ_k mean_b w_b (Q_k(s_b, a_b) − y_b)²                (w = 1 unless given)
    L_π     = mean(α log π(ã|s) − min_k Q_k(s, ã))                (``polab.algos.pg.sac``)
    L_α     = −mean(log α · (log π(ã|s) + H̄)),  H̄ = −dim A

A learner adds its own critic penalty (CQL's, H2O's) to ``L_Q`` before :meth:`SACCore.step`.
The networks come from :mod:`polab.core.continuous`; :func:`evaluate` runs the deterministic
policy on a batched env (every copy one episode).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call

from polab.algos.pg.sac import sac_actor_loss
from polab.core.continuous import SquashedGaussianActor, TwinQ, squash
from polab.core.replay import Transitions
from polab.envs.base import BatchedEnv

# --- LOSSES (pure functions) ----------------------------------------------------------------


def td_target(rewards: torch.Tensor, terminated: torch.Tensor, next_q_min: torch.Tensor,
              gamma: float) -> torch.Tensor:
    """``y = r + γ (1 − d) min_k Q̄_k(s', a')`` (card 42, critic loss), without gradient."""
    return (rewards + gamma * (~terminated).to(rewards.dtype) * next_q_min).detach()


def weighted_td_loss(q: torch.Tensor, y: torch.Tensor,
                     weights: torch.Tensor | None = None) -> torch.Tensor:
    """``Σ_k mean_b w_b (Q_k − y_b)²`` over the ensemble ``q (K, B)``; ``w = 1`` by default
    (H2O weighs its sim rows by the clipped ratio, card 42)."""
    err = (q - y) ** 2
    if weights is not None:
        err = err * weights.detach()
    return err.mean(-1).sum()


def cql_penalty(q_sampled: torch.Tensor, log_density: torch.Tensor,
                q_data: torch.Tensor) -> torch.Tensor:
    """CQL(H) (Kumar et al. 2020, eq. 4): ``log ∫ exp Q(s, a) da − Q(s, a_data)``, the integral
    estimated by importance sampling from ``N`` sampled actions,
    ``log mean_i exp(Q(s, a_i) − log p(a_i))``, averaged over states and the ensemble.

    ``q_sampled (K, B, N)``, ``log_density (B, N)`` of the proposals, ``q_data (K, B)``."""
    n = q_sampled.shape[-1]
    lse = torch.logsumexp(q_sampled - log_density, dim=-1) - torch.log(
        torch.tensor(float(n), device=q_sampled.device))
    return (lse - q_data).mean(-1).sum()


def alpha_loss(log_alpha: torch.Tensor, logp: torch.Tensor,
               target_entropy: float) -> torch.Tensor:
    """SAC v2's temperature loss ``−mean(log α · (log π + H̄))`` (log π detached)."""
    return -(log_alpha * (logp.detach() + target_entropy)).mean()


# --- THE SHARED LEARNER ---------------------------------------------------------------------


class SACCore(nn.Module):
    """Actor, twin Q, target twin Q and ``log α``, with one Adam (each loss reaches only its
    own parameters): :meth:`losses` on a batch, then :meth:`step` on the summed loss."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, low: torch.Tensor,
                 high: torch.Tensor, learning_rate: float, gamma: float, tau: float):
        super().__init__()
        self.actor = SquashedGaussianActor(obs_dim, action_dim, hidden, low, high)
        self.q = TwinQ(obs_dim, action_dim, hidden)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.zeros(()))
        self.target_entropy = -float(action_dim)
        self.gamma, self.tau = gamma, tau
        self.optimizer = torch.optim.Adam([*self.actor.parameters(), *self.q.parameters(),
                                           self.log_alpha], lr=learning_rate)

    def losses(self, batch: Transitions, generator: torch.Generator | None,
               td_weights: torch.Tensor | None = None,
               reward_bonus: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``q (2, B)`` on the batch, the TD loss (``td_weights`` per row; ``reward_bonus``
        added to ``r``, DARC), the actor and temperature losses, and ``loss`` their sum."""
        alpha = self.log_alpha.exp().detach()
        action_pi, logp_pi, _ = self.actor.sample(batch.obs, generator)
        fixed_q = {name: p.detach() for name, p in self.q.named_parameters()}
        q_pi = functional_call(self.q, fixed_q, (batch.obs, action_pi)).min(0).values
        actor = sac_actor_loss(logp_pi, q_pi, alpha)  # type: ignore[arg-type]
        with torch.no_grad():
            next_action, _, _ = self.actor.sample(batch.next_obs, generator)
            next_q = self.q_target(batch.next_obs, next_action).min(0).values
        rewards = batch.rewards if reward_bonus is None else batch.rewards + reward_bonus
        y = td_target(rewards, batch.terminated, next_q, self.gamma)
        q = self.q(batch.obs, batch.actions)
        td = weighted_td_loss(q, y, td_weights)
        temp = alpha_loss(self.log_alpha, logp_pi, self.target_entropy)
        return {"loss": td + actor["loss"] + temp, "td_loss": td, "actor_loss": actor["loss"],
                "alpha_loss": temp, "q": q, "entropy": actor["entropy"], "alpha": alpha}

    def step(self, loss: torch.Tensor) -> None:
        """One Adam step on ``loss``, then the Polyak average of the target Q."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            for target, source in zip(self.q_target.parameters(), self.q.parameters(),
                                      strict=True):
                target.lerp_(source, self.tau)

    def policy_samples(self, obs: torch.Tensor, n: int, generator: torch.Generator | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` detached actions per state from π and their log-densities: ``(B, n, A)``,
        ``(B, n)`` (CQL's proposals)."""
        with torch.no_grad():
            rep = obs.repeat_interleave(n, 0)
            action, logp, _ = self.actor.sample(rep, generator)
        return action.view(len(obs), n, -1), logp.view(len(obs), n)

    def q_many(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``Q_k(s_b, a_{b,i})`` for ``actions (B, N, A)``: ``(2, B, N)``."""
        b, n, _ = actions.shape
        return self.q(obs.repeat_interleave(n, 0), actions.flatten(0, 1)).view(2, b, n)


@torch.no_grad()
def evaluate(actor: SquashedGaussianActor, env: BatchedEnv, seed: int) -> torch.Tensor:
    """One episode per copy of ``env`` with the deterministic action ``bias + scale·tanh μ``:
    the ``(N,)`` undiscounted returns (batched; stops when every copy has ended once)."""
    obs = env.reset(seed)
    total = torch.zeros(env.num_envs, device=obs.device)
    alive = torch.ones(env.num_envs, dtype=torch.bool, device=obs.device)
    while bool(alive.any()):
        mean, _ = actor.distribution(obs)
        obs, reward, terminated, truncated, _ = env.step(squash(mean, actor.scale, actor.bias))
        total += reward * alive
        alive &= ~(terminated | truncated)
    return total
