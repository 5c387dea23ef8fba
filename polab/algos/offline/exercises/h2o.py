"""H2O's exercise (notebook 11): switch off the discriminators' weights (naive hybrid) under a
wrong simulator, predict the effect on the real-env return, run, explain."""

from __future__ import annotations

from polab.core.exercises import Check, direction, judge_prediction

CHOICES = ("lower", "same", "higher")
TOLERANCE = 50.0
"""Returns within this of each other count as the same (Pendulum's seed-to-seed spread)."""


def check_naive_answer(h2o_return: float, naive_return: float, prediction: str) -> Check:
    """Judge the prediction of the naive hybrid's real return against H2O's ("lower", "same",
    "higher", within :data:`TOLERANCE`) from the two measured returns."""
    if prediction not in CHOICES:
        return Check(False, f"prediction={prediction!r}: answer one of {list(CHOICES)}")
    diff = naive_return - h2o_return
    truth = direction(h2o_return, naive_return, TOLERANCE)
    facts = (f"Real return: H2O {h2o_return:.0f}, naive hybrid {naive_return:.0f} "
             f"(difference {diff:+.0f}; within ±{TOLERANCE:.0f} counts as the same). ")
    return judge_prediction(
        prediction, truth, facts, expected="lower",
        wrong="Without the IS weights every simulated transition counts fully in the Bellman "
              "error, and with uniform ω the penalty no longer targets the states where the "
              "simulator's gravity is most wrong; look at the IS-weight histogram above.",
        right="The weights are what let H2O use the simulator only where it agrees with the "
              "real data.",
        surprise="On this seed the naive hybrid held up: the real data's Q-push-up and the "
                 "penalty on sim rows already kept Q honest; the benchmark's seeds show "
                 "whether that is the rule.")
