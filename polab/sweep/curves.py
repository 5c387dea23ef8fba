"""Scaling curves of RL compute (card 24, ScaleRL): compute in FLOPs, the sigmoid of pass rate
against compute, its fit on a prefix of the run, and bootstrap intervals over seeds.

* **Compute** (:func:`lm_flops`): ``2N`` FLOPs per generated token (a forward pass) and ``6N``
  per trained token (forward and backward), ``N`` the model's parameters (Kaplan et al. 2020's
  approximation; ScaleRL counts generation too).
* **Curve** (:func:`sigmoid_curve`, card 24): ``R(C) = R0 + (A − R0) / (1 + (C_mid / C)^B)``:
  ``R0`` the starting pass rate, ``A ≤ 1`` the asymptote, ``B > 0`` the steepness, ``C_mid``
  the compute at half of the total gain. A recipe change that moves ``A`` changes how high it
  can go; one that moves only ``B`` or ``C_mid`` changes how fast.
* **Fit** (:func:`fit_sigmoid`): ``R0`` fixed to the measured start (card 24, pitfall 1),
  ``A, B, C_mid`` by :func:`scipy.optimize.curve_fit` inside the card's bounds
  (``A ∈ [R0, 1]``, ``B ∈ (0, 5]``, ``C_mid > 0``) on the points up to ``fit_prefix`` of the
  run's compute, after an optional noisy warm-up; :func:`SigmoidFit.predict` extrapolates.
* **Intervals** (:func:`bootstrap_fits`): resample the seeds with replacement, fit the mean
  curve of each resample, report percentile intervals of ``A`` and ``C_mid``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import curve_fit

from polab.core.compute import lm_flops

__all__ = ["lm_flops", "sigmoid_curve", "SigmoidFit", "fit_sigmoid", "Interval",
           "bootstrap_fits"]

B_MAX = 5.0  # card 24's bound on the steepness


def sigmoid_curve(compute: np.ndarray | float, r0: float, a: float, b: float, c_mid: float
                  ) -> np.ndarray:
    """Card 24's ``R(C) = R0 + (A − R0) / (1 + (C_mid / C)^B)`` (``C > 0``)."""
    compute = np.asarray(compute, dtype=float)
    return r0 + (a - r0) / (1.0 + (c_mid / compute) ** b)


class SigmoidFit(NamedTuple):
    """A fitted curve: ``r0`` (fixed), ``a``, ``b``, ``c_mid``; ``fit_until`` the largest
    compute used; ``rmse`` the fit's root-mean-square residual on those points."""

    r0: float
    a: float
    b: float
    c_mid: float
    fit_until: float
    rmse: float

    def predict(self, compute: np.ndarray | float) -> np.ndarray:
        """The fitted curve at ``compute`` (extrapolation beyond ``fit_until``)."""
        return sigmoid_curve(compute, self.r0, self.a, self.b, self.c_mid)


def _check_curve(compute: np.ndarray, rate: np.ndarray) -> None:
    if compute.ndim != 1 or compute.shape != rate.shape[-1:]:
        raise ValueError(f"compute {compute.shape} and pass rates {rate.shape} must share "
                         "their last dimension (one value per logged point)")
    if len(compute) < 4:
        raise ValueError(f"a sigmoid fit needs at least 4 points, got {len(compute)}")
    if not (np.all(compute > 0) and np.all(np.diff(compute) > 0)):
        raise ValueError("compute must be positive and increasing")


def fit_sigmoid(compute: np.ndarray, rate: np.ndarray, fit_prefix: float = 0.4,
                warmup: float = 0.0, r0: float | None = None) -> SigmoidFit:
    """Fit card 24's sigmoid to pass rates ``rate`` logged at ``compute`` (increasing, > 0).

    ``r0`` defaults to the first measured rate (fixed, not fitted); the fit uses the points
    with ``warmup·C_max < C ≤ fit_prefix·C_max`` (at least 4 of them), bounds
    ``A ∈ [R0, 1]``, ``B ∈ (0, 5]``, ``C_mid ∈ (0, 100·C_max]``."""
    compute, rate = np.asarray(compute, dtype=float), np.asarray(rate, dtype=float)
    _check_curve(compute, rate)
    if not 0 < fit_prefix <= 1:
        raise ValueError(f"fit_prefix={fit_prefix!r} must be in (0, 1]")
    if not 0 <= warmup < fit_prefix:
        raise ValueError(f"warmup={warmup!r} must be in [0, fit_prefix)")
    r0 = float(rate[0]) if r0 is None else float(r0)
    top = compute[-1]
    keep = (compute > warmup * top) & (compute <= fit_prefix * top + 1e-12 * top)
    if keep.sum() < 4:
        raise ValueError(f"fit_prefix={fit_prefix} keeps {int(keep.sum())} points; a fit "
                         "needs at least 4")
    x, y = compute[keep], rate[keep]
    a_low = min(max(r0, 0.0), 1.0)
    lower, upper = [a_low, 1e-3, x[0] * 1e-3], [1.0, B_MAX, top * 100.0]
    guess = [min(max(y.max(), a_low + 1e-3), 1.0), 1.0, float(np.median(x))]
    params, _ = curve_fit(lambda c, a, b, m: sigmoid_curve(c, r0, a, b, m), x, y, p0=guess,
                          bounds=(lower, upper), maxfev=20_000)
    a, b, c_mid = (float(p) for p in params)
    rmse = float(np.sqrt(np.mean((sigmoid_curve(x, r0, a, b, c_mid) - y) ** 2)))
    return SigmoidFit(r0, a, b, c_mid, float(x[-1]), rmse)


class Interval(NamedTuple):
    """A bootstrap estimate: the fit of the seeds' mean curve and percentile bounds."""

    estimate: float
    low: float
    high: float


def bootstrap_fits(compute: np.ndarray, rates: np.ndarray, fit_prefix: float = 0.4,
                   warmup: float = 0.0, resamples: int = 200, level: float = 0.9,
                   seed: int = 0, r0: float | None = None) -> dict[str, Interval]:
    """Percentile intervals of ``A`` and ``C_mid`` over seeds: ``rates`` is ``[seeds,
    points]``; each resample draws the seeds with replacement and fits their mean curve
    (``r0``: as in :func:`fit_sigmoid`, by default each curve's first point)."""
    compute, rates = np.asarray(compute, dtype=float), np.asarray(rates, dtype=float)
    _check_curve(compute, rates)
    if rates.ndim != 2 or len(rates) < 2:
        raise ValueError("rates must be [seeds, points] with at least 2 seeds")
    rng = np.random.default_rng(seed)
    point = fit_sigmoid(compute, rates.mean(0), fit_prefix, warmup, r0)
    draws = [fit_sigmoid(compute, rates[rng.integers(0, len(rates), len(rates))].mean(0),
                         fit_prefix, warmup, r0) for _ in range(resamples)]
    tail = 100 * (1 - level) / 2
    out = {}
    for name in ("a", "c_mid"):
        values = np.array([getattr(f, name) for f in draws])
        out[name] = Interval(getattr(point, name), float(np.percentile(values, tail)),
                             float(np.percentile(values, 100 - tail)))
    return out
