"""Exercise (IWOCS, card 39, pitfall 2): combine the found Q-functions with the *last* one
instead of their minimum.

Run IWOCS on the coupled windy walk (``windy-walk-coupled``) for three iterations twice, with
``combine="min"`` and ``combine="last"``, same seed. Before you look, predict the worst-case
value of the third iteration's policy (``worst_case_value`` of the third record) with
``last`` against ``min``: "lower", "same" or "higher". Run, then answer with
:func:`check_combine_answer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from polab.core.exercises import Check, direction, judge_prediction

ANSWERS = ("lower", "same", "higher")
TIE = 1e-6
"""Worst-case values closer than this are the same (exact values in float64)."""


def check_combine_answer(with_min: Sequence[Mapping[str, float]],
                         with_last: Sequence[Mapping[str, float]], answer: str) -> Check:
    """Judge ``answer`` (one of :data:`ANSWERS`) on the third records of the ``min`` and
    ``last`` runs (lists of the trainer's per-iteration dicts)."""
    answer = answer.strip().lower()
    if answer not in ANSWERS:
        return Check(False, f"answer with one of {list(ANSWERS)}, not {answer!r}")
    if len(with_min) < 3 or len(with_last) < 3:
        return Check(False, "train both runs for three iterations first (lists of records)")
    a, b = with_min[2]["worst_case_value"], with_last[2]["worst_case_value"]
    truth = direction(a, b, TIE)
    facts = f"third iteration's worst-case value: {a:.4f} with min, {b:.4f} with last. "
    return judge_prediction(
        answer, truth, facts, expected="lower",
        wrong="With `last`, π_2 is greedy on Q_2 alone, the value of the kernel found at "
              "iteration 1 (wind in the first windy column only), so it crosses the other two "
              "close to the pit, where the *earlier* adversary blew, and the search finds "
              "that adversary again: the loop chases the latest model and cycles.",
        right="Right: `last` forgets the earlier worst kernels and chases the latest one "
              "(it cycles); `min` keeps every found adversary in the pessimistic Q_rob.",
        surprise="Right for this run, though `last` usually does worse here.")
