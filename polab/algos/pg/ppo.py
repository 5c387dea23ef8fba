"""PPO — Proximal Policy Optimization with the clipped surrogate (Schulman et al. 2017).

Paper: https://arxiv.org/abs/1707.06347. Reference implementation whose knob names and
defaults polab keeps: CleanRL's ``ppo.py`` / ``ppo_continuous_action.py``.

What this version keeps and changes, relative to CleanRL:

1. Same loss (clipped surrogate, optionally clipped value loss, entropy bonus), GAE, advantage
   normalisation per minibatch, Adam with ε=1e-5, gradient clipping, optional target-KL
   early stop and learning-rate annealing.
2. Environments are polab's batched torch envs (``polab.envs``), stepped on the same device
   as the networks; truncated episodes bootstrap from ``V(final_obs)`` (the README's
   "Environments": ``terminated`` and ``truncated`` kept apart), which CleanRL's ``ppo.py``
   treats as terminal.
3. Defaults are tuned for wall-clock on CartPole-v1 on a 2-core CPU: 32 envs × 64 steps
   (batch 2048, 4 minibatches of 512, 4 epochs), learning rate 1e-2 annealed to 0 over
   200k steps, and no value-loss clipping. Clipping ``V`` to ±``clip_coef`` of its old
   value per update throttles a critic whose targets are in the tens to hundreds (CartPole's
   returns); Andrychowicz et al. 2021 found it does not help or hurts. Together they reach a
   mean return of 475 after a median 37k env steps (33-68k over seeds 1-20) instead of ~100k
   (32-162k over seeds 1-10) at lr 2.5e-3 with value clipping (benchmarks/results/
   ppo_cartpole.txt and ppo_cartpole_before.txt). CleanRL's defaults (4 envs, 128 steps, lr 2.5e-4,
   value clipping on) are one ``replace`` away, see ``CLEANRL_CARTPOLE``.
4. The update is written for a CPU, where each PyTorch op costs microseconds: fused Adam,
   foreach gradient clipping, one gather per tensor and epoch, one ``log_softmax`` for
   log-probability and entropy, and one host sync for the logged means.

Taught in notebooks/01_policy_gradients.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import starmap
from typing import Any, NamedTuple

import torch

from polab.config import param
from polab.core.advantages import gae, normalize
from polab.core.algorithm import Algorithm
from polab.core.losses import clipped_surrogate
from polab.core.networks import ActorCritic
from polab.core.optim import fast_adam
from polab.core.rollout import EpisodeTracker, Rollout, RolloutConfig, batched_env, collect
from polab.envs.base import BatchedEnv


@dataclass(frozen=True)
class OnPolicyConfig(RolloutConfig):
    """What PPO and on-policy MDPO share: a rollout of ``num_envs × num_steps`` steps per
    iteration, GAE, ``update_epochs`` passes of ``num_minibatches`` minibatches, a learning
    rate annealed over ``num_iterations = total_timesteps // batch_size`` iterations."""

    anneal_lr: bool = param(True, help="decay the learning rate linearly to 0")
    gae_lambda: float = param(0.95, help="GAE λ: 0 = one-step TD, 1 = Monte Carlo",
                              low=0.0, high=1.0)
    num_minibatches: int = param(4, help="minibatches per epoch", low=1, high=1024)
    update_epochs: int = param(4, help="passes over each rollout", low=1, high=100)
    norm_adv: bool = param(True, help="standardise the advantages (PPO: per minibatch)")
    max_grad_norm: float = param(0.5, help="gradient clipping norm", low=0.0, high=100.0)

    @property
    def batch_size(self) -> int:
        """CleanRL's name for the rollout size ``num_envs × num_steps``."""
        return self.batch_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self) -> int:
        return max(1, self.total_timesteps // self.batch_size)

    def rules(self) -> list[tuple[bool, str]]:
        return [(self.batch_size % self.num_minibatches == 0,
                 f"num_minibatches={self.num_minibatches} must divide the batch "
                 f"num_envs*num_steps={self.batch_size}")]


@dataclass(frozen=True)
class PPOConfig(OnPolicyConfig):
    """PPO's knobs, with CleanRL's names: the on-policy ones plus the clipped surrogate's.

    Two defaults differ from the on-policy ones for speed on CartPole-v1 (module docstring,
    item 3): ``learning_rate=1e-2`` (annealed) and ``clip_vloss=False``."""

    learning_rate: float = param(1e-2, help="Adam learning rate (annealed with anneal_lr)",
                                 low=1e-5, high=1e-1, log=True)
    clip_coef: float = param(0.2, help="surrogate clipping ε", low=0.0, high=1.0,
                             paper="Schulman et al. 2017, eq. 7")
    clip_vloss: bool = param(False, help="clip the value loss like the policy (CleanRL: on)",
                             paper="Andrychowicz et al. 2021, 'What matters in on-policy RL'")
    ent_coef: float = param(0.01, help="entropy bonus weight", low=0.0, high=1.0)
    vf_coef: float = param(0.5, help="value loss weight", low=0.0, high=10.0)
    target_kl: float = param(0.0, help="stop an update when approx-KL exceeds this (0 = off)",
                             low=0.0, high=1.0)


CLEANRL_CARTPOLE = PPOConfig(total_timesteps=500_000, learning_rate=2.5e-4, num_envs=4,
                             num_steps=128, clip_vloss=True)
"""CleanRL's ``ppo.py`` defaults for CartPole-v1, for comparison."""


def ppo_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
             new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
             entropy: torch.Tensor, clip_coef: float, clip_vloss: bool = True,
             ent_coef: float = 0.0, vf_coef: float = 0.5) -> dict[str, torch.Tensor]:
    """PPO's loss on a minibatch (Schulman et al. 2017, eqs. 7 and 9), as CleanRL computes it.

        r = exp(log π_new - log π_old)
        L_clip = mean(max(-A r, -A clip(r, 1-ε, 1+ε)))
        L_V = ½ mean(max((V-R)², (V_old + clip(V-V_old, -ε, ε) - R)²))   (clip_vloss)
        loss = L_clip - c_ent mean(H) + c_vf L_V

    Also returns the diagnostics ``approx_kl`` (``mean((r-1) - log r)``, the k3 estimator),
    ``old_approx_kl`` (``mean(-log r)``) and ``clipfrac`` (share of |r-1| > ε).
    """
    log_ratio = new_logp - old_logp
    ratio = log_ratio.exp()
    loss_policy = -clipped_surrogate(ratio, advantages, clip_coef)
    loss_value = value_loss(new_values, old_values, returns, clip_coef if clip_vloss else None)
    loss_entropy = entropy.mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        old_approx_kl = (-log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > clip_coef).float().mean()
    return {"loss": loss_policy - ent_coef * loss_entropy + vf_coef * loss_value,
            "loss_policy": loss_policy, "loss_value": loss_value, "loss_entropy": loss_entropy,
            "approx_kl": approx_kl, "old_approx_kl": old_approx_kl, "clipfrac": clipfrac}


def value_loss(new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               clip_coef: float | None) -> torch.Tensor:
    """PPO's value loss ``½ mean(max((V-R)², (V_old + clip(V-V_old, -ε, ε) - R)²))``; with
    ``clip_coef=None`` the plain ``½ mean((V-R)²)``. Shared with MDPO (polab.algos.pg.mdpo)."""
    if clip_coef is None:
        return 0.5 * ((new_values - returns) ** 2).mean()
    v_clipped = old_values + (new_values - old_values).clamp(-clip_coef, clip_coef)
    return 0.5 * torch.max((new_values - returns) ** 2, (v_clipped - returns) ** 2).mean()


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """``{"losses/explained_variance": 1 - Var(target - pred) / Var(target)}``: 1 is a perfect
    critic, ≤ 0 a useless one; empty when ``Var(target) = 0`` (undefined)."""
    var = target.var(unbiased=False)
    if var == 0:
        return {}
    return {"losses/explained_variance": float(1 - (target - pred).var(unbiased=False) / var)}


class Batch(NamedTuple):
    """A rollout flattened over time and copies, with its GAE targets."""

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    advantages: torch.Tensor
    values: torch.Tensor
    returns: torch.Tensor


class PPO(Algorithm):
    """PPO on a batched environment: ``step()`` = one rollout + ``update_epochs`` epochs."""

    config: PPOConfig
    state_parts = ("agent", "optimizer", "generator", "obs", "tracker")

    def __init__(self, config: OnPolicyConfig, env: BatchedEnv | str = "CartPole-v1",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        self.env = batched_env(self.config, env, self.device)
        c = self.config
        self.agent = ActorCritic(self.env.obs_dim, self.env.action_dim, self.env.is_discrete,
                                 c.hidden).to(self.device)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=c.learning_rate, eps=1e-5,
                                          **fast_adam(self.device))
        self.tracker = EpisodeTracker(c.num_envs, self.device)
        self.obs = self.env.reset(seed=c.seed)

    def step(self) -> dict[str, Any]:
        c, agent = self.config, self.agent
        if c.anneal_lr:
            self.optimizer.param_groups[0]["lr"] = self.decay_fraction() * c.learning_rate

        # --- ROLLOUT + ADVANTAGES ---
        batch = self.collect_batch()

        # --- UPDATE ---
        params = list(agent.parameters())
        stats: dict[str, list[torch.Tensor]] = {}
        for _epoch in range(c.update_epochs):
            perm = torch.randperm(c.batch_size, device=self.device, generator=self.generator)
            # one gather per tensor and epoch; the minibatches are then contiguous slices
            for mb in starmap(Batch, zip(*(x[perm].split(c.minibatch_size) for x in batch),
                                         strict=True)):
                new_logp, entropy = agent.evaluate(mb.obs, mb.actions)
                adv = mb.advantages
                if c.norm_adv and c.minibatch_size > 1:
                    adv = normalize(adv)
                terms = ppo_loss(new_logp, mb.logp, adv, agent.value(mb.obs), mb.values,
                                 mb.returns, entropy, c.clip_coef, c.clip_vloss, c.ent_coef,
                                 c.vf_coef)
                self.optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                torch.nn.utils.clip_grad_norm_(params, c.max_grad_norm, foreach=True)
                self.optimizer.step()
                for k, v in terms.items():
                    stats.setdefault(k, []).append(v.detach())
            # the only host sync inside the update, and only with target_kl on: whether to stop
            if c.target_kl and terms["approx_kl"] > c.target_kl:
                break

        # --- LOGGING (plumbing) ---
        # one host sync for all the means (each float() of a device tensor is one)
        means = dict(zip(stats, torch.stack([torch.stack(v).mean() for v in stats.values()])
                         .tolist(), strict=True))
        return {**self.tracker.metrics(),
                "charts/learning_rate": self.optimizer.param_groups[0]["lr"],
                "losses/policy_loss": means["loss_policy"],
                "losses/value_loss": means["loss_value"],
                "losses/entropy": means["loss_entropy"],
                "losses/approx_kl": means["approx_kl"],
                "losses/old_approx_kl": means["old_approx_kl"],
                "losses/clipfrac": means["clipfrac"],
                **explained_variance(batch.values, batch.returns),
                "loss": means["loss"],
                "advantages": batch.advantages}

    def collect_batch(self) -> Batch:
        """Play ``num_steps`` steps in every copy and return the flattened batch with its GAE
        advantages (counting the steps and the iteration)."""
        rollout, self.obs = collect(self.env, self.agent, self.obs, self.config.num_steps,
                                    self.generator)
        self.tracker.update(rollout)
        self.global_step += self.config.batch_size
        self.iteration += 1
        values, advantages, returns = self.advantages(rollout, self.obs)
        return Batch(rollout.obs.flatten(0, 1), rollout.actions.flatten(0, 1),
                     rollout.logp.flatten(), advantages.flatten(), values.flatten(),
                     returns.flatten())

    @torch.no_grad()
    def advantages(self, rollout: Rollout, next_obs: torch.Tensor,
                   gae_lambda: float | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(values, advantages, returns)`` of a rollout by GAE; a truncated step bootstraps
        from ``V(final_obs)``, the last step from ``V(next_obs)``."""
        c, agent = self.config, self.agent
        values = agent.value(rollout.obs)
        next_values = torch.cat([values[1:], agent.value(next_obs)[None]])
        trunc = rollout.truncated
        next_values[trunc] = agent.value(rollout.final_obs[trunc])
        advantages, returns = gae(rollout.rewards, values, next_values, rollout.terminated,
                                  trunc, c.gamma,
                                  c.gae_lambda if gae_lambda is None else gae_lambda)
        return values, advantages, returns
