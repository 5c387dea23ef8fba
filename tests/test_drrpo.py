"""DR-RPO (card 32): the mirror step on two actions by hand, ρ = 0 is the plain ridge backup,
the d-rectangular robust DP against a joint linear program and brute force over policies, the
bonus after the backup with Q clipped, the KL term in V, bad input named."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from polab.algos.robust.drrpo import (
    DRRPO,
    DRRPOConfig,
    backward_pass,
    mirror_step,
    optimistic_robust_q,
    ridge_truncated,
    tv_dual_per_feature,
)
from polab.algos.robust.exact import (
    d_rect_expected_next,
    d_rect_policy_evaluation,
    d_rect_robust_dp,
    tv_dual,
    tv_inner_min,
)
from polab.envs.linear_mdp import LinearToyMDP

D = torch.float64


def test_mirror_step_on_two_actions_by_hand():
    # η = λ = 1: π′ ∝ π^{1/2} π_ref^{1/2} exp(Q/2)
    pi, ref = torch.tensor([0.8, 0.2], dtype=D), torch.tensor([0.5, 0.5], dtype=D)
    q = torch.tensor([0.0, 1.0], dtype=D)
    w = torch.tensor([math.sqrt(0.8), math.sqrt(0.2) * math.exp(0.5)], dtype=D)
    assert torch.allclose(mirror_step(pi, ref, q, 1.0, 1.0), w / w.sum())
    # from uniform: σ(η Q_gap/(1+η/λ)) = σ(0.5)
    out = mirror_step(ref, ref, torch.tensor([1.0, 0.0], dtype=D), 1.0, 1.0)
    assert math.isclose(float(out[0]), 1 / (1 + math.exp(-0.5)), rel_tol=1e-12)
    # η → ∞: the regularised-greedy softmax π ∝ π_ref exp(λ Q)
    far = mirror_step(pi, torch.tensor([0.3, 0.7], dtype=D), q, 1e9, 2.0)
    assert torch.allclose(far, torch.softmax(torch.tensor([0.3, 0.7], dtype=D).log() + 2 * q,
                                             -1), atol=1e-6)


def test_rho_zero_is_the_plain_ridge_backup():
    g = torch.Generator().manual_seed(1)
    d, S, n = 6, 4, 50
    phi = torch.nn.functional.one_hot(torch.randint(d, (n,), generator=g), d).to(D)
    s_next = torch.randint(S, (n,), generator=g)
    v = torch.rand(S, generator=g, dtype=D) * 5
    lam_inv = torch.linalg.inv(phi.T @ phi + torch.eye(d, dtype=D))
    m = torch.zeros(S, d, dtype=D).index_add(0, s_next, phi)
    robust = tv_dual_per_feature(ridge_truncated(lam_inv, m, v, v), v, v.min(), 0.0)
    plain = lam_inv @ phi.T @ v[s_next]
    assert torch.allclose(robust, plain)
    assert bool((tv_dual_per_feature(ridge_truncated(lam_inv, m, v, v), v, v.min(), 0.3)
                 <= plain + 1e-12).all())


def test_estimated_dual_with_exact_data_is_the_tv_dual_per_factor():
    env = LinearToyMDP()
    v = torch.tensor([3.0, 2.0, 4.0, 0.0, 5.0], dtype=D)
    N = 1e7  # each factor seen N times with next states in exact proportions
    lam_inv = torch.linalg.inv(N * torch.eye(4, dtype=D) + torch.eye(4, dtype=D))
    m = N * env.mu.T
    est = tv_dual_per_feature(ridge_truncated(lam_inv, m, v, v), v, v.min(), 0.2)
    assert torch.allclose(est, tv_dual(env.mu, v, 0.2), atol=1e-5)


def test_d_rectangular_backup_equals_the_joint_linear_program():
    env = LinearToyMDP()
    v, rho = torch.tensor([3.0, 2.0, 4.0, 0.0, 5.0], dtype=D), 0.2
    ours = d_rect_expected_next(env.phi, env.mu, v, rho)
    d, S = env.mu.shape
    for s, a in itertools.product(range(5), range(2)):
        # variables: μ_i (d·S) and slacks t_i (d·S) with |μ_i − μ⁰_i| ≤ t_i, Σ t_i ≤ 2ρ
        c = np.concatenate([np.kron(env.phi[s, a].numpy(), v.numpy()), np.zeros(d * S)])
        eye = np.eye(d * S)
        A_ub = np.block([[eye, -eye], [-eye, -eye],
                         [np.zeros((d, d * S)), np.kron(np.eye(d), np.ones(S))]])
        b_ub = np.concatenate([env.mu.numpy().ravel(), -env.mu.numpy().ravel(),
                               np.full(d, 2 * rho)])
        A_eq = np.hstack([np.kron(np.eye(d), np.ones(S)), np.zeros((d, d * S))])
        lp = linprog(c, A_ub, b_ub, A_eq, np.ones(d), bounds=(0, None))
        assert abs(lp.fun - float(ours[s, a])) < 1e-8
    # pitfall 1: the (s, a)-rectangular ball around the mixture P⁰ is a different (larger) set
    sa_rect = tv_inner_min(env.nominal_kernel, v, rho)
    assert float((ours - sa_rect).max()) > 0.1


def test_robust_dp_is_the_best_deterministic_policy_by_brute_force():
    env = LinearToyMDP(horizon=2)
    dp = d_rect_robust_dp(env.phi, env.mu, env.reward, 2, 0.3)
    best = max(float(d_rect_policy_evaluation(
        env.phi, env.mu, env.reward,
        torch.nn.functional.one_hot(torch.tensor(acts).view(2, 5), 2).to(D), 0.3)[0, 0])
        for acts in itertools.product(range(2), repeat=10))
    assert math.isclose(float(dp["V"][0, 0]), best, rel_tol=1e-12)


def test_bonus_is_added_after_the_robust_backup_and_q_is_clipped():
    env = LinearToyMDP()
    nu = torch.tensor([1.0, 2.0, 0.5, 0.0], dtype=D)
    lam_inv = torch.diag(torch.tensor([0.25, 0.01, 1.0, 1.0], dtype=D))
    q, bonus = optimistic_robust_q(env.reward, env.phi, nu, lam_inv, 0.5, 100.0)
    assert torch.allclose(bonus, 0.5 * env.phi @ torch.tensor([0.5, 0.1, 1.0, 1.0], dtype=D))
    assert torch.allclose(q, env.reward + env.phi @ nu + bonus)
    q_cap, _ = optimistic_robust_q(env.reward, env.phi, nu, lam_inv, 50.0, 3.0)
    assert float(q_cap.max()) == 3.0 and float(q_cap.min()) >= 0.0


def _full_data(env: LinearToyMDP, H: int, N: float = 1e7):
    phi = env.phi.reshape(-1, env.dim)
    lam = (N * phi.T @ phi + torch.eye(env.dim, dtype=D)).expand(H, -1, -1)
    m = (N * env.nominal_kernel.reshape(-1, 5).T @ phi).expand(H, -1, -1)
    return lam, m


def test_backward_pass_value_keeps_the_kl_term():
    """With exact data and no bonus, V_0 of the regularised optimum's policy is the regularised
    robust-DP value; it would exceed it by KL/λ if the KL term were dropped (pitfall 5)."""
    env, c = LinearToyMDP(), DRRPOConfig(beta_ucb=0.0, lambda_kl=1.0, rho=0.2)
    ref = torch.full((5, 2), 0.5, dtype=D)
    opt = d_rect_robust_dp(env.phi, env.mu, env.reward, 10, 0.2, 1.0, ref)
    out = backward_pass(env, *_full_data(env, 10), opt["policy"], ref, c)
    assert torch.allclose(out["V"][0], opt["V"][0], atol=1e-4)
    no_kl = d_rect_policy_evaluation(env.phi, env.mu, env.reward, opt["policy"], 0.2)
    assert float((no_kl[0] - out["V"][0]).max()) > 0.05


def test_training_is_deterministic_and_approaches_the_robust_optimum():
    runs = []
    for _ in range(2):
        algo = DRRPO(DRRPOConfig(episodes=150, seed=3))
        runs.append([algo.step() for _ in range(150)])
    assert runs[0][-1] == runs[1][-1]
    last = runs[0][-1]
    assert last["regret"] < 0.15 * last["robust_optimum"] and last["regret_regularised"] < 0.1
    greedy = DRRPO(DRRPOConfig(greedy=True, episodes=10))
    greedy.step()
    assert set(greedy.policy.unique().tolist()) <= {0.0, 1.0}
    assert greedy.worst_kernel().shape == (10, 5, 2, 5)


@pytest.mark.parametrize("field, value", [("rho", 0.7), ("beta_ucb", -1.0), ("eta", 0.0),
                                          ("features", "rbf")])
def test_bad_config_is_named(field, value):
    with pytest.raises(ValueError, match=field):
        DRRPOConfig(**{field: value}).validate()


def test_bad_env_is_named():
    with pytest.raises(ValueError, match="linear-toy"):
        DRRPO(DRRPOConfig(), env="Pendulum-v1")
    with pytest.raises(ValueError, match="horizon"):
        DRRPO(DRRPOConfig(horizon=5), env=LinearToyMDP(horizon=10))


def test_exercise_checker_judges_right_and_wrong_answers():
    from polab.algos.robust.exercises.drrpo import check_lambda_answer
    weak = [{"robust_value": 1.67, "robust_optimum": 1.72}]
    strong = [{"robust_value": 1.40, "robust_optimum": 1.72}]
    assert check_lambda_answer(weak, strong, "lower").ok
    wrong = check_lambda_answer(weak, strong, "higher")
    assert not wrong.ok and "So it is lower" in wrong.message
    assert not check_lambda_answer(weak, strong, "maybe").ok
