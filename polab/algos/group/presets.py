"""Modern variants as named presets with citations (STYLE.md §11; TRL's ``paper_index.md``).

A preset is a handful of :class:`~polab.algos.group.losses.GroupConfig` fields, each with the paper
section it comes from. Every group preset sets the same :data:`GROUP_KNOBS`, so applying one
after another never leaves a knob from the previous one behind; the training schedule
(``learning_rate``, batch sizes, ``update_epochs``) stays the caller's::

    cfg = PRESETS["DAPO"].apply(GRPOConfig())
    pd.DataFrame(preset_table())          # the notebook's preset table

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from polab.config import Config

C = TypeVar("C", bound=Config)

GROUP_KNOBS = ("loss_type", "scale_rewards", "baseline", "importance_sampling_level",
               "epsilon", "epsilon_high", "beta", "mask_truncated_completions")
"""The algorithm-defining fields every group preset sets."""


class Setting(NamedTuple):
    """One field of a preset: its value and where in the paper it comes from."""

    field: str
    value: Any
    where: str


@dataclass(frozen=True)
class Preset:
    """A named set of config values, with the paper it reproduces."""

    name: str
    source: str
    summary: str
    settings: tuple[Setting, ...]

    def as_dict(self) -> dict[str, Any]:
        return {s.field: s.value for s in self.settings}

    def apply(self, config: C) -> C:
        """``config`` with this preset's values, validated."""
        return config.replace(**self.as_dict()).validate()


GRPO = Preset(
    "GRPO", "Shao et al. 2024, DeepSeekMath, arXiv 2402.03300",
    "group-normalised advantages, per-sequence token mean, symmetric clip, KL to the reference",
    (Setting("loss_type", "grpo", "§4.1.1 eq. 3: 1/|o_i| Σ_t per completion, then 1/G"),
     Setting("scale_rewards", "group", "§4.1.2: Â = (r - mean(r)) / std(r) within the group"),
     Setting("baseline", "group_mean", "§4.1.2"),
     Setting("importance_sampling_level", "token", "eq. 3: one ratio per token"),
     Setting("epsilon", 0.2, "eq. 3: clip(ratio, 1-ε, 1+ε)"),
     Setting("epsilon_high", 0.2, "eq. 3: symmetric"),
     Setting("beta", 0.001, "eq. 3-4 k3 KL term; 0.001 as in STYLE.md §11 for DeepSeek-R1 "
             "(DeepSeekMath §4.2 used 0.04)"),
     Setting("mask_truncated_completions", False, "not in the paper")),
)

DR_GRPO = Preset(
    "Dr.GRPO", "Liu et al. 2025, Understanding R1-Zero-Like Training, arXiv 2503.20783",
    "GRPO without its two normalisations: no 1/|o_i| length term, no std division",
    (Setting("loss_type", "dr_grpo", "§3.1: drop 1/|o_i| (length bias); a constant normaliser"),
     Setting("scale_rewards", "none", "§3.1: drop std(r) (question-difficulty bias)"),
     Setting("baseline", "group_mean", "§3.1: the group mean stays"),
     Setting("importance_sampling_level", "token", "as GRPO"),
     Setting("epsilon", 0.2, "as GRPO"),
     Setting("epsilon_high", 0.2, "as GRPO"),
     Setting("beta", 0.0, "authors' training config (TRL paper index)"),
     Setting("mask_truncated_completions", False, "not in the paper")),
)

DAPO = Preset(
    "DAPO", "Yu et al. 2025, DAPO, arXiv 2503.14476",
    "clip-higher, token-level loss, overlong filtering, no KL (dynamic sampling, §3.2, is a "
    "group filter of the trainer, not a config value)",
    (Setting("loss_type", "dapo", "§3.3: token-level policy-gradient loss"),
     Setting("scale_rewards", "group", "§2.2: GRPO's group-normalised advantage, kept"),
     Setting("baseline", "group_mean", "§2.2"),
     Setting("importance_sampling_level", "token", "§3.3"),
     Setting("epsilon", 0.2, "§3.1 Clip-Higher, ε_low = 0.2 (§4.1)"),
     Setting("epsilon_high", 0.28, "§3.1 Clip-Higher, ε_high = 0.28 (§4.1)"),
     Setting("beta", 0.0, "§2.3: KL term removed"),
     Setting("mask_truncated_completions", True, "§3.4: overlong filtering")),
)

GSPO = Preset(
    "GSPO", "Zheng et al. 2025, Group Sequence Policy Optimization, arXiv 2507.18071",
    "one length-normalised ratio per sequence, clipped very tightly; it differs from GRPO "
    "only off-policy (update_epochs > 1; §5.1 splits each rollout batch into 4 minibatches)",
    (Setting("loss_type", "grpo", "§4.1: sequence objective averaged over the G responses"),
     Setting("scale_rewards", "group", "§4.1: group-normalised advantage"),
     Setting("baseline", "group_mean", "§4.1"),
     Setting("importance_sampling_level", "sequence", "§4.1: s_i = (π_θ(y)/π_old(y))^(1/|y|)"),
     Setting("epsilon", 3e-4, "§5.1"),
     Setting("epsilon_high", 4e-4, "§5.1"),
     Setting("beta", 0.0, "no KL term (TRL paper index)"),
     Setting("mask_truncated_completions", False, "not in the paper")),
)

RLOO = Preset(
    "RLOO", "Ahmadian et al. 2024, Back to Basics (REINFORCE Leave-One-Out), arXiv 2402.14740",
    "leave-one-out baseline, raw advantages, the whole completion as one action",
    (Setting("loss_type", "dr_grpo", "§3: Σ_t log π over the completion (one action); the "
             "constant normaliser only rescales the step"),
     Setting("scale_rewards", "none", "§3: A_i = r_i - mean_{j≠i} r_j, unscaled"),
     Setting("baseline", "leave_one_out", "§3: RLOO estimator (Kool et al. 2019)"),
     Setting("importance_sampling_level", "token", "on-policy REINFORCE: ratios are 1"),
     Setting("epsilon", 0.2, "no clipping in the paper; inactive with update_epochs=1"),
     Setting("epsilon_high", 0.2, "as epsilon"),
     Setting("beta", 0.0, "the paper's KL is a reward penalty; polab's β is a loss term, off"),
     Setting("mask_truncated_completions", False, "not in the paper")),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (GRPO, DR_GRPO, DAPO, GSPO, RLOO)}


def preset_table() -> list[dict[str, Any]]:
    """One row per preset: name, source and every knob's value (for a DataFrame)."""
    return [{"preset": p.name, **p.as_dict(), "source": p.source} for p in PRESETS.values()]
