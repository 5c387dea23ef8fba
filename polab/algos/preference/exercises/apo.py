"""Exercise (APO, card 30, step 3 and its last pitfall): push the momentum to α = 0.9.

Train iterative DPO (``alpha=0``) and APO with ``alpha=0.9`` on the same seed of the
preference bandit for a few rounds. Before you look, predict two things about α = 0.9
against α = 0 at the last round: is the policy *further* from π_0 or *closer* (``kl``), and
is its true reward *higher* or *lower*? Run, then answer with :func:`check_alpha_answer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from polab.core.exercises import Check

KL_ANSWERS = ("further", "closer")
REWARD_ANSWERS = ("higher", "lower")
TIE = 0.02
"""True rewards closer than this count as a tie: either reward answer is accepted."""


def check_alpha_answer(iterative: Sequence[Mapping[str, float]],
                       accelerated: Sequence[Mapping[str, float]], kl: str, reward: str
                       ) -> Check:
    """Compare the last records (the trainer's per-round dicts, with ``kl`` and
    ``true_reward``) of the α = 0 run and the α = 0.9 run with the learner's predictions
    ``kl`` ("further"/"closer": α = 0.9's KL(π‖π_0) against α = 0's) and ``reward``
    ("higher"/"lower": its true reward; within :data:`TIE` either is right)."""
    kl, reward = kl.strip().lower(), reward.strip().lower()
    if kl not in KL_ANSWERS:
        return Check(False, f"kl: answer with one of {list(KL_ANSWERS)}, not {kl!r}")
    if reward not in REWARD_ANSWERS:
        return Check(False, f"reward: answer with one of {list(REWARD_ANSWERS)}, not {reward!r}")
    if not iterative or not accelerated:
        return Check(False, "train both runs first (a list of per-round records each)")
    a, b = iterative[-1], accelerated[-1]
    kl_truth = "further" if b["kl"] > a["kl"] else "closer"
    diff = b["true_reward"] - a["true_reward"]
    reward_truth = reward if abs(diff) < TIE else ("higher" if diff > 0 else "lower")
    why = (f"last round: KL(π‖π_0) {a['kl']:.3f} (α = 0) vs {b['kl']:.3f} (α = 0.9); true "
           f"reward {a['true_reward']:.3f} vs {b['true_reward']:.3f}. ")
    wrong = [f"{name}: {truth}, not {given}" for name, truth, given in
             (("KL", kl_truth, kl), ("reward", reward_truth, reward)) if truth != given]
    if wrong:
        return Check(False, why + "; ".join(wrong) + ". Momentum anchors each round past the "
                     "last iterate, so every round's step is larger; whether that helps "
                     "depends on how noisy the labels it amplifies are.")
    if abs(diff) < TIE:
        note = (f"the true rewards differ by {diff:+.3f}, a tie: the extra distance bought "
                "(almost) nothing — it went into the noisy winners the labels pointed at")
    elif reward_truth == "higher":
        note = "the extra distance bought reward here"
    else:
        note = ("the extra distance went into noisy winners: more KL, less reward — the "
                "overshoot the card warns about")
    return Check(True, why + f"Right: α = 0.9 moves {kl_truth} from π_0; {note}.")
