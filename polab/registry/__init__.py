"""One registry of algorithms: each declares once its name, family, Config, trainer, card,
notebook and paper (the entries, chapter by chapter, are in :mod:`polab.registry.entries`).
``polab list``, ``polab train``, the README's algorithm table and the test that builds and
steps every algorithm all read it.

Entries name their Config and trainer as ``"module:Attribute"`` strings and import them on
first use, so ``import polab.registry`` (and ``polab list``) loads no algorithm, and building
one algorithm does not import the language-model stack.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from polab.config import Config

Testbed = Literal["env", "task", "lqr", "inventory", "mo", "preference", "robust",
                  "offline", "scaling", "diffusion"]

TESTBED_TABLES = {"preference": "polab.algos.preference.testbeds",
                  "robust": "polab.algos.robust.testbeds",
                  "offline": "polab.algos.offline.testbeds",
                  "scaling": "polab.algos.group.scalerl_testbeds",
                  "diffusion": "polab.algos.diffusion.testbeds"}
"""Testbeds whose environment names are a family's ``TESTBEDS`` table (name -> one-line
description): the module that holds it."""


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
    config fields of its smallest run (the registry test builds and steps it);
    ``run_length`` the config attribute that counts a whole run's ``step()`` calls."""

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
    run_length: str = "num_iterations"

    @property
    def config(self) -> type[Config]:
        return _resolve(self.config_ref)

    @property
    def cls(self) -> type:
        return _resolve(self.trainer_ref)

    @property
    def module(self) -> str:
        return self.trainer_ref.partition(":")[0]

    def make_config(self, env: str | None = None, *, smoke: bool = False,
                    **changes: object) -> Config:
        """The variant's config: its preset and ``overrides``, then the fields the testbed
        ``env`` implies (an inventory setting, a multi-objective env), then the ``smoke``
        fields when asked, then ``changes``."""
        overrides = dict(self.overrides)
        preset = overrides.pop("preset", None)
        if preset is not None:
            from polab.algos.group.presets import PRESETS
            overrides = {**PRESETS[str(preset)].as_dict(), **overrides}
        implied = env_fields(self.testbed, env) if env is not None else {}
        small = dict(self.smoke) if smoke else {}
        return self.config().replace(**{**overrides, **implied, **small, **changes})

    def iterations(self, config: Config) -> int:
        """The run length of ``config``: ``num_iterations`` (the linear-scalarisation baseline
        counts its own, ``baseline_iterations``)."""
        return int(getattr(config, self.run_length))

    def build(self, config: Config, env: str | None = None,
              device: str | Any | None = None) -> Any:
        """The trainer on ``env`` (default ``default_env``) of its testbed: a polab or
        ``gym:`` environment, a shipped base's task, the default LQR
        (:meth:`polab.envs.lqr.LQR.double_integrator`), or, for ``inventory`` and ``mo``,
        the setting or environment the config names (``make_config(env=...)`` sets it; an
        ``env`` here must agree with the config)."""
        env = env or self.default_env
        if self.testbed in ("inventory", "mo"):
            clash = [f"{k}={v!r}" for k, v in env_fields(self.testbed, env).items()
                     if getattr(config, k) != v]
            if clash:
                raise ValueError(f"{self.testbed} {env!r} needs {', '.join(clash)}; the "
                                 "config says otherwise")
            return self.cls(config, None, device=device)
        if self.testbed == "lqr":
            env_fields(self.testbed, env)  # only names the known system
            return self.cls(config, None, device=device)
        return self.cls(config, env, device=device)


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
    """The registered names, in registration order (of one ``family`` if given)."""
    return [n for n, s in ALGORITHMS.items() if family is None or s.family == family]


# --- testbeds ------------------------------------------------------------------------------

INVENTORY_SETTINGS: dict[str, dict[str, object]] = {
    "backlogged": {"network": "one_store", "lost_sales": False},
    "lost-sales": {"network": "one_store", "lost_sales": True},
    "one-warehouse": {"network": "one_warehouse"},
}
"""Named inventory settings as :class:`~polab.algos.diffsim.hdpo.HDPOConfig` fields (HDPO
builds its :class:`~polab.envs.inventory.sim.InventorySetting` from them)."""

LQR_SYSTEMS = ("double-integrator",)
"""The LQR systems by name: :meth:`polab.envs.lqr.LQR.double_integrator`."""


def env_fields(testbed: str, env: str) -> dict[str, object]:
    """The config fields a testbed's environment name implies (none for most); an unknown
    inventory setting or LQR system is a ``ValueError`` naming the known ones."""
    if testbed == "inventory":
        if env not in INVENTORY_SETTINGS:
            raise ValueError(f"unknown inventory setting {env!r}; known: "
                             f"{', '.join(INVENTORY_SETTINGS)}")
        return dict(INVENTORY_SETTINGS[env])
    if testbed == "lqr" and env not in LQR_SYSTEMS:
        raise ValueError(f"unknown LQR system {env!r}; known: {', '.join(LQR_SYSTEMS)}")
    if testbed in TESTBED_TABLES:  # a family's table may name fields per testbed: ENV_FIELDS
        table = importlib.import_module(TESTBED_TABLES[testbed])
        return dict(getattr(table, "ENV_FIELDS", {}).get(env, {}))
    return {"env": env} if testbed == "mo" else {}


def testbed_envs(testbed: str) -> list[str]:
    """The environment names a testbed accepts (``polab list``)."""
    if testbed == "env":
        from polab import envs
        return [*envs.names(), f"{envs.GYM_PREFIX}<id>"]
    if testbed == "task":
        from polab.lm.pretrain import shipped_bases
        return list(shipped_bases())
    if testbed == "lqr":
        return list(LQR_SYSTEMS)
    if testbed == "inventory":
        return list(INVENTORY_SETTINGS)
    if testbed in TESTBED_TABLES:
        return list(importlib.import_module(TESTBED_TABLES[testbed]).TESTBEDS)
    from polab.envs.mo.mo_gym import MO_GYM_PREFIX
    from polab.envs.mo.registry import MO_ENVS
    return [*MO_ENVS, f"{MO_GYM_PREFIX}<id>"]


# --- the README's table --------------------------------------------------------------------

README_BEGIN = "<!-- algorithms: generated from polab/registry/ by scripts/readme_tables.py -->"
README_END = "<!-- /algorithms -->"


def markdown_table() -> str:
    """The README's algorithm table, one row per registered name (README, "Algorithms")."""
    rows = ["| algorithm | family | what | paper | notebook | card | file |",
            "|---|---|---|---|---|---|---|"]
    for s in ALGORITHMS.values():
        path = s.module.replace(".", "/") + ".py"
        card = f"[{s.card[:2]}](../shared/cards/{s.card})" if s.card else "—"
        summary = s.summary.replace("|", "\\|")  # a "|" in a cell would split it
        rows.append(f"| `{s.name}` | {s.family} | {summary} | {s.paper} | "
                    f"[{s.notebook[:2]}](notebooks/{s.notebook}.ipynb) | {card} | "
                    f"[{path}]({path}) |")
    return "\n".join(rows)


# every algorithm registers itself on import, after the machinery above exists
from polab.registry import entries as _entries  # noqa: E402, F401
