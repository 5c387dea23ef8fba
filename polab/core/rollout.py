"""Rollouts of a batched environment: the run set-up every batched algorithm begins with
(``start_run``), ``collect`` (step the env with the policy for ``num_steps`` steps,
time-major), ``EpisodeTracker`` (episode returns and lengths of all copies, read once per
iteration) and ``first_episode_mask``.

Taught in notebooks/01_policy_gradients.ipynb.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from polab.config import Config
from polab.core.networks import ActorCritic
from polab.device import pick_device, seed_everything
from polab.envs import make
from polab.envs.base import BatchedEnv


def start_run(config: Config, env: BatchedEnv | str, device: str | torch.device | None
              ) -> tuple[Config, torch.device, torch.Generator, BatchedEnv]:
    """Validate ``config`` (naming any bad field), resolve ``device``, seed everything, and
    build ``config.num_envs`` copies of ``env`` (a registered name) or check a given env's
    size. Returns ``(config, device, generator on device, env)``."""
    config = config.validate()
    dev = pick_device(device)
    seed_everything(config.seed)
    generator = torch.Generator(dev).manual_seed(config.seed)
    if isinstance(env, str):
        env = make(env, config.num_envs, dev, seed=config.seed)
    elif env.num_envs != config.num_envs:
        raise ValueError(f"num_envs={config.num_envs} but the env has {env.num_envs} copies")
    return config, dev, generator, env


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
        """Accumulate a rollout's rewards; record every episode that ended in it."""
        rewards = rollout.rewards if valid is None else rollout.rewards * valid
        dones = rollout.dones if valid is None else rollout.dones & valid
        ends_ret, ends_len = torch.empty_like(rewards), torch.empty_like(rewards)
        for t in range(rewards.shape[0]):  # over time steps, all copies at once
            self.ret += rewards[t]
            self.len += 1.0 if valid is None else valid[t].float()
            ends_ret[t], ends_len[t] = self.ret, self.len
            keep = ~dones[t]
            self.ret *= keep
            self.len *= keep
        finished_ret = ends_ret[dones].cpu().numpy()
        self.recent_returns.extend(finished_ret.tolist())
        self.recent_lengths.extend(ends_len[dones].cpu().numpy().tolist())
        self.episodes += len(finished_ret)

    def metrics(self) -> dict[str, float]:
        if not self.recent_returns:
            return {}
        return {"charts/episodic_return": float(np.mean(self.recent_returns)),
                "charts/episodic_length": float(np.mean(self.recent_lengths)),
                "charts/episodes": float(self.episodes)}


@torch.no_grad()
def collect(env: BatchedEnv, agent: ActorCritic, obs: torch.Tensor, num_steps: int,
            generator: torch.Generator | None, until_all_done: bool = False
            ) -> tuple[Rollout, torch.Tensor]:
    """Step ``env`` with ``agent`` for ``num_steps`` steps (or until every copy has ended an
    episode, if ``until_all_done``); return the rollout and the observation to continue from."""
    n = env.num_envs
    act_shape = () if agent.discrete else (env.action_dim,)
    obs_buf = torch.empty((num_steps, n, env.obs_dim), device=obs.device, dtype=obs.dtype)
    final_buf = torch.empty_like(obs_buf)
    act_buf = torch.empty((num_steps, n, *act_shape), device=obs.device,
                          dtype=torch.long if agent.discrete else obs.dtype)
    logp_buf, rew_buf = (torch.empty((num_steps, n), device=obs.device) for _ in range(2))
    term_buf, trunc_buf = (torch.empty((num_steps, n), device=obs.device, dtype=torch.bool)
                           for _ in range(2))
    ended = torch.zeros(n, device=obs.device, dtype=torch.bool)
    steps = num_steps
    for t in range(num_steps):
        obs_buf[t] = obs
        action, logp = agent.act(obs, generator)
        obs, reward, terminated, truncated, info = env.step(action)
        act_buf[t], logp_buf[t], rew_buf[t] = action, logp, reward
        term_buf[t], trunc_buf[t], final_buf[t] = terminated, truncated, info["final_obs"]
        if until_all_done:
            ended |= terminated | truncated
            if bool(ended.all()):
                steps = t + 1
                break
    s = slice(0, steps)
    rollout = Rollout(obs_buf[s], act_buf[s], logp_buf[s], rew_buf[s], term_buf[s],
                      trunc_buf[s], final_buf[s])
    return rollout, obs


def first_episode_mask(dones: torch.Tensor) -> torch.Tensor:
    """``(T, N)`` mask of the steps up to and including each copy's first episode end."""
    ended_before = torch.cumsum(dones.int(), 0) - dones.int()
    return ended_before == 0
