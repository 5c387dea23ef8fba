"""The value model of T-PPO and its synchronous baseline, and the pure math around it.

../shared/cards/08_tppo.md, "Core update": a copy of the base GPT with a scalar head on the
final hidden state gives ``V(s_t)`` for every prefix ``s_t = prompt + y_<t`` of a completion;
EGAE is ordinary GAE (``polab.core.advantages.gae``) on a possibly *cut* trajectory,
bootstrapped by ``V(s_t_end)`` at the cut; the critic regresses on Monte-Carlo returns
``G_t = R`` (γ = λ_critic = 1) of **finished** responses only.

Taught in notebooks/04_token_level_control.ipynb (T-PPO).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from polab.core.advantages import gae
from polab.lm.generate import Samples
from polab.lm.model import GPT


class ValueModel(nn.Module):
    """``V(s_t)``: a GPT trunk (copied from the policy's base) and a linear head on ``h``."""

    def __init__(self, base: GPT, init_value: float = 0.0):
        super().__init__()
        self.gpt = copy.deepcopy(base)
        self.head = nn.Linear(base.config.n_embd, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, init_value)

    def forward(self, samples: Samples) -> torch.Tensor:
        """``(B, N + 1)`` values ``V(s_0) … V(s_N)`` of a batch of completions: column ``t``
        reads the hidden state after ``prompt + t`` completion tokens (the one that predicts
        token ``t``), so ``V(s_n)`` of a row of length ``n`` is its bootstrap value."""
        P = samples.prompt_ids.shape[1]
        padded = not bool(samples.prompt_mask.all())
        _, h = self.gpt(samples.ids, samples.attention_mask if padded else None,
                        return_hidden=True)
        return self.head(h[:, P - 1:]).squeeze(-1)


def egae(values: torch.Tensor, rewards: torch.Tensor, lengths: torch.Tensor,
         terminal: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """EGAE (card 8, "Core update"): per-token GAE ``(B, T)`` on rows that may be cut.

    ``values`` ``(B, T + 1)`` are ``V(s_0) … V(s_T)``; row ``i`` has ``lengths[i]`` tokens.
    A ``terminal`` row gets its reward ``R`` on its last token and no bootstrap
    (``V(s_{EOS+1}) = 0``); a cut row gets no reward and bootstraps the last δ with
    ``V(s_t_end)``::

        δ_t = r_t + γ V(s_{t+1}) - V(s_t),   A_t = Σ_k (γλ)^k δ_{t+k}  (up to the end / cut)

    That is :func:`polab.core.advantages.gae` with ``terminated`` at a terminal row's last
    token and ``truncated`` at a cut row's. Returns ``(advantages, returns)``, 0 past the end.
    """
    T = values.shape[1] - 1
    t = torch.arange(T, device=values.device)[None, :]
    inside = t < lengths[:, None]
    last = t == (lengths - 1)[:, None]
    term = terminal[:, None]
    r = torch.where(last & term, rewards[:, None].to(values.dtype), 0.0)
    v = torch.where(inside, values[:, :T], 0.0)
    nv = torch.where(inside, values[:, 1:], 0.0)
    adv, ret = gae(r.T, v.T, nv.T, ((last & term) | ~inside).T, (last & ~term).T, gamma, lam)
    return adv.T, torch.where(inside, ret.T, 0.0)


def value_loss(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               finished: torch.Tensor) -> torch.Tensor:
    """Card 8's value loss ``0.5 (V(s_t) - G_t)^2``, token mean over the tokens of
    **finished** rows only: a cut row's return is unknown, so its tokens never reach the
    critic (pitfall 1). ``values`` ``(B, T)`` with gradient, ``returns`` ``(B,)`` (``G_t = R``,
    γ = 1) or ``(B, T)``; ``mask`` the rows' tokens."""
    keep = mask & finished[:, None]
    target = returns[:, None] if returns.dim() == 1 else returns
    err = torch.where(keep, values - target.to(values.dtype), 0.0)
    return 0.5 * (err ** 2).sum() / keep.sum().clamp(min=1)
