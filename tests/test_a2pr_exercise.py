"""The A2PR exercise's checker on a right and a wrong answer, and bad input."""

from polab.algos.offline.exercises.a2pr import check_vae_target_answer


def test_checker_right_wrong_and_bad():
    assert check_vae_target_answer(60.0, 40.0, "lower").ok
    wrong = check_vae_target_answer(60.0, 40.0, "higher")
    assert not wrong.ok and "lower, not higher" in wrong.message
    assert check_vae_target_answer(60.0, 65.0, "same").ok
    assert not check_vae_target_answer(60.0, 65.0, "much").ok
