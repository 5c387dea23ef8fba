"""Exercise (masked-diffusion LM, card 41, pitfall 5): the ε that keeps 1/t finite.

The Monte-Carlo ELBO draws t ~ U(ε, 1] and weights a sample's masked log-probabilities by 1/t.
Score one held-out problem's correct answer with single-sample terms
(:func:`polab.lm.diffusion.sample_masks` with ``n_mc`` = 2000, then
:func:`polab.lm.diffusion.elbo_terms`) twice: with ``eps=1e-3`` (the default) and with
``eps=0.1``, same seed. Before you run, predict the standard deviation of the terms with
``eps=0.1`` against ``eps=1e-3``: "lower", "same" or "higher". Run, then answer with
:func:`check_eps_answer`, and say what the larger ε costs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polab.core.exercises import Check, direction, judge_prediction

ANSWERS = ("lower", "same", "higher")
MIN_DRAWS = 500
"""Fewer single-sample terms than this give a std too noisy to judge (the tail is heavy)."""
SAME = 0.05
"""Standard deviations within 5% of each other count as the same."""


def check_eps_answer(terms_default: Sequence[float], terms_large_eps: Sequence[float],
                     answer: str) -> Check:
    """Judge ``answer`` (one of :data:`ANSWERS`) on the single-sample ELBO terms drawn with
    ``eps=1e-3`` (``terms_default``) and with ``eps=0.1`` (``terms_large_eps``)."""
    answer = answer.strip().lower()
    if answer not in ANSWERS:
        return Check(False, f"answer with one of {list(ANSWERS)}, not {answer!r}")
    small, large = (np.asarray(x, dtype=float).ravel() for x in (terms_default,
                                                                 terms_large_eps))
    if min(len(small), len(large)) < MIN_DRAWS:
        return Check(False, f"draw at least {MIN_DRAWS} terms with each ε (n_mc={MIN_DRAWS} or "
                            f"more); got {len(small)} and {len(large)}")
    s_small, s_large = small.std(), large.std()
    ratio = s_large / s_small if s_small > 0 else float("inf")
    truth = direction(1.0, ratio, SAME)
    facts = (f"std of a single term: {s_small:.2f} with ε = 1e-3, {s_large:.2f} with ε = 0.1 "
             f"(largest |term| {np.abs(small).max():.0f} vs {np.abs(large).max():.0f}); means "
             f"{small.mean():.2f} vs {large.mean():.2f}. ")
    return judge_prediction(
        answer, truth, facts, expected="lower",
        wrong="A draw with a tiny t masks few tokens, usually none (term 0), sometimes one, "
              "whose log-probability is then multiplied by 1/t, up to 1000 at ε = 1e-3: rare "
              "huge terms dominate the variance. ε = 0.1 caps the weight at 10.",
        right="Right: ε caps the 1/t weight, and the rare huge terms of small-t draws are what "
              "makes the estimate noisy. The cost is bias: the estimator no longer covers the "
              "t < ε part of the ELBO's integral (small here: compare the means).",
        surprise="Right for this draw, though a larger ε usually lowers the spread.")
