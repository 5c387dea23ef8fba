"""Algorithms, one module per family; ``ALGORITHMS`` maps a CLI name to (config, class).

Each entry builds as ``cls(config, env_or_task, device=...)`` and has ``step() -> dict``. An
algorithm trains on a polab environment (``testbed="env"``: ``polab.envs``) or on a language
task with its shipped base model (``testbed="task"``: ``polab.lm``).
"""

from __future__ import annotations

from dataclasses import dataclass

from polab.algos.grpo import GRPO, GRPOConfig
from polab.algos.loop import LOOP, LOOPConfig
from polab.algos.mdpo import MDPO, MDPOConfig
from polab.algos.mdpo_offpolicy import MDPOOff, MDPOOffConfig
from polab.algos.ppo import PPO, PPOConfig
from polab.algos.reinforce import Reinforce, ReinforceConfig
from polab.algos.sac import SAC, SACConfig
from polab.algos.spo import SPO, SPOConfig
from polab.config import Config
from polab.presets import PRESETS


@dataclass(frozen=True)
class AlgoSpec:
    """How to build an algorithm by name: its config class, its class, a default testbed, the
    metric that sums a run up, and the config field (or property) that counts iterations."""

    config: type[Config]
    cls: type
    default_env: str
    summary: str
    overrides: tuple[tuple[str, object], ...] = ()
    testbed: str = "env"  # "env" (polab.envs) or "task" (polab.lm base + task)
    actions: str = "any"  # "continuous": needs Box actions
    score: str = "charts/episodic_return"
    iterations_field: str = "num_iterations"

    def make_config(self, **changes: object) -> Config:
        return self.config().replace(**{**dict(self.overrides), **changes})

    def iterations(self, config: Config) -> int:
        return int(getattr(config, self.iterations_field))


def _lm(config: type[Config], cls: type, summary: str, preset: str | None = None) -> AlgoSpec:
    overrides = tuple(PRESETS[preset].as_dict().items()) if preset else ()
    return AlgoSpec(config, cls, "addition", summary, overrides, testbed="task",
                    score="eval/pass@1", iterations_field="max_steps")


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
    "sac": AlgoSpec(SACConfig, SAC, "Pendulum-v1", "SAC v1 with a value network "
                    "(Haarnoja et al. 2018)", actions="continuous"),
    "mdpo-off": AlgoSpec(MDPOOffConfig, MDPOOff, "Pendulum-v1",
                         "MDPO off-policy, KL to the previous policy (Tomar et al. 2020)",
                         actions="continuous"),
    "grpo": _lm(GRPOConfig, GRPO, "GRPO, group-normalised advantages (Shao et al. 2024)",
                "GRPO"),
    "dr-grpo": _lm(GRPOConfig, GRPO, "Dr.GRPO, GRPO without length and std normalisation "
                   "(Liu et al. 2025)", "Dr.GRPO"),
    "dapo": _lm(GRPOConfig, GRPO, "DAPO, clip-higher and token-level loss (Yu et al. 2025)",
                "DAPO"),
    "gspo": _lm(GRPOConfig, GRPO, "GSPO, one ratio per sequence (Zheng et al. 2025)", "GSPO"),
    "rloo": _lm(GRPOConfig, GRPO, "RLOO, leave-one-out baseline (Ahmadian et al. 2024)",
                "RLOO"),
    "loop": _lm(LOOPConfig, LOOP, "LOOP, leave-one-out PPO (card 14)"),
    "spo": _lm(SPOConfig, SPO, "SPO, per-prompt value tracker, no groups (card 37)"),
}


def get(name: str) -> AlgoSpec:
    """The spec of ``name``; a ``ValueError`` lists the known names."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {sorted(ALGORITHMS)}") from None
