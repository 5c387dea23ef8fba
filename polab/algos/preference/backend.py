"""What the preference trainer needs of a policy and of a testbed (chapter 08).

A *policy backend* is a ``torch.nn.Module`` with two methods, so one trainer
(:mod:`polab.algos.preference.trainer`) runs DPO, IPO, SPPO, APO and INPO on a tabular policy
or on the tiny GPT alike:

* ``sample(prompts, k, generator) -> responses``: ``k`` responses per prompt, shaped
  ``[n, k, ...]`` (a response index for a tabular policy, padded tokens for a language model);
* ``logp(prompts, responses) -> [n]``: the sequence log-probability of one response per
  prompt (``responses`` shaped ``[n, ...]``), summed over its tokens with padding masked.

Prompts are integer ids ``[n]`` into the testbed's own prompt table. A *testbed* builds the
initial policy, draws prompts, turns ``k`` responses per prompt into labelled pairs (its
oracle) and measures a policy exactly where it can. Testbeds live below this package
(``polab.envs``, ``polab.lm``) and cannot import it: a tabular testbed's initial policy is its
table of logits ``[prompts, responses]`` (the trainer wraps it in :class:`TabularPolicy`,
whose ``logits`` its ``metrics`` read), and ``make_pairs`` may return any
``(prompts, chosen, rejected)`` tuple.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch
from torch import nn

from polab.core.distributions import categorical_entropy


class Pairs(NamedTuple):
    """Labelled preference pairs: ``prompts [n]``, ``chosen`` and ``rejected`` ``[n, ...]``
    (the oracle preferred ``chosen``; ties already dropped)."""

    prompts: torch.Tensor
    chosen: torch.Tensor
    rejected: torch.Tensor


class PolicyBackend(Protocol):
    """A policy the preference trainer can sample from and score (module docstring)."""

    def sample(self, prompts: torch.Tensor, k: int, generator: torch.Generator | None
               ) -> torch.Tensor: ...

    def logp(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True): ...  # noqa: ANN201 (nn.Module's)


class PreferenceTestbed(Protocol):
    """A testbed of chapter 08: the initial policy, prompts, an oracle and exact metrics."""

    def initial_policy(self) -> nn.Module | torch.Tensor: ...

    def sample_prompts(self, n: int, generator: torch.Generator) -> torch.Tensor: ...

    def make_pairs(self, prompts: torch.Tensor, responses: torch.Tensor,
                   generator: torch.Generator) -> tuple[torch.Tensor, ...]: ...

    def metrics(self, policy: nn.Module, initial: nn.Module) -> dict[str, float]: ...


class TabularPolicy(nn.Module):
    """A softmax policy with one logit per (prompt, response): ``π(y|x) = softmax(θ_x)_y``."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.detach().clone().float())

    def log_probs(self) -> torch.Tensor:
        """``log π(·|x)`` for every prompt, ``[prompts, responses]``."""
        return torch.log_softmax(self.logits, dim=-1)

    def entropy(self) -> torch.Tensor:
        """``H(π(·|x))`` per prompt."""
        return categorical_entropy(self.logits)

    def sample(self, prompts: torch.Tensor, k: int, generator: torch.Generator | None
               ) -> torch.Tensor:
        """``k`` response indices per prompt, ``[n, k]``, drawn with replacement."""
        probs = torch.softmax(self.logits[prompts], dim=-1)
        return torch.multinomial(probs, k, replacement=True, generator=generator)

    def logp(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """``log π(y|x)`` of one response per prompt, ``[n]``."""
        return self.log_probs()[prompts, responses]
