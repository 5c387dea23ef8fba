"""Multi-objective metrics as pure functions of point sets (every objective maximised).

A *point set* is an array ``(P, K)``: the vector returns of ``P`` policies on ``K`` objectives.

* :func:`pareto_mask`, :func:`pareto_front` — non-dominated filtering;
* :func:`hypervolume` — the volume dominated by the set and bounded by a reference point:
  exact sweeps for 2 and 3 objectives, pymoo's ``HV`` indicator beyond;
* :func:`expected_utility` — ``EU = E_w[max_p w·p]`` over a fixed preference sample
  (:func:`random_preferences`, the same sample for every method compared, pitfall 5 of
  ../shared/cards/04_cmorl.md);
* :func:`sparsity` — PGMORL's / MORL-Baselines' mean squared gap between neighbours;
* :func:`crowding_distance` — NSGA-II's, on objectives normalised by their range;
* :func:`cardinality`, :func:`preference_grid`, :func:`supported_mask`.

Taught in notebooks/09_multi_objective.ipynb.
"""

from __future__ import annotations

import itertools

import numpy as np


def _points(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"expected a point set of shape (P, K), got {p.shape}")
    return p


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """``(P,)`` bools: point ``i`` is kept when no other point weakly dominates it strictly
    somewhere (``q ≥ p`` everywhere and ``q > p`` somewhere); of equal points only the first
    is kept."""
    p = _points(points)
    if len(p) == 0:
        return np.zeros(0, dtype=bool)
    ge = (p[:, None, :] >= p[None, :, :]).all(-1)  # ge[j, i]: q_j ≥ p_i everywhere
    gt = (p[:, None, :] > p[None, :, :]).any(-1)
    dominated = (ge & gt).any(0)
    equal = (p[:, None, :] == p[None, :, :]).all(-1)
    earlier_twin = np.tril(equal, -1).any(1)
    return ~dominated & ~earlier_twin


def pareto_front(points: np.ndarray) -> np.ndarray:
    """The non-dominated points of ``points``, sorted by the first objective (descending)."""
    p = _points(points)
    front = p[pareto_mask(p)]
    return front[np.lexsort(front.T[::-1])[::-1]]


def _hv2(p: np.ndarray, ref: np.ndarray) -> float:
    """2-D sweep: sort by objective 0 descending; each point adds the strip between its
    objective-1 value and the best objective-1 value seen so far."""
    p = p[np.argsort(-p[:, 0], kind="stable")]
    volume, best_y = 0.0, ref[1]
    for x, y in p:
        if y > best_y:
            volume += (x - ref[0]) * (y - best_y)
            best_y = y
    return volume


def _hv3(p: np.ndarray, ref: np.ndarray) -> float:
    """3-D slicing: between consecutive distinct objective-2 levels the dominated region's
    cross-section is the 2-D hypervolume of the points at or above that level."""
    levels = np.unique(p[:, 2])[::-1]
    volume = 0.0
    for top, bottom in zip(levels, np.append(levels[1:], ref[2]), strict=True):
        volume += _hv2(p[p[:, 2] >= top, :2], ref[:2]) * (top - bottom)
    return volume


def hypervolume(points: np.ndarray, ref: np.ndarray | tuple[float, ...]) -> float:
    """The Lebesgue measure of ``{x : ref ≤ x ≤ p for some p in points}`` (Zitzler & Thiele
    1999). Points that do not strictly dominate ``ref`` add nothing. Exact sweeps for 2 and 3
    objectives; for 4 or more, pymoo's ``HV`` indicator (pymoo minimises, so it gets
    ``-points`` and ``-ref``)."""
    p, r = _points(points), np.asarray(ref, dtype=np.float64)
    if p.shape[1] != len(r):
        raise ValueError(f"points have {p.shape[1]} objectives, the reference point {len(r)}")
    p = p[(p > r).all(1)]
    if len(p) == 0:
        return 0.0
    p = p[pareto_mask(p)]
    if len(r) == 1:
        return float(p.max() - r[0])
    if len(r) == 2:
        return float(_hv2(p, r))
    if len(r) == 3:
        return float(_hv3(p, r))
    from pymoo.indicators.hv import HV

    return float(HV(ref_point=-r)(-p))


def expected_utility(points: np.ndarray, weights: np.ndarray) -> float:
    """``EU = mean_w max_p w·p`` over the preference sample ``weights`` ``(W, K)``
    (Zintgraf et al. 2015; C-MORL's EU)."""
    p, w = _points(points), _points(weights)
    return float((w @ p.T).max(1).mean())


def sparsity(points: np.ndarray) -> float:
    """``SP = 1/(|P|-1) Σ_j Σ_k (P̃_j(k) - P̃_j(k+1))²`` with ``P̃_j`` the ``j``-th objective
    of the front's points sorted (PGMORL, Xu et al. 2020; MORL-Baselines' ``sparsity``); raw
    objective units; 0 for fewer than two points. Lower means a denser front."""
    p = _points(points)
    if len(p) < 2:
        return 0.0
    gaps = np.diff(np.sort(p, axis=0), axis=0)
    return float((gaps**2).sum() / (len(p) - 1))


def cardinality(points: np.ndarray) -> int:
    """The number of distinct non-dominated points."""
    return int(pareto_mask(points).sum())


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance (Deb et al. 2002) on objectives normalised by their range:
    for each objective, sort the points; the two extremes get ``inf``; an inner point adds
    ``(next - previous) / (max - min)``. An objective with zero range adds nothing."""
    p = _points(points)
    n = len(p)
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(p.shape[1]):  # over objectives (K is small)
        order = np.argsort(p[:, j], kind="stable")
        col = p[order, j]
        span = col[-1] - col[0]
        dist[order[[0, -1]]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def preference_grid(k: int, step: float) -> np.ndarray:
    """Every preference on the ``k``-simplex whose entries are multiples of ``step`` (C-MORL's
    ``delta_weight`` grid: step 0.5 with 3 objectives gives 6 vectors, step 0.2 with 2 gives 6).
    """
    n = round(1 / step)
    if abs(n * step - 1) > 1e-9:
        raise ValueError(f"step={step} must divide 1")
    combos = [c for c in itertools.product(range(n + 1), repeat=k) if sum(c) == n]
    return np.array(sorted(combos, reverse=True), dtype=np.float64) / n


def evenly_spread_preferences(k: int, count: int) -> np.ndarray:
    """``count`` preferences spread over the simplex: for two objectives ``(1-u, u)`` on an
    even grid of ``u``; otherwise the coarsest :func:`preference_grid` with at least ``count``
    points, thinned evenly."""
    if k == 2:
        u = np.linspace(0.0, 1.0, count)
        return np.stack([1 - u, u], 1)
    n = 1
    while len(grid := preference_grid(k, 1 / n)) < count:
        n += 1
    return grid[np.round(np.linspace(0, len(grid) - 1, count)).astype(int)]


def random_preferences(k: int, count: int = 100, seed: int = 0) -> np.ndarray:
    """``count`` preferences drawn uniformly from the ``k``-simplex (normalised exponentials)
    with a fixed seed — the fixed sample every method's expected utility is measured on."""
    e = -np.log(np.random.default_rng(seed).uniform(1e-12, 1.0, size=(count, k)))
    return e / e.sum(1, keepdims=True)


def supported_mask(front: np.ndarray, preferences: int = 2001) -> np.ndarray:
    """``(F,)`` bools: which points of a (2-objective) front maximise ``w·p`` for some
    preference ``w`` — the *supported* points linear scalarisation can reach; the others lie in
    concave parts of the front. Checked on a dense preference grid after scaling each objective
    to [0, 1] (so the grid is fine on both axes)."""
    f = _points(front)
    lo, span = f.min(0), np.ptp(f, 0)
    scaled = (f - lo) / np.where(span > 0, span, 1.0)
    w = evenly_spread_preferences(f.shape[1], preferences) if f.shape[1] == 2 \
        else preference_grid(f.shape[1], 0.01)
    utilities = w @ scaled.T
    best = utilities.max(1, keepdims=True)
    return (utilities >= best - 1e-12).any(0)
