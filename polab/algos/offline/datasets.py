"""Offline datasets in D4RL/Minari's fields, collected in-kit from batched environments.

A :class:`Dataset` holds ``observations``, ``actions``, ``rewards``, ``terminations``,
``truncations`` and ``next_observations`` (D4RL's ``timeouts`` = Minari's ``truncations``,
kept apart from terminations: a time limit is not a terminal state). At a truncation the next
observation is the episode's true last one (the env's ``info["final_obs"]``), not the
auto-reset start of the next episode, so a learner can bootstrap from it.

:func:`collect` runs any policy on ``num_envs`` copies at once until it has ``n``
transitions; :func:`normalized_score` is D4RL's ``100·(R − R_random)/(R_expert − R_random)``.
:func:`make_dataset` builds D4RL's qualities (random, medium, expert, medium-replay, mixed)
from the shipped actors of :mod:`polab.algos.offline.actors`; :func:`to_minari` writes a
dataset as a Minari dataset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch

from polab.core.replay import Transitions
from polab.envs.base import BatchedEnv

Policy = Callable[[torch.Tensor], torch.Tensor]
"""``observations (N, obs_dim) -> actions (N, act_dim)`` (sampling inside, if any)."""


@dataclass(frozen=True)
class Dataset:
    """Transitions ``(n, ...)`` in D4RL/Minari's field names (module docstring)."""

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminations: torch.Tensor
    truncations: torch.Tensor
    next_observations: torch.Tensor

    def __post_init__(self) -> None:
        n = len(self.observations)
        bad = [f.name for f in fields(self) if len(getattr(self, f.name)) != n]
        if bad:
            raise ValueError(f"Dataset: {bad} do not have the {n} rows of observations")

    def __len__(self) -> int:
        return len(self.observations)

    def select(self, index: torch.Tensor | slice) -> Dataset:
        """The rows ``index`` as a new dataset."""
        return Dataset(*(getattr(self, f.name)[index] for f in fields(self)))

    def to(self, device: str | torch.device) -> Dataset:
        return Dataset(*(getattr(self, f.name).to(device) for f in fields(self)))

    @staticmethod
    def concat(parts: list[Dataset]) -> Dataset:
        """The datasets one after the other."""
        return Dataset(*(torch.cat([getattr(p, f.name) for p in parts])
                         for f in fields(Dataset)))

    def sample(self, batch_size: int, generator: torch.Generator | None = None
               ) -> Transitions:
        """``batch_size`` rows uniformly with replacement, as the replay buffer's
        :class:`~polab.core.replay.Transitions` (``terminated`` = terminations)."""
        device = self.observations.device
        idx = torch.randint(len(self), (batch_size,), generator=generator,
                            device=generator.device if generator is not None else device)
        idx = idx.to(device)
        return Transitions(self.observations[idx], self.actions[idx], self.rewards[idx],
                           self.next_observations[idx], self.terminations[idx])


def collect(env: BatchedEnv, policy: Policy, n: int, seed: int | None = None,
            end_episodes: bool = False) -> Dataset:
    """At least ``n`` transitions of ``policy`` on the ``env.num_envs`` copies of ``env``
    (``⌈n / num_envs⌉`` steps, batched), stored copy-major (each copy's steps contiguous),
    the first ``n`` rows kept. ``truncations`` marks time limits; the next observation of a
    truncated or terminated step is the true final one. ``end_episodes=True`` also marks
    where the collection cuts an episode (each copy's last step, the last row kept) as a
    truncation, so that every episode in the dataset ends (Minari needs it)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"collect: n={n!r} must be an int >= 1")
    steps = math.ceil(n / env.num_envs)
    obs = env.reset(seed)
    rows: dict[str, list[torch.Tensor]] = {f.name: [] for f in fields(Dataset)}
    with torch.inference_mode():
        for _ in range(steps):
            action = policy(obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            for name, value in (("observations", obs), ("actions", action),
                                ("rewards", reward), ("terminations", terminated),
                                ("truncations", truncated & ~terminated),
                                ("next_observations", info["final_obs"])):
                rows[name].append(value)
            obs = next_obs
    stacked = {k: torch.stack(v, 1).flatten(0, 1) for k, v in rows.items()}  # copy-major
    if end_episodes:
        cut = torch.zeros(env.num_envs, steps, dtype=torch.bool, device=obs.device)
        cut[:, -1] = True
        cut = cut.flatten()
        cut[n - 1] = True
        stacked["truncations"] = stacked["truncations"] | (cut & ~stacked["terminations"])
    return Dataset(**stacked).select(slice(0, n))


def episode_ends(data: Dataset) -> torch.Tensor:
    """The rows ``(E,)`` where an episode ends (termination or truncation; the last row too)."""
    done = data.terminations | data.truncations
    done[-1] = True
    return done.nonzero().squeeze(1)


def complete_returns(data: Dataset, horizon: int) -> torch.Tensor:
    """The returns of the dataset's complete episodes: those ending in a termination or
    lasting ``horizon`` steps (a time limit); episodes cut by the collection are left out.
    Assumes every copy's rows start at a reset (as :func:`collect` stores them)."""
    ends = episode_ends(data)
    starts = torch.cat((ends.new_zeros(1), ends[:-1] + 1))
    cumulative = torch.cat((data.rewards.new_zeros(1), data.rewards.cumsum(0)))
    returns = cumulative[ends + 1] - cumulative[starts]
    complete = data.terminations[ends] | (ends - starts + 1 == horizon)
    return returns[complete]


def episode_returns(env: BatchedEnv, policy: Policy, seed: int | None = None) -> torch.Tensor:
    """The return ``(num_envs,)`` of each copy's first episode under ``policy`` (batched: all
    copies step together until every one has ended; later episodes are not counted)."""
    horizon = getattr(env, "max_episode_steps", None)
    if horizon is None:
        raise ValueError(f"episode_returns: {env.name} has no max_episode_steps")
    obs = env.reset(seed)
    total = torch.zeros(env.num_envs, device=obs.device)
    running = torch.ones(env.num_envs, dtype=torch.bool, device=obs.device)
    with torch.inference_mode():
        for _ in range(horizon):
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += reward * running
            running &= ~(terminated | truncated)
            if not running.any():
                break
    return total


def normalized_score(returns: torch.Tensor | float, random_return: float,
                     expert_return: float) -> torch.Tensor:
    """D4RL's normalised score ``100·(R − R_random)/(R_expert − R_random)``: 0 is the random
    policy, 100 the expert."""
    if expert_return == random_return:
        raise ValueError("normalized_score: expert and random returns are equal")
    return 100.0 * (torch.as_tensor(returns) - random_return) / (expert_return - random_return)


QUALITIES = ("random", "medium", "expert", "medium-replay", "mixed")
MIXED_RANDOM_SHARE = 0.7
"""``mixed``: 70 % random and 30 % expert transitions (card 26's miniature)."""


def make_dataset(env: str, quality: str, n: int, seed: int = 0) -> Dataset:
    """``n`` transitions of quality ``quality`` (:data:`QUALITIES`) on ``env`` (an offline
    env key of :data:`polab.algos.offline.actors.ENVS`, e.g. ``"point-mass"``, or its env
    name), collected from the shipped actors with every episode ended (``end_episodes``):

    * ``random``: uniform actions; ``expert``/``medium``: the stochastic SAC actors;
    * ``medium-replay``: equal parts of the four along-training snapshots up to medium;
    * ``mixed``: 70 % random then 30 % expert transitions.
    """
    from polab.algos.offline import actors  # actors trains with SAC and evaluates with us

    key = actors.env_key(env)
    if quality not in QUALITIES:
        raise ValueError(f"make_dataset: unknown quality {quality!r}; known: {list(QUALITIES)}")
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"make_dataset: n={n!r} must be an int >= 2")
    gen = torch.Generator().manual_seed(seed)
    random_policy = actors.stochastic(actors.random_policy(key), gen)
    parts: list[tuple[Policy, int]] = {
        "random": lambda: [(random_policy, n)],
        "expert": lambda: [(actors.stochastic(actors.load_actor(key, "expert"), gen), n)],
        "medium": lambda: [(actors.stochastic(actors.load_actor(key, "medium"), gen), n)],
        "medium-replay": lambda: [
            (actors.stochastic(actors.load_actor(key, f"replay-{k}"), gen), size)
            for k, size in enumerate(_split(n, 4))],
        "mixed": lambda: list(zip(
            (random_policy, actors.stochastic(actors.load_actor(key, "expert"), gen)),
            _split(n, 2, MIXED_RANDOM_SHARE), strict=True)),
    }[quality]()
    horizon = actors.horizon(key)
    return Dataset.concat([
        collect(actors.make_env(key, max(1, size // horizon), seed + 1000 * i), policy, size,
                seed + 1000 * i, end_episodes=True)
        for i, (policy, size) in enumerate(parts)])


def _split(n: int, parts: int, first_share: float | None = None) -> list[int]:
    """``n`` as ``parts`` sizes summing to ``n``: equal, or two with the first ``first_share``."""
    if first_share is not None:
        first = round(first_share * n)
        return [first, n - first]
    return [n // parts + (k < n % parts) for k in range(parts)]


def to_minari(data: Dataset, dataset_id: str, *, description: str = "polab offline data",
              ref_min_score: float | None = None, ref_max_score: float | None = None):
    """``data`` as a Minari dataset ``dataset_id`` (``"namespace/name-v0"``), written under
    ``MINARI_DATASETS_PATH`` by ``minari.create_dataset_from_buffers``, one episode buffer per
    episode (Minari's episodes hold ``T + 1`` observations: the starts, then the final one;
    the dataset's last row ends an episode as a truncation if nothing else does).
    ``ref_min_score``/``ref_max_score``: the reference returns (random, expert)."""
    import gymnasium as gym
    import minari
    import numpy as np
    from minari.data_collector import EpisodeBuffer

    if len(data) == 0:
        raise ValueError("to_minari: the dataset is empty")
    cpu = data.to("cpu")
    truncations = cpu.truncations.clone()
    truncations[-1] |= ~cpu.terminations[-1]
    ends = episode_ends(cpu).tolist()
    starts = [0, *(e + 1 for e in ends[:-1])]
    buffers = [EpisodeBuffer(  # a loop over episodes (Minari's format), not over samples
        id=k, observations=np.concatenate((cpu.observations[a:b + 1].numpy(),
                                           cpu.next_observations[b:b + 1].numpy())),
        actions=cpu.actions[a:b + 1].numpy(), rewards=cpu.rewards[a:b + 1].numpy(),
        terminations=cpu.terminations[a:b + 1].numpy(),
        truncations=truncations[a:b + 1].numpy())
        for k, (a, b) in enumerate(zip(starts, ends, strict=True))]
    space = lambda dim: gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)  # noqa: E731
    return minari.create_dataset_from_buffers(
        dataset_id, buffers, observation_space=space(data.observations.shape[1]),
        action_space=space(data.actions.shape[1]), description=description,
        algorithm_name="polab.algos.offline.datasets.make_dataset",
        ref_min_score=ref_min_score, ref_max_score=ref_max_score)
