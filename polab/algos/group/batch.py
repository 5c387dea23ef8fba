"""One iteration's data of the group-relative trainer (``polab.algos.group.grpo.GRPO``):
:class:`GroupBatch`, filled in the order of ``GRPO.step()``, with row selection (``select``,
for minibatches and ``select_rows``) and concatenation (``concat``, for DAPO's dynamic
sampling rounds). Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from polab.algos.group.dapo import concat_samples
from polab.core.advantages import frac_reward_zero_std
from polab.lm.generate import Samples
from polab.lm.tasks import Problems


@dataclass
class GroupBatch:
    """One iteration's data, filled in the order of ``step()``: ``B = num_prompts × G`` rows,
    the completions of one prompt adjacent. ``pool_ids`` are the problems' indices in the
    training pool (None for fresh problems); ``rewards`` include DAPO's ``overlong_penalty``
    when it is on; ``loss_normalizer`` is the ``"dapo"`` token count of the whole batch."""

    problems: Problems
    samples: Samples
    rewards: torch.Tensor                   # (B,)
    pool_ids: torch.Tensor | None = None    # (B,)
    advantages: torch.Tensor | None = None  # (B,) or (B, T)
    keep: torch.Tensor | None = None        # (B,) rows in the loss
    mask: torch.Tensor | None = None        # (B, T) tokens in the loss
    ref_logp: torch.Tensor | None = None    # (B, T) reference model's log-probs (beta > 0)
    overlong_penalty: torch.Tensor | None = None  # (B,) DAPO eq. 13, inside ``rewards``
    loss_normalizer: torch.Tensor | None = None   # () not per row: kept by ``select``

    def select(self, index: torch.Tensor) -> GroupBatch:
        """The rows ``index`` (a LongTensor) of every per-row field."""
        def pick(x: Any) -> Any:
            if x is None or x is self.loss_normalizer:
                return x
            if isinstance(x, Samples):
                return select_samples(x, index)
            if isinstance(x, Problems):
                return x.select(index.cpu())
            return x[index.to(x.device)]
        return GroupBatch(**{f.name: pick(getattr(self, f.name)) for f in fields(self)})

    @staticmethod
    def concat(parts: list[GroupBatch], pad_id: int) -> GroupBatch:
        """The rows of several batches (generation rounds) as one, in order."""
        def join(xs: list[Any]) -> Any:
            if xs[0] is None:
                return None
            if isinstance(xs[0], Samples):
                return concat_samples(xs, pad_id)
            return Problems.concat(xs) if isinstance(xs[0], Problems) else torch.cat(xs)
        if len(parts) == 1:
            return parts[0]
        return GroupBatch(**{f.name: join([getattr(p, f.name) for p in parts])
                             for f in fields(GroupBatch)})


def select_samples(samples: Samples, index: torch.Tensor) -> Samples:
    """The rows ``index`` of every tensor of a :class:`Samples` (absent fields stay None)."""
    return Samples(**{f.name: None if getattr(samples, f.name) is None
                      else getattr(samples, f.name)[index] for f in fields(samples)})


def minibatch_units(rows: torch.Tensor, group_size: int) -> torch.Tensor:
    """The kept ``rows`` as ``(units, size)``, the pieces minibatches are cut from: single
    rows (``group_size = 1``), or whole groups of ``group_size`` adjacent rows (Prefix
    Grouper scores a group in one forward, so it must get all of it)."""
    g = group_size
    units = rows.view(-1, g) if rows.numel() % g == 0 else rows[:, None]
    if g > 1 and (units.shape[1] != g or (units[:, 0] % g != 0).any()
                  or (units - units[:, :1] != torch.arange(g, device=rows.device)).any()):
        raise ValueError("prefix_grouper scores whole groups, but select_rows kept part "
                         "of a group; turn prefix_grouper off")
    return units


def batch_metrics(batch: GroupBatch, group_size: int) -> dict[str, Any]:
    """TRL's batch metrics of one iteration (``reward``, ``frac_reward_zero_std``,
    ``completions/*``, …) for groups of ``group_size`` adjacent rows, plus polab's
    ``mask/kept_share`` and DAPO's ``overlong/*``."""
    s = batch.samples
    groups = batch.rewards.view(-1, group_size)
    adv = batch.advantages
    adv_row = adv if adv.dim() == 1 else adv.abs().amax(-1)
    m = s.loss_mask
    out: dict[str, Any] = {
        "reward": float(batch.rewards.mean()),
        "frac_zero_advantage": float((adv_row.abs() < 1e-6).float().mean()),
        "frac_rows_kept": float(batch.keep.float().mean()),
        # tokens in the loss (token_mask of the kept rows) per response token
        "mask/kept_share": float((batch.mask & batch.keep.unsqueeze(-1)).sum()
                                 / m.sum().clamp(min=1)),
        "completions/mean_length": float(s.lengths.float().mean()),
        "completions/clipped_ratio": float((~s.ended).float().mean()),
        "entropy": float(torch.where(m, s.entropies, 0.0).sum() / m.sum().clamp(min=1)),
        "advantages": adv_row.detach(),
    }
    if batch.overlong_penalty is not None:
        out["overlong/mean_penalty"] = float(batch.overlong_penalty.mean())
        out["overlong/frac_punished"] = float((batch.overlong_penalty < 0).float().mean())
    if group_size > 1:
        out["reward_std"] = float(groups.std(1).mean())
        out["frac_reward_zero_std"] = float(frac_reward_zero_std(groups))
    return out
