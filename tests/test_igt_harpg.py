"""N-PG-IGT and (N)-HARPG: estimators on hand-computed cases, unbiasedness against the exact
LQR gradient, and the algorithms' bookkeeping (../shared/cards/10_pg_igt_harpg.md)."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import F64, f64

from polab.algos.pg.igt_harpg import (
    HARPG,
    NHARPG,
    NPGIGT,
    HARPGConfig,
    NHARPGConfig,
    NPGIGTConfig,
    VanillaPG,
    VanillaPGConfig,
    gpomdp_gradient,
    hessian_vector_estimate,
    igt_extrapolation,
    momentum_update,
    normalized_step,
    quartiles,
    reward_to_go,
    schedule,
)
from polab.algos.pg.igt_harpg_diagnosis import (
    estimator_spread,
    path_length,
    recursive_error_rms,
)
from polab.core.advantages import discounted_returns
from polab.core.distributions import gaussian_logp
from polab.envs.lqr import LQR, gaussian_log_prob_hvp, gaussian_score
from polab.plots.pg import crossover_budget, loglog_fit
from polab.train import train

# --- pure functions on hand-computed cases --------------------------------------------------


def test_schedule():
    assert schedule(0, 0.3, 1.0) == pytest.approx(0.3)
    assert schedule(2, 0.3, 1.0) == pytest.approx(0.15)
    assert schedule(6, 1.0, 0.5) == pytest.approx(0.5)


def test_reward_to_go_hand_computed_and_against_discounted_returns():
    # γ = 0.5, r = (1, 2, 3): G_0 = 1 + 0.5·2 + 0.25·3, G_1 = 0.5·2 + 0.25·3, G_2 = 0.25·3
    torch.testing.assert_close(reward_to_go(f64([1.0, 2.0, 3.0]), 0.5), f64([2.75, 1.75, 0.75]))
    rewards = torch.randn(7, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    from_start = 0.9 ** torch.arange(7, dtype=F64)[:, None] * discounted_returns(
        rewards, torch.zeros(7, 3, dtype=torch.bool), 0.9)
    torch.testing.assert_close(reward_to_go(rewards, 0.9), from_start)


def test_gpomdp_gradient_hand_computed():
    # scores (1, 2), rewards (1, 2), γ = 0.5: G = (2, 1), g = 2·1 + 1·2
    g = gpomdp_gradient(f64([[1.0], [2.0]]), f64([1.0, 2.0]), 0.5)
    torch.testing.assert_close(g, f64([4.0]))


def test_hessian_vector_estimate_hand_computed():
    # as above, per-step ∇²log π·u = (-0.5, -1), u = 2: ∇Φ = 4, <∇log p, u> = (1 + 2)·2 = 6,
    # ∇²Φ u = 2·(-0.5) + 1·(-1) = -2, so B u = 4·6 - 2
    Bu = hessian_vector_estimate(f64([[1.0], [2.0]]), f64([[-0.5], [-1.0]]), f64([1.0, 2.0]), 0.5,
                                 f64([2.0]))
    torch.testing.assert_close(Bu, f64([22.0]))


def test_hessian_vector_estimate_equals_the_autograd_double_backward():
    # the card's autograd form: B u = ∇Φ <∇log p, u> + ∇_θ <∇Φ, u>
    lqr = LQR.double_integrator(horizon=6)
    K = lqr.init_gain.expand(4, 1, 2).clone()
    traj = lqr.rollout(K, torch.Generator().manual_seed(0))
    u = torch.randn(4, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    Kg = K.clone().requires_grad_(True)
    mean = (traj.states.unsqueeze(-2) @ Kg.transpose(-1, -2)).squeeze(-2)
    logp = gaussian_logp(mean, torch.full_like(mean, math.log(lqr.policy_std)), traj.actions)
    phi = (reward_to_go(traj.rewards, lqr.gamma) * logp).sum()
    (grad_phi,) = torch.autograd.grad(phi, Kg, create_graph=True)
    (grad_logp,) = torch.autograd.grad(logp.sum(), Kg, retain_graph=True)
    (hess_phi_u,) = torch.autograd.grad((grad_phi * u.view(4, 1, 2)).sum(), Kg)
    expected = (grad_phi.detach() * (grad_logp * u.view(4, 1, 2)).sum((-1, -2), keepdim=True)
                + hess_phi_u).flatten(-2)
    scores = gaussian_score(K, traj.states, traj.actions, lqr.policy_std).flatten(-2)
    hvps = gaussian_log_prob_hvp(traj.states, u.view(4, 1, 2), lqr.policy_std).flatten(-2)
    got = hessian_vector_estimate(scores, hvps, traj.rewards, lqr.gamma, u)
    torch.testing.assert_close(got, expected)


def test_igt_extrapolation_momentum_and_normalized_step():
    # θ̃ = 1 + (0.75/0.25)(1 - 0.5); no extrapolation when η = 1
    assert igt_extrapolation(f64(1.0), f64(0.5), 0.25).item() == pytest.approx(2.5)
    assert igt_extrapolation(f64(1.0), f64(0.5), 1.0).item() == pytest.approx(1.0)
    # (1 - 0.25)(1 + 0.5) + 0.25·3 and (1 - 0.25)·1 + 0.25·3
    assert momentum_update(f64(1.0), f64(3.0), 0.25, f64(0.5)).item() == pytest.approx(1.875)
    assert momentum_update(f64(1.0), f64(3.0), 0.25).item() == pytest.approx(1.5)
    theta = f64([[0.0, 0.0], [1.0, 1.0]])
    step = normalized_step(theta, f64([[3.0, 4.0], [0.0, -10.0]]), 0.5)
    torch.testing.assert_close(step, f64([[0.3, 0.4], [1.0, 0.5]]))


# --- unbiasedness against the exact LQR gradient --------------------------------------------

# a short horizon keeps the score-function noise small enough for a fast Monte Carlo check:
# here one B u has ≈ 11× the norm of ∇²J u as its standard deviation, so 10⁶ trajectories put
# 5% at ≈ 4 standard errors (at H = 50 the ratio is ≈ 50)
SHORT = replace(LQR.double_integrator(horizon=3, gamma=0.9, policy_std=2.0),
                init_cov=0.25 * torch.eye(2, dtype=F64))


def exact_grad(lqr: LQR, theta: torch.Tensor) -> torch.Tensor:
    return lqr.exact_gradient(theta.reshape(-1, 1, 2))[1].reshape(theta.shape)


def mean_hessian_vector(lqr: LQR, theta: torch.Tensor, u: torch.Tensor, total: int,
                        seed: int) -> torch.Tensor:
    """Average of B(τ, θ) u over ``total`` trajectories; ``theta`` may hold one point per
    trajectory. Chunked to bound memory."""
    gen, chunk, acc = torch.Generator().manual_seed(seed), 250_000, torch.zeros(2, dtype=F64)
    for start in range(0, total, chunk):
        th = theta.expand(total, 2)[start:start + chunk]
        K, U = th.reshape(-1, 1, 2), u.expand(th.shape[0], 2)
        traj = lqr.rollout(K, gen)
        scores = gaussian_score(K, traj.states, traj.actions, lqr.policy_std).flatten(-2)
        hvps = gaussian_log_prob_hvp(traj.states, U.reshape(-1, 1, 2), lqr.policy_std)
        acc += hessian_vector_estimate(scores, hvps.flatten(-2), traj.rewards, lqr.gamma,
                                       U).sum(0)
    return acc / total


def test_hessian_vector_estimate_is_unbiased_against_finite_differences():
    theta, u = f64([-0.2, -0.5]), f64([0.6, -0.8])
    h = 1e-4
    fd = (exact_grad(SHORT, theta + h * u) - exact_grad(SHORT, theta - h * u)) / (2 * h)
    mean = mean_hessian_vector(SHORT, theta, u, 1_000_000, seed=0)
    assert (mean - fd).norm() / fd.norm() < 0.05


def test_harpg_correction_at_a_random_point_is_unbiased_for_the_gradient_change():
    # E_q E_τ[B(τ, θ_{t-1} + q u) u] = ∫₀¹ ∇²J(θ_{t-1} + q u) u dq = ∇J(θ_t) - ∇J(θ_{t-1})
    prev, u = f64([-0.2, -0.5]), f64([-0.5, -0.8])
    change = exact_grad(SHORT, prev + u) - exact_grad(SHORT, prev)
    # the curvature changes along this long step: the end-point Hessian would be off by >10%
    h = 1e-4
    at_end = (exact_grad(SHORT, prev + u + h * u) - exact_grad(SHORT, prev + u - h * u)) / (2 * h)
    assert (at_end - change).norm() / change.norm() > 0.1
    total = 1_000_000
    q = torch.rand(total, 1, dtype=F64, generator=torch.Generator().manual_seed(5))
    mean = mean_hessian_vector(SHORT, prev + q * u, u, total, seed=1)
    assert (mean - change).norm() / change.norm() < 0.05


def test_gpomdp_gradient_is_unbiased_against_the_exact_gradient():
    lqr = LQR.double_integrator(horizon=20, gamma=0.95)
    K = lqr.init_gain
    n = 200_000
    traj = lqr.rollout(K, torch.Generator().manual_seed(3), batch_shape=(n,))
    scores = gaussian_score(K, traj.states, traj.actions, lqr.policy_std).flatten(-2)
    g = gpomdp_gradient(scores, traj.rewards, lqr.gamma).mean(0)
    exact = lqr.exact_gradient(K)[1].reshape(-1)
    assert (g - exact).norm() / exact.norm() < 0.05


# --- the algorithms ---------------------------------------------------------------------------

ALGOS = [(VanillaPG, VanillaPGConfig), (NPGIGT, NPGIGTConfig), (HARPG, HARPGConfig),
         (NHARPG, NHARPGConfig)]


@pytest.mark.parametrize("cls,config_cls", ALGOS)
def test_algorithm_improves_counts_trajectories_and_is_deterministic(cls, config_cls):
    cfg = config_cls(num_seeds=4, total_trajectories=400)
    algo = cls(cfg)
    initial_gap = algo.optimal_return - algo.lqr.expected_return(algo.lqr.init_gain).item()
    for _ in range(cfg.num_iterations):
        last = algo.step()
    per_iteration = 2 if cls in (HARPG, NHARPG) else 1
    assert algo.global_step == 1 + per_iteration * (cfg.num_iterations - 1)
    assert "trajectories" not in last  # the x-axis is global_step, written by train()
    assert algo.global_step <= cfg.total_trajectories
    assert last["optimality_gap"] < 0.8 * initial_gap and last["diverged"] == 0
    assert (last["optimality_gap_per_seed"] >= 0).all()
    assert last["gain"].shape == (4, 1, 2)
    twin = cls(cfg)
    for _ in range(cfg.num_iterations):
        twin.step()
    assert torch.equal(twin.theta, algo.theta)


@pytest.mark.parametrize("cls,config_cls", ALGOS)
def test_state_dict_resumes_exactly(cls, config_cls):
    cfg = config_cls(num_seeds=3)
    a = cls(cfg)
    for _ in range(20):
        a.step()
    saved = a.state_dict()
    for _ in range(10):
        a.step()
    b = cls(cfg.replace(seed=7))
    b.load_state_dict(saved)
    for _ in range(10):
        b.step()
    assert torch.equal(a.theta, b.theta) and torch.equal(a.direction, b.direction)
    assert a.global_step == b.global_step


def record_sampled_points(algo: VanillaPG, points: list[torch.Tensor]) -> None:
    """From now on append (a copy of) every θ at which ``algo`` samples to ``points``."""
    original = algo.sample
    algo.sample = lambda theta: points.append(theta.clone()) or original(theta)


def test_npg_igt_samples_at_the_extrapolated_point():
    algo = NPGIGT(NPGIGTConfig(num_seeds=2))
    for _ in range(3):
        algo.step()
    points = []
    record_sampled_points(algo, points)
    theta, prev, eta = algo.theta.clone(), algo.theta_prev.clone(), schedule(3, 1.0, 0.8)
    algo.step()
    torch.testing.assert_close(points[0], igt_extrapolation(theta, prev, eta))
    assert not torch.allclose(points[0], theta)
    plain = NPGIGT(NPGIGTConfig(num_seeds=2, transport=False))
    for _ in range(3):
        plain.step()
    record_sampled_points(plain, points)
    current = plain.theta.clone()
    plain.step()
    torch.testing.assert_close(points[1], current)


def test_harpg_samples_its_hessian_trajectory_between_the_last_two_iterates():
    algo = NHARPG(NHARPGConfig(num_seeds=64))
    algo.step()
    points = []
    record_sampled_points(algo, points)
    theta, prev = algo.theta.clone(), algo.theta_prev.clone()
    algo.step()
    hat, current = points[0][:64], points[0][64:]
    torch.testing.assert_close(current, theta)
    q = ((hat - prev) * (theta - prev)).sum(-1) / ((theta - prev) ** 2).sum(-1)
    torch.testing.assert_close(hat, prev + q[:, None] * (theta - prev))
    assert 0 <= q.min() and q.max() <= 1 and q.std() > 0.2  # uniform, one per run


def test_quartiles_count_diverged_runs_as_the_worst():
    values = f64([3.0, float("nan"), 1.0, 2.0])  # sorted: 1, 2, 3, inf (midpoints)
    assert quartiles(values) == [1.5, 2.5, math.inf]
    assert quartiles(f64([4.0])) == [4.0, 4.0, 4.0]


def test_configs_validate_and_count_iterations():
    assert HARPGConfig(total_trajectories=5).num_iterations == 3  # 1 + 2 + 2
    assert NPGIGTConfig(total_trajectories=5).num_iterations == 5
    with pytest.raises(ValueError, match="gamma_0"):
        NPGIGTConfig(gamma_0=-1.0).validate()
    assert NHARPGConfig().lr_exponent == 1.0 and HARPGConfig().lr_exponent == 0.5
    assert NPGIGTConfig().eta_exponent == pytest.approx(0.8)


def test_exact_metrics_are_log_spaced():
    algo = VanillaPG(VanillaPGConfig(evals_per_decade=9, total_trajectories=1234))
    evaluated = [i + 1 for i in range(1234) if algo.evaluate_now(i)]  # iterations done
    assert evaluated == [*range(1, 10), *range(10, 100, 10), *range(100, 1000, 100), 1000,
                         1234]  # the last iteration of the budget is always evaluated


def test_trains_with_the_generic_loop():
    algo = NHARPG(NHARPGConfig(num_seeds=3, evals_per_decade=10))
    history = train(algo, 30, progress=False)
    assert history.status == "finished"
    gaps = history.column("optimality_gap")
    assert (~torch.isnan(torch.tensor(gaps))).sum() >= 10
    assert history.last("global_step") == algo.global_step == 59
    assert history.latest["gain"].shape == (3, 1, 2)


# --- the diagnosis of the card's claim (hand cases) -------------------------------------------


def test_path_length_sums_the_step_sizes():
    # γ_t = 0.3 (2/(t+2)): 0.3 + 0.2 + 0.15
    assert path_length(3, 0.3, 1.0) == pytest.approx(0.65)
    assert path_length(4, 0.5, 0.0) == pytest.approx(2.0)


def test_recursive_error_rms_hand_computed():
    # (4/3)(0.5²·2² + 3²)/3 = (4/3)(10/3) = 40/9
    assert recursive_error_rms(3, 0.5, 2.0, 3.0) == pytest.approx(math.sqrt(40 / 9))
    assert recursive_error_rms(12, 0.0, 5.0, 3.0) == pytest.approx(math.sqrt(1.0))


def test_recursive_error_rms_matches_the_simulated_recursion():
    # e_t = (1-η_t)(e_{t-1} + ξ^B_t) + η_t ξ^g_t, η_t = 2/(t+2), std(ξ^B_t) = hvp_std·γ_{t-1}
    g = torch.Generator().manual_seed(0)
    runs, steps, gamma_0, hvp_std, grad_std = 20_000, 400, 0.5, 4.0, 1.0
    e = grad_std * torch.randn(runs, dtype=F64, generator=g)
    for t in range(1, steps):
        eta, step = 2 / (t + 2), schedule(t - 1, gamma_0, 1.0)
        e = (1 - eta) * (e + hvp_std * step * torch.randn(runs, dtype=F64, generator=g)) \
            + eta * grad_std * torch.randn(runs, dtype=F64, generator=g)
    rms = e.pow(2).mean().sqrt().item()
    assert rms == pytest.approx(recursive_error_rms(steps, gamma_0, hvp_std, grad_std), rel=0.05)


def test_estimator_spread_is_linear_in_the_direction():
    # B u is linear in u: with the same trajectories its spread scales exactly with ‖u‖
    lqr = LQR.double_integrator(horizon=10)
    u = f64([[0.6, -0.8]])
    sg, sb = estimator_spread(lqr, lqr.init_gain, u, 2000, torch.Generator().manual_seed(0))
    sg2, sb2 = estimator_spread(lqr, lqr.init_gain, 3 * u, 2000, torch.Generator().manual_seed(0))
    assert sg2 == pytest.approx(sg) and sb2 == pytest.approx(3 * sb)
    assert sg > 0 and sb > 0


def test_loglog_fit_and_crossover_hand_computed():
    x = np.array([1.0, 10.0, 100.0])
    slope, intercept = loglog_fit(x, 5.0 * x ** -0.5)
    assert slope == pytest.approx(-0.5) and intercept == pytest.approx(math.log(5.0))
    # 100 x^-1 meets 10 x^-0.5 where x^0.5 = 10: x = 100
    assert crossover_budget((-1.0, math.log(100.0)), (-0.5, math.log(10.0))) == pytest.approx(100.0)
    assert crossover_budget((-0.5, 1.0), (-1.0, 0.0)) == math.inf  # not steeper: never meets
