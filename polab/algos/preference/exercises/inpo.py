"""Exercise (INPO, card 16): what the KL regulariser τ buys and costs.

Train INPO twice on the same preference game and seed, once at the default ``tau=0.1`` and
once at ``tau=0.5`` (keep ``eta·tau < 1``). Before you look: after 30 iterations, is the
exploitability of the larger-τ run *higher* or *lower*? Run, then answer with
:func:`check_tau_answer`, passing each run's last record (``exploitability``, ``nash_gap``,
``kl``) and the τ it used.
"""

from __future__ import annotations

from collections.abc import Mapping

from polab.core.exercises import Check, judge_prediction

ANSWERS = ("higher", "lower")
KEYS = ("exploitability", "nash_gap", "kl")


def check_tau_answer(small: Mapping[str, float], large: Mapping[str, float], small_tau: float,
                     large_tau: float, answer: str) -> Check:
    """Compare the last records ``small`` (τ = ``small_tau``) and ``large`` (τ =
    ``large_tau``) with the learner's ``answer``: the larger-τ run's exploitability is
    "higher" or "lower"."""
    answer = answer.strip().lower()
    if answer not in ANSWERS:
        return Check(False, f"answer with one of {list(ANSWERS)}, not {answer!r}")
    missing = [k for k in KEYS if k not in small or k not in large]
    if missing:
        return Check(False, f"pass the runs' last records: {missing} missing (train first)")
    if not large_tau > small_tau:
        return Check(False, f"the second run needs the larger τ, got {small_tau} and "
                     f"{large_tau}")
    truth = "higher" if large["exploitability"] > small["exploitability"] else "lower"
    why = (f"exploitability τ={small_tau:g}: {small['exploitability']:.3f}, τ={large_tau:g}: "
           f"{large['exploitability']:.3f}; KL to π_ref {small['kl']:.3f} vs {large['kl']:.3f}; "
           f"gap to each run's own regularised Nash {small['nash_gap']:+.3f} vs "
           f"{large['nash_gap']:+.3f}. ")
    return judge_prediction(
        answer, truth, why, expected="higher",
        wrong="The regularised Nash π ∝ π_ref·exp(P(y ≻ π)/τ) moves toward π_ref as τ grows.",
        right="Right: both runs reach their own Nash (small gaps), but a larger τ keeps the "
        "Nash closer to π_ref (lower KL), which a best reply exploits more. τ trades "
        "exploitability for staying near the reference.",
        surprise="Right for these runs, though unexpected: check that both ran 30 iterations "
        "and that the gaps to their Nash are small.")
