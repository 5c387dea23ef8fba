"""Building blocks shared by the on-policy algorithms: policies, distributions, rollouts.

* distributions as pure functions of logits / means (faster and more explicit than
  ``torch.distributions`` in a hot loop): sample, log-probability, entropy;
* ``ActorCritic``: CleanRL's MLP actor and critic (tanh, orthogonal init);
* ``collect``: step a batched env with the policy for ``num_steps`` steps, time-major;
* ``EpisodeTracker``: episode returns and lengths of all copies, read once per iteration;
* ``start_run``: the set-up every batched algorithm begins with.

Taught in notebooks/01_policy_gradients.ipynb.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from polab.config import Config
from polab.device import pick_device, seed_everything
from polab.envs import make
from polab.envs.base import BatchedEnv

LOG_2PI = math.log(2 * math.pi)


# --- set-up ------------------------------------------------------------------------------

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


# --- distributions -----------------------------------------------------------------------

def categorical_sample(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Sample ``a ~ softmax(logits)`` by the Gumbel-max trick (one op, seeded)."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return torch.argmax(logits - torch.log(-torch.log(u.clamp_min(1e-20))), dim=-1)


def categorical_logp(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``log π(a|s) = logits_a - logsumexp(logits)``."""
    return torch.log_softmax(logits, -1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``H = -Σ_a π(a) log π(a)``."""
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


def gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor,
                    generator: torch.Generator | None) -> torch.Tensor:
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + log_std.exp() * noise


def gaussian_logp(mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian: ``Σ_i -(a_i-μ_i)²/(2σ_i²) - log σ_i - ½ log 2π``."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - 0.5 * LOG_2PI).sum(-1)


def gaussian_entropy(log_std: torch.Tensor, batch_shape: torch.Size) -> torch.Tensor:
    """``H = Σ_i (log σ_i + ½ log 2πe)``, broadcast to the batch."""
    return (log_std + 0.5 * (LOG_2PI + 1.0)).sum(-1).expand(batch_shape)


def categorical_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """``KL(p ‖ q) = Σ_a p(a) (log p(a) - log q(a))`` of two categoricals given by logits."""
    logp, logq = torch.log_softmax(logits_p, -1), torch.log_softmax(logits_q, -1)
    return (logp.exp() * (logp - logq)).sum(-1)


def gaussian_kl(mean_p: torch.Tensor, log_std_p: torch.Tensor, mean_q: torch.Tensor,
                log_std_q: torch.Tensor) -> torch.Tensor:
    """``KL(p ‖ q)`` of diagonal Gaussians:
    ``Σ_i log σ_q/σ_p + (σ_p² + (μ_p-μ_q)²) / (2σ_q²) - ½``."""
    var_ratio = torch.exp(2 * (log_std_p - log_std_q))
    z = (mean_p - mean_q) * torch.exp(-log_std_q)
    return (0.5 * (var_ratio + z * z - 1) - (log_std_p - log_std_q)).sum(-1)


# --- networks ----------------------------------------------------------------------------

def mlp(sizes: list[int], out_gain: float, activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """An MLP with CleanRL's orthogonal init (gain √2 inside, ``out_gain`` on the last layer)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = nn.Linear(a, b)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers += [linear] if last else [linear, activation()]
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs; a categorical or a diagonal-Gaussian policy."""

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, hidden: int = 64,
                 critic: bool = True):
        super().__init__()
        self.discrete = discrete
        self.actor = mlp([obs_dim, hidden, hidden, action_dim], out_gain=0.01)
        self.critic = mlp([obs_dim, hidden, hidden, 1], out_gain=1.0) if critic else None
        self.log_std = None if discrete else nn.Parameter(torch.zeros(action_dim))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        if self.critic is None:
            raise RuntimeError("this policy was built without a critic")
        return self.critic(obs).squeeze(-1)

    def act(self, obs: torch.Tensor, generator: torch.Generator | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample actions and return ``(actions, log π(actions|obs))``."""
        out = self.actor(obs)
        if self.discrete:
            actions = categorical_sample(out, generator)
            return actions, categorical_logp(out, actions)
        actions = gaussian_sample(out, self.log_std, generator)
        return actions, gaussian_logp(out, self.log_std, actions)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log π(actions|obs), entropy)`` with gradients, for the update."""
        out = self.actor(obs)
        if self.discrete:
            return categorical_logp(out, actions), categorical_entropy(out)
        entropy = gaussian_entropy(self.log_std, out.shape[:-1])
        return gaussian_logp(out, self.log_std, actions), entropy


# --- rollouts ----------------------------------------------------------------------------

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
