"""PARL (card 1): the implicit hypergradient against autograd through soft value iteration,
the trainer, and bad input."""

import pytest
import torch

from polab.algos.preference.exercises.parl import (
    check_neumann_answer,
    implicit_cosine,
    smallest_terms,
)
from polab.algos.preference.parl import (
    PARL,
    PARLConfig,
    bt_log_likelihood,
    implicit_term,
    neumann_inverse,
    oracle_labels,
    trajectory_scores,
)
from polab.envs.tabular import FiniteMDP

LAM = 0.3


def two_state_mdp() -> FiniteMDP:
    """2 states, 2 actions, horizon 3, one-hot (s, a) features: 64 trajectories, enumerable."""
    P = torch.tensor([[[0.9, 0.1], [0.2, 0.8]], [[0.7, 0.3], [0.1, 0.9]]], dtype=torch.double)
    reward = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.double)
    feats = torch.eye(4, dtype=torch.double).view(2, 2, 4)
    return FiniteMDP(P, reward, 0.9, torch.tensor([0.6, 0.4], dtype=torch.double), 3, feats)


def enumerated_utility(mdp: FiniteMDP, nu: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """G(ν, θ) = Σ_{τ⁰, τ¹} ρ(τ⁰)ρ(τ¹) U_ν with the oracle's expected label (card 1)."""
    grid = torch.cartesian_prod(*[torch.arange(2)] * 6)  # s0 a0 s1 a1 s2 a2
    s, a = grid[:, 0::2], grid[:, 1::2]
    logpi = torch.log_softmax(logits, -1)
    logrho = (mdp.initial[s[:, 0]].log() + logpi[s, a].sum(1)
              + mdp.P[s[:, :-1], a[:, :-1], s[:, 1:]].log().sum(1))
    rho = logrho.exp()
    R_nu = mdp.trajectory_features(s, a) @ nu
    R_true = mdp.trajectory_returns(s, a)
    p_star = torch.sigmoid(R_true[None, :] - R_true[:, None])  # τ¹ (column) preferred
    U = bt_log_likelihood(R_nu[None, :] - R_nu[:, None], p_star)
    return rho @ U @ rho


def soft_vi_logits(mdp: FiniteMDP, nu: torch.Tensor, iterations: int = 600) -> torch.Tensor:
    return mdp.soft_value_iteration(mdp.linear_reward(nu), LAM, iterations)[0] / LAM


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def test_hypergradient_matches_autograd_through_soft_vi_on_an_enumerable_mdp():
    mdp = two_state_mdp()
    nu = torch.tensor([0.3, -0.2, 0.5, 0.1], dtype=torch.double, requires_grad=True)
    true = torch.autograd.grad(enumerated_utility(mdp, nu, soft_vi_logits(mdp, nu)), nu)[0]
    theta = soft_vi_logits(mdp, nu.detach()).requires_grad_(True)
    nu_ = nu.detach().requires_grad_(True)
    direct, g = torch.autograd.grad(enumerated_utility(mdp, nu_, theta), (nu_, theta))
    implicit = implicit_term(mdp, nu_, theta, LAM, g, scale=1.0, terms=400)
    assert cosine(direct + implicit, true) > 0.99
    assert torch.allclose(direct + implicit, true, rtol=0.02, atol=1e-4)
    # the key mechanism: without the implicit term the hypergradient is off by > 10%
    assert not torch.allclose(direct, true, rtol=0.1, atol=1e-4)


def test_implicit_jacobian_product_on_the_grid_with_twenty_neumann_terms():
    """Card 1's λ = 0.05, a reward of learned-reward size (0.3 r* + noise), g the exact
    gradient of the true return: the J = 20 Neumann term against autograd through soft VI."""
    assert implicit_cosine(20) > 0.95
    assert implicit_cosine(20) > implicit_cosine(0)  # the series adds what ηD⁻¹g misses


def test_exercise_checker_accepts_the_right_answer_and_rejects_a_wrong_one():
    right = smallest_terms(0.05)
    direction = "smaller" if smallest_terms(0.3) < right else "larger"
    assert check_neumann_answer(right, direction).ok
    assert not check_neumann_answer(50 if right != 50 else 0, direction).ok
    assert not check_neumann_answer(right, "same").ok
    assert not check_neumann_answer(7, direction).ok


def test_neumann_series_inverts_a_negative_definite_matrix():
    H = -torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.double)
    v = torch.tensor([1.0, -2.0], dtype=torch.double)
    w = neumann_inverse(lambda u: H @ u, v, eta=0.4, terms=200)
    assert torch.allclose(w, -torch.linalg.solve(H, v), atol=1e-8)
    # a positive-curvature direction stops the series instead of diverging
    assert neumann_inverse(lambda u: -H @ u, v, eta=0.4, terms=50).norm() < 10


def test_scores_labels_and_likelihood_hand_cases():
    logits = torch.zeros(2, 2, dtype=torch.double)
    score = trajectory_scores(logits, torch.tensor([[0, 1, 1]]), torch.tensor([[1, 0, 0]]))
    assert torch.allclose(score[0], torch.tensor([[-0.5, 0.5], [1.0, -1.0]], dtype=torch.double))
    delta = torch.tensor([0.0, 2.0])
    assert torch.allclose(bt_log_likelihood(delta, torch.tensor([1.0, 0.0])),
                          torch.tensor([-0.6931472, -2.126928]), atol=1e-6)
    labels = oracle_labels(torch.zeros(4000), torch.ones(4000), 1.0,
                           torch.Generator().manual_seed(0))
    assert abs(labels.mean().item() - torch.sigmoid(torch.tensor(1.0)).item()) < 0.03


def test_trainer_counts_queries_logs_both_terms_and_is_deterministic():
    runs = []
    for implicit in (True, True, False):
        algo = PARL(PARLConfig(seed=3, use_implicit_term=implicit, num_iterations=4))
        runs.append([algo.step() for _ in range(4)])
        assert algo.global_step == 4 * algo.config.pairs_per_iter
    assert runs[0] == runs[1]
    assert all(r["hypergrad/implicit_norm"] == 0.0 for r in runs[2])
    assert any(r["hypergrad/implicit_norm"] > 0.0 for r in runs[0])
    assert runs[0][0]["oracle_return"] > 0 and "true_return" in runs[0][0]


def test_a_short_run_learns_the_goal():
    algo = PARL(PARLConfig(seed=0, num_iterations=60))
    for _ in range(60):
        record = algo.step()
    assert record["true_return"] > 0.5 * record["oracle_return"]


@pytest.mark.parametrize("changes, field", [({"K_inner": 0}, "K_inner"),
                                            ({"ent_coef": 0.0}, "ent_coef"),
                                            ({"neumann_scale": 3.0}, "neumann_scale")])
def test_bad_config_is_named(changes, field):
    with pytest.raises(ValueError, match=field):
        PARL(PARLConfig(**changes))


def test_unknown_env_is_named():
    with pytest.raises(ValueError, match="gridworld"):
        PARL(PARLConfig(), "bandit")
