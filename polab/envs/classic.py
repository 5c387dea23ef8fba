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
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from polab.envs.base import BatchedEnv


class ClassicControl(BatchedEnv):
    """Shared machinery: the state ``(N, D)``, a deadline per copy for the time limit, and
    same-step auto-reset to a state drawn uniformly from ``[reset_low, reset_high]``.

    A subclass sets the spaces and reset box and implements ``_advance`` (the dynamics,
    updating ``self.state`` and returning ``(reward, terminated)``); its observation is the
    state, or, with ``angles = k``, the cosine and sine of each of the first ``k`` state
    variables followed by the others (Acrobot, Pendulum).

    The step is a short run of fused tensor operations (one CPU op costs ~1 µs of dispatch
    whatever ``N``, so at N ≤ 1024 their count *is* the speed): the physics updates
    ``self.state`` in place through column views made once per ``reset``, and auto-reset
    states come from a pool drawn in bulk (``_fresh``), ``N · K`` rows with
    ``K = clip(65536 // N, 1, 64)``, so
    ``torch.rand`` runs once every many steps instead of every step; the pool is drawn from
    ``self.generator`` after ``reset``'s own draws, so the same seed gives the same numbers.
    """

    reset_low: tuple[float, ...]
    reset_high: tuple[float, ...]
    angles: int = 0

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
        self._views: tuple[torch.Tensor, tuple[torch.Tensor, ...]] | None = None
        # gymnasium's TimeLimit without a per-step counter update: a copy is truncated at the
        # step count `_steps` equal to its `_deadline` (set when it starts)
        self._steps = 0
        self._pool_rows = num_envs * max(1, min(64, 65536 // num_envs))
        self._pool: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._pool_next = 0
        # how `step` restarts ended copies: without a host sync off the CPU (see `_restart`)
        self.sync_free_reset = self.device.type != "cpu"
        self.reset(seed)

    # --- the part each environment defines ---------------------------------------------

    def _advance(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply gymnasium's ``step`` equations to ``self.state``; return (reward, terminated)."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------

    def _observe_rows(self, state: torch.Tensor) -> torch.Tensor:
        """The observations ``(k, obs_dim)`` of the states ``(k, D)``, as a new tensor."""
        if not self.angles:
            return state.clone()  # the state is contiguous, and so is its clone
        # column by column into a new tensor: ops on 1-D columns are fast, ops on (k, 2)
        # slices and torch.cat of narrow tensors take a slow path at large k
        obs = torch.empty((len(state), self.obs_dim), dtype=state.dtype, device=state.device)
        out, columns = obs.unbind(1), (self._state_views() if state is self.state
                                       else state.unbind(1))
        for i in range(self.angles):
            torch.cos(columns[i], out=out[2 * i])
            torch.sin(columns[i], out=out[2 * i + 1])
        for i in range(self.angles, state.shape[1]):
            out[self.angles + i].copy_(columns[i])
        return obs

    def _observe(self) -> torch.Tensor:
        """The observation ``(N, obs_dim)`` of the current state, as a new tensor."""
        return self._observe_rows(self.state)

    @property
    def elapsed(self) -> torch.Tensor:
        """Steps since each copy's episode started ``(N,)`` (gymnasium's ``TimeLimit``)."""
        return self._steps + self.max_episode_steps - self._deadline

    def _make_views(self, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The views of ``state`` that ``_advance`` works on, its ``D`` columns first (which
        ``_observe_rows`` reads)."""
        return state.unbind(1)

    def _state_views(self) -> tuple[torch.Tensor, ...]:
        """``_make_views(self.state)``, made once per state tensor (a view costs ~1 µs)."""
        if self._views is None or self._views[0] is not self.state:
            self._views = (self.state, self._make_views(self.state))
        return self._views[1]

    def _draw(self, count: int) -> torch.Tensor:
        """``count`` draws of ``uniform(reset_low, reset_high)``, gymnasium's reset rule."""
        u = torch.rand((count, len(self.reset_low)), generator=self.generator,
                       device=self.device, dtype=self.dtype)
        return u.mul_(self._reset_width).add_(self._reset_low)

    def _fresh(self, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next ``count`` start states of the pool and, for an observation that is not
        the state, their observations (the pool is redrawn, ``_pool_rows`` at once, when
        fewer than ``count`` are left)."""
        if self._pool is None or self._pool_next + count > self._pool_rows:
            states = self._draw(self._pool_rows)
            self._pool = (states, self._observe_rows(states) if self.angles else None)
            self._pool_next = 0
        rows = slice(self._pool_next, self._pool_next + count)
        self._pool_next += count
        states, observations = self._pool
        return states[rows], None if observations is None else observations[rows]

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.generator.manual_seed(seed)
        # new tensors (made outside torch.inference_mode even if earlier steps ran inside it;
        # `_state_views` remakes the views of a new state)
        self.state = self._draw(self.num_envs)
        self._deadline = torch.full((self.num_envs,), self._steps + self.max_episode_steps,
                                    dtype=torch.int64, device=self.device)
        self._pool = None  # drawn when first needed, after this reset's draws
        return self._observe()

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        if not isinstance(action, torch.Tensor) or action.device != self.device:
            action = torch.as_tensor(action, device=self.device)
        reward, terminated = self._advance(action.detach() if action.requires_grad else action)
        self._steps += 1
        truncated = self._deadline.eq(self._steps)  # gymnasium's TimeLimit
        final_obs = self._observe()
        obs = self._restart(terminated | truncated, final_obs)
        return obs, reward, terminated, truncated, {"final_obs": final_obs}

    def _restart(self, done: torch.Tensor, final_obs: torch.Tensor) -> torch.Tensor:
        """Same-step auto-reset of the copies in ``done``; returns the new observations (a new
        tensor: ``final_obs`` with the ended rows replaced)."""
        if self.sync_free_reset:  # accelerator: a pool row for every copy, kept where done
            states, observations = self._fresh(self.num_envs)
            self.state.copy_(torch.where(done[:, None], states, self.state))
            self._deadline.masked_fill_(done, self._steps + self.max_episode_steps)
            return (torch.where(done[:, None], observations, final_obs) if self.angles
                    else self._observe())
        # CPU: the ended copies' indices (their count is free to get here) and index_copy,
        # several times faster than masked ops at large N
        ended = done.nonzero().view(-1)
        if not len(ended):
            return final_obs.clone()
        states, observations = self._fresh(len(ended))
        self.state.index_copy_(0, ended, states)
        self._deadline.index_fill_(0, ended, self._steps + self.max_episode_steps)
        # an observation that is the state is copied whole; cos/sin ones are patched
        return final_obs.index_copy(0, ended, observations) if self.angles else self._observe()

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
        action = action.to(self.dtype)
        return action.view(-1) if action.numel() == self.num_envs and action.is_contiguous() \
            else action.reshape(self.num_envs, -1)[:, 0]

    def _discrete(self, action: torch.Tensor) -> torch.Tensor:
        """A discrete action as an index tensor (``index_select`` wants integers)."""
        return action if action.dtype == torch.long else action.long()


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
