"""Gymnasium's classic-control environments as batched torch environments.

CartPole-v1, Acrobot-v1, Pendulum-v1 and MountainCarContinuous-v0 with gymnasium 1.x's
constants, equations, reset distributions, termination rules, rewards, spaces and time limits
(``max_episode_steps`` of their ``gymnasium.register`` entries). Each class mirrors one file of
``gymnasium/envs/classic_control/``; ``tests/test_envs_classic.py`` checks them step for step
against gymnasium.

``N`` copies live in one state tensor ``(N, D)`` (the rows of gymnasium's ``env.state``) in a
chosen float dtype on any device (``device=None``: the CPU); ``set_state``/``get_state`` read and
write it, observations and rewards come in that dtype. Every env owns a ``torch.Generator`` on
its device, so the same seed gives the same trajectory on that device. Gymnasium computes in
float64; ``dtype=torch.float64`` reproduces it to rounding, the default float32 is faster and
stays within float32 rounding of it over short horizons (chaotic dynamics amplify rounding).

Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from polab.envs.base import BatchedEnv


class ClassicControl(BatchedEnv):
    """Shared machinery: the state ``(N, D)``, a step counter for the time limit, and
    same-step auto-reset to a state drawn uniformly from ``[reset_low, reset_high]``.

    A subclass sets the spaces and reset box and implements ``_advance`` (the dynamics,
    updating ``self.state`` and returning ``(reward, terminated)``) and ``_observe``.
    """

    reset_low: tuple[float, ...]
    reset_high: tuple[float, ...]

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32):
        self.num_envs = num_envs
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.dtype = dtype
        # own copies: a gymnasium space carries its own sampling RNG
        self.single_observation_space = copy.deepcopy(type(self).single_observation_space)
        self.single_action_space = copy.deepcopy(type(self).single_action_space)
        self.generator = torch.Generator(self.device)
        if seed is None:
            self.generator.seed()
        low = torch.tensor(self.reset_low, dtype=dtype, device=self.device)
        self._reset_low, self._reset_width = low, torch.tensor(self.reset_high, dtype=dtype,
                                                               device=self.device) - low
        self.elapsed = torch.zeros(num_envs, dtype=torch.int32, device=self.device)
        # how `step` restarts ended copies: without a host sync off the CPU (see `_restart`)
        self.sync_free_reset = self.device.type != "cpu"
        self.reset(seed)

    # --- the part each environment defines ---------------------------------------------

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply gymnasium's ``step`` equations to ``self.state``; return (reward, terminated)."""
        raise NotImplementedError

    def _observe(self) -> torch.Tensor:
        """The observation ``(N, obs_dim)`` of the current state, as a new tensor."""
        return self.state.clone()

    # --- shared ------------------------------------------------------------------------

    def _initial_state(self, count: int) -> torch.Tensor:
        """``count`` draws of ``uniform(reset_low, reset_high)``, gymnasium's reset rule."""
        u = torch.rand((count, len(self.reset_low)), generator=self.generator,
                       device=self.device, dtype=self.dtype)
        return u.mul_(self._reset_width).add_(self._reset_low)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.generator.manual_seed(seed)
        self.state = self._initial_state(self.num_envs)
        self.elapsed.zero_()
        return self._observe()

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        action = torch.as_tensor(action, device=self.device).detach()
        reward, terminated = self._advance(action)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps  # gymnasium's TimeLimit
        final_obs = self._observe()
        self._restart(terminated | truncated)
        return self._observe(), reward, terminated, truncated, {"final_obs": final_obs}

    def _restart(self, done: torch.Tensor) -> None:
        """Same-step auto-reset of the copies in ``done``."""
        if self.sync_free_reset:  # accelerator: draw for every copy, keep the draws where done
            fresh = self._initial_state(self.num_envs)
            self.state = torch.where(done[:, None], fresh, self.state)
            self.elapsed.masked_fill_(done, 0)
        else:
            # CPU: draw only for the ended copies; indexing needs their count, free to get
            # here, and torch's CPU generator is slow enough (~6 ns a number) to matter.
            ended = done.nonzero().squeeze(1)
            if len(ended):
                self.state[ended] = self._initial_state(len(ended))
                self.elapsed[ended] = 0

    def get_state(self) -> torch.Tensor:
        """A copy of the physical state ``(N, D)`` (gymnasium's ``env.unwrapped.state`` rows)."""
        return self.state.clone()

    def set_state(self, state: torch.Tensor | np.ndarray,
                  index: torch.Tensor | np.ndarray | slice | list[int] | None = None
                  ) -> torch.Tensor:
        """Overwrite the state of the copies ``index`` (all if ``None``) with ``state``
        ``(len(index), D)``; step counters are left alone. Returns all copies' observations."""
        state = torch.as_tensor(state, dtype=self.dtype, device=self.device)
        self.state[slice(None) if index is None else index] = state
        return self._observe()

    def _continuous(self, action: torch.Tensor) -> torch.Tensor:
        """The first (only) component of a ``(N, 1)`` or ``(N,)`` continuous action."""
        return action.to(self.dtype).reshape(self.num_envs, -1)[:, 0]


def _box(low: list[float], high: list[float]) -> gym.spaces.Box:
    return gym.spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)


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
        self._four_thirds_length = torch.tensor(4.0 / 3.0 * self.length, dtype=dtype,
                                                device=self.device)

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The hot loop of benchmarks/envs.py: fused (addcmul, alpha=) and in-place ops on
        # column views of the state, each line one of gymnasium's equations.
        x, x_dot, theta, theta_dot = self.state.unbind(1)
        mt, pml = self.total_mass, self.polemass_length
        costheta, sintheta = torch.cos(theta), torch.sin(theta)
        # temp = (force + polemass_length θ̇² sinθ) / total_mass, force = (2a - 1) force_mag
        temp = action.to(self.dtype, copy=True).mul_(2 * self.force_mag / mt)
        temp.sub_(self.force_mag / mt)
        temp.addcmul_(theta_dot.square(), sintheta, value=pml / mt)
        # thetaacc = (g sinθ - cosθ temp) / (length (4/3 - masspole cos²θ / total_mass))
        denom = torch.addcmul(self._four_thirds_length, costheta, costheta,
                              value=-self.length * self.masspole / mt)
        thetaacc = torch.addcmul(sintheta.mul_(self.gravity), costheta, temp, value=-1.0)
        thetaacc.div_(denom)
        # xacc = temp - polemass_length thetaacc cosθ / total_mass
        xacc = torch.addcmul(temp, thetaacc, costheta, value=-pml / mt)
        # Euler: every update uses the derivatives at the old state
        x.add_(x_dot, alpha=self.tau)
        x_dot.add_(xacc, alpha=self.tau)
        theta.add_(theta_dot, alpha=self.tau)
        theta_dot.add_(thetaacc, alpha=self.tau)
        terminated = (x.abs() > self.x_threshold) | (theta.abs() > self.theta_threshold_radians)
        return torch.ones(self.num_envs, dtype=self.dtype, device=self.device), terminated


def wrap(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Acrobot's ``wrap``: shift ``x`` by whole periods ``high - low`` into ``[low, high]``
    (gymnasium subtracts or adds the period in a loop; this counts the periods instead)."""
    period = high - low
    x = x - period * torch.ceil((x - high) / period).clamp_min(0)
    return x + period * torch.ceil((low - x) / period).clamp_min(0)


class Acrobot(ClassicControl):
    """Acrobot-v1 = ``AcrobotEnv`` in gymnasium/envs/classic_control/acrobot.py: the "book"
    dynamics (``book_or_nips = "book"``), one RK4 step of ``dt = 0.2``, angles wrapped to
    [-π, π], velocities bounded, no torque noise, reward -1 until the tip is above the bar.

    The state is ``(θ1, θ2, θ̇1, θ̇2)``; actions 0, 1, 2 apply torque -1, 0, +1.
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

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32):
        super().__init__(num_envs, device, seed, dtype)
        self._torques = torch.tensor(self.AVAIL_TORQUE, dtype=dtype, device=self.device)

    def _dsdt(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``AcrobotEnv._dsdt``: the time derivative of ``s`` under torque ``a`` ("book")."""
        m1, m2, l1 = self.LINK_MASS_1, self.LINK_MASS_2, self.LINK_LENGTH_1
        lc1, lc2, I1, I2, g = self.LINK_COM_POS_1, self.LINK_COM_POS_2, self.LINK_MOI, \
            self.LINK_MOI, 9.8
        theta1, theta2, dtheta1, dtheta2 = s.unbind(1)
        cos2, sin2 = torch.cos(theta2), torch.sin(theta2)
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + I1 + I2
        d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + I2
        phi2 = m2 * lc2 * g * torch.cos(theta1 + theta2 - math.pi / 2.0)
        phi1 = (-m2 * l1 * lc2 * dtheta2**2 * sin2
                - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
                + (m1 * lc1 + m2 * l1) * g * torch.cos(theta1 - math.pi / 2) + phi2)
        ddtheta2 = ((a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin2 - phi2)
                    / (m2 * lc2**2 + I2 - d2**2 / d1))
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return torch.stack((dtheta1, dtheta2, ddtheta1, ddtheta2), 1)

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        torque = self._torques[action.long()]
        # rk4(self._dsdt, s, [0, dt]): one classical Runge-Kutta step, torque held constant
        s, dt, dt2 = self.state, self.dt, self.dt / 2.0
        k1 = self._dsdt(s, torque)
        k2 = self._dsdt(s + dt2 * k1, torque)
        k3 = self._dsdt(s + dt2 * k2, torque)
        k4 = self._dsdt(s + dt * k3, torque)
        ns = s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        self.state = torch.stack((wrap(ns[:, 0], -math.pi, math.pi),
                                  wrap(ns[:, 1], -math.pi, math.pi),
                                  ns[:, 2].clamp(-self.MAX_VEL_1, self.MAX_VEL_1),
                                  ns[:, 3].clamp(-self.MAX_VEL_2, self.MAX_VEL_2)), 1)
        theta1, theta2 = self.state[:, 0], self.state[:, 1]
        terminated = -torch.cos(theta1) - torch.cos(theta2 + theta1) > 1.0
        return terminated.to(self.dtype) - 1.0, terminated  # -1 per step, 0 on reaching

    def _observe(self) -> torch.Tensor:
        theta1, theta2, dtheta1, dtheta2 = self.state.unbind(1)
        return torch.stack((torch.cos(theta1), torch.sin(theta1), torch.cos(theta2),
                            torch.sin(theta2), dtheta1, dtheta2), 1)


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

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32, *,
                 mass: float | torch.Tensor = 1.0, length: float | torch.Tensor = 1.0,
                 gravity: float | torch.Tensor = 10.0, gain: float | torch.Tensor = 1.0):
        super().__init__(num_envs, device, seed, dtype)
        self.gain = 1.0
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

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        th, thdot = self.state.unbind(1)
        g, m, length, dt = self.g, self.m, self.length, self.dt
        u = self._continuous(action).clamp(-self.max_torque, self.max_torque)
        costs = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * (u**2)
        torque = u if isinstance(self.gain, float) and self.gain == 1.0 else u * self.gain
        newthdot = thdot + (3 * g / (2 * length) * torch.sin(th)
                            + 3.0 / (m * length**2) * torque) * dt
        newthdot = newthdot.clamp(-self.max_speed, self.max_speed)
        newth = th + newthdot * dt
        self.state = torch.stack((newth, newthdot), 1)
        return -costs, torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _observe(self) -> torch.Tensor:
        theta, thetadot = self.state.unbind(1)
        return torch.stack((torch.cos(theta), torch.sin(theta), thetadot), 1)


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

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        position, velocity = self.state.unbind(1)
        a = self._continuous(action)
        force = a.clamp(self.min_action, self.max_action)
        velocity = velocity + (force * self.power - 0.0025 * torch.cos(3 * position))
        velocity = velocity.clamp(-self.max_speed, self.max_speed)
        position = (position + velocity).clamp(self.min_position, self.max_position)
        velocity = velocity.masked_fill((position == self.min_position) & (velocity < 0), 0.0)
        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        self.state = torch.stack((position, velocity), 1)
        return terminated.to(self.dtype) * 100.0 - a**2 * 0.1, terminated
