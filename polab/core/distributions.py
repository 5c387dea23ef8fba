"""Distributions as pure functions of logits / means (faster and more explicit than
``torch.distributions`` in a hot loop): sample, log-probability, entropy, KL.

Taught in notebooks/01_policy_gradients.ipynb.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def categorical_sample(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Sample ``a ~ softmax(logits)`` by the Gumbel-max trick (one op, seeded)."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return torch.argmax(logits - torch.log(-torch.log(u.clamp_min(1e-20))), dim=-1)


def categorical_logp(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``log π(a|s) = logits_a - logsumexp(logits)``."""
    return _pick(torch.log_softmax(logits, -1), actions)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``H = -Σ_a π(a) log π(a)``."""
    return _entropy(torch.log_softmax(logits, -1))


def categorical_logp_entropy(logits: torch.Tensor, actions: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log π(a|s), H)`` from one ``log_softmax``: ``categorical_logp`` and
    ``categorical_entropy`` together, for a loss that needs both."""
    logp = torch.log_softmax(logits, -1)
    return _pick(logp, actions), _entropy(logp)


def _pick(logp: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return logp.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def _entropy(logp: torch.Tensor) -> torch.Tensor:
    return -(logp.exp() * logp).sum(-1)


def gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor,
                    generator: torch.Generator | None) -> torch.Tensor:
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + log_std.exp() * noise


def gaussian_logp(mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian: ``Σ_i -(a_i-μ_i)²/(2σ_i²) - log σ_i - ½ log 2π``."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - 0.5 * LOG_2PI).sum(-1)


def gaussian_entropy(log_std: torch.Tensor, batch_shape: torch.Size) -> torch.Tensor:
    """``H = Σ_i (log σ_i + ½ log 2πe)``, broadcast to the batch."""
    return (log_std + 0.5 * (LOG_2PI + 1.0)).sum(-1).expand(batch_shape)


def categorical_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """``KL(p ‖ q) = Σ_a p(a) (log p(a) - log q(a))`` of two categoricals given by logits."""
    logp, logq = torch.log_softmax(logits_p, -1), torch.log_softmax(logits_q, -1)
    return (logp.exp() * (logp - logq)).sum(-1)


def gaussian_kl(mean_p: torch.Tensor, log_std_p: torch.Tensor, mean_q: torch.Tensor,
                log_std_q: torch.Tensor) -> torch.Tensor:
    """``KL(p ‖ q)`` of diagonal Gaussians:
    ``Σ_i log σ_q/σ_p + (σ_p² + (μ_p-μ_q)²) / (2σ_q²) - ½``."""
    var_ratio = torch.exp(2 * (log_std_p - log_std_q))
    z = (mean_p - mean_q) * torch.exp(-log_std_q)
    return (0.5 * (var_ratio + z * z - 1) - (log_std_p - log_std_q)).sum(-1)
