"""Card 32's linear toy: a valid linear kernel, the d-rectangular test perturbation, exact
returns equal to batched rollouts, named bad input."""

import pytest
import torch

from polab.envs.linear_mdp import FAIL, LinearToyMDP


def test_kernel_is_linear_in_the_features_and_stochastic():
    env = LinearToyMDP()
    P = env.nominal_kernel
    assert env.dim == 4 and P.shape == (5, 2, 5)
    assert torch.allclose(P.sum(-1), torch.ones(5, 2, dtype=P.dtype))
    assert torch.allclose(P[FAIL], torch.nn.functional.one_hot(torch.tensor([FAIL, FAIL]), 5)
                          .to(P.dtype))                          # absorbing fail
    onehot = LinearToyMDP(features="onehot")
    assert onehot.dim == 10 and torch.allclose(onehot.nominal_kernel, P)


def test_perturbation_moves_tv_mass_rho_of_each_factor_to_fail():
    env = LinearToyMDP()
    mu = env.perturbed_mu(0.2)
    tv = 0.5 * (mu - env.mu).abs().sum(-1)
    assert torch.allclose(tv, torch.tensor([0.2, 0.2, 0.2, 0.0], dtype=mu.dtype))
    assert bool((mu[:, FAIL] >= env.mu[:, FAIL]).all())
    assert torch.allclose(env.kernel(0.0), env.nominal_kernel)


def test_exact_return_matches_batched_rollouts():
    env = LinearToyMDP()
    pi = torch.full((10, 5, 2), 0.5, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    for rho in (0.0, 0.3):
        ep = env.rollout(pi, 20_000, g, rho_test=rho)
        assert ep["states"].shape == (20_000, 11)
        mc = ep["rewards"].sum(1).mean()
        assert abs(float(mc - env.expected_return(pi, rho))) < 0.08


@pytest.mark.parametrize("kwargs, name", [({"horizon": 0}, "horizon"), ({"p_fail": 1.5}, "p_fail"),
                                          ({"features": "rbf"}, "features"),
                                          ({"safe_reward": -1.0}, "safe_reward")])
def test_bad_input_is_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LinearToyMDP(**kwargs)
    with pytest.raises(ValueError, match="rho_test"):
        LinearToyMDP().kernel(1.5)
