"""A contextual bandit with 64 arms per context: ScaleRL's smoke testbed (card 24, miniature).

Each context ("prompt") is a feature vector ``x ∈ R^dim``; one of ``n_arms`` arms is correct
(reward 1, else 0), the argmax of a fixed random linear teacher ``W* x`` — except for a share
``noise`` of the contexts whose correct arm is a fixed random one, which no policy of the
features can predict on held-out contexts: the validation ceiling is about
``1 - noise + noise / n_arms``, below 1, as a sigmoid's ``A``. Each arm's answer is
``arm_lengths[a] ∈ [1, max_len]`` tokens long (the first token picks the arm, the rest
follow deterministically), so losses aggregated per sample, per prompt or per token differ
as they do on a language model; answers are ≤ 5 tokens by default (no forced interruption
is needed).

Two fixed splits drawn from ``seed``: ``train_size`` training contexts (the prompt pool that
no-positive-resampling prunes) and ``eval_size`` held-out ones (the validation pass rate; never
trained on). Everything is batched: ``reward(context_ids, arms)`` reads tensors, no loop over
samples. Taught in notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import torch


class ContextualBandit:
    """The testbed (module docstring); tensors live on ``device``."""

    name = "bandit"

    def __init__(self, n_arms: int = 64, dim: int = 8, train_size: int = 4096,
                 eval_size: int = 2048, noise: float = 0.2, max_len: int = 5, seed: int = 0,
                 device: str | torch.device = "cpu"):
        checks = [("n_arms", n_arms, 2 <= n_arms <= 4096), ("dim", dim, 1 <= dim <= 1024),
                  ("train_size", train_size, train_size >= 1),
                  ("eval_size", eval_size, eval_size >= 1),
                  ("noise", noise, 0.0 <= noise <= 1.0), ("max_len", max_len, max_len >= 1)]
        for field, value, ok in checks:
            if not ok:
                raise ValueError(f"ContextualBandit {field}={value!r} is out of range")
        self.n_arms, self.dim, self.max_len, self.noise = n_arms, dim, max_len, noise
        g = torch.Generator().manual_seed(seed)
        teacher = torch.randn(n_arms, dim, generator=g)
        self.arm_lengths = torch.randint(1, max_len + 1, (n_arms,), generator=g).to(device)

        def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.randn(n, dim, generator=g)
            best = (x @ teacher.T).argmax(-1)
            noisy = torch.rand(n, generator=g) < noise
            best = torch.where(noisy, torch.randint(0, n_arms, (n,), generator=g), best)
            return x.to(device), best.to(device)

        self.train_x, self.train_best = split(train_size)
        self.eval_x, self.eval_best = split(eval_size)

    @property
    def ceiling(self) -> float:
        """The expected held-out pass rate of the teacher's argmax (the best any policy of the
        features can do in expectation): ``1 - noise + noise / n_arms``."""
        return 1.0 - self.noise + self.noise / self.n_arms

    def reward(self, context_ids: torch.Tensor, arms: torch.Tensor) -> torch.Tensor:
        """``(B,)`` 1.0 where ``arms`` is the correct arm of training context ``context_ids``."""
        return (arms == self.train_best[context_ids]).float()

    def lengths(self, arms: torch.Tensor) -> torch.Tensor:
        """``(B,)`` answer lengths in tokens."""
        return self.arm_lengths[arms]
