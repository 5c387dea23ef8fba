"""Batched environments by name: ``make("CartPole-v1", num_envs=64, device="cpu", seed=0)``.

Names are gymnasium's ids of the envs polab reimplements in torch (``names()`` lists them);
``"gym:<id>"`` wraps any installed gymnasium environment instead (``polab.envs.gym``), stepped
by gymnasium on the CPU with tensors in and out. Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from polab.envs.base import BatchedEnv, check_num_envs
from polab.envs.classic import Acrobot, CartPole, MountainCarContinuous, Pendulum
from polab.envs.point_mass import PointMass

GYM_PREFIX = "gym:"

_REGISTRY: dict[str, Callable[..., BatchedEnv]] = {}


def register(name: str, factory: Callable[..., BatchedEnv]) -> None:
    """Make ``factory(num_envs, device=..., seed=..., **kwargs)`` available as ``make(name)``."""
    _REGISTRY[name] = factory


for _cls in (CartPole, Acrobot, Pendulum, MountainCarContinuous, PointMass):
    register(_cls.name, _cls)


def names() -> list[str]:
    """The registered environment names (``"gym:<id>"`` works on top of these)."""
    return sorted(_REGISTRY)


def make(name: str, num_envs: int, device: str | torch.device | None = None,
         seed: int | None = None, **kwargs) -> BatchedEnv:
    """Build ``num_envs`` copies of the environment ``name`` on ``device``, seeded with ``seed``.

    ``num_envs`` must be an int ≥ 1 (a ``ValueError`` naming it otherwise)."""
    num_envs = check_num_envs(num_envs)
    if name.startswith(GYM_PREFIX):
        from polab.envs.gym import from_gymnasium
        return from_gymnasium(name[len(GYM_PREFIX):], num_envs=num_envs, device=device,
                              seed=seed, **kwargs)
    if name not in _REGISTRY:
        raise ValueError(f"unknown environment {name!r}; known: {', '.join(names())} "
                         f"(or '{GYM_PREFIX}<id>' for any gymnasium environment)")
    return _REGISTRY[name](num_envs, device=device, seed=seed, **kwargs)
