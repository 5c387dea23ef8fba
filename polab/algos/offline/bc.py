"""BC — behaviour cloning (Pomerleau 1991, ALVINN): regress the dataset's actions,
``min E_{(s,a)~D} ||π(s) − a||²``, with TD3+BC's deterministic 2×64 actor and state
normalisation (CORL's ``any_percent_bc`` at 100 %). The offline family's floor: it copies
the data, good and bad alike."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from polab.algos.offline.base import OfflineAlgorithm, OfflineConfig
from polab.core.replay import Transitions


def bc_loss(pi: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``mean ||π(s) − a||²`` over the batch and action dimensions (TD3+BC's ``mse_loss``)."""
    return ((pi - actions) ** 2).mean()


@dataclass(frozen=True)
class BCConfig(OfflineConfig):
    """Behaviour cloning: the offline loop's knobs only."""


class BC(OfflineAlgorithm):
    """Behaviour cloning on the testbed's dataset."""

    config: BCConfig
    state_parts = ("actor", "optimizer", "generator")

    def build(self) -> None:
        self.actor = self.deterministic_actor()
        self.optimizer = torch.optim.Adam(self.actor.parameters(), lr=self.config.learning_rate)

    @property
    def agent(self) -> torch.nn.Module:
        return self.actor

    def update(self, batch: Transitions) -> dict[str, torch.Tensor]:
        loss = bc_loss(self.actor(batch.obs), batch.actions)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"actor_loss": loss.detach()}
