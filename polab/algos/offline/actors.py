"""Shipped actors for chapter 11's offline datasets: SAC policies (2×64, tanh-squashed
Gaussian, :class:`~polab.core.continuous.SquashedGaussianActor`) trained with
:mod:`polab.algos.pg.sac` on PointMass-v0 and Pendulum-v1, saved as ``state_dict`` files in
``checkpoints/`` with the reference returns in ``checkpoints/references.json``.

Per environment key (``point-mass``, ``pendulum``):

* ``expert``: the best of the along-training snapshots (mean return of the stochastic policy);
* ``medium``: the snapshot whose normalised score is nearest 40 (between ⅓ and ½ of the way
  from random to expert, D4RL's "medium");
* ``replay-0`` … ``replay-3``: snapshots evenly spaced from the untrained actor to ``medium``
  (D4RL's "medium-replay" is the replay buffer up to medium);
* references: the mean return of the uniform random policy and of the expert over 1000
  episodes, D4RL's ``REF_MIN_SCORE``/``REF_MAX_SCORE``.

Rebuild with ``python -m polab.algos.offline.actors point-mass`` (≈ 1 min) or ``pendulum``.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch

from polab.algos.offline.datasets import Policy, episode_returns, normalized_score
from polab.algos.pg.sac import SAC, SACConfig
from polab.core.continuous import SquashedGaussianActor, UniformPolicy
from polab.envs import make
from polab.envs.base import BatchedEnv

CHECKPOINTS = Path(__file__).parent / "checkpoints"
HIDDEN = 64
ENVS: dict[str, tuple[str, dict[str, object]]] = {
    "point-mass": ("PointMass-v0", {"total_timesteps": 12_000, "gamma": 0.95}),
    "pendulum": ("Pendulum-v1", {"total_timesteps": 15_000}),
}
"""Environment key → (env name, SAC config overrides used to train the actors)."""
KINDS = ("expert", "medium", "replay-0", "replay-1", "replay-2", "replay-3")
SNAPSHOT_EVERY = 300
EVAL_EPISODES = 200


def env_key(env: str) -> str:
    """The offline env key of ``env``: a key of :data:`ENVS` or its env name."""
    names = {name: key for key, (name, _) in ENVS.items()}
    if env in names:
        return names[env]
    if env not in ENVS:
        raise ValueError(f"unknown offline environment {env!r}; known: {list(ENVS)} "
                         f"or {list(names)}")
    return env


def make_env(env: str, num_envs: int, seed: int | None = None,
             device: str | torch.device | None = None) -> BatchedEnv:
    """``num_envs`` copies of the env ``env`` (key or name) on ``device`` (default CPU)."""
    return make(ENVS[env_key(env)][0], num_envs, device=device, seed=seed)


def horizon(env: str) -> int:
    """The env's time limit (steps)."""
    return make_env(env, 1).max_episode_steps


def action_box(env: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The env's action bounds ``(low, high)`` as float32 tensors."""
    space = make_env(env, 1).single_action_space
    return (torch.as_tensor(space.low, dtype=torch.float32),
            torch.as_tensor(space.high, dtype=torch.float32))


def new_actor(env: str) -> SquashedGaussianActor:
    """An untrained 2×64 SAC actor for ``env`` (key or name)."""
    one = make_env(env, 1)
    return SquashedGaussianActor(one.obs_dim, one.action_dim, HIDDEN, *action_box(env))


def load_actor(env: str, kind: str) -> SquashedGaussianActor:
    """The shipped actor ``kind`` (one of :data:`KINDS`) for ``env`` (key or name)."""
    if kind not in KINDS:
        raise ValueError(f"unknown actor kind {kind!r}; known: {list(KINDS)}")
    actor = new_actor(env)
    actor.load_state_dict(torch.load(CHECKPOINTS / f"{env_key(env)}-{kind}.pt",
                                     weights_only=True))
    return actor.requires_grad_(False)


def references(env: str) -> dict[str, float]:
    """The reference returns of ``env``: ``random``, ``expert`` (D4RL's normalised score's
    0 and 100), and the shipped snapshots' returns and training steps, for the record."""
    return json.loads((CHECKPOINTS / "references.json").read_text())[env_key(env)]


def stochastic(actor: SquashedGaussianActor | UniformPolicy,
               generator: torch.Generator | None = None) -> Policy:
    """``actor`` as a :data:`~polab.algos.offline.datasets.Policy` that samples its actions."""
    return lambda obs: actor.act(obs, generator)[0]


def random_policy(env: str) -> UniformPolicy:
    """Uniform random actions in the env's box."""
    return UniformPolicy(*action_box(env))


def mean_return(env: str, policy: Policy, episodes: int, seed: int) -> float:
    """The mean return of ``policy`` over ``episodes`` batched episodes."""
    return float(episode_returns(make_env(env, episodes, seed), policy, seed).mean())


def rebuild(env: str, seed: int = 0) -> dict[str, object]:
    """Train SAC on ``env``, pick and save the shipped actors and the references."""
    key = env_key(env)
    name, overrides = ENVS[key]
    algo = SAC(SACConfig(seed=seed, hidden=HIDDEN, **overrides), name)
    gen = torch.Generator().manual_seed(seed)
    snapshots: list[tuple[int, dict[str, torch.Tensor], float]] = []
    next_snapshot = 0
    while algo.global_step < algo.config.total_timesteps:
        if algo.global_step >= next_snapshot:  # the untrained actor first
            next_snapshot += SNAPSHOT_EVERY
            ret = mean_return(key, stochastic(algo.actor, gen), EVAL_EPISODES, seed + 1)
            snapshots.append((algo.global_step, copy.deepcopy(algo.actor.state_dict()), ret))
            print(f"{key}: step {algo.global_step:6d}  return {ret:9.2f}", flush=True)
        algo.step()
    random_ret = mean_return(key, stochastic(random_policy(key), gen), 1000, seed + 2)
    best = max(range(len(snapshots)), key=lambda i: snapshots[i][2])
    expert = new_actor(key)
    expert.load_state_dict(snapshots[best][1])
    expert_ret = mean_return(key, stochastic(expert, gen), 1000, seed + 2)
    scores = [float(normalized_score(s[2], random_ret, expert_ret)) for s in snapshots[:best]]
    medium = min(range(len(scores)), key=lambda i: abs(scores[i] - 40.0))
    replay = torch.linspace(0, medium, 4).round().long().tolist()
    chosen = {"expert": best, "medium": medium,
              **{f"replay-{k}": i for k, i in enumerate(replay)}}
    CHECKPOINTS.mkdir(exist_ok=True)
    for kind, i in chosen.items():
        torch.save(snapshots[i][1], CHECKPOINTS / f"{key}-{kind}.pt")
    path = CHECKPOINTS / "references.json"
    table = json.loads(path.read_text()) if path.exists() else {}
    table[key] = {"random": random_ret, "expert": expert_ret,
                  **{f"{kind}_return": snapshots[i][2] for kind, i in chosen.items()},
                  **{f"{kind}_step": snapshots[i][0] for kind, i in chosen.items()}}
    path.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")
    return table[key]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", choices=list(ENVS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(json.dumps(rebuild(args.env, args.seed), indent=1))


if __name__ == "__main__":
    main()
