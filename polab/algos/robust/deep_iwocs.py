"""Deep IWOCS on Pendulum (card 39, "Deep version"; Zouitine, Geist & Rachelson 2024,
arXiv 2410.06212): the tabular loop of :mod:`polab.algos.robust.iwocs` with SAC as the static
solver and a grid of physical parameters as the uncertainty set.

Iteration i (card 39, loop steps (i)-(iv)):

(i)   solve the static problem on the worst kernel found so far, ``T_i`` = a Pendulum with
      mass ``m_i`` and length ``l_i``: SAC (:class:`polab.algos.pg.sac.SAC`), warm-started from
      the previous solve's actor and critics (state dicts copied; a fresh replay buffer);
(ii)  keep every solve's actor ``π_j`` and twin critic ``Q_j``;
(iii) the robust policy proposes every stored actor's mean action ``a_k = μ_k(s)`` and takes
      the one with the best pessimistic value, ``argmax_k min_j min(Q_j¹, Q_j²)(s, a_k)``
      (per state);
(iv)  search: evaluate that policy on every kernel of the ``grid × grid`` box of
      ``(m, l) ∈ [1 − radius, 1 + radius]²`` at once (one batched rollout, per-copy physics)
      and take the worst; stop after ``iterations`` solves or when the worst kernel repeats.

The set is coupled (one ``(m, l)`` for the whole episode), so IWOCS is a heuristic here
(card 39, pitfall 1): no robust-VI value to reach, only baselines to beat.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from polab.algos.pg.sac import SAC, SACConfig
from polab.config import Config, param
from polab.core.algorithm import Algorithm
from polab.core.continuous import SquashedGaussianActor, TwinQ, squash
from polab.envs import make

ENV = "Pendulum-v1"

Policy = Callable[[torch.Tensor], torch.Tensor]
"""A deterministic policy: observations ``[N, obs]`` → actions ``[N, act]``."""


@dataclass(frozen=True)
class DeepIWOCSConfig(Config):
    """Deep IWOCS's knobs (card 39, "Deep version"): the loop's, then its SAC solves'."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    iterations: int = param(3, help="IWOCS iterations (SAC solves, each on the worst kernel "
                            "found so far)", low=1, high=10, paper="issue 17: 3-4")
    grid: int = param(7, help="search grid: points per axis of the (mass, length) box",
                      low=2, high=25, paper="issue 17: 7×7")
    radius: float = param(0.3, help="uncertainty box (m, l) ∈ [1 − radius, 1 + radius]²",
                          low=0.0, high=0.9, paper="issue 17: ±30%")
    first_steps: int = param(6000, help="SAC env steps of the first (nominal) solve",
                             low=100, high=1_000_000)
    resolve_steps: int = param(3000, help="SAC env steps of each warm-started re-solve",
                               low=100, high=1_000_000)
    eval_episodes: int = param(2, help="episodes per kernel in the worst-case search",
                               low=1, high=64)
    num_envs: int = param(4, help="Pendulum copies each SAC solve steps in parallel",
                          low=1, high=1024)
    learning_starts: int = param(500, help="uniform random env steps before the first solve "
                                 "learns (re-solves start from the warm policy)", low=0,
                                 high=100_000)

    def rules(self) -> list[tuple[bool, str]]:
        return [(self.grid % 2 == 1, "grid must be odd (the nominal m = l = 1 is a grid point)")]

    @property
    def total_sac_steps(self) -> int:
        """Env steps of all the SAC solves, if none stops early (the baselines' budget)."""
        return self.first_steps + (self.iterations - 1) * self.resolve_steps


# --- pure functions ---------------------------------------------------------------------------

def kernel_grid(points: int, radius: float) -> torch.Tensor:
    """``[points², 2]`` ``(mass, length)`` pairs of the box ``[1 − radius, 1 + radius]²``,
    mass-major."""
    axis = torch.linspace(1 - radius, 1 + radius, points, dtype=torch.float64)
    return torch.cartesian_prod(axis, axis)


def pick_min_q(proposals: torch.Tensor, q_values: torch.Tensor) -> torch.Tensor:
    """Card 39, loop step (iii) of the deep version: ``proposals [K, N, A]`` (actor k's action
    in state n), ``q_values [J, K, N]`` (critic j's pessimistic value of that action) → the
    ``[N, A]`` proposal with the largest ``min_j`` value per state."""
    best = q_values.min(0).values.argmax(0)  # [N]
    return proposals.gather(0, best[None, :, None].expand(1, *proposals.shape[1:]))[0]


def mean_action(actor: SquashedGaussianActor, obs: torch.Tensor) -> torch.Tensor:
    """The squashed Gaussian's deterministic action ``bias + scale · tanh(μ(s))``."""
    mean, _ = actor.distribution(obs)
    return squash(mean, actor.scale, actor.bias)


def robust_policy(actors: Sequence[SquashedGaussianActor],
                  critics: Sequence[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]
                  ) -> Policy:
    """Card 39, loop step (iii): every actor proposes its mean action, every critic (a twin
    Q, ``[2, N]`` values, or any ``(obs, act) → [..., N]``) scores it by its minimum, and
    :func:`pick_min_q` chooses per state."""
    if not actors or len(actors) != len(critics):
        raise ValueError(f"robust_policy needs one critic per actor (≥ 1), got {len(actors)} "
                         f"actors and {len(critics)} critics")

    @torch.no_grad()
    def act(obs: torch.Tensor) -> torch.Tensor:
        proposals = torch.stack([mean_action(a, obs) for a in actors])  # [K, N, A]
        k, n = proposals.shape[:2]
        flat_obs, flat_act = obs.repeat(k, 1), proposals.flatten(0, 1)
        q = torch.stack([critic(flat_obs, flat_act).reshape(-1, k * n).min(0).values
                         for critic in critics])  # [J, K·N]
        return pick_min_q(proposals, q.view(len(critics), k, n))
    return act


def actor_policy(actor: SquashedGaussianActor) -> Policy:
    """A single actor's deterministic (mean) action."""
    return torch.no_grad()(lambda obs: mean_action(actor, obs))


@torch.no_grad()
def evaluate_on_kernels(policy: Policy, kernels: torch.Tensor, episodes: int, seed: int,
                        device: str | torch.device | None = None) -> torch.Tensor:
    """Mean undiscounted return ``[K]`` of ``policy`` on each ``(mass, length)`` of
    ``kernels [K, 2]``, ``episodes`` episodes each: one batched Pendulum of ``K · episodes``
    copies with per-copy physics (card 39, loop step (iv))."""
    if episodes < 1:
        raise ValueError(f"episodes must be ≥ 1, got {episodes}")
    physics = kernels.float().repeat_interleave(episodes, 0)
    env = make(ENV, len(physics), device, seed=seed, mass=physics[:, 0].contiguous(),
               length=physics[:, 1].contiguous())
    obs = env.reset(seed=seed)
    total = torch.zeros(len(physics), device=obs.device)
    for _ in range(env.max_episode_steps):  # over time steps, all copies at once
        obs, reward, *_ = env.step(policy(obs))
        total += reward
    return total.view(len(kernels), episodes).mean(1)


def worst_kernel(returns: torch.Tensor) -> int:
    """Card 39, loop step (iv): the index of the lowest return."""
    if returns.ndim != 1 or returns.numel() == 0:
        raise ValueError(f"returns must be a non-empty vector, got shape {tuple(returns.shape)}")
    return int(returns.argmin())


# --- SAC solves -------------------------------------------------------------------------------

def sac_solve(steps: int, seed: int, mass: float | torch.Tensor, length: float | torch.Tensor,
              num_envs: int, learning_starts: int, warm: SAC | None = None,
              device: str | torch.device | None = None) -> SAC:
    """A SAC (default knobs otherwise) on ``num_envs`` Pendulums of the given physics, its
    networks copied from ``warm`` if given (card 39, loop step (i), warm start); not yet
    trained."""
    env = make(ENV, num_envs, device, seed=seed, mass=mass, length=length)
    sac = SAC(SACConfig(total_timesteps=steps, seed=seed, num_envs=num_envs,
                        learning_starts=learning_starts), env, device=device)
    if warm is not None:
        for name in ("actor", "q", "v", "v_target"):
            getattr(sac, name).load_state_dict(getattr(warm, name).state_dict())
    return sac


def train_sac(sac: SAC, on_step: Callable[[SAC], None] | None = None) -> SAC:
    """Run ``sac`` for its ``num_iterations`` steps; ``on_step(sac)`` before each."""
    for _ in range(sac.config.num_iterations):
        if on_step is not None:
            on_step(sac)
        sac.step()
    return sac


def randomise_physics(radius: float) -> Callable[[SAC], None]:
    """Domain randomisation's hook: at every episode start (all copies reset together, every
    200 steps), draw a fresh ``(m, l)`` per copy uniformly in the box."""
    def hook(sac: SAC) -> None:
        env, c = sac.env, sac.config
        if (sac.iteration * c.num_steps) % env.max_episode_steps == 0:
            u = torch.rand(2, c.num_envs, generator=sac.generator, device=sac.device)
            m, l_ = 1 - radius + 2 * radius * u
            env.set_physics(mass=m, length=l_)
    return hook


# --- the trainer ------------------------------------------------------------------------------

class DeepIWOCS(Algorithm):
    """IWOCS with SAC solves on Pendulum's ``(mass, length)`` box; ``step()`` is one IWOCS
    iteration (one SAC solve, then the search); ``global_step`` counts SAC env steps.
    ``state_dict`` keeps the loop's bookkeeping only, not the stored networks (no registry
    entry, so no checkpoints: the benchmark trains it in one go)."""

    state_parts = ("generator", "kernels", "worst_returns", "done")

    def __init__(self, config: DeepIWOCSConfig, env: str = ENV,
                 device: str | torch.device | None = None):
        self.setup(config, device)
        if env != ENV:
            raise ValueError(f"DeepIWOCS runs on {ENV} only, got env={env!r}")
        c = self.config
        self.search_kernels = kernel_grid(c.grid, c.radius)
        self.kernels = [(1.0, 1.0)]            # T_0 = nominal, then each worst kernel found
        self.actors: list[SquashedGaussianActor] = []
        self.critics: list[TwinQ] = []
        self.worst_returns: list[float] = []
        self.last: SAC | None = None
        self.done = False

    def policy(self) -> Policy:
        """The robust policy of the solves so far (card 39, loop step (iii))."""
        return robust_policy(self.actors, self.critics)

    def step(self) -> dict[str, Any]:
        """One solve on the newest kernel and one search (a no-op once stopped)."""
        c = self.config
        if self.done:
            return {}
        i = len(self.actors)
        mass, length = self.kernels[-1]
        sac = train_sac(sac_solve(c.resolve_steps if i else c.first_steps, c.seed + 1000 * i,
                                  mass, length, c.num_envs, 0 if i else c.learning_starts,
                                  self.last, self.device))
        self.last = sac
        self.global_step += sac.global_step
        self.actors.append(_frozen(sac.actor))
        self.critics.append(_frozen(sac.q))
        returns = evaluate_on_kernels(self.policy(), self.search_kernels, c.eval_episodes,
                                      c.seed + 10_000 + i, self.device)
        k = worst_kernel(returns)
        worst = tuple(float(x) for x in self.search_kernels[k])
        repeated = any(math.isclose(worst[0], m) and math.isclose(worst[1], ln)
                       for m, ln in self.kernels)
        self.worst_returns.append(float(returns[k]))
        self.done = repeated or len(self.actors) >= c.iterations
        if not self.done:
            self.kernels.append(worst)
        self.iteration += 1
        return {"worst_case_return": float(returns[k]), "worst_mass": worst[0],
                "worst_length": worst[1], "nominal_return": float(returns[len(returns) // 2]),
                "solves": float(len(self.actors)), "stopped": float(self.done)}


def _frozen(module: nn.Module) -> Any:
    """A detached copy of ``module`` for the robust policy."""
    return copy.deepcopy(module).requires_grad_(False).eval()
