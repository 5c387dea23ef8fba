"""BGPO's exercise checker on a correct and a wrong answer (and one measurement)."""

from polab.algos.diffusion.exercises.bgpo import check_flat_memory_answer, memory_ratios

RATIOS = {"bgpo": 1.0, "exact": 4.0, "naive": 1.0}


def test_correct_and_wrong_answers():
    ok = check_flat_memory_answer(["naive", "bgpo"], RATIOS)
    assert ok.ok and "naive line too" in ok.message
    wrong = check_flat_memory_answer(["bgpo"], RATIOS)
    assert not wrong.ok and "SUM of per-sample terms" in wrong.message
    assert not check_flat_memory_answer(["ratio"], RATIOS).ok


def test_measured_ratios():
    r = memory_ratios(n_small=1, n_large=4, rows=8)
    assert abs(r["exact"] - 4.0) < 0.2 and abs(r["bgpo"] - 1.0) < 0.1
    assert check_flat_memory_answer(["bgpo", "naive"], r).ok
