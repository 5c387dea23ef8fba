"""Pendulum-v1 as a batched torch environment (gymnasium's ``pendulum.py``)."""

from __future__ import annotations

import math

import torch

from polab.envs.classic.base import ClassicControl, _box


def angle_normalize(x: torch.Tensor) -> torch.Tensor:
    """Pendulum's ``angle_normalize``: ``((x + π) mod 2π) - π`` (floor modulo, like numpy)."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


class Pendulum(ClassicControl):
    """Pendulum-v1 = ``PendulumEnv`` in gymnasium/envs/classic_control/pendulum.py (g = 10):
    reward ``-(angle_normalize(θ)² + 0.1 θ̇² + 0.001 u²)`` with the clipped torque ``u``,
    semi-implicit Euler with the speed clipped to ±8, never terminates, 200-step limit.

    The state is ``(θ, θ̇)``, reset uniformly in ``[-π, π] × [-1, 1]``.

    Physical parameters per copy (chapter 11's uncertainty sets and simulators):
    ``mass``, ``length``, ``gravity`` and ``gain`` (the actuator's: the clipped torque is
    multiplied by it before it acts; the reward sees the clipped torque) are floats or
    ``(N,)`` tensors, default gymnasium's 1, 1, 10 and 1 (same numbers as without them);
    :meth:`set_physics` changes them between episodes.
    """

    name = "Pendulum-v1"
    max_episode_steps = 200
    max_speed, max_torque, dt, g, m, length = 8.0, 2.0, 0.05, 10.0, 1.0, 1.0  # gymnasium's l
    single_observation_space = _box([-1, -1, -max_speed], [1, 1, max_speed])
    single_action_space = _box([-max_torque], [max_torque])
    reset_low, reset_high = (-math.pi, -1.0), (math.pi, 1.0)
    angles = 1

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32, *,
                 mass: float | torch.Tensor = 1.0, length: float | torch.Tensor = 1.0,
                 gravity: float | torch.Tensor = 10.0, gain: float | torch.Tensor = 1.0):
        super().__init__(num_envs, device, seed, dtype)
        self.gain = 1.0
        self._zero = torch.zeros((), dtype=dtype, device=self.device)
        self.set_physics(mass=mass, length=length, gravity=gravity, gain=gain)

    def set_physics(self, **params: float | torch.Tensor) -> None:
        """Set ``mass``, ``length``, ``gravity`` and/or ``gain``: a positive float for every
        copy or an ``(N,)`` tensor of positive values, one per copy (a ``ValueError`` names a
        bad one)."""
        attrs = {"mass": "m", "length": "length", "gravity": "g", "gain": "gain"}
        for name, value in params.items():
            if name not in attrs:
                raise ValueError(f"Pendulum has no parameter {name!r}; known: {list(attrs)}")
            if isinstance(value, torch.Tensor):
                value = value.to(self.device, self.dtype)
                if value.shape != (self.num_envs,) or not bool((value > 0).all()):
                    raise ValueError(f"Pendulum {name}: a tensor must hold {self.num_envs} "
                                     f"positive values, got shape {tuple(value.shape)}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Pendulum {name}={value!r}: expected a positive number")
            setattr(self, attrs[name], value if isinstance(value, torch.Tensor) else float(value))
        # θ̈ = 3g/(2l) sinθ + 3/(m l²) gain u: the two factors, floats or (N,) tensors
        self._gravity_factor = 3 * self.g / (2 * self.length)
        self._torque_factor = 3.0 / (self.m * self.length**2)
        if not (isinstance(self.gain, float) and self.gain == 1.0):
            self._torque_factor = self._torque_factor * self.gain

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        th, thdot = self._state_views()
        u = self._continuous(action).clamp(-self.max_torque, self.max_torque)
        # reward = -(angle_normalize(θ)² + 0.1 θ̇² + 0.001 u²)
        normalized = torch.remainder(th + math.pi, 2 * math.pi).sub_(math.pi)
        reward = torch.addcmul(self._zero, normalized, normalized, value=-1.0)
        reward.addcmul_(thdot, thdot, value=-0.1).addcmul_(u, u, value=-0.001)
        # θ̇' = clip(θ̇ + (3g/(2l) sinθ + 3/(m l²) u) dt, ±8), θ' = θ + θ̇' dt
        acc = torch.sin(th).mul_(self._gravity_factor)
        if isinstance(self._torque_factor, float):
            acc.add_(u, alpha=self._torque_factor)
        else:
            acc.addcmul_(self._torque_factor, u)
        thdot.add_(acc, alpha=self.dt).clamp_(-self.max_speed, self.max_speed)
        th.add_(thdot, alpha=self.dt)
        return reward, torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
