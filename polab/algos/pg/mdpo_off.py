"""Off-policy MDPO: SAC whose actor loss adds a KL proximity term to a lagging copy ``π_k``.

Tomar, Shani, Efroni, Ghavamzadeh 2020 (https://arxiv.org/abs/2005.09814); reference code
``mdpo_off/mdpo.py`` in github.com/manantomar/Mirror-Descent-Policy-Optimization. The card:
../shared/cards/20_mdpo.md.

Each mirror-descent iteration k fits ``π_θ`` to the soft-greedy policy of the current critic
while staying close to ``π_k``; after ``copy_every`` gradient steps ``π_k ← π_θ``:

    actor loss = E_{s~D, ã~π_θ}[(1/t_k)(log π_θ(ã|s) - log π_k(ã|s)) + λ log π_θ(ã|s) - Q(s, ã)]

The first term is a one-sample estimate of ``(1/t_k) KL(π_θ(·|s) ‖ π_k(·|s))``; with
``1/t_k = 0`` the loss is SAC's actor loss, which is the paper's point: SAC is close to
mirror descent. ``log π_k`` is evaluated at the reparameterised action sampled from
``π_θ`` — not at the buffer's action — and the gradient flows through that action into both
log-probabilities (the card, pitfall 4); the tanh log-det-Jacobian cancels in the log-ratio.

What this version keeps and changes relative to the reference code:

1. The code writes the loss as ``c log π_θ + (λ - c) log π_k - Q`` with ``c = λ + 1/t_k``
   (``klcoeff`` = c); here ``kl_coef`` is ``1/t_k`` itself. The README's setting
   ``klcoeff = 1.0, lam = 0.2`` is ``kl_coef = 0.8, alpha = 0.2``, the defaults here. The
   value target's entropy weight is λ there too (``v_backup = min_qf_pi - lamda * logp_pi``),
   i.e. ``alpha``, not c.
2. ``1/t_k`` is constant, as in the code (its annealing is commented out there).
3. ``copy_every`` counts gradient steps (the code counts environment steps, one gradient step
   each). Everything else is :class:`~polab.algos.pg.sac.SAC` (see its docstring for what it
   changes relative to stable-baselines' SAC).

Taught in notebooks/02_variance_and_trust_regions.ipynb.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from polab.algos.pg.sac import SAC, SACConfig
from polab.config import param
from polab.core.continuous import squashed_gaussian_logp
from polab.core.replay import Transitions
from polab.envs.base import BatchedEnv


@dataclass(frozen=True)
class MDPOOffConfig(SACConfig):
    """SAC's knobs plus the mirror-descent step: the KL weight and how often ``π_k`` moves."""

    kl_coef: float = param(0.8, help="KL weight 1/t_k (0 = SAC)", low=0.0, high=100.0,
                           paper="Tomar et al. 2020")
    copy_every: int = param(100, help="gradient steps per mirror-descent iteration "
                            "(then π_k ← π_θ)", low=1, high=100_000)


def mdpo_actor_loss(logp_pi: torch.Tensor, old_logp_pi: torch.Tensor, q_pi: torch.Tensor,
                    alpha: float, kl_coef: float) -> dict[str, torch.Tensor]:
    """``mean((1/t)(log π_θ(ã|s) - log π_k(ã|s)) + λ log π_θ(ã|s) - Q(s, ã))``, ``ã ~ π_θ``
    reparameterised (Tomar et al. 2020, off-policy MDPO; ``mdpo_off/mdpo.py``: ``policy_kl_loss``).

    ``kl`` is the one-sample estimate of ``KL(π_θ ‖ π_k)`` that the loss weights by ``1/t``.
    """
    log_ratio = logp_pi - old_logp_pi
    loss = (kl_coef * log_ratio + alpha * logp_pi - q_pi).mean()
    return {"loss": loss, "loss_policy": loss, "kl": log_ratio.mean().detach(),
            "entropy": -logp_pi.mean().detach()}


class MDPOOff(SAC):
    """Off-policy MDPO: :class:`~polab.algos.pg.sac.SAC` with :func:`mdpo_actor_loss` and a frozen
    copy ``π_k`` of the actor, refreshed every ``copy_every`` gradient steps."""

    config: MDPOOffConfig
    state_parts = (*SAC.state_parts, "old_actor")

    def __init__(self, config: MDPOOffConfig, env: BatchedEnv | str = "Pendulum-v1",
                 device: str | torch.device | None = None):
        super().__init__(config, env, device)
        self.old_actor = copy.deepcopy(self.actor).requires_grad_(False)

    def actor_loss(self, obs: torch.Tensor, u: torch.Tensor, logp_pi: torch.Tensor,
                   q_pi: torch.Tensor) -> dict[str, torch.Tensor]:
        mean_k, log_std_k = self.old_actor.distribution(obs)
        old_logp = squashed_gaussian_logp(mean_k, log_std_k, u, self.old_actor.scale)
        return mdpo_actor_loss(logp_pi, old_logp, q_pi, self.config.alpha, self.config.kl_coef)

    def update(self, batch: Transitions) -> dict[str, torch.Tensor]:
        terms = super().update(batch)
        if self.updates % self.config.copy_every == 0:  # the end of mirror-descent iteration k
            self.old_actor.load_state_dict(self.actor.state_dict())
        return terms

    def step(self) -> dict[str, Any]:
        return {**super().step(), "mdpo/kl_coef": self.config.kl_coef}
