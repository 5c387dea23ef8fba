"""Algorithms, one package per family: ``pg`` (REINFORCE, PPO, MDPO, SAC, IGT/HARPG on the
LQR), ``group`` (GRPO and its presets, LOOP, SPO, Prefix Grouper), ``morl`` (C-MORL),
``diffsim`` (HDPO), ``token_control`` (CAPO, D³S, HAPO, T-PPO), ``preference`` (DPO, IPO, APO,
INPO, PARL).

The public classes stay importable from here (``from polab.algos import PPO, PPOConfig``)
and are imported on first use, so importing one family never loads another (nor the
language-model stack). The registry of algorithm names is :mod:`polab.registry`.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC: dict[str, tuple[str, ...]] = {
    "polab.algos.pg.reinforce": ("Reinforce", "ReinforceConfig"),
    "polab.algos.pg.ppo": ("PPO", "PPOConfig"),
    "polab.algos.pg.mdpo": ("MDPO", "MDPOConfig"),
    "polab.algos.pg.mdpo_off": ("MDPOOff", "MDPOOffConfig"),
    "polab.algos.pg.sac": ("SAC", "SACConfig"),
    "polab.algos.pg.igt_harpg": ("VanillaPG", "VanillaPGConfig", "NPGIGT", "NPGIGTConfig",
                                 "HARPG", "HARPGConfig", "NHARPG", "NHARPGConfig"),
    "polab.algos.group.grpo": ("GRPO", "GRPOConfig"),
    "polab.algos.group.loop": ("LOOP", "LOOPConfig"),
    "polab.algos.group.spo": ("SPO", "SPOConfig"),
    "polab.algos.group.presets": ("PRESETS",),
    "polab.algos.group.scalerl": ("ScaleRL", "ScaleRLConfig"),
    "polab.algos.token_control.capo": ("CAPO", "CAPOConfig"),
    "polab.algos.token_control.tppo": ("TPPO", "TPPOConfig"),
    "polab.algos.token_control.ppo_lm": ("PPOLM", "PPOLMConfig"),
    "polab.algos.token_control.d3s": ("D3S", "D3SConfig"),
    "polab.algos.token_control.hapo": ("HAPO", "HAPOConfig"),
    "polab.algos.preference.trainer": ("PreferenceTrainer", "PreferenceConfig"),
    "polab.algos.preference.parl": ("PARL", "PARLConfig"),
    "polab.algos.morl.config": ("CMORLConfig",),
    "polab.algos.morl.cmorl": ("CMORL", "LinearScalarisation"),
    "polab.algos.diffsim.hdpo": ("HDPO", "HDPOConfig", "InventoryReinforce",
                                 "InventoryReinforceConfig"),
    "polab.algos.robust.iwocs": ("IWOCS", "IWOCSConfig"),
    "polab.algos.robust.drrpo": ("DRRPO", "DRRPOConfig"),
    "polab.algos.diffusion.bgpo": ("BGPO", "BGPOConfig"),
    "polab.algos.diffusion.diffu_grpo": ("DiffuGRPO", "DiffuGRPOConfig"),
    "polab.registry": ("ALGORITHMS", "AlgoSpec", "get"),
    "polab.algos.offline.bc": ("BC", "BCConfig"),
    "polab.algos.offline.td3_bc": ("TD3BC", "TD3BCConfig"),
    "polab.algos.offline.a2pr": ("A2PR", "A2PRConfig"),
    "polab.algos.offline.cql": ("CQL", "CQLConfig"),
    "polab.algos.offline.h2o": ("H2O", "H2OConfig"),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'polab.algos' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
