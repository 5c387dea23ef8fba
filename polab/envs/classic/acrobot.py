"""Acrobot-v1 as a batched torch environment (gymnasium's ``acrobot.py``, RK4 in place)."""

from __future__ import annotations

import math
from functools import partial

import gymnasium as gym
import torch

from polab.envs.classic.base import ClassicControl, _box


def wrap(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Acrobot's ``wrap``: shift ``x`` by whole periods ``high - low`` into ``[low, high]``
    (gymnasium subtracts or adds the period in a loop; this counts the periods instead)."""
    return _wrap_(x.clone(), low, high)


def _wrap_(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """:func:`wrap` in place, in 8 ops: ``floor((high - x) / period)`` is minus the number of
    periods above ``high`` (0 inside), ``floor((x - low) / period)`` minus those below."""
    period = high - low
    x.add_(torch.rsub(x, high).div_(period, rounding_mode="floor").clamp_max_(0), alpha=period)
    return x.sub_(torch.sub(x, low).div_(period, rounding_mode="floor").clamp_max_(0),
                  alpha=period)


class Acrobot(ClassicControl):
    """Acrobot-v1 = ``AcrobotEnv`` in gymnasium/envs/classic_control/acrobot.py: the "book"
    dynamics (``book_or_nips = "book"``), one RK4 step of ``dt = 0.2``, angles wrapped to
    [-π, π], velocities bounded, no torque noise, reward -1 until the tip is above the bar.

    The state is ``(θ1, θ2, θ̇1, θ̇2)``; actions 0, 1, 2 apply torque -1, 0, +1. The RK4
    stages and slopes live in buffers made once; ``_dsdt`` folds gymnasium's constants
    (unit masses and inertias, link 1 of length 1, centres of mass at 0.5).
    """

    name = "Acrobot-v1"
    max_episode_steps = 500
    dt = 0.2
    LINK_LENGTH_1 = 1.0
    LINK_MASS_1, LINK_MASS_2 = 1.0, 1.0
    LINK_COM_POS_1, LINK_COM_POS_2 = 0.5, 0.5
    LINK_MOI = 1.0
    MAX_VEL_1, MAX_VEL_2 = 4 * math.pi, 9 * math.pi
    AVAIL_TORQUE = (-1.0, 0.0, 1.0)
    single_observation_space = _box([-1, -1, -1, -1, -MAX_VEL_1, -MAX_VEL_2],
                                    [1, 1, 1, 1, MAX_VEL_1, MAX_VEL_2])
    single_action_space = gym.spaces.Discrete(3)
    reset_low, reset_high = (-0.1,) * 4, (0.1,) * 4
    angles = 2

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32):
        super().__init__(num_envs, device, seed, dtype)
        m1, m2, l1 = self.LINK_MASS_1, self.LINK_MASS_2, self.LINK_LENGTH_1
        lc1, lc2, inertia, g = self.LINK_COM_POS_1, self.LINK_COM_POS_2, self.LINK_MOI, 9.8
        tensor = partial(torch.tensor, dtype=dtype, device=self.device)
        self._torques = tensor(self.AVAIL_TORQUE)
        # (θ1, θ2) @ _sum = (θ1, θ1 + θ2); the _dsdt coefficients in gymnasium's symbols
        self._sum = tensor([[1.0, 1.0], [0.0, 1.0]])
        self._minus_d1 = tensor(-(m1 * lc1**2 + m2 * (l1**2 + lc2**2) + 2 * inertia))
        self._d1_cos = m2 * 2 * l1 * lc2                               # d1 = -_minus_d1 + ... cosθ2
        self._d2 = tensor(m2 * lc2**2 + inertia)                       # d2 = _d2 + _d2_cos cosθ2
        self._d2_cos = m2 * l1 * lc2
        self._h = m2 * l1 * lc2                                        # the Coriolis terms' factor
        self._g1, self._g2 = (m1 * lc1 + m2 * l1) * g, m2 * lc2 * g   # the gravity terms'
        self._denom = tensor(m2 * lc2**2 + inertia)                    # ... - d2² / d1
        self._vel_low = tensor([-self.MAX_VEL_1, -self.MAX_VEL_2])
        self._no_reward, self._step_reward = tensor(0.0), tensor(-1.0)
        stages = torch.empty((3, num_envs, 4), dtype=dtype, device=self.device)
        self._stages = [(stage, self._make_views(stage)) for stage in stages]
        slopes = torch.empty((4, num_envs, 4), dtype=dtype, device=self.device)
        self._slopes = [(slope, self._make_views(slope)) for slope in slopes]

    def _make_views(self, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """θ1, θ2, θ̇1, θ̇2, then the angles and the velocities as ``(N, 2)`` views."""
        return *state.unbind(1), state[:, :2], state[:, 2:]

    def _dsdt(self, s: tuple[torch.Tensor, ...], torque: torch.Tensor, k: int) -> torch.Tensor:
        """``AcrobotEnv._dsdt`` ("book"): the time derivative of the state whose views are
        ``s``, under ``torque``, written into slope buffer ``k`` and returned."""
        _, theta2, dtheta1, dtheta2, angles, velocities = s
        out, (_, _, ddtheta1, ddtheta2, rates, _) = self._slopes[k]
        cos2, sin2 = torch.cos(theta2), torch.sin(theta2)
        minus_d1 = torch.sub(self._minus_d1, cos2, alpha=self._d1_cos)
        d2 = torch.add(self._d2, cos2, alpha=self._d2_cos)
        # cos(θ1 - π/2), cos(θ1 + θ2 - π/2): the gravity terms
        cos_shifted = (angles @ self._sum).sub_(math.pi / 2).cos_()
        gravity1, gravity2 = cos_shifted.unbind(1)
        phi2 = gravity2 * self._g2
        phi1 = torch.add(phi2, gravity1, alpha=self._g1)
        # phi1 = -h θ̇2² sinθ2 - 2h θ̇2 θ̇1 sinθ2 + ... = ... - h sinθ2 θ̇2 (θ̇2 + 2θ̇1)
        phi1.addcmul_(torch.add(dtheta2, dtheta1, alpha=2.0).mul_(dtheta2), sin2, value=-self._h)
        # ddθ2 = (a + d2/d1 phi1 - h θ̇1² sinθ2 - phi2) / (m2 lc2² + I2 - d2²/d1)
        ratio = torch.div(d2, minus_d1)  # -d2/d1
        numerator = torch.addcmul(torque, ratio, phi1, value=-1.0)
        numerator.addcmul_(dtheta1 * dtheta1, sin2, value=-self._h).sub_(phi2)
        torch.div(numerator, torch.addcmul(self._denom, ratio, d2), out=ddtheta2)
        # ddθ1 = -(d2 ddθ2 + phi1) / d1
        torch.addcmul(phi1, d2, ddtheta2, out=ddtheta1).div_(minus_d1)
        rates.copy_(velocities)
        return out

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        torque = self._torques.index_select(0, self._discrete(action))
        # rk4(self._dsdt, s, [0, dt]): one classical Runge-Kutta step, torque held constant
        s, views, dt = self.state, self._state_views(), self.dt
        k = self._dsdt(views, torque, 0)
        for stage, (buffer, stage_views) in enumerate(self._stages, 1):
            torch.add(s, k, alpha=dt if stage == 3 else dt / 2.0, out=buffer)
            k = self._dsdt(stage_views, torque, stage)
        k1, k2, k3, k4 = (slope for slope, _ in self._slopes)
        s.add_(torch.add(k1, k2, alpha=2.0).add_(k3, alpha=2.0).add_(k4), alpha=dt / 6.0)
        angles, velocities = views[4:]
        _wrap_(angles, -math.pi, math.pi)
        velocities.clamp_(self._vel_low, -self._vel_low)
        # -cos(θ1) - cos(θ2 + θ1) > 1: the tip above the bar
        terminated = torch.lt((angles @ self._sum).cos_().sum(1), -1.0)
        return torch.where(terminated, self._no_reward, self._step_reward), terminated
