"""Checker of chapter 08's LM-pairs exercise (notebook section "2 · DPO on the tiny LM").

Part 1: given the graded scores of ``K = 4`` samples for three prompts
(:data:`EXERCISE_SCORES`), name the prompts the oracle keeps and, for a sharp judge without
label noise, the chosen and rejected sample of each. Part 2 (the knob): predict the share of
labels that name the better sample when the score gap is ``GAP`` at the testbed's
``oracle_temperature = 0.1`` and ``label_noise = 0.1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from polab.core.exercises import Check
from polab.lm.preference import best_worst_pairs, oracle_accuracy

EXERCISE_SCORES = torch.tensor([[1.0, 2 / 3, 0.0, 2 / 3],
                                [0.5, 0.5, 0.5, 0.5],
                                [0.0, 0.0, 0.75, 0.25]])
"""Graded scores ``[prompt, sample]`` of part 1."""

GAP, TEMPERATURE, NOISE = 0.25, 0.1, 0.1
"""Part 2: a score gap of one digit of four, the testbed's judge temperature and noise."""


def check_pairs(kept: Sequence[int], chosen: Sequence[int], rejected: Sequence[int]) -> Check:
    """Part 1: the kept prompts (rows of :data:`EXERCISE_SCORES`) and, per kept prompt, the
    chosen and rejected sample (first one on equal scores), judge sharp and noiseless."""
    rows, want_c, want_r = best_worst_pairs(EXERCISE_SCORES, torch.Generator(), 1e-6, 0.0)
    if list(kept) != rows.tolist():
        return Check(False, f"kept {list(kept)}: a prompt is dropped only when all K scores "
                            "are equal (no preference to learn); look at each row's max and min")
    if list(chosen) != want_c.tolist() or list(rejected) != want_r.tolist():
        return Check(False, f"chosen {list(chosen)}, rejected {list(rejected)}: the oracle "
                            "pairs the best with the worst sample (argmax vs argmin), not two "
                            "at random")
    return Check(True, f"kept {rows.tolist()}, chosen {want_c.tolist()}, rejected "
                       f"{want_r.tolist()}: best vs worst, the all-equal prompt carries no "
                       "preference and is dropped")


def check_label_rate(p: float, tolerance: float = 0.02) -> Check:
    """Part 2: ``P(label = better)`` for :data:`GAP`, within ``tolerance``."""
    want = float(oracle_accuracy(GAP, TEMPERATURE, NOISE))
    if abs(p - want) <= tolerance:
        return Check(True, f"{want:.3f} = σ(0.25/0.1)·0.9 + (1 − σ(2.5))·0.1: the judge is "
                           "right 92% of the time, and 10% of its calls are flipped")
    judge = float(oracle_accuracy(GAP, TEMPERATURE, 0.0))
    hint = (" — that is the judge alone; the flips come on top" if abs(p - judge) <= tolerance
            else "")
    return Check(False, f"{p:.3f} is off (want within {tolerance}){hint}: P = σ(gap/T) then a "
                        "flip with probability label_noise")
