"""Networks and pure functions for continuous actions, shared by every off-policy learner
(SAC and off-policy MDPO in ``pg``; the robust and offline families of chapter 11): the
tanh-squashed Gaussian policy, uniform warm-up actions, and twin Q-functions as one batched
ensemble.

Taught in notebooks/02_variance_and_trust_regions.ipynb (SAC).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from polab.core.distributions import gaussian_logp, gaussian_sample
from polab.core.networks import mlp

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


# --- squashed Gaussian (pure functions) -----------------------------------------------------


def squash(u: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The environment action ``a = bias + scale · tanh(u)``."""
    return bias + scale * torch.tanh(u)


def squashed_gaussian_logp(mean: torch.Tensor, log_std: torch.Tensor, u: torch.Tensor,
                           scale: torch.Tensor) -> torch.Tensor:
    """``log π(a|s)`` of ``a = bias + scale·tanh(u)``, ``u ~ N(mean, σ²)`` (Haarnoja et al.
    2018, appendix C): ``log N(u) - Σ_i log(scale_i (1 - tanh² u_i))``, with the stable
    ``log(1 - tanh² u) = 2 (log 2 - u - softplus(-2u))``."""
    log_det = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u)) + torch.log(scale)
    return gaussian_logp(mean, log_std, u) - log_det.sum(-1)


# --- NETWORKS -------------------------------------------------------------------------------


class SquashedGaussianActor(nn.Module):
    """``u ~ N(μ(s), σ(s)²)``, ``a = bias + scale · tanh(u)`` in the env's action box; usable
    by :func:`~polab.core.rollout.collect` (``discrete``, ``act``)."""

    discrete = False

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, low: torch.Tensor,
                 high: torch.Tensor):
        super().__init__()
        self.net = mlp([obs_dim, hidden, hidden, 2 * action_dim], out_gain=0.01,
                       activation=nn.ReLU)
        self.register_buffer("scale", (high - low) / 2)
        self.register_buffer("bias", (high + low) / 2)

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, log σ)`` of the pre-squash Gaussian, ``log σ`` squashed into
        ``[LOG_STD_MIN, LOG_STD_MAX]`` (CleanRL)."""
        mean, raw = self.net(obs).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(raw) + 1)
        return mean, log_std

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A reparameterised sample: ``(action, log π(action|obs), u)``."""
        mean, log_std = self.distribution(obs)
        u = gaussian_sample(mean, log_std, generator)
        return squash(u, self.scale, self.bias), squashed_gaussian_logp(mean, log_std, u,
                                                                        self.scale), u

    def act(self, obs: torch.Tensor, generator: torch.Generator | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        action, logp, _ = self.sample(obs, generator)
        return action, logp


class UniformPolicy:
    """Uniform random actions in the box ``[low, high]`` (SAC's warm-up), for ``collect``."""

    discrete = False

    def __init__(self, low: torch.Tensor, high: torch.Tensor):
        self.low, self.high = low, high

    def act(self, obs: torch.Tensor, generator: torch.Generator | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand((obs.shape[0], *self.low.shape), generator=generator, device=obs.device)
        logp = -torch.log(self.high - self.low).sum().expand(obs.shape[0])
        return self.low + (self.high - self.low) * u, logp


class EnsembleLinear(nn.Module):
    """``n`` independent linear layers applied as one batched matmul: ``(n, B, in) → (n, B, out)``
    (the twin Q-functions cost one network's kernel launches instead of two)."""

    def __init__(self, n: int, in_features: int, out_features: int, gain: float):
        super().__init__()
        weight = torch.empty(n, out_features, in_features)
        for i in range(n):  # CleanRL's orthogonal init, per member
            nn.init.orthogonal_(weight[i], gain)
        self.weight = nn.Parameter(weight.transpose(1, 2).contiguous())
        self.bias = nn.Parameter(torch.zeros(n, 1, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class TwinQ(nn.Module):
    """``(Q_1(s, a), Q_2(s, a))`` as a two-member ensemble MLP: a ``(2, B)`` tensor."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int):
        super().__init__()
        sizes = [obs_dim + action_dim, hidden, hidden, 1]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            last = i == len(sizes) - 2
            layers += [EnsembleLinear(2, a, b, 1.0 if last else math.sqrt(2))]
            layers += [] if last else [nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, actions], -1)
        return self.net(x.expand(2, *x.shape)).squeeze(-1)
