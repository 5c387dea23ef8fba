"""Card 24's scaling curve (issue 18's hand cases): the sigmoid at C_mid is halfway, the fit
recovers known parameters from a prefix and predicts the rest, FLOPs of a hand batch, and
bootstrap intervals over seeds."""

import numpy as np
import pytest

from polab.sweep.curves import bootstrap_fits, fit_sigmoid, lm_flops, sigmoid_curve

TRUE = {"r0": 0.1, "a": 0.7, "b": 1.5, "c_mid": 1e12}
COMPUTE = np.geomspace(1e10, 1e14, 40)


def test_sigmoid_is_halfway_at_c_mid_and_flops_of_a_hand_batch():
    assert sigmoid_curve(1e12, **TRUE) == pytest.approx(0.1 + (0.7 - 0.1) / 2)
    assert sigmoid_curve(1e20, **TRUE) == pytest.approx(0.7, abs=1e-6)
    # 100k parameters; 64 completions of 5 generated tokens; 320 trained tokens:
    # 2·1e5·320 + 6·1e5·320 = 2.56e8
    assert lm_flops(100_000, 64 * 5, 320) == pytest.approx(2.56e8)
    with pytest.raises(ValueError, match="n_params"):
        lm_flops(0, 1, 1)


def test_fit_recovers_parameters_and_predicts_from_a_prefix():
    rate = sigmoid_curve(COMPUTE, **TRUE)
    fit = fit_sigmoid(COMPUTE, rate, fit_prefix=0.4)
    assert fit.r0 == pytest.approx(rate[0])  # fixed to the measured start
    # the measured start is slightly above R0 (the curve has begun): the fit still lands close
    assert fit.a == pytest.approx(0.7, abs=0.02)
    assert fit.c_mid == pytest.approx(1e12, rel=0.15)
    assert abs(fit.predict(COMPUTE[-1]) - rate[-1]) < 0.02
    exact = fit_sigmoid(COMPUTE, rate, fit_prefix=1.0, r0=0.1)
    assert exact.a == pytest.approx(0.7, abs=1e-4) and exact.b == pytest.approx(1.5, rel=1e-3)
    noisy = rate + np.random.default_rng(0).normal(0, 0.01, rate.shape)
    assert fit_sigmoid(COMPUTE, noisy, fit_prefix=0.6, r0=0.1).a == pytest.approx(0.7, abs=0.05)


def test_bootstrap_intervals_over_seeds_center_on_the_truth_and_widen_with_noise():
    rng = np.random.default_rng(0)
    widths = []
    for noise in (0.005, 0.04):
        rates = sigmoid_curve(COMPUTE, **TRUE) + rng.normal(0, noise, (5, len(COMPUTE)))
        ci = bootstrap_fits(COMPUTE, rates, fit_prefix=1.0, resamples=50, r0=0.1)
        assert ci["a"].low <= ci["a"].estimate <= ci["a"].high
        assert ci["a"].estimate == pytest.approx(0.7, abs=0.01)
        assert ci["c_mid"].low <= ci["c_mid"].estimate <= ci["c_mid"].high
        widths.append(ci["a"].high - ci["a"].low)
    assert widths[1] > widths[0] > 0


def test_bad_input_is_named():
    rate = sigmoid_curve(COMPUTE, **TRUE)
    with pytest.raises(ValueError, match="fit_prefix"):
        fit_sigmoid(COMPUTE, rate, fit_prefix=1.5)
    with pytest.raises(ValueError, match="keeps 1 points"):
        fit_sigmoid(COMPUTE, rate, fit_prefix=0.0001)
    with pytest.raises(ValueError, match="increasing"):
        fit_sigmoid(COMPUTE[::-1], rate)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        bootstrap_fits(COMPUTE, rate[None])
