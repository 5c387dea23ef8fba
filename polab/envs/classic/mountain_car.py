"""MountainCarContinuous-v0 as a batched torch environment (gymnasium's
``continuous_mountain_car.py``)."""

from __future__ import annotations

import math
from functools import partial

import torch

from polab.envs.classic.base import ClassicControl, _box


class MountainCarContinuous(ClassicControl):
    """MountainCarContinuous-v0 = ``Continuous_MountainCarEnv`` in
    gymnasium/envs/classic_control/continuous_mountain_car.py: force = clipped action,
    velocity and position clipped, a stop at the left wall, goal at position ≥ 0.45 with
    velocity ≥ 0, reward ``100·[goal] - 0.1·action²`` (the *unclipped* action, as in
    gymnasium), 999-step limit.

    The state is ``(position, velocity)``, reset to ``(uniform(-0.6, -0.4), 0)``. Gymnasium
    stores this state in float32 after each step; ``dtype=torch.float32`` matches that.
    """

    name = "MountainCarContinuous-v0"
    max_episode_steps = 999
    min_action, max_action = -1.0, 1.0
    min_position, max_position, max_speed = -1.2, 0.6, 0.07
    goal_position, goal_velocity, power = 0.45, 0.0, 0.0015
    single_observation_space = _box([min_position, -max_speed], [max_position, max_speed])
    single_action_space = _box([min_action], [max_action])
    reset_low, reset_high = (-0.6, 0.0), (-0.4, 0.0)

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32):
        super().__init__(num_envs, device, seed, dtype)
        tensor = partial(torch.tensor, dtype=dtype, device=self.device)
        self._zero, self._goal_reward, self._minus_inf = tensor(0.0), tensor(100.0), \
            tensor(-math.inf)
        self._wall, self._goal = tensor(self.min_position), tensor(self.goal_position)
        self._goal_velocity = tensor(self.goal_velocity)

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        position, velocity = self._state_views()
        a = self._continuous(action)
        force = a.clamp(self.min_action, self.max_action)
        # velocity += force·power - 0.0025 cos(3 position), clipped
        velocity.add_(torch.mul(force, self.power).sub_(torch.mul(position, 3).cos_(),
                                                         alpha=0.0025))
        velocity.clamp_(-self.max_speed, self.max_speed)
        position.add_(velocity).clamp_(self.min_position, self.max_position)
        # at the left wall a leftward velocity stops: velocity = max(velocity, 0) there
        torch.maximum(velocity, torch.where(position == self._wall, self._zero,
                                            self._minus_inf), out=velocity)
        terminated = (position >= self._goal) & (velocity >= self._goal_velocity)
        reward = torch.where(terminated, self._goal_reward, self._zero)
        return reward.addcmul_(a, a, value=-0.1), terminated
