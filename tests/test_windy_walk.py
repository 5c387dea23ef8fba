"""The windy walk (card 39's tabular toy): kernels, the two uncertainty sets, bad input."""

import pytest
import torch

from polab.envs.tabular import WindyWalk


def test_kernels_are_distributions_and_calm_is_nominal():
    walk = WindyWalk()
    strengths, kernels = walk.coupled_set()
    assert kernels.shape == (125, 45, 4, 45) and strengths.shape == (125, 3)
    assert torch.allclose(kernels.sum(-1), torch.ones(1, dtype=torch.double))
    assert torch.equal(kernels[0], walk.nominal().P)  # the grid starts at the calm corner


def test_wind_blows_down_in_its_column_only():
    walk = WindyWalk(radius=0.3)
    P = walk.kernels(torch.tensor([[0.1, 0.2, 0.3]]))[0]
    cols = walk.shape[1]
    s = 2 * cols + 4                     # row 2, windy column 4 (strength 0.2)
    right = 3
    assert P[s, right, 2 * cols + 5] == pytest.approx(0.8)
    assert P[s, right, 3 * cols + 5] == pytest.approx(0.2)
    calm = 2 * cols + 1
    assert P[calm, right, 2 * cols + 2] == 1.0
    pit = 4 * cols + 3
    assert P[pit, :, pit].eq(1).all()   # absorbing


def test_kernels_are_affine_in_the_strengths():
    walk = WindyWalk()
    a, b = torch.tensor([[0.0, 0.1, 0.3]]), torch.tensor([[0.2, 0.3, 0.0]])
    mid = walk.kernels((a + b) / 2)
    assert torch.allclose(mid, (walk.kernels(a) + walk.kernels(b)) / 2)


def test_rectangular_rows_are_the_uniform_wind_kernels():
    walk = WindyWalk(radius=0.4, levels=5)
    rows = walk.rectangular_set()
    assert rows.shape == (45, 4, 5, 45)
    uniform = walk.kernels(torch.full((1, 3), 0.2, dtype=torch.double))[0]
    assert torch.equal(rows[:, :, 2], uniform)


@pytest.mark.parametrize("kwargs, field", [({"radius": 1.5}, "radius"),
                                           ({"levels": 0}, "levels"),
                                           ({"windy": (0, 3)}, "windy"),
                                           ({"rows": 2}, "rows")])
def test_bad_arguments_are_named(kwargs, field):
    with pytest.raises(ValueError, match=field):
        WindyWalk(**kwargs)


def test_bad_strengths_are_named():
    walk = WindyWalk()
    with pytest.raises(ValueError, match="strengths must be"):
        walk.kernels(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="wind probabilities"):
        walk.kernels(torch.full((1, 3), 2.0))
