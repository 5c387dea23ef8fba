"""Checker of the A2PR exercise (notebooks/11_robust_and_offline.ipynb, section 4): switch
off the VAE target (``use_vae_target = False``: advantage-filtered BC regularisation) on the
mixed dataset and predict the normalised score against A2PR's."""

from __future__ import annotations

from polab.core.exercises import Check, direction, judge_prediction

CHOICES = ("lower", "same", "higher")
SAME_WITHIN = 10.0
"""Scores within this many points count as ``"same"``."""


def outcome(score_a2pr: float, score_filtered: float) -> str:
    """``"lower"``, ``"same"`` or ``"higher"``: the filtered-BC score against A2PR's."""
    return direction(score_a2pr, score_filtered, SAME_WITHIN)


def check_vae_target_answer(score_a2pr: float, score_filtered: float,
                            prediction: str) -> Check:
    """The verdict on ``prediction`` (one of :data:`CHOICES`) given the two runs' scores."""
    if prediction not in CHOICES:
        return Check(False, f"prediction must be one of {CHOICES}, got {prediction!r}")
    truth = outcome(score_a2pr, score_filtered)
    facts = (f"A2PR scored {score_a2pr:.1f}, advantage-filtered BC {score_filtered:.1f} "
             f"(\"same\" = within ±{SAME_WITHIN:.0f}). ")
    return judge_prediction(
        prediction, truth, facts,
        wrong="Without the VAE target the actor can only be pulled toward dataset actions "
              "with positive advantage; on mixed data those are the expert's 30 % plus lucky "
              "random ones, so the filter does most of the work. The VAE adds targets near "
              "π(s) that the critic rates above the data action — look at the VAE-target "
              "share and the mask histogram.",
        right="The filter decides which data pull the actor; the VAE target matters where "
              "π(s)'s reconstruction beats the data action, which the share of VAE targets "
              "shows.",
        expected="lower",
        surprise="The card expects the VAE target to help on mixed data; in this short run "
                 "it did not — a few thousand steps on one seed are noisy (see the "
                 "benchmark's per-seed table).")
