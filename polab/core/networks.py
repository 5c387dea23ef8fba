"""Networks shared by the on-policy algorithms: CleanRL's MLP actor and critic (tanh,
orthogonal init), a categorical or diagonal-Gaussian policy.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from polab.core.distributions import (
    categorical_logp,
    categorical_logp_entropy,
    categorical_sample,
    gaussian_entropy,
    gaussian_logp,
    gaussian_sample,
)


def mlp(sizes: list[int], out_gain: float, activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """An MLP with CleanRL's orthogonal init (gain √2 inside, ``out_gain`` on the last layer)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = nn.Linear(a, b)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers += [linear] if last else [linear, activation()]
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs; a categorical or a diagonal-Gaussian policy."""

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, hidden: int = 64,
                 critic: bool = True):
        super().__init__()
        self.discrete = discrete
        self.actor = mlp([obs_dim, hidden, hidden, action_dim], out_gain=0.01)
        self.critic = mlp([obs_dim, hidden, hidden, 1], out_gain=1.0) if critic else None
        self.log_std = None if discrete else nn.Parameter(torch.zeros(action_dim))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        if self.critic is None:
            raise RuntimeError("this policy was built without a critic")
        return self.critic(obs).squeeze(-1)

    def act(self, obs: torch.Tensor, generator: torch.Generator | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample actions and return ``(actions, log π(actions|obs))``."""
        out = self.actor(obs)
        if self.discrete:
            actions = categorical_sample(out, generator)
            return actions, categorical_logp(out, actions)
        actions = gaussian_sample(out, self.log_std, generator)
        return actions, gaussian_logp(out, self.log_std, actions)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log π(actions|obs), entropy)`` with gradients, for the update."""
        out = self.actor(obs)
        if self.discrete:
            return categorical_logp_entropy(out, actions)
        entropy = gaussian_entropy(self.log_std, out.shape[:-1])
        return gaussian_logp(out, self.log_std, actions), entropy
