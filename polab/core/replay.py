"""A replay buffer of transitions for the off-policy algorithms (SAC, off-policy MDPO).

Preallocated tensors on the algorithm's device, filled as a ring: ``add`` writes a batch of
transitions at once (no Python loop over them), ``sample`` draws a uniform minibatch with a
seeded generator. ``add_rollout`` stores a time-major :class:`~polab.core.rollout.Rollout`:
the next observation of every step is ``final_obs`` (the true last observation where an
episode ended, the next observation otherwise, polab.envs.base), and only ``terminated``
stops the bootstrap — a time-limit truncation is not a death
(README, "Environments").

Taught in notebooks/02_variance_and_trust_regions.ipynb.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from polab.core.rollout import Rollout


class Transitions(NamedTuple):
    """A batch of transitions, each tensor ``(B, ...)``."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor


class ReplayBuffer:
    """The last ``capacity`` transitions ``(s, a, r, s', terminated)``."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int,
                 device: str | torch.device | None = None, dtype: torch.dtype = torch.float32):
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be at least 1")
        opts = {"device": device, "dtype": dtype}
        self.capacity = capacity
        self.data = Transitions(torch.zeros(capacity, obs_dim, **opts),
                                torch.zeros(capacity, action_dim, **opts),
                                torch.zeros(capacity, **opts),
                                torch.zeros(capacity, obs_dim, **opts),
                                torch.zeros(capacity, dtype=torch.bool, device=device))
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, batch: Transitions) -> None:
        """Append a batch of transitions, overwriting the oldest once full."""
        n = batch.obs.shape[0]
        if n > self.capacity:  # only the newest `capacity` survive
            batch = Transitions(*(x[n - self.capacity:] for x in batch))
            n = self.capacity
        idx = (self.pos + torch.arange(n, device=self.data.obs.device)) % self.capacity
        for store, values in zip(self.data, batch, strict=True):
            store[idx] = values.reshape(n, *store.shape[1:]).to(store.dtype)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def add_rollout(self, rollout: Rollout) -> None:
        """Store every step of a time-major rollout (``s' = final_obs``)."""
        self.add(Transitions(rollout.obs.flatten(0, 1), rollout.actions.flatten(0, 1),
                             rollout.rewards.flatten(), rollout.final_obs.flatten(0, 1),
                             rollout.terminated.flatten()))

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Transitions:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(self.size, (batch_size,), generator=generator,
                            device=self.data.obs.device)
        return Transitions(*(x[idx] for x in self.data))

    def state_dict(self) -> dict[str, Any]:
        return {"data": [x[: self.size].clone() for x in self.data], "pos": self.pos,
                "size": self.size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = state["size"]
        for store, values in zip(self.data, state["data"], strict=True):
            store[:size] = values.to(store.device)
        self.pos, self.size = state["pos"], size
