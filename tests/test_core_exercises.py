"""The shared pieces of every exercise checker (polab.core.exercises)."""

import pytest

from polab.core.exercises import Check, direction, judge_prediction


@pytest.mark.parametrize("before, after, tol, relative, expected", [
    (1.0, 1.05, 0.1, False, "same"), (1.0, 0.8, 0.1, False, "lower"),
    (1.0, 1.3, 0.1, False, "higher"), (2.0, 2.1, 0.1, True, "same"),
    (2.0, 2.5, 0.1, True, "higher"), (2.0, 1.5, 0.1, True, "lower"),
    (-100.0, -130.0, 10.0, False, "lower")])
def test_direction_hand_cases(before, after, tol, relative, expected):
    assert direction(before, after, tol, relative=relative) == expected


def test_judge_prediction_says_what_was_measured_and_why():
    wrong = judge_prediction("lower", "higher", "A 2, B 3. ", wrong="hint", right="yes")
    assert wrong == Check(False, "A 2, B 3. So it is higher, not lower. hint")
    right = judge_prediction("higher", "higher", "A 2, B 3. ", wrong="hint", right="yes",
                             expected="lower", surprise="unusual run")
    assert right == Check(True, "A 2, B 3. unusual run")
