"""The multi-objective environments by name: :data:`MO_ENVS` and :func:`make_mo` (chapter 09,
../shared/cards/04_cmorl.md).

* :class:`~polab.envs.mo.deep_sea_treasure.DeepSeaTreasure` — ``deep-sea-treasure-v0``
  (convex map) and ``deep-sea-treasure-concave-v0``;
* :class:`~polab.envs.mo.fruit_tree.FruitTree` — ``fruit-tree-v0`` (6 objectives) and
  ``fruit-tree-3d``;
* :class:`~polab.envs.mo.energy_runner.EnergyRunner` — ``energy-runner``;
* ``"mo-gym:<id>"`` wraps any MO-Gymnasium environment (:mod:`polab.envs.mo.mo_gym`).
"""

from __future__ import annotations

import torch

from polab.envs.mo.base import MOBatchedEnv
from polab.envs.mo.deep_sea_treasure import DeepSeaTreasure
from polab.envs.mo.energy_runner import EnergyRunner
from polab.envs.mo.fruit_tree import FruitTree
from polab.envs.mo.mo_gym import MO_GYM_PREFIX, MOGymnasiumEnv

MO_ENVS = {
    "deep-sea-treasure-v0": lambda n, **kw: DeepSeaTreasure(n, map_name="convex", **kw),
    "deep-sea-treasure-concave-v0": lambda n, **kw: DeepSeaTreasure(n, map_name="concave", **kw),
    "fruit-tree-v0": lambda n, **kw: FruitTree(n, objectives=6, **kw),
    "fruit-tree-3d": lambda n, **kw: FruitTree(n, objectives=3, **kw),
    "energy-runner": EnergyRunner,
}
"""The multi-objective environments by name (outside ``polab.envs``' scalar registry)."""


def make_mo(name: str, num_envs: int, device: str | torch.device | None = None,
            seed: int | None = None) -> MOBatchedEnv:
    """Build ``num_envs`` copies of the multi-objective environment ``name``: one of
    :data:`MO_ENVS`, or ``"mo-gym:<id>"`` for MO-Gymnasium's ``<id>`` (:mod:`polab.envs.mo.mo_gym`,
    stepped by MO-Gymnasium on the CPU)."""
    if name.startswith(MO_GYM_PREFIX):
        return MOGymnasiumEnv(name[len(MO_GYM_PREFIX):], num_envs, device=device, seed=seed)
    if name not in MO_ENVS:
        raise ValueError(f"unknown multi-objective environment {name!r}; known: "
                         f"{', '.join(sorted(MO_ENVS))} (or '{MO_GYM_PREFIX}<id>' for an "
                         "MO-Gymnasium environment)")
    return MO_ENVS[name](num_envs, device=device, seed=seed)
