"""PointMass-v0: a 2-D point mass pushed toward a goal region, chapter 11's cheap testbed.

State ``(x, y, vx, vy)`` (also the observation); action a 2-D force in ``[-1, 1]²`` (clipped).
One step of ``dt = 0.1`` with semi-implicit Euler:

    v' = v + dt · (gain · a − friction · v)
    p' = clip(p + dt · v', −1, 1)          (walls: the velocity component into a wall is zeroed)

``friction`` (default 1) and ``gain`` (the actuator's, default 1) are floats or ``(N,)``
tensors, one per copy, like Pendulum's (:meth:`PointMass.set_physics`); with the defaults the
top speed is ``gain / friction = 1`` per unit time, 0.1 a step.

Reward (dense): ``−‖p' − g‖ + 10 · [‖p' − g‖ ≤ 0.1]`` with the goal ``g = (0.5, 0.5)``; the
episode *terminates* on reaching the goal disc (radius 0.1) and is *truncated* after 100 steps.
Starts are uniform in ``[−1, 1]²`` at rest. A random policy scores about −85, a good one
about −5 (reaching from anywhere in ≤ ~30 steps).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from polab.envs.classic import ClassicControl


class PointMass(ClassicControl):
    """The 2-D point mass (module docstring); reset, auto-reset, ``final_obs`` and
    ``get_state``/``set_state`` come from :class:`~polab.envs.classic.ClassicControl`."""

    name = "PointMass-v0"
    max_episode_steps = 100
    dt, goal_radius, goal_bonus = 0.1, 0.1, 10.0
    goal = (0.5, 0.5)
    single_observation_space = gym.spaces.Box(np.array([-1, -1, -10, -10], np.float32),
                                              np.array([1, 1, 10, 10], np.float32),
                                              dtype=np.float32)
    single_action_space = gym.spaces.Box(-np.ones(2, np.float32), np.ones(2, np.float32),
                                         dtype=np.float32)
    reset_low, reset_high = (-1.0, -1.0, 0.0, 0.0), (1.0, 1.0, 0.0, 0.0)

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32, *,
                 friction: float | torch.Tensor = 1.0, gain: float | torch.Tensor = 1.0):
        super().__init__(num_envs, device, seed, dtype)
        self._goal = torch.tensor(self.goal, dtype=dtype, device=self.device)
        self.friction: float | torch.Tensor = 1.0
        self.gain: float | torch.Tensor = 1.0
        self.set_physics(friction=friction, gain=gain)

    def set_physics(self, **params: float | torch.Tensor) -> None:
        """Set ``friction`` (≥ 0) and/or ``gain`` (> 0): a float for every copy or an ``(N,)``
        tensor, one per copy (a ``ValueError`` names a bad one)."""
        for name, value in params.items():
            if name not in ("friction", "gain"):
                raise ValueError(f"PointMass has no parameter {name!r}; known: "
                                 "['friction', 'gain']")
            ok = (lambda v: v >= 0) if name == "friction" else (lambda v: v > 0)
            kind = "non-negative" if name == "friction" else "positive"
            if isinstance(value, torch.Tensor):
                value = value.to(self.device, self.dtype)
                if value.shape != (self.num_envs,) or not bool(ok(value).all()):
                    raise ValueError(f"PointMass {name}: a tensor must hold {self.num_envs} "
                                     f"{kind} values, got shape {tuple(value.shape)}")
                setattr(self, name, value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ValueError(f"PointMass {name}={value!r}: expected a {kind} number")
            else:
                setattr(self, name, float(value))

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = action.to(self.dtype).reshape(self.num_envs, 2).clamp(-1.0, 1.0)
        p, v = self.state[:, :2], self.state[:, 2:]
        gain = self.gain[:, None] if isinstance(self.gain, torch.Tensor) else self.gain
        friction = (self.friction[:, None] if isinstance(self.friction, torch.Tensor)
                    else self.friction)
        v = v + self.dt * (gain * a - friction * v)
        p_free = p + self.dt * v
        p = p_free.clamp(-1.0, 1.0)
        v = torch.where(p != p_free, torch.zeros_like(v), v)  # stopped by a wall
        self.state = torch.cat((p, v), 1)
        distance = torch.linalg.vector_norm(p - self._goal, dim=1)
        terminated = distance <= self.goal_radius
        return self.goal_bonus * terminated.to(self.dtype) - distance, terminated
