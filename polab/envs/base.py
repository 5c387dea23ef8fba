"""The batched environment interface every polab testbed implements.

N copies of an environment live in tensors of shape ``(N, ...)`` on one device and are
stepped together, with no Python loop over copies. Conventions:

* ``terminated`` and ``truncated`` are reported separately (a time limit is a truncation);
* auto-reset happens in the same step (gymnasium's ``AutoresetMode.SAME_STEP``): when copy
  ``i`` ends, ``step`` returns the first observation of its next episode in ``obs[i]`` and the
  true last observation of the finished episode in ``info["final_obs"][i]``. ``final_obs`` is
  given for every copy (equal to ``obs`` where nothing ended), so an algorithm can bootstrap
  a truncated episode from ``V(final_obs)`` with one batched call.

Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

import operator
from typing import Any

import gymnasium as gym
import torch


class BatchedEnv:
    """Base class: ``reset(seed) -> obs`` and ``step(action) -> (obs, reward, terminated,
    truncated, info)``, all torch tensors with a leading ``num_envs`` dimension."""

    name: str
    device: torch.device
    single_observation_space: gym.spaces.Box
    single_action_space: gym.spaces.Space
    max_episode_steps: int
    autoreset_mode: str = "same_step"

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Start every copy afresh; ``seed`` re-seeds the environment's generator."""
        raise NotImplementedError

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        """Advance all copies one step; see the module docstring for the auto-reset rule."""
        raise NotImplementedError

    @property
    def num_envs(self) -> int:
        """How many copies are stepped together (at least 1; checked when set)."""
        return self._num_envs

    @num_envs.setter
    def num_envs(self, value: int) -> None:
        self._num_envs = check_num_envs(value)

    @property
    def obs_dim(self) -> int:
        return int(self.single_observation_space.shape[0])

    @property
    def is_discrete(self) -> bool:
        return isinstance(self.single_action_space, gym.spaces.Discrete)

    @property
    def action_dim(self) -> int:
        """Number of discrete actions, or the size of a continuous action vector."""
        space = self.single_action_space
        return int(space.n) if isinstance(space, gym.spaces.Discrete) else int(space.shape[0])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, num_envs={self.num_envs}, "
                f"device={self.device})")


def check_num_envs(value: Any) -> int:
    """``value`` as an int if it is a whole number ≥ 1, else a ``ValueError`` naming
    ``num_envs`` (numpy integers are accepted; bools and floats are not)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"num_envs={value!r}: expected an int ≥ 1") from None
    if n < 1:
        raise ValueError(f"num_envs={value!r}: expected an int ≥ 1 (copies of the environment)")
    return n
