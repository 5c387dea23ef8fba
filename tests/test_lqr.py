"""The LQR testbed: exact return, exact gradient, Riccati and finite-horizon optima, rollouts."""

from dataclasses import replace

import numpy as np
import pytest
import scipy.linalg
import torch
from helpers import F64

from polab.core.distributions import gaussian_logp
from polab.envs.lqr import LQR, LQREnv, gaussian_log_prob_hvp, gaussian_score


def scalar_lqr(a=1.0, b=1.0, q=1.0, r=1.0, gamma=0.9, horizon=2, sigma=0.5) -> LQR:
    t = lambda x: torch.tensor([[x]], dtype=F64)  # noqa: E731
    return LQR(A=t(a), B=t(b), Q=t(q), R=t(r), init_cov=t(1.0), init_gain=t(-0.5),
               gamma=gamma, horizon=horizon, policy_std=sigma)


def random_gains(lqr: LQR, count: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    K = lqr.riccati_gain()
    return K + 0.2 * torch.randn(count, *K.shape, generator=g, dtype=F64)


def test_expected_return_hand_computed_two_steps():
    # a=b=q=r=1, k=-0.5, σ²=0.25, γ=0.9, Σ_0=1: M=0.5, Σ_1 = 0.25·1 + 0.25 = 0.5,
    # J = -[(1 + 0.25)·1 + 0.25] - 0.9·[(1 + 0.25)·0.5 + 0.25] = -1.5 - 0.7875
    lqr = scalar_lqr()
    assert lqr.expected_return(torch.tensor([[-0.5]], dtype=F64)).item() == pytest.approx(-2.2875)


def test_expected_return_matches_the_lyapunov_recursion_step_by_step():
    lqr = LQR.double_integrator(horizon=37, gamma=0.97, policy_std=0.7)
    K = random_gains(lqr, 5)
    M = lqr.A + lqr.B @ K
    sigma = lqr.init_cov.expand(5, 2, 2)
    J = torch.zeros(5, dtype=F64)
    for t in range(lqr.horizon):
        weight = lqr.Q + K.transpose(-1, -2) @ lqr.R @ K
        cost = (weight * sigma).sum((-1, -2)) + lqr.policy_std ** 2 * torch.trace(lqr.R)
        J -= lqr.gamma ** t * cost
        sigma = M @ sigma @ M.transpose(-1, -2) + lqr.policy_std ** 2 * lqr.B @ lqr.B.T
    torch.testing.assert_close(lqr.expected_return(K), J, rtol=1e-10, atol=0)


def test_expected_return_broadcasts_over_a_grid_of_gains():
    lqr = LQR.double_integrator()
    grid = torch.stack(torch.meshgrid(torch.linspace(-1, -0.2, 4, dtype=F64),
                                      torch.linspace(-2, -0.5, 3, dtype=F64), indexing="ij"), -1)
    J = lqr.expected_return(grid.unsqueeze(-2))
    assert J.shape == (4, 3)
    assert J[1, 2].item() == pytest.approx(lqr.expected_return(grid[1, 2][None]).item())


def test_exact_gradient_matches_finite_differences_of_the_exact_return():
    lqr = LQR.double_integrator()
    K = random_gains(lqr, 4, seed=1)
    _, grad = lqr.exact_gradient(K)
    h = 1e-5
    for i in range(K.shape[-1]):
        e = torch.zeros_like(K)
        e[..., 0, i] = h
        fd = (lqr.expected_return(K + e) - lqr.expected_return(K - e)) / (2 * h)
        torch.testing.assert_close(grad[..., 0, i], fd, rtol=1e-6, atol=1e-6)


def test_riccati_gain_matches_scipy():
    lqr = LQR.double_integrator(gamma=0.95)
    g = lqr.gamma
    A, B, Q, R = (x.numpy() for x in (lqr.A, lqr.B, lqr.Q, lqr.R))
    P = scipy.linalg.solve_discrete_are(np.sqrt(g) * A, np.sqrt(g) * B, Q, R)
    K = -g * np.linalg.solve(R + g * B.T @ P @ B, B.T @ P @ A)
    np.testing.assert_allclose(lqr.riccati_gain().numpy(), K, rtol=1e-8)


def test_optimal_gain_matches_brute_force_in_one_dimension():
    lqr = scalar_lqr(a=1.1, b=0.5, q=1.0, r=0.3, gamma=0.95, horizon=30, sigma=0.3)
    ks = torch.linspace(-3.0, 0.0, 30001, dtype=F64).reshape(-1, 1, 1)
    best = ks[lqr.expected_return(ks).argmax()].item()
    assert lqr.optimal_gain().item() == pytest.approx(best, abs=2e-4)


def test_optimal_gain_is_a_stationary_maximum_that_tends_to_riccati():
    lqr = LQR.double_integrator()
    K_star = lqr.optimal_gain()
    J_star, grad = lqr.exact_gradient(K_star)
    assert grad.norm().item() < 1e-8
    nearby = K_star + 0.05 * torch.randn(64, 1, 2, dtype=F64,
                                         generator=torch.Generator().manual_seed(2))
    assert (lqr.expected_return(nearby) < J_star).all()
    # H = 50 with γ = 0.99 is far from the infinite horizon (γ^H ≈ 0.6) ...
    assert (K_star - lqr.riccati_gain()).abs().max().item() > 1e-3
    # ... but with γ^H ≈ 1e-22 the finite-horizon optimum is the Riccati gain
    long = replace(lqr, gamma=0.9, horizon=500)
    torch.testing.assert_close(long.optimal_gain(), long.riccati_gain(), rtol=1e-6, atol=1e-8)


def test_rollout_follows_the_dynamics_and_rewards_of_the_step_env():
    lqr = LQR.double_integrator(horizon=20)
    K = random_gains(lqr, 6, seed=3)
    traj = lqr.rollout(K, torch.Generator().manual_seed(0))
    assert traj.states.shape == (20, 6, 2) and traj.actions.shape == (20, 6, 1)
    env = LQREnv(6, seed=0, dtype=F64, lqr=lqr)
    assert env.single_observation_space.shape == (2,) and env.max_episode_steps == 20
    env.state = traj.states[0].clone()
    for t in range(lqr.horizon):
        obs, reward, terminated, truncated, info = env.step(traj.actions[t])
        torch.testing.assert_close(reward, traj.rewards[t])
        if t + 1 < lqr.horizon:
            torch.testing.assert_close(obs, traj.states[t + 1])
    assert truncated.all() and not terminated.any()
    last = traj.states[-1] @ lqr.A.T + traj.actions[-1] @ lqr.B.T
    torch.testing.assert_close(info["final_obs"], last)
    assert not torch.allclose(obs, last)  # auto-reset: a fresh initial state
    assert (env.elapsed == 0).all()


def test_rollout_policy_noise_and_monte_carlo_return():
    lqr = LQR.double_integrator(policy_std=0.4)
    K = torch.tensor([[-0.5, -1.0]], dtype=F64)
    n = 20000
    traj = lqr.rollout(K, torch.Generator().manual_seed(1), batch_shape=(n,))
    noise = (traj.actions - traj.states @ K.T) / lqr.policy_std
    assert abs(noise.mean().item()) < 0.01 and noise.std().item() == pytest.approx(1.0, abs=0.01)
    returns = (lqr.discounts()[:, None] * traj.rewards).sum(0)
    stderr = returns.std().item() / n ** 0.5
    assert abs(returns.mean().item() - lqr.expected_return(K).item()) < 4 * stderr


def test_env_defaults_to_float32_and_reseeds():
    env = LQREnv(3, seed=5)
    first = env.reset(seed=5)
    assert first.dtype == torch.float32 and torch.equal(first, LQREnv(3, seed=5).state)
    obs, reward, terminated, truncated, _ = env.step(torch.zeros(3, 1))
    assert obs.shape == (3, 2) and reward.shape == (3,) and not truncated.any()


def test_closed_form_score_and_log_prob_hvp_match_autograd():
    lqr = LQR.double_integrator(horizon=5)
    K = random_gains(lqr, 3, seed=4)
    traj = lqr.rollout(K, torch.Generator().manual_seed(2))
    U = torch.randn(3, 1, 2, dtype=F64, generator=torch.Generator().manual_seed(3))
    Kg = K.clone().requires_grad_(True)
    mean = (traj.states.unsqueeze(-2) @ Kg.transpose(-1, -2)).squeeze(-2)
    logp = gaussian_logp(mean, torch.full_like(mean, np.log(lqr.policy_std)), traj.actions)
    for t in range(lqr.horizon):
        (score_t,) = torch.autograd.grad(logp[t].sum(), Kg, create_graph=True)
        (hvp_t,) = torch.autograd.grad((score_t * U).sum(), Kg, retain_graph=True)
        torch.testing.assert_close(score_t.detach(), gaussian_score(
            K, traj.states, traj.actions, lqr.policy_std)[t])
        torch.testing.assert_close(hvp_t, gaussian_log_prob_hvp(traj.states, U,
                                                                lqr.policy_std)[t])
