"""Finite MDPs (polab.envs.tabular): soft VI, occupancy, the batched sampler, bad input."""

import pytest
import torch

from polab.algos.preference.testbeds import make_testbed
from polab.envs.tabular import FiniteMDP, gridworld


def test_soft_value_iteration_reaches_its_fixed_point_and_zero_policy_gradient():
    mdp, lam = gridworld(), 0.05
    Q, pi = mdp.soft_value_iteration(mdp.reward, lam)
    V = lam * torch.logsumexp(Q / lam, -1)
    assert torch.allclose(Q, mdp.reward + mdp.gamma * mdp.P @ V, atol=1e-7)
    assert torch.allclose(pi.sum(-1), torch.ones(36, dtype=pi.dtype))
    theta = (Q / lam).requires_grad_(True)
    grad = torch.autograd.grad(mdp.soft_objective(theta, mdp.reward, lam), theta)[0]
    assert grad.abs().max() < 1e-6  # π* maximises the exact entropy-regularised value
    greedy = mdp.soft_value_iteration(mdp.reward, 0.0)[1]
    assert torch.equal(greedy.sum(-1), torch.ones(36, dtype=greedy.dtype))


def test_occupancy_sums_and_matches_the_value():
    mdp = gridworld()
    pi = torch.full((36, 4), 0.25, dtype=torch.double)
    g, H = mdp.gamma, mdp.horizon
    assert torch.isclose(mdp.occupancy(pi).sum(), torch.tensor((1 - g ** H) / (1 - g),
                                                                 dtype=torch.double))
    assert torch.isclose(mdp.occupancy(pi, horizon=0).sum(),
                         torch.tensor(1 / (1 - g), dtype=torch.double))
    # the entropy-regularised value is Σ d (r + λ H)
    lam = 0.1
    value = mdp.soft_objective(torch.zeros(36, 4, dtype=torch.double), mdp.reward, lam)
    expected = mdp.expected_return(pi, horizon=0) + lam * torch.log(torch.tensor(4.0)) / (1 - g)
    assert torch.isclose(value, expected.double())


def test_sampler_matches_exact_occupancy_and_returns():
    mdp = gridworld()
    pi = mdp.soft_value_iteration(mdp.reward, 0.3)[1]
    states, actions = mdp.sample(pi, 20_000, torch.Generator().manual_seed(0))
    assert states.shape == (20_000, 20)
    counts = torch.zeros(36 * 4, dtype=torch.double)
    counts.index_add_(0, (states * 4 + actions).flatten(),
                      mdp.discounts().expand(20_000, -1).flatten())
    assert (counts.view(36, 4) / 20_000 - mdp.occupancy(pi)).abs().max() < 0.03
    assert abs(mdp.trajectory_returns(states, actions).mean() - mdp.expected_return(pi)) < 0.05
    phi = mdp.trajectory_features(states, actions)
    assert torch.allclose(phi @ mdp.reward[:, 0], mdp.trajectory_returns(states, actions))


def test_gridworld_layout_and_testbed_name():
    mdp = make_testbed("gridworld", object(), torch.device("cpu"))
    assert (mdp.num_states, mdp.num_actions, mdp.gamma, mdp.horizon) == (36, 4, 0.95, 20)
    assert mdp.reward[35, 0] == 1.0 and mdp.reward[14, 0] == -1.0
    assert mdp.P[35, :, 35].eq(1).all()  # the goal is absorbing
    assert mdp.initial[mdp.reward[:, 0] != 0].sum() == 0


@pytest.mark.parametrize("build, name", [
    (lambda P, r, mu: FiniteMDP(P, r, 1.0, mu, 20), "gamma"),
    (lambda P, r, mu: FiniteMDP(P * 2, r, 0.9, mu, 20), "P"),
    (lambda P, r, mu: FiniteMDP(P, r[:1], 0.9, mu, 20), "reward"),
    (lambda P, r, mu: FiniteMDP(P, r, 0.9, mu * 2, 20), "initial"),
    (lambda P, r, mu: FiniteMDP(P, r, 0.9, mu, 0), "horizon"),
    (lambda P, r, mu: FiniteMDP(P, r, 0.9, mu, 5, torch.zeros(3, 2, 1)), "features"),
])
def test_bad_mdp_is_named(build, name):
    P = torch.full((2, 2, 2), 0.5)
    with pytest.raises(ValueError, match=name):
        build(P, torch.zeros(2, 2), torch.tensor([0.5, 0.5]))


def test_bad_grid_is_named():
    with pytest.raises(ValueError, match="size"):
        gridworld(size=1)
    with pytest.raises(ValueError, match="lava"):
        gridworld(lava=((7, 7),))
    with pytest.raises(ValueError, match="slip"):
        gridworld(slip=1.0)
