"""The offline trainers' shared loop: a dataset from a testbed name (``point-mass-mixed`` =
env key + quality, :func:`polab.algos.offline.datasets.make_dataset`), TD3+BC's state
normalisation, ``updates_per_iteration`` gradient steps on uniform minibatches per
iteration, then the normalised score (D4RL) of the deterministic policy over
``eval_episodes`` batched episodes in the real env. A trainer defines :meth:`build` (its
networks and optimisers) and :meth:`update` (one gradient step on a batch); ``global_step``
counts gradient steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from polab.algos.offline import actors
from polab.algos.offline.datasets import (
    QUALITIES,
    episode_returns,
    make_dataset,
    normalized_score,
)
from polab.algos.offline.testbeds import TESTBEDS
from polab.config import Config, param
from polab.core.algorithm import Algorithm
from polab.core.networks import mlp
from polab.core.replay import Transitions

DATASET_SIZES = {"point-mass": 20_000, "pendulum": 50_000}


def parse_testbed(name: str) -> tuple[str, str]:
    """``"point-mass-mixed"`` → ``("point-mass", "mixed")`` (a ``ValueError`` names the known
    testbeds and qualities otherwise)."""
    for key in actors.ENVS:
        quality = name.removeprefix(key + "-")
        if name.startswith(key + "-") and quality in QUALITIES:
            return key, quality
    raise ValueError(f"unknown offline testbed {name!r}; known: {', '.join(TESTBEDS)} "
                     f"(or <{'|'.join(actors.ENVS)}>-<{'|'.join(QUALITIES)}>)")


@dataclass(frozen=True)
class OfflineConfig(Config):
    """The offline loop's knobs (CORL's defaults where they fit a CPU: 2×64 nets, batch 256)."""

    num_iterations: int = param(8, help="iterations (each: gradient steps, then evaluation)",
                                low=1, high=100_000)
    updates_per_iteration: int = param(250, help="gradient steps per iteration", low=1,
                                       high=100_000)
    batch_size: int = param(256, help="transitions per gradient step", low=1, high=8192,
                            paper="CORL")
    learning_rate: float = param(3e-4, help="Adam learning rate (actor and critics)",
                                 low=1e-5, high=1e-1, log=True, paper="Fujimoto & Gu 2021")
    hidden: int = param(64, help="hidden units per layer (2 layers)", low=4, high=1024)
    gamma: float = param(0.99, help="discount factor γ", low=0.0, high=1.0)
    dataset_size: int = param(0, help="transitions in the dataset (0: 20k point mass, "
                              "50k Pendulum)", low=0, high=10_000_000)
    eval_episodes: int = param(20, help="evaluation episodes per iteration (batched)", low=1,
                               high=10_000)
    normalize_states: bool = param(True, help="standardise states with the dataset's mean "
                                   "and std", paper="Fujimoto & Gu 2021")
    seed: int = param(0, help="random seed (networks, minibatches, dataset, evaluation)",
                      low=0, high=2**31 - 1)


class OfflineAlgorithm(Algorithm):
    """Offline training on a testbed's dataset, evaluated in its real env (module doc)."""

    config: OfflineConfig
    x_label = "gradient steps"

    def __init__(self, config: OfflineConfig, env: str = "point-mass-mixed",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        c = self.config
        self.env_key, self.quality = parse_testbed(env)
        n = c.dataset_size or DATASET_SIZES[self.env_key]
        data = make_dataset(self.env_key, self.quality, n, seed=c.seed).to(self.device)
        self.data = data
        mean, std = data.observations.mean(0), data.observations.std(0) + 1e-3
        if not c.normalize_states:
            mean, std = torch.zeros_like(mean), torch.ones_like(std)
        self.obs_mean, self.obs_std = mean, std
        self.norm = replace(data, observations=(data.observations - mean) / std,
                            next_observations=(data.next_observations - mean) / std)
        low, high = actors.action_box(self.env_key)
        self.act_scale = ((high - low) / 2).to(self.device)
        self.act_bias = ((high + low) / 2).to(self.device)
        self.obs_dim, self.act_dim = data.observations.shape[1], data.actions.shape[1]
        self.eval_env = actors.make_env(self.env_key, c.eval_episodes, seed=c.seed + 10_000,
                                        device=self.device)
        ref = actors.references(self.env_key)
        self.random_return, self.expert_return = ref["random"], ref["expert"]
        self.build()

    # --- what each trainer defines -----------------------------------------------------

    def build(self) -> None:
        """Create the networks and optimisers (``self.actor`` maps normalised states to
        actions)."""
        raise NotImplementedError

    def update(self, batch: Transitions) -> dict[str, torch.Tensor]:
        """One gradient step on ``batch`` (normalised states); the detached metrics."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------

    def deterministic_actor(self) -> nn.Module:
        """A 2×hidden tanh actor in the env's action box (TD3's)."""
        return TanhActor(self.obs_dim, self.act_dim, self.config.hidden, self.act_scale,
                         self.act_bias).to(self.device)

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action for raw observations ``obs``."""
        return self.actor((obs.to(self.device) - self.obs_mean) / self.obs_std)

    def evaluate(self) -> tuple[float, float]:
        """Mean return and normalised score over ``eval_episodes`` batched episodes."""
        seed = self.config.seed + 10_000 + self.iteration
        returns = episode_returns(self.eval_env, self.policy, seed)
        ret = float(returns.mean())
        return ret, float(normalized_score(ret, self.random_return, self.expert_return))

    def step(self) -> dict[str, Any]:
        c = self.config
        stats: dict[str, list[torch.Tensor]] = {}
        for _ in range(c.updates_per_iteration):
            for k, v in self.update(self.norm.sample(c.batch_size, self.generator)).items():
                stats.setdefault(k, []).append(v)
            self.global_step += 1
        self.iteration += 1
        ret, score = self.evaluate()
        means = {k: float(torch.stack(v).float().mean()) for k, v in stats.items()}
        return {"charts/score": score, "charts/episodic_return": ret,
                **{f"losses/{k}": v for k, v in means.items()}}


class TanhActor(nn.Module):
    """``a = bias + scale · tanh(mlp(s))``: TD3's deterministic actor (2 hidden layers)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, scale: torch.Tensor,
                 bias: torch.Tensor):
        super().__init__()
        self.net = mlp([obs_dim, hidden, hidden, act_dim], out_gain=1.0, activation=nn.ReLU)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.bias + self.scale * torch.tanh(self.net(obs))
