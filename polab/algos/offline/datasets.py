"""Offline datasets in D4RL/Minari's fields, collected in-kit from batched environments.

A :class:`Dataset` holds ``observations``, ``actions``, ``rewards``, ``terminations``,
``truncations`` and ``next_observations`` (D4RL's ``timeouts`` = Minari's ``truncations``,
kept apart from terminations: a time limit is not a terminal state). At a truncation the next
observation is the episode's true last one (the env's ``info["final_obs"]``), not the
auto-reset start of the next episode, so a learner can bootstrap from it.

:func:`collect` runs any policy on ``num_envs`` copies at once until it has ``n``
transitions; :func:`normalized_score` is D4RL's ``100·(R − R_random)/(R_expert − R_random)``.
Dataset qualities (random, medium, expert, medium-replay, mixed) from shipped actors build on
these (issue 17).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch

from polab.core.replay import Transitions
from polab.envs.base import BatchedEnv

Policy = Callable[[torch.Tensor], torch.Tensor]
"""``observations (N, obs_dim) -> actions (N, act_dim)`` (sampling inside, if any)."""


@dataclass(frozen=True)
class Dataset:
    """Transitions ``(n, ...)`` in D4RL/Minari's field names (module docstring)."""

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminations: torch.Tensor
    truncations: torch.Tensor
    next_observations: torch.Tensor

    def __post_init__(self) -> None:
        n = len(self.observations)
        bad = [f.name for f in fields(self) if len(getattr(self, f.name)) != n]
        if bad:
            raise ValueError(f"Dataset: {bad} do not have the {n} rows of observations")

    def __len__(self) -> int:
        return len(self.observations)

    def select(self, index: torch.Tensor | slice) -> Dataset:
        """The rows ``index`` as a new dataset."""
        return Dataset(*(getattr(self, f.name)[index] for f in fields(self)))

    def to(self, device: str | torch.device) -> Dataset:
        return Dataset(*(getattr(self, f.name).to(device) for f in fields(self)))

    @staticmethod
    def concat(parts: list[Dataset]) -> Dataset:
        """The datasets one after the other."""
        return Dataset(*(torch.cat([getattr(p, f.name) for p in parts])
                         for f in fields(Dataset)))

    def sample(self, batch_size: int, generator: torch.Generator | None = None
               ) -> Transitions:
        """``batch_size`` rows uniformly with replacement, as the replay buffer's
        :class:`~polab.core.replay.Transitions` (``terminated`` = terminations)."""
        device = self.observations.device
        idx = torch.randint(len(self), (batch_size,), generator=generator,
                            device=generator.device if generator is not None else device)
        idx = idx.to(device)
        return Transitions(self.observations[idx], self.actions[idx], self.rewards[idx],
                           self.next_observations[idx], self.terminations[idx])


def collect(env: BatchedEnv, policy: Policy, n: int, seed: int | None = None) -> Dataset:
    """At least ``n`` transitions of ``policy`` on the ``env.num_envs`` copies of ``env``
    (``⌈n / num_envs⌉`` steps, batched), stored copy-major (each copy's steps contiguous),
    the first ``n`` rows kept. ``truncations`` marks time limits; the next observation of a
    truncated or terminated step is the true final one."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"collect: n={n!r} must be an int >= 1")
    steps = math.ceil(n / env.num_envs)
    obs = env.reset(seed)
    rows: dict[str, list[torch.Tensor]] = {f.name: [] for f in fields(Dataset)}
    with torch.inference_mode():
        for _ in range(steps):
            action = policy(obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            for name, value in (("observations", obs), ("actions", action),
                                ("rewards", reward), ("terminations", terminated),
                                ("truncations", truncated & ~terminated),
                                ("next_observations", info["final_obs"])):
                rows[name].append(value)
            obs = next_obs
    stacked = {k: torch.stack(v, 1).flatten(0, 1) for k, v in rows.items()}  # copy-major
    return Dataset(**stacked).select(slice(0, n))


def normalized_score(returns: torch.Tensor | float, random_return: float,
                     expert_return: float) -> torch.Tensor:
    """D4RL's normalised score ``100·(R − R_random)/(R_expert − R_random)``: 0 is the random
    policy, 100 the expert."""
    if expert_return == random_return:
        raise ValueError("normalized_score: expert and random returns are equal")
    return 100.0 * (torch.as_tensor(returns) - random_return) / (expert_return - random_return)
