"""The multi-objective batched environment: vector rewards ``(N, K)`` (chapter 09,
../shared/cards/04_cmorl.md).

Same conventions as :class:`polab.envs.base.BatchedEnv` (batched torch tensors on any device,
same-step auto-reset with ``info["final_obs"]``, ``terminated`` and ``truncated`` apart), except
that ``step`` returns a reward *vector* per copy, shape ``(N, reward_dim)``. Because of that
these environments are not in ``polab.envs``' registry (its algorithms expect scalar rewards);
build them directly or with :func:`polab.envs.mo.registry.make_mo`.

Each env states a fixed hypervolume reference point (``reference_point``) and where it comes
from (``reference_source``); ``known_front()`` returns the true Pareto front where it is known
(undiscounted returns). Taught in notebooks/09_multi_objective.ipynb.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from polab.envs.base import BatchedEnv


class MOBatchedEnv(BatchedEnv):
    """A :class:`BatchedEnv` whose ``step`` returns rewards ``(N, reward_dim)``."""

    reward_dim: int
    objective_names: tuple[str, ...]
    reference_point: tuple[float, ...]
    reference_source: str

    def known_front(self) -> np.ndarray | None:
        """The true Pareto front of undiscounted returns ``(F, reward_dim)``, if known."""
        return None

    def copy_kwargs(self) -> dict[str, Any]:
        """The constructor's keyword arguments that make this variant (map, objectives, …):
        what :meth:`copies` passes on. An environment built otherwise overrides ``copies``."""
        return {}

    def copies(self, num_envs: int) -> MOBatchedEnv:
        """``num_envs`` fresh copies of this environment, on its device, built as it was."""
        return type(self)(num_envs, self.device, **self.copy_kwargs())

    def _setup(self, num_envs: int, device: str | torch.device | None) -> None:
        self.num_envs = num_envs
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.single_observation_space = copy.deepcopy(self.single_observation_space)
        self.single_action_space = copy.deepcopy(self.single_action_space)
        self.elapsed = torch.zeros(num_envs, dtype=torch.int32, device=self.device)
