"""Exercise (CAPO, card 6, pitfall 1): switch the prediction's preconditioner.

Train two short CAPO runs on the same seed, one with ``precond="adam"`` (the trainer's own
AdamW: the default) and one with ``precond="sgd"`` (``dW = −lr · G``, as if the optimiser were
plain SGD), both with the trust region open (``delta`` huge, so the runs are identical and
only the prediction differs). Before you look: does the SGD prediction bring
realised / predicted KL closer to 1, or move it further away? Run, then answer with
:func:`check_precond_answer`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from polab.core.exercises import Check, judge_prediction

ANSWERS = ("closer", "further")


def median_kl_ratio(steps: Sequence[Mapping[str, float]]) -> float:
    """Median over steps of realised / predicted KL (steps with a zero prediction skipped)."""
    ratios = [s["capo/realised_kl"] / s["capo/predicted_kl"] for s in steps
              if s.get("capo/predicted_kl", 0.0) > 0 and "capo/realised_kl" in s]
    return statistics.median(ratios) if ratios else float("nan")


def check_precond_answer(adam_steps: Sequence[Mapping[str, float]],
                         sgd_steps: Sequence[Mapping[str, float]], answer: str) -> Check:
    """Compare the two runs' ``CAPO.steps`` and the learner's ``answer`` ("closer" or
    "further": where the SGD prediction puts realised / predicted KL, relative to 1, against
    the Adam one). Distance from 1 is measured on a log scale (a factor 10 too low or too high
    is the same miss)."""
    answer = answer.strip().lower()
    if answer not in ANSWERS:
        return Check(False, f"answer with one of {list(ANSWERS)}, not {answer!r}")
    if not adam_steps or not sgd_steps:
        return Check(False, "train both runs first (their CAPO.steps are empty)")
    adam, sgd = median_kl_ratio(adam_steps), median_kl_ratio(sgd_steps)
    if not (math.isfinite(adam) and math.isfinite(sgd)):
        return Check(False, "no step with a positive prediction: train longer")
    miss_adam, miss_sgd = abs(math.log10(adam)), abs(math.log10(sgd))
    truth = "further" if miss_sgd > miss_adam else "closer"
    why = (f"realised / predicted KL: Adam-aware prediction {adam:.3g} "
           f"({miss_adam:.1f} decades from 1), SGD prediction {sgd:.3g} ({miss_sgd:.1f} "
           "decades). ")
    return judge_prediction(
        answer, truth, why, expected="further",
        wrong="Look at the scale of dW: Adam divides by √v, SGD does not.",
        right="Right: the real optimiser is AdamW, whose per-parameter scaling makes a tiny "
        "gradient a step of size ~lr; −lr·G misses that, so the prediction must use the "
        "optimiser's own preconditioner (pitfall 1).",
        surprise="Right for these runs, though unusual: check that the two runs trained on "
        "the same seed and that AdamW is the trainer's optimiser.")
