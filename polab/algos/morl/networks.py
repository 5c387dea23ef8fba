"""``P`` policies as one network: stacked MLP weights ``(P, in, out)``, one ``baddbmm`` per
layer, so the whole population of C-MORL (Liu et al., ICLR 2025; ../shared/cards/04_cmorl.md)
acts, learns and is evaluated together, never one policy after another.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from polab.core.distributions import (
    categorical_entropy,
    categorical_logp,
    categorical_sample,
    gaussian_entropy,
    gaussian_logp,
    gaussian_sample,
)


class StackedMLP(nn.Module):
    """``P`` independent MLPs with weights ``(P, in, out)``: ``forward((P, B, in)) -> (P, B, out)``
    by one ``baddbmm`` per layer; CleanRL's orthogonal init for every member."""

    def __init__(self, members: int, sizes: list[int], out_gain: float,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            w = torch.empty(members, a, b)
            gain = out_gain if i == len(sizes) - 2 else math.sqrt(2)
            for m in range(members):  # initialisation only
                nn.init.orthogonal_(w[m], gain, generator=generator)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(members, 1, b)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.tanh(x)
        return x


class StackedActorCritic(nn.Module):
    """``P`` actor-critics: categorical or diagonal-Gaussian actors and *vector* critics
    ``V(s) ∈ R^K``. Tensors are member-major: observations ``(P, B, obs_dim)``."""

    def __init__(self, members: int, obs_dim: int, action_dim: int, discrete: bool,
                 reward_dim: int, hidden: int, generator: torch.Generator | None = None):
        super().__init__()
        self.members, self.discrete = members, discrete
        self.actor = StackedMLP(members, [obs_dim, hidden, hidden, action_dim], 0.01, generator)
        self.critic = StackedMLP(members, [obs_dim, hidden, hidden, reward_dim], 1.0, generator)
        self.log_std = None if discrete else nn.Parameter(torch.zeros(members, 1, action_dim))

    def values(self, obs: torch.Tensor) -> torch.Tensor:
        """``(P, B, K)`` vector values."""
        return self.critic(obs)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None,
            deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.actor(obs)
        if self.discrete:
            actions = out.argmax(-1) if deterministic else categorical_sample(out, generator)
            return actions, categorical_logp(out, actions)
        log_std = self.log_std.expand_as(out)
        actions = out if deterministic else gaussian_sample(out, log_std, generator)
        return actions, gaussian_logp(out, log_std, actions)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor,
                 out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log π(a|s), entropy)``, each ``(P, B)``, with gradients (``out``: the actor's
        output on ``obs`` if already computed)."""
        out = self.actor(obs) if out is None else out
        if self.discrete:
            return categorical_logp(out, actions), categorical_entropy(out)
        log_std = self.log_std.expand_as(out)
        return gaussian_logp(out, log_std, actions), gaussian_entropy(log_std, out.shape[:-1])

    def member(self, index: int) -> dict[str, torch.Tensor]:
        """One member's weights (clones), for storing it in a population."""
        return {k: v[index].detach().clone() for k, v in self.state_dict().items()}

    def load_members(self, members: list[dict[str, torch.Tensor]]) -> None:
        """Overwrite the ``P`` members with stored ones (``len(members) == P``)."""
        self.load_state_dict({k: torch.stack([m[k] for m in members])
                              for k in self.state_dict()})


def clip_grad_norm_per_member(params: list[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clip each member's gradient (the slices ``[m]`` of every stacked parameter) to norm
    ``max_norm`` separately — ``clip_grad_norm_`` of ``P`` independent networks. Returns the
    ``(P,)`` norms before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    sq = sum(g.pow(2).flatten(1).sum(1) for g in grads)
    norms = sq.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
    return norms
