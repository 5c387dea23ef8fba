"""CartPole-v1 as a batched torch environment (gymnasium's ``cartpole.py``)."""

from __future__ import annotations

import math
from functools import partial

import gymnasium as gym
import numpy as np
import torch

from polab.envs.classic.base import ClassicControl, _box


class CartPole(ClassicControl):
    """CartPole-v1 = ``CartPoleEnv`` in gymnasium/envs/classic_control/cartpole.py (Euler
    integrator, reward 1 every step including the terminal one, 500-step limit).

    Action 1 pushes the cart right with ``force_mag``, 0 pushes it left.
    """

    name = "CartPole-v1"
    max_episode_steps = 500
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    single_observation_space = _box([-4.8, -np.inf, -2 * theta_threshold_radians, -np.inf],
                                    [4.8, np.inf, 2 * theta_threshold_radians, np.inf])
    single_action_space = gym.spaces.Discrete(2)
    reset_low, reset_high = (-0.05,) * 4, (0.05,) * 4

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32):
        super().__init__(num_envs, device, seed, dtype)
        mt, g = self.total_mass, self.gravity
        tensor = partial(torch.tensor, dtype=dtype, device=self.device)
        self._force_over_mass = tensor([-self.force_mag / mt, self.force_mag / mt])
        self._four_thirds_length_over_g = tensor(4.0 / 3.0 * self.length / g)
        # comparisons with 0-dim tensors skip the conversion of a Python number (~1 µs)
        self._x_threshold, self._theta_threshold = (tensor(self.x_threshold),
                                                    tensor(self.theta_threshold_radians))
        # cosθ, sinθ, θ̇², temp, the denominator, θ̈: work space reused every step (out=)
        self._work = torch.empty((6, num_envs), dtype=dtype, device=self.device).unbind(0)

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The hot loop of benchmarks/envs.py: 19 fused (addcmul, alpha=, out=) and in-place
        # ops on one-dimensional column views of the state (2-D views of width 2 take a slow
        # path), each line one of gymnasium's equations.
        x, x_dot, theta, theta_dot = self._state_views()
        costheta, sintheta, square, temp, denom, thetaacc = self._work
        mt, pml, g = self.total_mass, self.polemass_length, self.gravity
        torch.cos(theta, out=costheta)
        torch.sin(theta, out=sintheta)
        # temp = (force + polemass_length θ̇² sinθ) / total_mass, force = ±force_mag
        torch.index_select(self._force_over_mass, 0, self._discrete(action), out=temp)
        temp.addcmul_(torch.mul(theta_dot, theta_dot, out=square), sintheta, value=pml / mt)
        # thetaacc = (g sinθ - cosθ temp) / (length (4/3 - masspole cos²θ / total_mass)),
        # numerator and denominator divided by g
        torch.addcmul(self._four_thirds_length_over_g, costheta, costheta,
                      value=-self.length * self.masspole / (mt * g), out=denom)
        torch.addcmul(sintheta, costheta, temp, value=-1.0 / g, out=thetaacc).div_(denom)
        # xacc = temp - polemass_length thetaacc cosθ / total_mass
        xacc = temp.addcmul_(thetaacc, costheta, value=-pml / mt)
        # Euler: every update uses the derivatives at the old state
        x.add_(x_dot, alpha=self.tau)
        x_dot.add_(xacc, alpha=self.tau)
        theta.add_(theta_dot, alpha=self.tau)
        theta_dot.add_(thetaacc, alpha=self.tau)
        terminated = (x.abs() > self._x_threshold) | (theta.abs() > self._theta_threshold)
        return torch.ones(self.num_envs, dtype=self.dtype, device=self.device), terminated
