"""Rollouts of a batched environment: the knobs every batched algorithm shares
(``RolloutConfig``), its environment (``batched_env``), ``collect`` (step the env with the
policy for ``num_steps`` steps, time-major), ``EpisodeTracker`` (episode returns and lengths of
all copies, read once per iteration) and ``first_episode_mask``.

Taught in notebooks/01_policy_gradients.ipynb.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from polab.config import Config, param
from polab.core.networks import ActorCritic
from polab.envs import make
from polab.envs.base import BatchedEnv


@dataclass(frozen=True)
class RolloutConfig(Config):
    """The knobs every algorithm on a batched environment shares: the seed, the run length in
    environment steps, ``num_envs`` copies stepped ``num_steps`` times per iteration, the
    learning rate, the discount and the network width (CleanRL's names)."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    total_timesteps: int = param(200_000, help="environment steps in the whole run",
                                 low=1, high=100_000_000)
    learning_rate: float = param(2.5e-3, help="Adam learning rate", low=1e-5, high=1e-1, log=True)
    num_envs: int = param(32, help="environment copies stepped in parallel", low=1, high=65_536)
    num_steps: int = param(64, help="steps per copy per rollout", low=1, high=10_000)
    gamma: float = param(0.99, help="discount factor γ", low=0.0, high=1.0)
    hidden: int = param(64, help="hidden units per layer", low=4, high=1024)

    @property
    def batch_steps(self) -> int:
        """Environment transitions per iteration (``num_envs × num_steps``)."""
        return self.num_envs * self.num_steps


def batched_env(config: Config, env: BatchedEnv | str, device: torch.device) -> BatchedEnv:
    """``config.num_envs`` copies of ``env`` (a registered name) seeded with ``config.seed``,
    or ``env`` itself after checking its size: the env part of a batched algorithm's set-up
    (the rest is :meth:`polab.core.algorithm.Algorithm.setup`, called first)."""
    num_envs = config.num_envs  # type: ignore[attr-defined]
    if isinstance(env, str):
        return make(env, num_envs, device, seed=config.seed)  # type: ignore[attr-defined]
    if env.num_envs != num_envs:
        raise ValueError(f"num_envs={num_envs} but the env has {env.num_envs} copies")
    return env


@dataclass
class Rollout:
    """A time-major batch: every tensor is ``(T, N, ...)``."""

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    final_obs: torch.Tensor

    @property
    def dones(self) -> torch.Tensor:
        return self.terminated | self.truncated


class EpisodeTracker:
    """Returns and lengths of the episodes of all copies; ``mean_return`` over the last
    ``window`` finished episodes (the number CleanRL logs as ``charts/episodic_return``)."""

    def __init__(self, num_envs: int, device: torch.device, window: int = 20):
        self.ret = torch.zeros(num_envs, device=device)
        self.len = torch.zeros(num_envs, device=device)
        self.recent_returns: deque[float] = deque(maxlen=window)
        self.recent_lengths: deque[float] = deque(maxlen=window)
        self.episodes = 0

    def update(self, rollout: Rollout, valid: torch.Tensor | None = None) -> None:
        """Accumulate a rollout's rewards; record every episode that ended in it.

        All steps at once: ``cumsum`` over time, plus what each copy carried in, gives the
        running total at every step; an episode's return is the total at its end less the
        total at the previous end in that copy (found with ``cummax`` of end indices)."""
        rewards = rollout.rewards if valid is None else rollout.rewards * valid
        dones = rollout.dones if valid is None else rollout.dones & valid
        steps = torch.ones_like(rewards) if valid is None else valid.to(rewards.dtype)
        total_ret = torch.cumsum(rewards, 0) + self.ret
        total_len = torch.cumsum(steps, 0) + self.len
        time = torch.arange(len(dones), device=dones.device)[:, None]
        last_end = torch.where(dones, time, -1).cummax(0).values  # (T, N), -1: none yet
        prev_end = torch.cat([torch.full_like(last_end[:1], -1), last_end[:-1]])
        ends_ret = total_ret - _at(total_ret, prev_end)
        ends_len = total_len - _at(total_len, prev_end)
        self.ret = total_ret[-1] - _at(total_ret, last_end[-1:])[0]
        self.len = total_len[-1] - _at(total_len, last_end[-1:])[0]
        finished_ret = ends_ret[dones].cpu().numpy()
        self.recent_returns.extend(finished_ret.tolist())
        self.recent_lengths.extend(ends_len[dones].cpu().numpy().tolist())
        self.episodes += len(finished_ret)

    def state_dict(self) -> dict[str, Any]:
        return {"ret": self.ret.clone(), "len": self.len.clone(), "episodes": self.episodes,
                "recent_returns": list(self.recent_returns),
                "recent_lengths": list(self.recent_lengths)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ret.copy_(state["ret"])
        self.len.copy_(state["len"])
        self.episodes = state["episodes"]
        for name in ("recent_returns", "recent_lengths"):
            recent = getattr(self, name)
            recent.clear()
            recent.extend(state[name])

    def metrics(self) -> dict[str, float]:
        if not self.recent_returns:
            return {}
        return {"charts/episodic_return": float(np.mean(self.recent_returns)),
                "charts/episodic_length": float(np.mean(self.recent_lengths)),
                "charts/episodes": float(self.episodes)}


def _at(totals: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``totals`` (T, N) at the time steps ``index`` (rows × N, -1 for "before the rollout",
    where the total is 0)."""
    picked = totals.gather(0, index.clamp_min(0))
    return torch.where(index >= 0, picked, torch.zeros_like(picked))


@torch.no_grad()
def collect(env: BatchedEnv, agent: ActorCritic, obs: torch.Tensor, num_steps: int,
            generator: torch.Generator | None, until_all_done: bool = False
            ) -> tuple[Rollout, torch.Tensor]:
    """Step ``env`` with ``agent`` for ``num_steps`` steps (or until every copy has ended an
    episode, if ``until_all_done``); return the rollout and the observation to continue from.
    ``agent`` is anything with ``discrete`` and ``act(obs, generator) -> (actions, logp)``;
    rewards keep the env's shape (``(N,)``, or ``(N, K)`` for a multi-objective env)."""
    n = env.num_envs
    act_shape = () if agent.discrete else (env.action_dim,)
    obs_buf = torch.empty((num_steps, n, env.obs_dim), device=obs.device, dtype=obs.dtype)
    final_buf = torch.empty_like(obs_buf)
    act_buf = torch.empty((num_steps, n, *act_shape), device=obs.device,
                          dtype=torch.long if agent.discrete else obs.dtype)
    logp_buf = torch.empty((num_steps, n), device=obs.device)
    rew_buf: torch.Tensor | None = None  # (T, N) or, for vector rewards, (T, N, K)
    term_buf, trunc_buf = (torch.empty((num_steps, n), device=obs.device, dtype=torch.bool)
                           for _ in range(2))
    ended = torch.zeros(n, device=obs.device, dtype=torch.bool)
    steps = num_steps
    for t in range(num_steps):
        obs_buf[t] = obs
        action, logp = agent.act(obs, generator)
        obs, reward, terminated, truncated, info = env.step(action)
        if rew_buf is None:
            rew_buf = torch.empty((num_steps, *reward.shape), device=obs.device)
        act_buf[t], logp_buf[t], rew_buf[t] = action, logp, reward
        term_buf[t], trunc_buf[t], final_buf[t] = terminated, truncated, info["final_obs"]
        if until_all_done:
            ended |= terminated | truncated
            if bool(ended.all()):
                steps = t + 1
                break
    s = slice(0, steps)
    if rew_buf is None:
        raise ValueError(f"collect needs num_steps >= 1, got {num_steps}")
    rollout = Rollout(obs_buf[s], act_buf[s], logp_buf[s], rew_buf[s], term_buf[s],
                      trunc_buf[s], final_buf[s])
    return rollout, obs


def first_episode_mask(dones: torch.Tensor) -> torch.Tensor:
    """``(T, N)`` mask of the steps up to and including each copy's first episode end."""
    ended_before = torch.cumsum(dones.int(), 0) - dones.int()
    return ended_before == 0
