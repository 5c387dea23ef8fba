"""SPO's persistent per-prompt value tracker: α, β per prompt, KL-adaptive forgetting
(../shared/cards/37_spo.md).

Xu & Ding 2025, "Single-stream Policy Optimization", arXiv 2509.13232; every constant and the
order of operations follow the authors' verl recipe (``spo/spo_ray_trainer.py``). SPO samples
one completion per prompt and uses, as its baseline, a Beta(α, β) estimate of the prompt's
success probability that persists across iterations. One iteration, as an algorithm drives it::

    ids = tracker.sample(batch_size, generator)             # prioritised prompt draw
    ... generate one completion per prompt, score rewards r ...
    adv = tracker.advantages(ids, r)                         # r - p̂ BEFORE the update, normalised
    ... policy update with adv ...
    tokens, mask = tracker.recall(ids)                       # each prompt's previous response
    drift = tracker.drift(ids, logp_of(tokens, mask))        # its log-probs under the NEW policy
    tracker.update(ids, r, drift)                            # α ← ρα + r, β ← ρβ + 1 - r
    tracker.remember(ids, new_tokens, new_mask, logp_of(new_tokens, new_mask))

``tokens`` are whatever the algorithm needs to re-score a response (e.g. prompt + completion
ids padded to ``memory_len``); ``mask`` marks the positions whose log-probs count. What this
version changes from the authors' code:

1. Batched tensor updates (``index_add_``) instead of a Python dict keyed by prompt text.
2. A prompt drawn twice in one batch is decayed once and receives both rewards
   (``α ← ρα + r₁ + r₂``); the authors' loop lets the last duplicate overwrite the first.
   With distinct prompts (the usual case) the two agree exactly.
3. Prioritised sampling draws from all prompts (or from ``candidates``, their dataloader
   batch), without replacement unless more prompts are asked for than are available — as the
   authors' ``np.random.choice(M, size, replace=size > M, p=w/Σw)``.

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from polab.core.advantages import (
    policy_drift,
    spo_advantages,
    spo_forgetting,
    spo_offline_prior,
    spo_sampling_weights,
    spo_value,
)


class SPOTracker:
    """α, β, visit counts and the last response of every prompt, as tensors indexed by id."""

    _STATE = ("alpha", "beta", "visits", "memory_tokens", "memory_mask", "memory_logp")

    def __init__(self, num_prompts: int, *, rho_mode: Literal["kl", "constant"] = "kl",
                 rho_min: float = 0.875, rho_max: float = 0.96, rho_constant: float = 0.875,
                 d_half: float = 0.06, exploration: float = 0.05, memory_len: int = 0,
                 device: torch.device | str | None = None):
        if rho_mode not in ("kl", "constant"):
            raise ValueError(f"rho_mode={rho_mode!r}: expected 'kl' or 'constant'")
        if rho_mode == "kl" and memory_len < 1:
            raise ValueError("rho_mode='kl' measures drift on stored responses: set memory_len")
        self.rho_mode, self.rho_min, self.rho_max = rho_mode, rho_min, rho_max
        self.rho_constant, self.d_half, self.exploration = rho_constant, d_half, exploration
        self.alpha = torch.full((num_prompts,), 0.5, device=device)
        self.beta = torch.full((num_prompts,), 0.5, device=device)
        self.visits = torch.zeros(num_prompts, dtype=torch.long, device=device)
        self.memory_tokens = torch.zeros((num_prompts, memory_len), dtype=torch.long,
                                         device=device)
        self.memory_mask = torch.zeros((num_prompts, memory_len), dtype=torch.bool,
                                       device=device)
        self.memory_logp = torch.zeros((num_prompts, memory_len), device=device)

    @property
    def num_prompts(self) -> int:
        return self.alpha.numel()

    def init_offline(self, successes: torch.Tensor, num_samples: int) -> None:
        """Set every prompt's α, β from ``successes`` out of ``num_samples`` offline samples
        of the initial policy (``spo_offline_prior``; the authors use 8)."""
        self.alpha, self.beta = (x.to(self.alpha.device) for x in
                                 spo_offline_prior(successes, num_samples, self.rho_min))

    def p_hat(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Estimated success probability of the prompts ``ids`` (all prompts if None)."""
        if ids is None:
            return spo_value(self.alpha, self.beta)
        return spo_value(self.alpha[ids], self.beta[ids])

    def advantages(self, ids: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """Batch-normalised ``r - p̂(x)``; call it before :meth:`update` folds ``r`` in."""
        return spo_advantages(rewards, self.p_hat(ids))

    def sampling_weights(self) -> torch.Tensor:
        """``sqrt(p̂(1-p̂)) + exploration`` for every prompt."""
        return spo_sampling_weights(self.p_hat(), self.exploration)

    def sample(self, n: int, generator: torch.Generator | None = None,
               candidates: torch.Tensor | None = None) -> torch.Tensor:
        """Draw ``n`` prompt ids with probability ∝ their sampling weight, from ``candidates``
        (default: all prompts); with replacement only when ``n`` exceeds the candidates."""
        pool = (torch.arange(self.num_prompts, device=self.alpha.device)
                if candidates is None else candidates.to(self.alpha.device))
        weights = self.sampling_weights()[pool]
        picks = torch.multinomial(weights, n, replacement=n > pool.numel(), generator=generator)
        return pool[picks]

    def recall(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored response (tokens, mask) of each prompt; the mask is all False for a
        prompt never remembered, so its drift is 0 and ``ρ = ρ_max``."""
        return self.memory_tokens[ids], self.memory_mask[ids]

    def drift(self, ids: torch.Tensor, logp_now: torch.Tensor) -> torch.Tensor:
        """``D`` per sample: stored log-probs vs ``logp_now``, the same stored responses
        scored by the policy after this iteration's update (:func:`policy_drift`)."""
        return policy_drift(self.memory_logp[ids], logp_now, self.memory_mask[ids])

    def forgetting(self, drift: torch.Tensor | None) -> torch.Tensor:
        """ρ per sample: ``spo_forgetting(drift)`` in ``"kl"`` mode, else ``rho_constant``."""
        if self.rho_mode == "constant":
            return torch.full_like(self.alpha[:1], self.rho_constant)
        if drift is None:
            raise ValueError("rho_mode='kl' needs the drift of each sample (see drift())")
        return spo_forgetting(drift, self.d_half, self.rho_min, self.rho_max)

    @torch.no_grad()
    def update(self, ids: torch.Tensor, rewards: torch.Tensor,
               drift: torch.Tensor | None = None) -> torch.Tensor:
        """``α ← ρα + r``, ``β ← ρβ + (1 - r)`` per prompt (rewards in [0, 1], fractional
        allowed); returns ρ per sample for logging."""
        rho = self.forgetting(drift).expand(ids.shape).to(self.alpha.dtype)
        last = self._last_occurrence(ids)
        self.alpha[ids[last]] *= rho[last]
        self.beta[ids[last]] *= rho[last]
        r = rewards.to(self.alpha.dtype)
        self.alpha.index_add_(0, ids, r)
        self.beta.index_add_(0, ids, 1.0 - r)
        self.visits.index_add_(0, ids, torch.ones_like(ids))
        return rho

    @torch.no_grad()
    def remember(self, ids: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                 logp: torch.Tensor) -> None:
        """Store each prompt's newest response and its log-probs under the updated policy
        (the last one wins when a prompt occurs twice), for the next visit's drift."""
        width = self.memory_tokens.shape[1]
        if tokens.shape[1] > width:
            raise ValueError(f"responses of length {tokens.shape[1]} exceed memory_len={width}")
        last = self._last_occurrence(ids)
        rows, t = ids[last], tokens.shape[1]
        for store, value in ((self.memory_tokens, tokens), (self.memory_mask, mask),
                             (self.memory_logp, logp)):
            store[rows] = 0
            store[rows, :t] = value[last].to(store.dtype)

    def _last_occurrence(self, ids: torch.Tensor) -> torch.Tensor:
        """Mask over ``ids`` keeping only each prompt's last occurrence (deterministic writes)."""
        pos = torch.arange(ids.numel(), device=ids.device)
        last_pos = torch.full((self.num_prompts,), -1, dtype=torch.long, device=ids.device)
        last_pos.scatter_reduce_(0, ids, pos, reduce="amax")
        return last_pos[ids] == pos

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).clone() for name in self._STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self._STATE:
            getattr(self, name).copy_(state[name])
