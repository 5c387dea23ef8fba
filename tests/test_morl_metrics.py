"""Multi-objective metrics on hand-computed point sets, and hypervolume against pymoo."""

import numpy as np
import pytest
from pymoo.indicators.hv import HV

from polab.envs.mo.deep_sea_treasure import DST_FRONTS
from polab.envs.mo.metrics import (
    cardinality,
    crowding_distance,
    evenly_spread_preferences,
    expected_utility,
    hypervolume,
    pareto_front,
    pareto_mask,
    preference_grid,
    random_preferences,
    sparsity,
    supported_mask,
)


def test_hypervolume_2d_staircase():
    # union of [0,1]x[0,3], [0,2]x[0,2], [0,3]x[0,1] = 3 + 2 + 1
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), (0, 0)) == pytest.approx(6.0)
    # a dominated point and a point not dominating the reference add nothing
    pts = np.array([[1, 3], [2, 2], [3, 1], [1, 1], [-1, 9]])
    assert hypervolume(pts, (0, 0)) == pytest.approx(6.0)


def test_hypervolume_3d_hand():
    assert hypervolume(np.array([[1, 2, 3]]), (0, 0, 0)) == pytest.approx(6.0)
    # boxes of volume 2 and 4 overlapping in a unit cube
    assert hypervolume(np.array([[1, 1, 2], [2, 2, 1]]), (0, 0, 0)) == pytest.approx(5.0)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_hypervolume_agrees_with_pymoo(k):
    rng = np.random.default_rng(k)
    for _ in range(5):
        pts = rng.uniform(0, 1, size=(25, k))
        ref = np.full(k, -0.1)
        assert hypervolume(pts, ref) == pytest.approx(HV(ref_point=-ref)(-pts), rel=1e-9)


def test_dst_hypervolume_at_reference_point():
    # concave DST front with MORL-Baselines' reference point (0, -25): staircase by hand
    front = np.array(DST_FRONTS["concave"])
    steps = [(1, 24), (2, 22), (3, 20), (5, 18), (8, 17), (16, 16), (24, 12), (50, 11),
             (74, 8), (124, 6)]
    by_hand = sum((v - prev) * h for (v, h), prev in
                  zip(steps, [0] + [v for v, _ in steps[:-1]], strict=True))
    assert hypervolume(front, (0, -25)) == pytest.approx(by_hand)


def test_pareto_filtering_hand_cases():
    pts = np.array([[1, 1], [2, 0], [0, 2], [1, 1], [0.5, 0.5], [2, 0]])
    assert pareto_mask(pts).tolist() == [True, True, True, False, False, False]
    assert pareto_front(pts).tolist() == [[2, 0], [1, 1], [0, 2]]
    # weak dominance: equal in one objective, better in the other
    assert pareto_mask(np.array([[1, 2], [1, 3]])).tolist() == [False, True]
    assert cardinality(pts) == 3


def test_sparsity_and_expected_utility_hand():
    # sorted gaps 1, 1 in both objectives: (1 + 1 + 1 + 1) / (3 - 1)
    assert sparsity(np.array([[0, 2], [1, 1], [2, 0]])) == pytest.approx(2.0)
    assert sparsity(np.array([[0, 2]])) == 0.0
    w = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert expected_utility(np.array([[1, 0], [0, 1]]), w) == pytest.approx((1 + 0.5) / 2)


def test_crowding_distance_hand():
    pts = np.array([[0, 4], [1, 2], [2, 1], [4, 0]])
    d = crowding_distance(pts)
    assert np.isinf(d[0]) and np.isinf(d[3])
    # (1,2): (2-0)/4 + (4-1)/4; (2,1): (4-1)/4 + (2-0)/4
    assert d[1] == pytest.approx(1.25) and d[2] == pytest.approx(1.25)
    assert np.isinf(crowding_distance(pts[:2])).all()


def test_preferences():
    assert preference_grid(3, 0.5).shape == (6, 3)
    assert preference_grid(2, 0.2).shape == (6, 2)
    w = evenly_spread_preferences(2, 3)
    assert np.allclose(w, [[1, 0], [0.5, 0.5], [0, 1]])
    assert len(evenly_spread_preferences(3, 6)) == 6
    r = random_preferences(3, 50, seed=0)
    assert np.allclose(r.sum(1), 1) and (r >= 0).all()
    assert np.array_equal(r, random_preferences(3, 50, seed=0))


def test_supported_points_of_the_dst_fronts():
    # concave DST: only the two extremes are reachable by linear scalarisation
    assert supported_mask(np.array(DST_FRONTS["concave"])).tolist() == \
        [True] + [False] * 8 + [True]
    # "convex" (Yang et al.) map: all but (8.2, -3) lie on the convex hull
    assert supported_mask(np.array(DST_FRONTS["convex"])).sum() == 9
