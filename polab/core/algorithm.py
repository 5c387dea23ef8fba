"""The algorithm base: the preamble every trainer starts with and the plumbing it ends with.

A trainer subclasses :class:`Algorithm`, calls :meth:`Algorithm.setup` first in its
``__init__`` (validate the config naming any bad field, resolve the device, seed every
generator, make a seeded ``torch.Generator`` on the device) and declares in ``state_parts``
the attributes that make up its state; ``state_dict``/``load_state_dict`` come from that
list. ``global_step`` is every history's x-axis (environment steps, completions or
trajectories, as ``x_label`` says) and ``iteration`` counts ``step()`` calls.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch

from polab.config import Config
from polab.device import pick_device, seed_everything


class Algorithm:
    """Base of every trainer: ``step() -> dict`` advances one iteration."""

    #: attributes saved by ``state_dict``: modules, optimisers, generators, trackers (anything
    #: with ``state_dict``) and plain values (copied).
    state_parts: ClassVar[tuple[str, ...]] = ()
    #: what ``global_step`` counts, the x-axis label of every chart of this algorithm.
    x_label: ClassVar[str] = "env steps"

    config: Config
    device: torch.device
    generator: torch.Generator
    global_step: int
    iteration: int

    def setup(self, config: Config, device: str | torch.device | None) -> None:
        """Validate ``config``, resolve ``device``, seed Python, numpy and torch with
        ``config.seed`` and build ``self.generator`` on the device from the same seed."""
        self.config = config.validate()
        self.device = pick_device(device)
        seed = int(getattr(self.config, "seed", 0))
        seed_everything(seed)
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.global_step = 0
        self.iteration = 0

    def decay_fraction(self) -> float:
        """``max(0, 1 - iteration / num_iterations)``: the factor of a linearly annealed
        learning rate (CleanRL's ``anneal_lr``) at the current iteration."""
        return max(0.0, 1.0 - self.iteration / self.config.num_iterations)  # type: ignore[attr-defined]

    def step(self) -> dict[str, Any]:  # pragma: no cover - every trainer overrides it
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The declared parts plus ``global_step`` and ``iteration``, copied (an optimiser's
        own ``state_dict`` shares its moment tensors with the live optimiser)."""
        state: dict[str, Any] = {}
        for name in (*self.state_parts, "global_step", "iteration"):
            value = getattr(self, name)
            if isinstance(value, torch.Generator):
                state[name] = value.get_state()
            elif hasattr(value, "state_dict"):
                state[name] = copy.deepcopy(value.state_dict())
            elif isinstance(value, torch.Tensor):
                state[name] = value.detach().clone()
            else:
                state[name] = copy.deepcopy(value)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; a missing part is a named error. A tensor
        part returns to the device of the attribute it replaces (checkpoints load on the
        CPU); a ``Parameter`` is overwritten in place, so optimisers keep holding it."""
        missing = [n for n in (*self.state_parts, "global_step", "iteration") if n not in state]
        if missing:
            raise KeyError(f"{type(self).__name__} state lacks {missing}")
        for name in (*self.state_parts, "global_step", "iteration"):
            value, saved = getattr(self, name), state[name]
            if isinstance(value, torch.Generator):
                value.set_state(saved)
            elif hasattr(value, "load_state_dict"):
                # a copy: an optimiser keeps the tensors it is given, and training on would
                # otherwise change the caller's saved state
                value.load_state_dict(copy.deepcopy(saved))
            elif isinstance(value, torch.nn.Parameter):
                with torch.no_grad():
                    value.copy_(saved)
            elif isinstance(value, torch.Tensor):
                setattr(self, name, saved.to(value.device).clone())
            else:
                setattr(self, name, copy.deepcopy(saved))
