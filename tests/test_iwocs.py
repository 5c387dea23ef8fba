"""IWOCS and exact robust DP (card 39): the issue's hand cases, reductions, the min over Q_j,
bad input."""

import itertools

import pytest
import torch

from polab.algos.robust.exact import (
    domain_randomised_value_iteration,
    evaluate_policy,
    robust_policy_evaluation,
    robust_value_iteration,
    tv_inner_min,
    tv_robust_value_iteration,
    value_iteration,
)
from polab.algos.robust.iwocs import IWOCS, IWOCSConfig, IWOCSLoop, combine_q
from polab.envs.tabular import WindyWalk


def tiny_set(seed=0):
    """2 states, 2 actions, 2 candidate rows per (s, a), random rewards."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.rand(2, 2, 2, 2, generator=g, dtype=torch.double)
    return rows / rows.sum(-1, keepdim=True), torch.randn(2, 2, generator=g,
                                                          dtype=torch.double)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_robust_vi_equals_brute_force_min_over_kernels_of_optimal_values(seed):
    rows, reward = tiny_set(seed)
    choices = itertools.product(range(2), repeat=4)           # one row per (s, a): 16 kernels
    kernels = torch.stack([rows[[0, 0, 1, 1], [0, 1, 0, 1], list(c)].view(2, 2, 2)
                           for c in choices])
    v_star = value_iteration(kernels, reward, 0.9).max(-1).values      # [16, 2], batched
    v_rob = robust_value_iteration(rows, reward, 0.9).max(-1).values
    assert torch.allclose(v_rob, v_star.min(0).values, atol=1e-8)


def test_worst_kernel_for_a_policy_attains_its_robust_evaluation():
    walk = WindyWalk()
    policy = torch.randint(4, (45,), generator=torch.Generator().manual_seed(0))
    v, kernel = robust_policy_evaluation(walk.rectangular_set(), walk.reward, walk.gamma,
                                         policy)
    assert torch.allclose(evaluate_policy(kernel, walk.reward, walk.gamma, policy), v,
                          atol=1e-8)
    _, kernels = walk.coupled_set()  # every coupled kernel lies in the rectangular set
    assert (evaluate_policy(kernels, walk.reward, walk.gamma, policy) >= v - 1e-8).all()


def test_radius_zero_reduces_everything_to_nominal_vi():
    walk = WindyWalk(radius=0.0)
    q_nom = value_iteration(walk.nominal().P, walk.reward, walk.gamma)
    assert torch.allclose(robust_value_iteration(walk.rectangular_set(), walk.reward,
                                                 walk.gamma), q_nom)
    assert torch.allclose(domain_randomised_value_iteration(walk.coupled_set()[1], walk.reward,
                                                            walk.gamma), q_nom)
    assert torch.allclose(tv_robust_value_iteration(walk.nominal().P, walk.reward, walk.gamma,
                                                    0.0), q_nom)
    for env in ("windy-walk", "windy-walk-coupled"):
        algo = IWOCS(IWOCSConfig(uncertainty_radius=0.0), env)
        metrics = algo.step()
        assert metrics["stopped"] == 1.0 and metrics["kernels_found"] == 1
        assert metrics["worst_case_value"] == pytest.approx(float(q_nom[walk.start_index].max()))
        assert torch.equal(algo.loop.policy, q_nom.argmax(-1))


def test_tv_robust_vi_backs_up_the_tv_inner_minimum():
    rows, reward = tiny_set()
    P = rows[:, :, 0]
    q = tv_robust_value_iteration(P, reward, 0.9, 0.2)
    v = q.max(-1).values
    assert torch.allclose(q, reward + 0.9 * tv_inner_min(P, v, 0.2), atol=1e-9)


def test_iwocs_reaches_robust_vi_on_the_rectangular_set():
    algo = IWOCS(IWOCSConfig(), "windy-walk")
    for _ in range(5):
        metrics = algo.step()
    assert metrics["stopped"] == 1.0
    assert abs(metrics["worst_case_value"] - metrics["robust_vi_value"]) < 1e-6


def test_combine_last_chases_the_adversary_and_min_does_not():
    """Fails if the min over Q_j is replaced by the last Q_j (card 39, pitfall 2)."""
    worst = {}
    for how in ("min", "last"):
        algo = IWOCS(IWOCSConfig(combine=how, n_iterations=3), "windy-walk-coupled")
        worst[how] = [algo.step()["worst_case_value"] for _ in range(3)]
    assert worst["last"][2] < worst["min"][2] - 5.0   # cycled back onto a bad policy


def test_combine_q_and_loop_bad_input():
    qs = torch.tensor([[[1.0, 3.0]], [[2.0, 0.0]]])
    assert torch.equal(combine_q(qs, "min"), torch.tensor([[1.0, 0.0]]))
    assert torch.equal(combine_q(qs, "last"), qs[1])
    with pytest.raises(ValueError, match="combine"):
        combine_q(qs, "max")
    walk = WindyWalk()
    with pytest.raises(ValueError, match="combine"):
        IWOCSLoop(walk.nominal().P, walk.reward, 0.95, 0, lambda p: (None, 0.0), "max")


@pytest.mark.parametrize("field, value", [("uncertainty_radius", 0.9), ("n_iterations", 0),
                                          ("combine", "max"), ("search", "cma")])
def test_bad_config_is_named(field, value):
    with pytest.raises(ValueError, match=field):
        IWOCSConfig(**{field: value}).validate()


def test_bad_env_and_policy_are_named():
    with pytest.raises(ValueError, match="env must be one of"):
        IWOCS(IWOCSConfig(), "gridworld")
    walk = WindyWalk()
    with pytest.raises(ValueError, match="policy must be"):
        evaluate_policy(walk.coupled_set()[1], walk.reward, walk.gamma, torch.zeros(45))
    with pytest.raises(ValueError, match="candidates must be"):
        robust_value_iteration(torch.ones(3, 4, 2, 3), walk.reward, walk.gamma)


def test_random_search_is_seeded():
    runs = []
    for _ in range(2):
        algo = IWOCS(IWOCSConfig(search="random", search_budget=16, seed=3),
                     "windy-walk-coupled")
        runs.append([algo.step()["worst_case_value"] for _ in range(3)])
    assert runs[0] == runs[1]


def test_exercise_checker_judges_the_combine_prediction():
    from polab.algos.robust.exercises.iwocs import check_combine_answer
    runs = {}
    for how in ("min", "last"):
        algo = IWOCS(IWOCSConfig(combine=how, n_iterations=3), "windy-walk-coupled")
        runs[how] = [algo.step() for _ in range(3)]
    assert check_combine_answer(runs["min"], runs["last"], "lower").ok
    assert not check_combine_answer(runs["min"], runs["last"], "same").ok
    assert not check_combine_answer(runs["min"], runs["last"], "maybe").ok
    assert not check_combine_answer(runs["min"][:1], runs["last"], "lower").ok


def test_state_dict_restores_the_found_kernels():
    algo = IWOCS(IWOCSConfig(), "windy-walk-coupled")
    algo.step()
    state = algo.state_dict()
    after = [algo.step()["worst_case_value"] for _ in range(2)]
    algo.load_state_dict(state)
    assert len(algo.loop.kernels) == 2
    assert [algo.step()["worst_case_value"] for _ in range(2)] == after
