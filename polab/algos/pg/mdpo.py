"""MDPO — Mirror Descent Policy Optimization, on-policy (Tomar, Shani, Efroni, Ghavamzadeh).

Paper: https://arxiv.org/abs/2005.09814 (ICLR 2022). Reference code:
github.com/manantomar/Mirror-Descent-Policy-Optimization, ``mdpo_on/mdpo.py`` (TensorFlow,
a stable-baselines fork). The card: ../shared/cards/20_mdpo.md.

Mirror descent on policies: iteration k maximises the linearised objective minus a KL
proximity term to the policy ``π_k`` that collected the data,

    L_k(θ) = E_{(s,a)~π_k}[π_θ(a|s)/π_k(a|s) · Â(s,a)] - (1/t_k) E_{s~π_k}[KL(π_θ(·|s) ‖ π_k(·|s))],

not to optimality but with ``m = sgd_steps`` full-batch gradient steps, ``π_k`` frozen; then
``π_{k+1} = π_θ``. The KL has ``π_θ`` first — the reverse of TRPO's constraint. The step size
``t_k = 1 - (k-1)/K`` anneals towards 0, so the weight ``1/t_k`` grows and late updates stay
close to their predecessor.

What this version keeps and changes relative to the reference code:

1. Same objective and KL direction (the KL in closed form for categorical and diagonal-Gaussian
   policies, as the code's ``proba_distribution.kl``); ``m`` full-batch Adam steps with
   gradient-norm clipping; then a separate critic fit (epochs of minibatches, clipped value
   loss); GAE with advantages standardised over the batch; learning rate annealed linearly.
2. ``t_k = 1 - (k-1)/K`` for ``k = 1..K`` (the card); the code's zero-based counter gives
   ``1 - (i-1)/K``, i.e. ``t = 1 + 1/K`` first. ``1/t_k`` is capped at ``max_kl_coef``
   (the card, pitfall 3), which also keeps a run continued past ``K`` iterations finite.
3. Rollouts, networks, GAE and truncation bootstrapping are PPO's: :class:`MDPO` subclasses
   :class:`~polab.algos.pg.ppo.PPO` and replaces only the update. One Adam holds actor and
   critic; their steps touch disjoint parameters, so this equals the code's two optimisers.
4. Defaults are tuned for CartPole-v1 on a laptop CPU (32 envs × 64 steps, lr 3e-3, 8 critic
   minibatches); the code's are MuJoCo's (1 env, 1024 steps, lr 3e-4, λ 0.98, minibatch 128).
5. The card's ablations: a constant ``t`` (``t_schedule="constant"``, weight ``kl_coef``) and
   the forward KL(π_k ‖ π_θ) (``kl_direction="forward"``, TRPO's direction).
6. Dropped: the Tsallis-entropy variant, and the code's ``entcoeff`` (it is not in its loss).

Taught in notebooks/02_variance_and_trust_regions.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from polab.algos.pg.ppo import PPO, OnPolicyConfig, explained_variance, value_loss
from polab.config import param
from polab.core.advantages import normalize
from polab.core.distributions import (
    categorical_entropy,
    categorical_kl,
    categorical_logp,
    gaussian_entropy,
    gaussian_kl,
    gaussian_logp,
)


@dataclass(frozen=True)
class MDPOConfig(OnPolicyConfig):
    """On-policy MDPO's knobs: PPO's rollout, GAE and annealing ones (``update_epochs`` and
    ``num_minibatches`` drive the critic fit; ``norm_adv`` standardises over the whole batch;
    ``max_grad_norm`` clips the policy steps), plus the mirror-descent step (the reference
    code's ``sgd_steps``, the card's schedule and ablations)."""

    learning_rate: float = param(3e-3, help="Adam learning rate (actor and critic)",
                                 low=1e-5, high=1e-1, log=True)
    update_epochs: int = param(3, help="critic epochs per rollout", low=1, high=100)
    num_minibatches: int = param(8, help="critic minibatches per epoch", low=1, high=1024)
    sgd_steps: int = param(5, help="m: full-batch gradient steps on L_k per iteration (m = 1 "
                           "is close to a single natural-gradient step)", low=1, high=50,
                           paper="Tomar et al. 2020")
    t_schedule: Literal["annealed", "constant"] = param(
        "annealed", help="step size t_k: annealed 1-(k-1)/K (KL weight 1/t_k grows) or constant",
        paper="Tomar et al. 2020")
    kl_coef: float = param(1.0, help="KL weight 1/t when t_schedule is constant",
                           low=0.01, high=100.0, log=True)
    max_kl_coef: float = param(100.0, help="cap on the KL weight 1/t_k (t_k → 0 at the end)",
                               low=1.0, high=10_000.0, log=True)
    kl_direction: Literal["reverse", "forward"] = param(
        "reverse", help="reverse KL(π_θ‖π_k) as MDPO, or forward KL(π_k‖π_θ) as TRPO (ablation)")
    clip_range_vf: float = param(0.2, help="value-loss clipping range (0 = off)", low=0.0,
                                 high=10.0)


# --- LOSS (pure functions) ------------------------------------------------------------------


def mdpo_kl_coef(iteration: int, num_iterations: int,
                 t_schedule: Literal["annealed", "constant"] = "annealed",
                 kl_coef: float = 1.0, max_kl_coef: float = 100.0) -> float:
    """The KL weight ``1/t_k`` of iteration ``k = iteration + 1``: annealed,
    ``t_k = 1 - (k-1)/K`` (the card; the reference code), or the constant ``kl_coef``;
    capped at ``max_kl_coef``."""
    if t_schedule == "constant":
        return min(kl_coef, max_kl_coef)
    t_k = 1.0 - iteration / num_iterations
    return max_kl_coef if t_k * max_kl_coef <= 1.0 else 1.0 / t_k


def policy_kl(discrete: bool, out_p: torch.Tensor, log_std_p: torch.Tensor | None,
              out_q: torch.Tensor, log_std_q: torch.Tensor | None) -> torch.Tensor:
    """Per-state ``KL(p ‖ q)`` of two policies given by their actor outputs (logits, or means
    with a log-std)."""
    if discrete:
        return categorical_kl(out_p, out_q)
    return gaussian_kl(out_p, log_std_p, out_q, log_std_q)


def mdpo_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
              kl: torch.Tensor, kl_coef: float) -> dict[str, torch.Tensor]:
    """``-L_k(θ)`` on a batch (Tomar et al. 2020; ``surrgain`` in ``mdpo_on/mdpo.py``):

        r = exp(log π_θ - log π_k)
        loss = -mean(r Â) + (1/t_k) mean(KL)

    ``kl`` holds the per-state proximity term (``KL(π_θ ‖ π_k)`` in MDPO). Also returns the
    diagnostic ``approx_kl = mean((r-1) - log r)`` (the k3 estimator PPO logs).
    """
    log_ratio = new_logp - old_logp
    ratio = log_ratio.exp()
    loss_policy = -(ratio * advantages).mean()
    loss_kl = kl.mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
    return {"loss": loss_policy + kl_coef * loss_kl, "loss_policy": loss_policy,
            "loss_kl": loss_kl, "approx_kl": approx_kl}


# --- ALGORITHM ------------------------------------------------------------------------------


class MDPO(PPO):
    """On-policy MDPO on a batched env: ``step()`` = one rollout (PPO's), ``sgd_steps``
    full-batch steps on ``-L_k``, then the critic fit."""

    config: MDPOConfig

    def policy(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The actor's output (logits or means) and log-std on ``obs``, with gradients."""
        return self.agent.actor(obs), self.agent.log_std

    def step(self) -> dict[str, Any]:
        c, agent = self.config, self.agent
        frac = self.decay_fraction() if c.anneal_lr else 1.0
        self.optimizer.param_groups[0]["lr"] = frac * c.learning_rate
        kl_coef = mdpo_kl_coef(self.iteration, c.num_iterations, c.t_schedule, c.kl_coef,
                               c.max_kl_coef)

        # --- ROLLOUT (π_k) + ADVANTAGES ---
        b_obs, b_actions, b_logp, b_adv, b_values, b_returns = self.collect_batch()
        adv = normalize(b_adv) if c.norm_adv else b_adv
        with torch.no_grad():
            old_out, old_log_std = self.policy(b_obs)
            old_log_std = None if old_log_std is None else old_log_std.clone()

        # --- POLICY: m full-batch steps on -L_k, π_k frozen ---
        for _ in range(c.sgd_steps):
            terms = self.loss_terms(b_obs, b_actions, b_logp, adv, old_out, old_log_std, kl_coef)
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(agent.parameters(), c.max_grad_norm)
            self.optimizer.step()

        # --- CRITIC: epochs of minibatches on the clipped value loss ---
        value_losses = []
        for _epoch in range(c.update_epochs):
            perm = torch.randperm(c.batch_size, device=self.device, generator=self.generator)
            for mb in perm.view(c.num_minibatches, c.minibatch_size):
                loss_v = value_loss(agent.value(b_obs[mb]), b_values[mb], b_returns[mb],
                                    c.clip_range_vf or None)
                self.optimizer.zero_grad(set_to_none=True)
                loss_v.backward()
                self.optimizer.step()
                value_losses.append(loss_v.detach())

        # --- LOGGING (plumbing): how far π_{k+1} moved from π_k ---
        with torch.no_grad():
            after = self.loss_terms(b_obs, b_actions, b_logp, adv, old_out, old_log_std,
                                    kl_coef, direction="reverse")
        return {**self.tracker.metrics(),
                "charts/learning_rate": self.optimizer.param_groups[0]["lr"],
                "mdpo/kl_coef": kl_coef,
                "losses/policy_loss": float(terms["loss_policy"].detach()),
                "losses/kl_loss": float(terms["loss_kl"].detach()),
                "losses/kl": float(after["loss_kl"]),
                "losses/approx_kl": float(after["approx_kl"]),
                "losses/value_loss": float(torch.stack(value_losses).mean()),
                "losses/entropy": float(after["entropy"]),
                **explained_variance(b_values, b_returns),
                "loss": float(terms["loss"].detach()),
                "advantages": b_adv}

    def loss_terms(self, obs: torch.Tensor, actions: torch.Tensor, old_logp: torch.Tensor,
                   advantages: torch.Tensor, old_out: torch.Tensor,
                   old_log_std: torch.Tensor | None, kl_coef: float,
                   direction: str | None = None) -> dict[str, torch.Tensor]:
        """:func:`mdpo_loss` of the current policy against the frozen ``π_k``, plus its mean
        entropy; ``direction`` overrides the config's KL direction (for logging)."""
        out, log_std = self.policy(obs)
        discrete = self.agent.discrete
        if discrete:
            new_logp, entropy = categorical_logp(out, actions), categorical_entropy(out)
        else:
            new_logp = gaussian_logp(out, log_std, actions)
            entropy = gaussian_entropy(log_std, out.shape[:-1])
        if (direction or self.config.kl_direction) == "reverse":
            kl = policy_kl(discrete, out, log_std, old_out, old_log_std)
        else:
            kl = policy_kl(discrete, old_out, old_log_std, out, log_std)
        return {**mdpo_loss(new_logp, old_logp, advantages, kl, kl_coef),
                "entropy": entropy.mean()}
