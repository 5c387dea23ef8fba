"""Checker of DR-RPO's exercise (card 32, widget ``lambda_kl``): strong vs weak KL
regularisation, and what it does to the final robust value."""

from __future__ import annotations

from collections.abc import Sequence

from polab.core.exercises import Check, direction, judge_prediction

CHOICES = ("lower", "same", "higher")


def check_lambda_answer(weak: Sequence[dict], strong: Sequence[dict], prediction: str,
                        tol: float = 0.01) -> Check:
    """The learner predicts whether the strongly regularised run (λ_KL small) ends with a
    ``"lower"``, the ``"same"`` (within ``tol``) or a ``"higher"`` robust value than the
    weakly regularised one (λ_KL large); ``weak``/``strong`` are the runs' step records."""
    if prediction not in CHOICES:
        return Check(False, f"prediction={prediction!r}: answer one of {CHOICES}")
    a, b = weak[-1]["robust_value"], strong[-1]["robust_value"]
    truth = direction(a, b, tol)
    facts = (f"Final robust value at ρ_test: weak regularisation {a:.3f}, strong {b:.3f} "
             f"(robust DP {weak[-1]['robust_optimum']:.3f}). ")
    return judge_prediction(
        prediction, truth, facts, expected="lower",
        wrong="The fixed point of the mirror step is π ∝ π_ref exp(λ_KL Q): a small λ_KL keeps "
              "π close to uniform even when Q knows the better lane, so it pays the KL bias.",
        right="Right: with a small λ_KL the policy stays near π_ref (uniform) at the fixed "
              "point π ∝ π_ref exp(λ_KL Q), so it keeps taking the worse lane part of the "
              "time; the regularised objective is easier, not the robust value higher.",
        surprise="Right for this run, though unusual: usually the strong pull to uniform "
                 "costs robust value.")
