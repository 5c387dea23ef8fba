"""Modern variants as named presets with citations (as TRL's ``paper_index.md`` lists them).

A preset is a handful of :class:`~polab.algos.group.losses.GroupConfig` fields, each with the paper
section it comes from, all in one table, :data:`TABLE`: a line per setting, each citing its
source. Every group preset sets the same :data:`GROUP_KNOBS`, so applying one after another
never leaves a knob from the previous one behind; the training schedule (``learning_rate``,
batch sizes, ``update_epochs``) stays the caller's::

    cfg = PRESETS["DAPO"].apply(GRPOConfig())
    pd.DataFrame(preset_table())          # the notebook's preset table

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from polab.config import Config

C = TypeVar("C", bound=Config)

GROUP_KNOBS = ("loss_type", "scale_rewards", "baseline", "importance_sampling_level",
               "epsilon", "epsilon_high", "beta", "mask_truncated_completions",
               "overlong_penalty_factor", "overlong_buffer_len", "dynamic_sampling")
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


TABLE = """
[GRPO] Shao et al. 2024, DeepSeekMath, arXiv 2402.03300
= group-normalised advantages, per-sequence token mean, symmetric clip, KL to the reference
loss_type                  "grpo"          §4.1.1 eq. 3: 1/|o_i| Σ_t per completion, then 1/G
scale_rewards              "group"         §4.1.2: Â = (r - mean(r)) / std(r) within the group
baseline                   "group_mean"    §4.1.2
importance_sampling_level  "token"         eq. 3: one ratio per token
epsilon                    0.2             eq. 3: clip(ratio, 1-ε, 1+ε)
epsilon_high               0.2             eq. 3: symmetric
beta                       0.001           eq. 3-4 k3 KL term; 0.001 as for DeepSeek-R1
                                           (DeepSeekMath §4.2 used 0.04)
mask_truncated_completions False           not in the paper
overlong_penalty_factor    0.0             not in the paper
overlong_buffer_len        0               not in the paper
dynamic_sampling           False           not in the paper

[Dr.GRPO] Liu et al. 2025, Understanding R1-Zero-Like Training, arXiv 2503.20783
= GRPO without its two normalisations: no 1/|o_i| length term, no std division
loss_type                  "dr_grpo"       §3.1: drop 1/|o_i| (length bias); a constant
                                           normaliser
scale_rewards              "none"          §3.1: drop std(r) (question-difficulty bias)
baseline                   "group_mean"    §3.1: the group mean stays
importance_sampling_level  "token"         as GRPO
epsilon                    0.2             as GRPO
epsilon_high               0.2             as GRPO
beta                       0.0             authors' training config (TRL paper index)
mask_truncated_completions False           not in the paper
overlong_penalty_factor    0.0             not in the paper
overlong_buffer_len        0               not in the paper
dynamic_sampling           False           not in the paper

[DAPO] Yu et al. 2025, DAPO, arXiv 2503.14476
= clip-higher, dynamic sampling, token-level loss, overlong filtering and soft overlong
  punishment, no KL
loss_type                  "dapo"          §3.3: token-level policy-gradient loss
scale_rewards              "group"         §2.2: GRPO's group-normalised advantage, kept
baseline                   "group_mean"    §2.2
importance_sampling_level  "token"         §3.3
epsilon                    0.2             §3.1 Clip-Higher, ε_low = 0.2 (§4.1)
epsilon_high               0.28            §3.1 Clip-Higher, ε_high = 0.28 (§4.1)
beta                       0.0             §2.3: KL term removed
mask_truncated_completions True            §3.4: overlong filtering (Table 1 keeps it; verl's
                                           recipe drops it as overlapping the punishment)
overlong_penalty_factor    1.0             §3.4 eq. 13: soft overlong punishment, down to -1
overlong_buffer_len        0               §4.1: L_cache 4096 of L_max 20480 (16384 + 4096);
                                           0 = a quarter of the task's own limit, added to it
dynamic_sampling           True            §3.2 eq. 11: drop groups of all-equal accuracy,
                                           redraw until the batch is full

[GSPO] Zheng et al. 2025, Group Sequence Policy Optimization, arXiv 2507.18071
= one length-normalised ratio per sequence, clipped very tightly; it differs from GRPO only
  off-policy (update_epochs > 1; §5.1 splits each rollout batch into 4 minibatches)
loss_type                  "grpo"          §4.1: sequence objective averaged over the G
                                           responses
scale_rewards              "group"         §4.1: group-normalised advantage
baseline                   "group_mean"    §4.1
importance_sampling_level  "sequence"      §4.1: s_i = (π_θ(y)/π_old(y))^(1/|y|)
epsilon                    3e-4            §5.1
epsilon_high               4e-4            §5.1
beta                       0.0             no KL term (TRL paper index)
mask_truncated_completions False           not in the paper
overlong_penalty_factor    0.0             not in the paper
overlong_buffer_len        0               not in the paper
dynamic_sampling           False           not in the paper

[RLOO] Ahmadian et al. 2024, Back to Basics (REINFORCE Leave-One-Out), arXiv 2402.14740
= leave-one-out baseline, raw advantages, the whole completion as one action
loss_type                  "dr_grpo"       §3: Σ_t log π over the completion (one action);
                                           the constant normaliser only rescales the step
scale_rewards              "none"          §3: A_i = r_i - mean_{j≠i} r_j, unscaled
baseline                   "leave_one_out" §3: RLOO estimator (Kool et al. 2019)
importance_sampling_level  "token"         on-policy REINFORCE: ratios are 1
epsilon                    0.2             no clipping in the paper; inactive with
                                           update_epochs=1
epsilon_high               0.2             as epsilon
beta                       0.0             the paper's KL is a reward penalty; polab's β is a
                                           loss term, off
mask_truncated_completions False           not in the paper
overlong_penalty_factor    0.0             not in the paper
overlong_buffer_len        0               not in the paper
dynamic_sampling           False           not in the paper
"""
"""Every preset: ``[NAME] source``, ``= summary``, then one line per setting — field, value
(a Python literal) and where in the source it comes from; an indented line continues the text
above it."""


def parse_presets(table: str) -> dict[str, Preset]:
    """The presets of a table written as :data:`TABLE`, in order."""
    blocks: list[dict[str, Any]] = []
    for line in table.strip().splitlines():
        if not line.strip():
            continue
        if line.startswith("["):
            name, source = line[1:].split("] ", 1)
            blocks.append({"name": name, "source": source, "summary": "", "settings": []})
        elif line.startswith("= "):
            blocks[-1]["summary"] = line[2:]
        elif line.startswith(" "):  # more of the text above: the summary or the last citation
            block = blocks[-1]
            if block["settings"]:
                last = block["settings"][-1]
                block["settings"][-1] = last._replace(where=f"{last.where} {line.strip()}")
            else:
                block["summary"] += " " + line.strip()
        else:
            field, value, where = line.split(maxsplit=2)
            blocks[-1]["settings"].append(Setting(field, ast.literal_eval(value), where))
    return {b["name"]: Preset(b["name"], b["source"], b["summary"], tuple(b["settings"]))
            for b in blocks}


PRESETS: dict[str, Preset] = parse_presets(TABLE)


def preset_table() -> list[dict[str, Any]]:
    """One row per preset: name, source and every knob's value (for a DataFrame)."""
    return [{"preset": p.name, **p.as_dict(), "source": p.source} for p in PRESETS.values()]
