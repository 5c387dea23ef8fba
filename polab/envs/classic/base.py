"""The base of the batched classic-control environments: one state tensor ``(N, D)``, pooled
resets, time limits as per-copy deadlines (see the package docstring)."""

from __future__ import annotations

import copy
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
