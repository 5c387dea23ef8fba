"""ScaleRL's exercise checker on a correct and a wrong answer (hand-made records)."""

import math

import pytest

from polab.algos.group.exercises.scalerl import check_filter_answer, half_gain_compute


def run(scale):
    """Pass rate 0.0 -> 0.2 -> 0.4 -> 0.5 at compute scale × (1, 2, 3, 4); R0 = 0."""
    rates = (0.2, 0.4, 0.45, 0.5)
    out = [{"compute/flops": scale * (i + 1), "eval/pass_rate": r} for i, r in enumerate(rates)]
    out[0]["eval/pass_rate_start"] = 0.0
    out.insert(1, {"compute/flops": scale * 1.5, "eval/pass_rate": math.nan})
    return out


def test_half_gain_compute_hand_case():
    # half of the gain 0.5 is 0.25: between (1, 0.2) and (2, 0.4) -> 1.25
    assert half_gain_compute(run(1.0)) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="eval_every"):
        half_gain_compute(run(1.0)[:1])


def test_checker_right_and_wrong():
    with_filter, without = run(1.0), run(2.0)
    right = check_filter_answer(with_filter, without, "higher")
    assert right.ok and "2.00×" in right.message
    wrong = check_filter_answer(with_filter, without, "lower")
    assert not wrong.ok and "So it is higher, not lower" in wrong.message
    assert check_filter_answer(with_filter, run(1.05), "same").ok
    assert not check_filter_answer(with_filter, without, "faster").ok
