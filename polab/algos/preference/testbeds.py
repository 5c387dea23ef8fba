"""The testbeds of chapter 08 by name.

Each name maps to the module that holds it; the module's ``from_config(config, device)``
builds the testbed (a :class:`~polab.algos.preference.backend.PreferenceTestbed`) from the
fields of a :class:`~polab.algos.preference.trainer.PreferenceConfig` it needs. Modules are
imported on first use, so naming one testbed loads no other (the language-model pairs load
the tiny GPT).
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

from polab.algos.preference.backend import PreferenceTestbed

TESTBEDS: dict[str, str] = {
    "bandit": "polab.envs.preference.bandit",
    "game": "polab.envs.preference.game",
    "rps": "polab.envs.preference.rps",
    "addition": "polab.lm.preference",
    "gridworld": "polab.envs.tabular",
}
"""Testbed name → the module whose ``from_config`` builds it."""

ENV_FIELDS: dict[str, dict[str, object]] = {
    "addition": {"lr": 2e-5, "beta": 0.5, "pairs_per_round": 256, "steps_per_round": 40,
                 "minibatch_size": 64},
}
"""The :class:`~polab.algos.preference.trainer.PreferenceConfig` fields a testbed's name
implies (``polab train dpo --env addition``, read by ``polab.registry.env_fields``): the tiny
LM's pairs need a small Adam step (the tabular lr 0.05 wrecks the GPT in a round), minibatches
and fewer steps (``benchmarks/dpo_lm.py``)."""


def make_testbed(name: str, config: Any, device: torch.device) -> PreferenceTestbed:
    """The testbed ``name`` for ``config`` on ``device``; an unknown name is a ``ValueError``
    naming the known ones."""
    if name not in TESTBEDS:
        raise ValueError(f"unknown preference testbed {name!r}; known: {', '.join(TESTBEDS)}")
    return importlib.import_module(TESTBEDS[name]).from_config(config, device)
