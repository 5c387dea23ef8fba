"""Checker of ScaleRL's exercise (card 24, widget ``zero_var_filter``): does leaving the
all-equal groups in the loss move the curve's midpoint C_mid (in FLOPs) earlier or later?"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from polab.core.exercises import Check, direction, judge_prediction

CHOICES = ("lower", "same", "higher")


def half_gain_compute(records: Sequence[dict]) -> float:
    """The compute (``compute/flops``) at which a run's validation pass rate first reaches half
    of its total gain ``R0 + (R_final − R0) / 2`` — the measured C_mid of card 24's sigmoid
    (no fit: linear interpolation between the logged points)."""
    points = [(r["compute/flops"], r["eval/pass_rate"]) for r in records
              if not math.isnan(r.get("eval/pass_rate", math.nan))]
    if len(points) < 2:
        raise ValueError("the run logged fewer than 2 validation pass rates (eval_every)")
    c, p = (np.array(x) for x in zip(*points, strict=True))
    r0 = float(records[0].get("eval/pass_rate_start", p[0]))
    half = r0 + (p[-1] - r0) / 2
    i = int(np.argmax(p >= half))
    if i == 0:
        return float(c[0])
    return float(np.interp(half, [p[i - 1], p[i]], [c[i - 1], c[i]]))


def check_filter_answer(with_filter: Sequence[dict], without_filter: Sequence[dict],
                        prediction: str, tol: float = 0.1) -> Check:
    """The learner predicts whether ScaleRL *without* the zero-variance filter reaches half its
    gain at ``"lower"``, the ``"same"`` (within ``tol``, relative) or ``"higher"`` compute
    than with it; ``with_filter``/``without_filter`` are the runs' records."""
    if prediction not in CHOICES:
        return Check(False, f"prediction={prediction!r}: answer one of {CHOICES}")
    a, b = half_gain_compute(with_filter), half_gain_compute(without_filter)
    truth = direction(a, b, tol, relative=True)
    facts = (f"Measured C_mid (compute to half the gain): with the filter {a:.3g} FLOPs, "
             f"without {b:.3g} FLOPs ({b / a:.2f}×). ")
    return judge_prediction(
        prediction, truth, facts, expected="higher",
        wrong="An all-equal group has Â = 0 for every answer: no gradient. Without the filter "
              "its tokens are still trained on (6N FLOPs each) — and early on, at a 1/64 pass "
              "rate, almost every group is all-zero — and they dilute the per-prompt mean.",
        right="Right: zero-variance groups carry no gradient but cost training compute and "
              "dilute the normalisers, so the same progress costs more FLOPs — an efficiency "
              "(C_mid) change, as card 24 classifies the filter.",
        surprise="Right for this run, though unusual: usually the wasted training tokens "
                 "push C_mid later.")
