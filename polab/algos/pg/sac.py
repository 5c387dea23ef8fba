"""SAC — Soft Actor-Critic (Haarnoja, Zhou, Abbeel, Levine 2018), the off-policy reference.

Paper: https://arxiv.org/abs/1801.01290. This is the form off-policy MDPO builds on
(``mdpo_off/mdpo.py`` in github.com/manantomar/Mirror-Descent-Policy-Optimization, itself
stable-baselines' SAC): a tanh-squashed Gaussian actor, twin Q-functions, a state-value
function ``V`` with a Polyak-averaged target, a fixed entropy weight ``alpha`` (λ in MDPO):

    Q targets   y_Q = r + γ (1 - terminated) V_target(s')
    V target    y_V = min_i Q_i(s, ã) - α log π(ã|s),            ã ~ π(·|s)
    actor       min E_{s~D, ã~π_θ}[α log π_θ(ã|s) - min_i Q_i(s, ã)]   (reparameterised)

What this version keeps and changes:

1. Kept: the losses above, one Adam learning rate for all networks, Polyak τ = 0.005,
   uniform random actions for the first ``learning_starts`` steps, the log-det-Jacobian
   correction of the tanh squashing (../shared/cards/20_mdpo.md, pitfall 5).
2. Changed: the actor loss takes ``min(Q1, Q2)``, as the paper does (section 4.2: "the
   minimum of the Q-functions for the value gradient in Equation 6 and policy gradient in
   Equation 13"; CleanRL and SB3 too) where stable-baselines' SAC and the MDPO code take
   ``Q1``; rollouts sample from the stochastic policy (the MDPO code
   explores with the deterministic action); polab's batched envs collect ``num_steps`` steps
   of ``num_envs`` copies per iteration, then ``utd_ratio`` gradient steps per transition
   (``num_steps = num_envs = 1`` is the classic interleaving); a truncated episode
   bootstraps (only ``terminated`` stops it).
3. Dropped: learned ``alpha`` (SAC v2; commented out in the MDPO code too) and MDPO's small
   mean/log-std regularisers.
4. Defaults are sized for Pendulum-v1 on a laptop CPU: 64 hidden units, batches of 64, lr
   1e-3, 500 warm-up steps (the paper: 256 units, batches of 256, lr 3e-4; the MDPO code: 10k
   warm-up steps). With lr 3e-4 and these networks the return had not improved after 6k
   steps (measured, seed 0); with 1e-3 it reaches ≈ -250 by 8k.
5. Against CleanRL's ``sac_continuous_action.py`` (SAC v2, "Soft Actor-Critic Algorithms and
   Applications", Haarnoja et al. 2018b): CleanRL has no ``V``; its Q target is
   ``r + γ(1 - d)(min_j Q'_j(s', a') - α log π(a'|s'))``, a' ~ π(·|s'), with Polyak target
   Q-networks. Here that bracket is ``V_target(s')``, fitted to the same
   ``E[min Q - α log π]``: same fixed point, v1's extra network instead of sampling a'.
   CleanRL also tunes α (loss ``-α (log π + H_target)``, ``H_target = -dim A``; on by
   default), uses two learning rates (policy 3e-4, Q 1e-3), delays the actor (every 2nd step,
   twice), and regresses with ``mse`` where the paper and the MDPO code take ``½ mse``. Its
   log-det is ``log(scale (1 - tanh² u) + 1e-6)``; here it is exact and stable (no ε),
   which differs only where ``tanh`` nearly saturates (|u| ≳ 6; from |u| ≈ 9 float32 rounds
   ``tanh u`` to 1 and CleanRL's correction is capped at ``log 1e-6``).
6. The twin Q-functions are one two-member ensemble (batched matmuls), and actor and critics
   take their gradient step together from the same parameters, with one fused Adam: the
   actor's loss sees Q through detached parameters, so each loss moves only its own networks.
   On a 2-core CPU this cut an update from 5.2 to 3.0 ms. The networks live in
   :mod:`polab.core.continuous`, shared with chapter 11's robust and offline learners.

:class:`SAC` keeps its actor objective in :meth:`SAC.actor_loss` so that off-policy MDPO
(polab.algos.pg.mdpo_off) changes only that. Taught in
notebooks/02_variance_and_trust_regions.ipynb.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from polab.config import param
from polab.core.algorithm import Algorithm
from polab.core.continuous import SquashedGaussianActor, TwinQ, UniformPolicy
from polab.core.networks import mlp
from polab.core.replay import ReplayBuffer, Transitions
from polab.core.rollout import EpisodeTracker, RolloutConfig, batched_env, collect
from polab.envs.base import BatchedEnv


@dataclass(frozen=True)
class SACConfig(RolloutConfig):
    """SAC's knobs, with CleanRL's names (``alpha``, ``tau``, ``buffer_size``, ...): the batched
    rollout's (smaller defaults), then the replay buffer's and the soft updates'."""

    total_timesteps: int = param(15_000, help="environment steps in the whole run", low=1,
                                 high=100_000_000)
    learning_rate: float = param(1e-3, help="Adam learning rate (all networks)", low=1e-5,
                                 high=1e-1, log=True)
    num_envs: int = param(4, help="environment copies stepped in parallel", low=1, high=65_536)
    num_steps: int = param(25, help="steps per copy per iteration (then the gradient steps)",
                           low=1, high=10_000)
    utd_ratio: float = param(1.0, help="gradient steps per environment transition "
                             "(update-to-data ratio)", low=0.01, high=20.0)
    buffer_size: int = param(100_000, help="replay buffer capacity (transitions)", low=1,
                             high=10_000_000)
    learning_starts: int = param(500, help="env steps of uniform random actions before "
                                 "learning", low=0, high=1_000_000)
    batch_size: int = param(64, help="transitions per gradient step", low=1, high=4096)
    tau: float = param(0.005, help="Polyak rate of the target value network", low=0.0,
                       high=1.0)
    alpha: float = param(0.2, help="entropy weight α (λ in MDPO)", low=0.0, high=1.0,
                         paper="Haarnoja et al. 2018")

    @property
    def gradient_steps(self) -> int:
        """Gradient steps per iteration."""
        return max(1, round(self.utd_ratio * self.batch_steps))

    @property
    def num_iterations(self) -> int:
        return max(1, math.ceil(self.total_timesteps / self.batch_steps))


# --- LOSSES (pure functions) ----------------------------------------------------------------


def sac_critic_loss(q1: torch.Tensor, q2: torch.Tensor, v: torch.Tensor, rewards: torch.Tensor,
                    terminated: torch.Tensor, next_v_target: torch.Tensor,
                    min_q_pi: torch.Tensor, logp_pi: torch.Tensor, gamma: float,
                    alpha: float) -> dict[str, torch.Tensor]:
    """Soft Q and V regression (Haarnoja et al. 2018, eqs. 5-8):

        y_Q = r + γ (1 - terminated) V_target(s'),  L_Qi = ½ mean((Q_i - y_Q)²)
        y_V = min Q(s, ã) - α log π(ã|s),           L_V  = ½ mean((V - y_V)²)

    The targets carry no gradient.
    """
    q_target = (rewards + gamma * (~terminated).to(rewards.dtype) * next_v_target).detach()
    v_target = (min_q_pi - alpha * logp_pi).detach()
    loss_q1 = 0.5 * ((q1 - q_target) ** 2).mean()
    loss_q2 = 0.5 * ((q2 - q_target) ** 2).mean()
    loss_v = 0.5 * ((v - v_target) ** 2).mean()
    return {"loss": loss_q1 + loss_q2 + loss_v, "loss_q1": loss_q1, "loss_q2": loss_q2,
            "loss_v": loss_v}


def sac_actor_loss(logp_pi: torch.Tensor, q_pi: torch.Tensor,
                   alpha: float) -> dict[str, torch.Tensor]:
    """``mean(α log π_θ(ã|s) - Q(s, ã))`` with ``ã`` reparameterised (Haarnoja et al. 2018,
    eq. 12)."""
    loss = (alpha * logp_pi - q_pi).mean()
    return {"loss": loss, "loss_policy": loss, "entropy": -logp_pi.mean().detach()}


# --- ALGORITHM ------------------------------------------------------------------------------


class SAC(Algorithm):
    """SAC on a batched continuous-action env: ``step()`` = ``num_steps`` env steps into the
    replay buffer, then ``gradient_steps`` updates (each: actor and critics, Polyak target)."""

    config: SACConfig
    state_parts = ("agent", "v_target", "optimizer", "buffer", "generator", "obs", "tracker",
                   "updates")

    def __init__(self, config: SACConfig, env: BatchedEnv | str = "Pendulum-v1",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        self.env = batched_env(self.config, env, self.device)
        c = self.config
        if self.env.is_discrete:
            raise ValueError(f"{type(self).__name__} needs continuous actions; "
                             f"{self.env.name} has discrete ones")
        space = self.env.single_action_space
        low, high = (torch.as_tensor(b, dtype=torch.float32, device=self.device)
                     for b in (space.low, space.high))
        obs_dim, act_dim = self.env.obs_dim, self.env.action_dim
        self.actor = SquashedGaussianActor(obs_dim, act_dim, c.hidden, low, high).to(self.device)
        self.q = TwinQ(obs_dim, act_dim, c.hidden).to(self.device)
        self.v = mlp([obs_dim, c.hidden, c.hidden, 1], out_gain=1.0,
                     activation=nn.ReLU).to(self.device)
        self.v_target = copy.deepcopy(self.v).requires_grad_(False)
        # one Adam for all: actor and critic losses touch disjoint parameters
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=c.learning_rate,
                                          fused=self.device.type in ("cpu", "cuda"))
        self.buffer = ReplayBuffer(min(c.buffer_size, c.total_timesteps), obs_dim, act_dim,
                                   self.device)
        self.warmup = UniformPolicy(low, high)
        self.tracker = EpisodeTracker(c.num_envs, self.device, window=4 * c.num_envs)
        self.obs = self.env.reset(seed=c.seed)
        self.updates = 0

    @property
    def agent(self) -> nn.ModuleList:
        """Every trained network."""
        return nn.ModuleList([self.actor, self.q, self.v])

    def step(self) -> dict[str, Any]:
        c = self.config
        # --- ROLLOUT into the replay buffer ---
        policy = self.warmup if self.global_step < c.learning_starts else self.actor
        rollout, self.obs = collect(self.env, policy, self.obs, c.num_steps, self.generator)
        self.buffer.add_rollout(rollout)
        self.tracker.update(rollout)
        self.global_step += c.batch_steps
        self.iteration += 1

        # --- UPDATES ---
        stats: dict[str, list[torch.Tensor]] = {}
        if self.global_step >= c.learning_starts and len(self.buffer) >= c.batch_size:
            for _ in range(c.gradient_steps):
                for k, v in self.update(self.buffer.sample(c.batch_size, self.generator)).items():
                    stats.setdefault(k, []).append(v)

        # --- LOGGING (plumbing) ---
        means = {k: float(torch.stack(v).mean()) for k, v in stats.items()}
        return {**self.tracker.metrics(), "charts/updates": float(self.updates),
                **{f"losses/{k}": v for k, v in means.items()}}

    def update(self, batch: Transitions) -> dict[str, torch.Tensor]:
        """One gradient step of actor and critics from the same parameters (as one
        ``sess.run`` of the MDPO code), then the Polyak average; the detached loss terms."""
        c = self.config
        # --- ACTOR LOSS: ã ~ π_θ reparameterised, through Q with its parameters held fixed ---
        action_pi, logp_pi, u = self.actor.sample(batch.obs, self.generator)
        fixed_q = {name: p.detach() for name, p in self.q.named_parameters()}
        q_pi = functional_call(self.q, fixed_q, (batch.obs, action_pi)).min(0).values
        actor_terms = self.actor_loss(batch.obs, u, logp_pi, q_pi)

        # --- CRITIC LOSS ---
        with torch.no_grad():
            next_v = self.v_target(batch.next_obs).squeeze(-1)
        q1, q2 = self.q(batch.obs, batch.actions)
        critic_terms = sac_critic_loss(q1, q2, self.v(batch.obs).squeeze(-1), batch.rewards,
                                       batch.terminated, next_v, q_pi, logp_pi, c.gamma,
                                       c.alpha)

        # --- UPDATE ---
        self.optimizer.zero_grad(set_to_none=True)
        (actor_terms["loss"] + critic_terms["loss"]).backward()
        self.optimizer.step()
        with torch.no_grad():  # Polyak-averaged target value network
            for target, source in zip(self.v_target.parameters(), self.v.parameters(),
                                      strict=True):
                target.lerp_(source, c.tau)
        self.updates += 1
        return {"actor_loss": actor_terms["loss_policy"].detach(),
                **{k: v.detach() for k, v in actor_terms.items()
                   if k not in ("loss", "loss_policy")},
                "qf1_loss": critic_terms["loss_q1"].detach(),
                "qf2_loss": critic_terms["loss_q2"].detach(),
                "value_loss": critic_terms["loss_v"].detach(),
                "qf1_values": q1.mean().detach()}

    def actor_loss(self, obs: torch.Tensor, u: torch.Tensor, logp_pi: torch.Tensor,
                   q_pi: torch.Tensor) -> dict[str, torch.Tensor]:
        """SAC's actor objective (off-policy MDPO overrides this); ``u`` is the pre-squash
        sample of the action."""
        return sac_actor_loss(logp_pi, q_pi, self.config.alpha)
