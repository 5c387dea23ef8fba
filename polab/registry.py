"""One registry of algorithms: each declares once its name, family, Config, trainer, card,
notebook and paper. ``polab list``, ``polab train``, the README's algorithm table and the
test that builds and steps every algorithm all read it.

Entries name their Config and trainer as ``"module:Attribute"`` strings and import them on
first use, so ``import polab.registry`` (and ``polab list``) loads no algorithm, and building
one algorithm does not import the language-model stack.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from polab.config import Config

Testbed = Literal["env", "task", "lqr", "inventory", "mo"]


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class AlgoSpec:
    """How to build an algorithm by name.

    ``config`` and ``trainer`` are ``"module:Class"`` references, imported lazily;
    ``overrides`` are the config fields a named variant sets (a preset, a flag);
    ``testbed`` says what the trainer is built on (a polab env, a language task with its
    shipped base, an LQR system, an inventory setting, a multi-objective env) and
    ``default_env`` which one; ``score`` is the metric that sums a run up; ``smoke`` the
    config fields of its smallest run (the registry test builds and steps it)."""

    name: str
    family: str
    config_ref: str
    trainer_ref: str
    summary: str
    paper: str
    notebook: str
    default_env: str
    card: str | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    testbed: Testbed = "env"
    actions: Literal["any", "continuous"] = "any"
    score: str = "charts/episodic_return"
    smoke: tuple[tuple[str, object], ...] = ()

    @property
    def config(self) -> type[Config]:
        return _resolve(self.config_ref)

    @property
    def cls(self) -> type:
        return _resolve(self.trainer_ref)

    @property
    def module(self) -> str:
        return self.trainer_ref.partition(":")[0]

    def make_config(self, **changes: object) -> Config:
        overrides = dict(self.overrides)
        preset = overrides.pop("preset", None)
        if preset is not None:
            from polab.algos.group.presets import PRESETS
            overrides = {**PRESETS[str(preset)].as_dict(), **overrides}
        return self.config().replace(**{**overrides, **changes})

    def iterations(self, config: Config) -> int:
        """The run length of ``config`` (every Config names it ``num_iterations``)."""
        return int(config.num_iterations)  # type: ignore[attr-defined]


ALGORITHMS: dict[str, AlgoSpec] = {}


def register(spec: AlgoSpec) -> AlgoSpec:
    """Add ``spec``; a second entry with the same name is an error."""
    if spec.name in ALGORITHMS:
        raise ValueError(f"algorithm {spec.name!r} is registered twice")
    ALGORITHMS[spec.name] = spec
    return spec


def get(name: str) -> AlgoSpec:
    """The spec of ``name``; a ``ValueError`` lists the known names."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}") from None


def names(family: str | None = None) -> list[str]:
    return [n for n, s in ALGORITHMS.items() if family is None or s.family == family]


# --- the entries ---------------------------------------------------------------------------

_PG, _GROUP = "polab.algos.pg", "polab.algos.group"
_CARTPOLE_SMOKE = (("num_envs", 4), ("num_steps", 16))


def _env(name: str, module: str, cls: str, summary: str, paper: str, notebook: str,
         default_env: str = "CartPole-v1", **kw: Any) -> None:
    register(AlgoSpec(name, "pg", f"{_PG}.{module}:{cls}Config", f"{_PG}.{module}:{cls}",
                      summary, paper, notebook, default_env, **kw))


def _lm(name: str, module: str, cls: str, summary: str, paper: str, card: str | None = None,
        preset: str | None = None) -> None:
    register(AlgoSpec(name, "group", f"{_GROUP}.{module}:{cls}Config",
                      f"{_GROUP}.{module}:{cls}", summary, paper, "03_grpo_family", "addition",
                      card=card, overrides=(("preset", preset),) if preset else (),
                      testbed="task", score="eval/pass@1"))


_env("reinforce", "reinforce", "Reinforce", "REINFORCE with reward-to-go",
     "Williams 1992, Simple statistical gradient-following algorithms", "01_policy_gradients")
_env("reinforce-baseline", "reinforce", "Reinforce", "REINFORCE with a learned value baseline",
     "Williams 1992; Sutton & Barto 2018 §13.4", "01_policy_gradients",
     overrides=(("baseline", True),))
_env("ppo", "ppo", "PPO", "PPO, clipped surrogate + GAE",
     "Schulman et al. 2017, Proximal Policy Optimization Algorithms", "01_policy_gradients")
_env("mdpo", "mdpo", "MDPO", "MDPO on-policy, KL-regularised mirror descent",
     "Tomar et al. 2020, Mirror Descent Policy Optimization", "02_variance_and_trust_regions",
     card="20_mdpo.md")
_env("sac", "sac", "SAC", "SAC v1 with a value network",
     "Haarnoja et al. 2018, Soft Actor-Critic", "02_variance_and_trust_regions",
     default_env="Pendulum-v1", actions="continuous")
_env("mdpo-off", "mdpo_off", "MDPOOff", "MDPO off-policy, KL to the previous policy",
     "Tomar et al. 2020, Mirror Descent Policy Optimization", "02_variance_and_trust_regions",
     default_env="Pendulum-v1", actions="continuous", card="20_mdpo.md")
for _name, _cls, _summary in (
        ("vanilla-pg", "VanillaPG", "vanilla stochastic PG on the LQR"),
        ("npg-igt", "NPGIGT", "normalised PG with implicit gradient transport"),
        ("harpg", "HARPG", "Hessian-aided recursive PG"),
        ("n-harpg", "NHARPG", "normalised Hessian-aided recursive PG")):
    _env(_name, "igt_harpg", _cls, _summary,
         "Fatkhullin et al. 2023, Stochastic Policy Gradient Methods: Improved Sample "
         "Complexity for Fisher-non-degenerate Policies", "02_variance_and_trust_regions",
         default_env="lqr", testbed="lqr", card="10_pg_igt_harpg.md", score="gap")

_lm("grpo", "grpo", "GRPO", "GRPO, group-normalised advantages",
    "Shao et al. 2024, DeepSeekMath", preset="GRPO")
_lm("dr-grpo", "grpo", "GRPO", "Dr.GRPO, GRPO without length and std normalisation",
    "Liu et al. 2025, Understanding R1-Zero-Like Training", preset="Dr.GRPO")
_lm("dapo", "grpo", "GRPO", "DAPO, clip-higher and token-level loss",
    "Yu et al. 2025, DAPO", preset="DAPO")
_lm("gspo", "grpo", "GRPO", "GSPO, one ratio per sequence",
    "Zheng et al. 2025, Group Sequence Policy Optimization", preset="GSPO")
_lm("rloo", "grpo", "GRPO", "RLOO, leave-one-out baseline",
    "Ahmadian et al. 2024, Back to Basics", preset="RLOO")
_lm("loop", "loop", "LOOP", "LOOP, leave-one-out PPO",
    "Chen et al. 2025, Reinforcement Learning for Long-Horizon Interactive LLM Agents",
    card="14_loop.md")
_lm("spo", "spo", "SPO", "SPO, per-prompt value tracker, no groups",
    "Xu & Ding 2025, Single-stream Policy Optimization", card="37_spo.md")

register(AlgoSpec("hdpo", "diffsim", "polab.algos.diffsim.hdpo:HDPOConfig",
                  "polab.algos.diffsim.hdpo:HDPO", "HDPO, pathwise gradients through the "
                  "inventory simulator", "Alvo et al. 2023, Deep Reinforcement Learning for "
                  "Inventory Networks: Toward Reliable Policy Optimization",
                  "10_differentiable_simulation", "backlogged", card="03_hdpo.md",
                  testbed="inventory", score="gap"))
register(AlgoSpec("inventory-reinforce", "diffsim",
                  "polab.algos.diffsim.hdpo:InventoryReinforceConfig",
                  "polab.algos.diffsim.hdpo:InventoryReinforce", "REINFORCE (score function) "
                  "on the inventory simulator, HDPO's baseline", "Williams 1992",
                  "10_differentiable_simulation", "backlogged", card="03_hdpo.md",
                  testbed="inventory", score="gap"))
register(AlgoSpec("c-morl", "morl", "polab.algos.morl.config:CMORLConfig",
                  "polab.algos.morl.cmorl:CMORL", "C-MORL, constrained Pareto-front extension",
                  "Liu et al. 2025, C-MORL: Multi-Objective Reinforcement Learning through "
                  "Efficient Discovery of Pareto Front", "09_multi_objective",
                  "deep-sea-treasure-concave-v0", card="04_cmorl.md", testbed="mo",
                  score="hypervolume"))
register(AlgoSpec("linear-scalarisation", "morl", "polab.algos.morl.config:CMORLConfig",
                  "polab.algos.morl.cmorl:LinearScalarisation", "linear scalarisation, "
                  "C-MORL's baseline", "Liu et al. 2025 (baseline)", "09_multi_objective",
                  "deep-sea-treasure-concave-v0", card="04_cmorl.md", testbed="mo",
                  score="hypervolume"))
