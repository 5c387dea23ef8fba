"""DAPO's two data-side parts: the soft overlong punishment and dynamic sampling.

Yu et al. 2025, *DAPO: An Open-Source LLM Reinforcement Learning System at Scale*,
arXiv 2503.14476; the authors' code is verl's DAPO recipe (``recipe/dapo``:
``reward_model.overlong_buffer.{enable,len,penalty_factor}``,
``algorithm.filter_groups.{enable,metric,max_num_gen_batches}``).

* :func:`overlong_penalty` — eq. 13, a length-aware reward added to the task reward before
  group normalisation: 0 up to ``L_max - L_cache`` tokens, then falling linearly to −1 at
  ``L_max`` (times verl's ``penalty_factor``), −1 beyond;
* :func:`scaled_overlong_buffer` — the paper's ``L_cache`` scaled to a task: §4.1 generates
  up to 20480 tokens, "16384 + 4096" (verl's recipe), so ``L_cache`` is a quarter of the
  length that answers should fit in;
* :func:`informative_groups` — eq. 11's constraint ``0 < |{o_i correct}| < G``: a group whose
  rewards are all equal has zero advantage everywhere and no gradient;
* :func:`dynamic_sampling` — §3.2: draw rounds, keep the informative groups, until the batch
  holds ``num_groups`` of them or ``max_rounds`` are spent (verl raises then; polab trains on
  what it kept and says so);
* :func:`concat_samples` — rounds' :class:`~polab.lm.generate.Samples` stacked into one batch
  (prompts left-padded, completions right-padded to the widest round).

``polab.algos.group.grpo.GRPO`` calls them when ``overlong_penalty_factor > 0`` and
``dynamic_sampling`` are set (the DAPO preset sets both). Taught in
notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from polab.lm.generate import Samples

B = TypeVar("B")

PAPER_EXPECTED_LEN, PAPER_BUFFER_LEN = 16384, 4096
"""DAPO §4.1: ``L_max = 20480`` generated tokens, of which the last 4096 are the buffer."""


def overlong_penalty(lengths: torch.Tensor, max_length: int, buffer_len: int,
                     factor: float = 1.0) -> torch.Tensor:
    """DAPO eq. 13, the soft overlong punishment ``R_length(y)`` per completion, times
    ``factor`` (verl's ``overlong_buffer.penalty_factor``)::

        0                                 if |y| <= L_max - L_cache
        ((L_max - L_cache) - |y|) / L_cache   if L_max - L_cache < |y| <= L_max
        -1                                if |y| > L_max

    ``lengths`` counts completion tokens (``<eos>`` included), ``max_length`` is ``L_max``
    and ``buffer_len`` is ``L_cache`` (0 < L_cache <= L_max).
    """
    if not 0 < buffer_len <= max_length:
        raise ValueError(f"need 0 < buffer_len <= max_length, got buffer_len={buffer_len}, "
                         f"max_length={max_length}")
    expected = max_length - buffer_len
    return (expected - lengths.float()).clamp(min=-float(buffer_len), max=0.0) * factor / buffer_len


def scaled_overlong_buffer(expected_len: int) -> int:
    """``L_cache`` for answers that fit in ``expected_len`` tokens, at the paper's ratio
    ``4096 / 16384`` (rounded up, at least 1)."""
    return max(1, math.ceil(expected_len * PAPER_BUFFER_LEN / PAPER_EXPECTED_LEN))


def informative_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``(P,)`` True for the groups (``group_size`` adjacent rewards each) whose rewards are not
    all equal — DAPO eq. 11's ``0 < |{o_i | is_equivalent(a, o_i)}| < G`` for 0/1 accuracy;
    ``torch.isclose(std, 0)`` as TRL's ``frac_reward_zero_std`` counts them."""
    std = rewards.view(-1, group_size).std(dim=1)
    return ~torch.isclose(std, torch.zeros_like(std))


def dynamic_sampling(draw: Callable[[], tuple[B, torch.Tensor]], num_groups: int,
                     group_size: int, max_rounds: int
                     ) -> tuple[list[tuple[B, torch.Tensor]], dict[str, Any]]:
    """DAPO §3.2: call ``draw()`` — one generation round, returning ``(batch, rewards)`` with
    the groups' rewards adjacent — until ``num_groups`` informative groups are kept or
    ``max_rounds`` rounds are spent. Surplus informative groups of the last round are cut
    (verl keeps the first ``train_batch_size``).

    Returns ``[(batch, rows kept), ...]`` per round that kept something, and the counts
    ``rounds``, ``groups_sampled``, ``groups_dropped`` (zero-variance), ``groups_kept`` and
    ``full`` (whether ``num_groups`` were kept).
    """
    parts: list[tuple[B, torch.Tensor]] = []
    stats: dict[str, Any] = {"rounds": 0, "groups_sampled": 0, "groups_dropped": 0,
                             "groups_kept": 0}
    while stats["rounds"] < max_rounds and stats["groups_kept"] < num_groups:
        batch, rewards = draw()
        keep = informative_groups(rewards, group_size)
        stats["rounds"] += 1
        stats["groups_sampled"] += len(keep)
        stats["groups_dropped"] += int((~keep).sum())
        groups = keep.nonzero().squeeze(1)[:num_groups - stats["groups_kept"]]
        if len(groups):
            rows = (groups[:, None] * group_size + torch.arange(group_size)).flatten()
            parts.append((batch, rows.to(rewards.device)))
            stats["groups_kept"] += len(groups)
    stats["full"] = stats["groups_kept"] == num_groups
    return parts, stats


def concat_samples(parts: Sequence[Samples], pad_id: int) -> Samples:
    """Stack :class:`Samples` of several generation rounds: prompts left-padded (``pad_id``,
    mask False) and completions right-padded (``pad_id``, masks False, log-probs and
    entropies 0) to the widest round. Positions count real tokens, so padding changes no
    log-prob beyond float rounding. An optional field (``temperatures``) absent in every round
    stays None."""
    if len(parts) == 1:
        return parts[0]
    width_p = max(s.prompt_ids.shape[1] for s in parts)
    width_c = max(s.completion_ids.shape[1] for s in parts)

    def widen(name: str, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 1:  # ended
            return x
        if name.startswith("prompt"):
            value = pad_id if name == "prompt_ids" else False
            return F.pad(x, (width_p - x.shape[1], 0), value=value)
        value = pad_id if name == "completion_ids" else (False if x.dtype == torch.bool else 0.0)
        return F.pad(x, (0, width_c - x.shape[1]), value=value)

    def join(name: str) -> torch.Tensor | None:
        xs = [getattr(s, name) for s in parts]
        if all(x is None for x in xs):
            return None
        if any(x is None for x in xs):
            raise ValueError(f"Samples field {name!r} is set in some rounds only")
        return torch.cat([widen(name, x) for x in xs])

    return Samples(**{f.name: join(f.name) for f in fields(Samples)})
