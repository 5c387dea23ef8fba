"""The checker of chapter 14's sweep exercise: how many trials does a rerun train?

The sweep layer's own module (it sits above the algorithm families, so the checker lives
beside the engine rather than in ``polab.algos.<family>.exercises``)."""

from __future__ import annotations

from typing import Any

from polab.core.exercises import Check, judge_prediction


def check_rerun_answer(before: Any, after: Any, prediction: int) -> Check:
    """The verdict on ``prediction``, the number of trials the rerun that returned ``after``
    trained, given the earlier sweep's table ``before`` (both as :func:`run_sweep` returns
    them; ``after.attrs["ran"]`` is what the engine ran)."""
    if not isinstance(prediction, int) or isinstance(prediction, bool) or prediction < 0:
        return Check(False, f"prediction={prediction!r}: give a whole number of trials (≥ 0)")
    ran, skipped = after.attrs["ran"], after.attrs["skipped"]
    old = set(before["trial_id"])
    new = [t for t in ran if t not in old]
    retried = [t for t in ran if t in old]
    facts = (f"The grown sweep has {len(ran) + len(skipped)} trials; {len(skipped)} were "
             f"already finished in results.csv and were skipped, {len(new)} are new trial ids "
             f"and {len(retried)} had failed before and were retried: {len(ran)} ran. ")
    return judge_prediction(
        prediction, len(ran), facts,
        wrong="A trial is identified by its id, a hash of algorithm, env, variant, knobs, seed "
              "and run length: a new seed is a new trial, an old (variant, seed) is skipped if "
              "it finished, and a failed trial is always tried again.",
        right="Right: finished trial ids are skipped, failed ones retried, new ones run. "
              "Change iterations and every id changes — then the whole sweep reruns.")
