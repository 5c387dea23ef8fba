"""The energy runner: a continuous two-objective task, speed vs energy, both maximised
(chapter 09, ../shared/cards/04_cmorl.md)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from polab.envs.mo.base import MOBatchedEnv


class EnergyRunner(MOBatchedEnv):
    """A point runner on a line: objectives (speed, -energy), both maximised.

    Action ``a`` (clipped to [-1, 1]) is a force; the speed follows a first-order lag
    ``v ← 0.8 v + 0.2 a`` from ``v = 0``; every step rewards ``(v, -a²)``; 50 steps, truncated.
    Observation ``(v, t / 50)``.

    Known front: the return is linear in the actions, ``Σ_t v_t = Σ_s c_s a_s`` with
    ``c_s = 1 - 0.8^(T-s)``, so for an energy budget ``Σ a_s² ≤ E`` the best plan is
    ``a_s = min(1, α c_s)`` (KKT); sweeping ``α ≥ 0`` traces the whole front (a concave curve
    in (speed, -energy): every point supported). Reference point ``(0, -50)`` (polab's choice:
    no progress at full energy |a| = 1 every step; any forward-moving policy dominates it).
    """

    name = "energy-runner"
    reward_dim = 2
    objective_names = ("speed", "energy")
    max_episode_steps = 50
    lag = 0.8
    single_observation_space = gym.spaces.Box(np.array([-1, 0], np.float32),
                                              np.array([1, 1], np.float32))
    single_action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    reference_point = (0.0, -50.0)
    reference_source = "polab: zero progress at full energy (|a| = 1 for all 50 steps)"

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None):
        self._setup(num_envs, device)
        self.reset(seed)

    def known_front(self, points: int = 200) -> np.ndarray:
        steps = np.arange(self.max_episode_steps)
        c = 1 - self.lag ** (self.max_episode_steps - steps)
        alphas = np.concatenate([[0.0], np.geomspace(1e-2, 1 / c.min(), points - 1)])
        plans = np.minimum(1.0, alphas[:, None] * c[None])
        return np.stack([(plans * c).sum(1), -(plans**2).sum(1)], 1)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Rest at time 0 (deterministic: ``seed`` unused)."""
        self.v = torch.zeros(self.num_envs, device=self.device)
        self.elapsed.zero_()
        return self._observe()

    def _observe(self) -> torch.Tensor:
        return torch.stack((self.v, self.elapsed.float() / self.max_episode_steps), 1)

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        a = torch.as_tensor(action, device=self.device).float().reshape(self.num_envs, -1)[:, 0]
        a = a.clamp(-1.0, 1.0)
        self.v = self.lag * self.v + (1 - self.lag) * a
        reward = torch.stack((self.v, -a * a), 1)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        final_obs = self._observe()
        self.v = self.v.masked_fill(truncated, 0.0)
        self.elapsed.masked_fill_(truncated, 0)
        return (self._observe(), reward, torch.zeros_like(truncated), truncated,
                {"final_obs": final_obs})
