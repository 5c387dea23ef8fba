"""Algorithms, one module per family; ``ALGORITHMS`` maps a CLI name to (config, class).

Each entry builds as ``cls(config, env_or_task, device=...)`` and has ``step() -> dict``.
"""

from __future__ import annotations

from dataclasses import dataclass

from polab.algos.mdpo import MDPO, MDPOConfig
from polab.algos.ppo import PPO, PPOConfig
from polab.algos.reinforce import Reinforce, ReinforceConfig
from polab.config import Config


@dataclass(frozen=True)
class AlgoSpec:
    """How to build an algorithm by name: its config class, its class, a default testbed."""

    config: type[Config]
    cls: type
    default_env: str
    summary: str
    overrides: tuple[tuple[str, object], ...] = ()

    def make_config(self, **changes: object) -> Config:
        return self.config().replace(**{**dict(self.overrides), **changes})


ALGORITHMS: dict[str, AlgoSpec] = {
    "reinforce": AlgoSpec(ReinforceConfig, Reinforce, "CartPole-v1",
                          "REINFORCE with reward-to-go (Williams 1992)"),
    "reinforce-baseline": AlgoSpec(ReinforceConfig, Reinforce, "CartPole-v1",
                                   "REINFORCE with a learned value baseline",
                                   (("baseline", True),)),
    "ppo": AlgoSpec(PPOConfig, PPO, "CartPole-v1",
                    "PPO, clipped surrogate + GAE (Schulman et al. 2017)"),
    "mdpo": AlgoSpec(MDPOConfig, MDPO, "CartPole-v1",
                     "MDPO on-policy, KL-regularised mirror descent (Tomar et al. 2020)"),
}


def get(name: str) -> AlgoSpec:
    """The spec of ``name``; a ``ValueError`` lists the known names."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {sorted(ALGORITHMS)}") from None
