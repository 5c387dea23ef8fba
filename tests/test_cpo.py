"""CPO's step (polab.algos.morl.cpo): the closed-form dual against a numerical QP solver on random
problems and on a hand case, batched conjugate gradients, and the C-MORL ``cpo`` form."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from polab.algos.morl.cmorl import CMORL
from polab.algos.morl.config import CMORLConfig
from polab.algos.morl.cpo import conjugate_gradient, cpo_direction, cpo_dual, member_dot


def t(x: float) -> torch.Tensor:
    return torch.tensor([x], dtype=torch.float64)


def cpo_step(g: np.ndarray, b: np.ndarray, c: float, delta: float) -> tuple[np.ndarray, int]:
    """CPO's step for ``H = I`` (so ``v = g``, ``w = b``)."""
    dual = cpo_dual(t(g @ g), t(g @ b), t(b @ b), t(c), delta)
    x = cpo_direction([torch.tensor(g)[None]], [torch.tensor(b)[None]], dual)[0][0]
    return x.numpy(), int(dual["case"])


def qp_solution(g: np.ndarray, b: np.ndarray, c: float, delta: float) -> np.ndarray:
    """``max gᵀx s.t. c + bᵀx ≤ 0, ½|x|² ≤ δ`` by SLSQP."""
    constraints = [{"type": "ineq", "fun": lambda x: -(c + b @ x)},
                   {"type": "ineq", "fun": lambda x: delta - 0.5 * x @ x}]
    return minimize(lambda x: -g @ x, np.zeros(len(g)), method="SLSQP",
                    options={"ftol": 1e-12}, constraints=constraints).x


def test_hand_case_constraint_active():
    # max x1 s.t. 0.5 + x2 ≤ 0, ½|x|² ≤ 1: x = (√1.75, -0.5)
    x, case = cpo_step(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5, 1.0)
    assert case == 1 and np.allclose(x, [math.sqrt(1.75), -0.5], atol=1e-6)
    # feasible, boundary far outside the trust region: the TRPO step √(2δ/q) g
    x, case = cpo_step(np.array([3.0, 4.0]), np.array([0.0, 1.0]), -5.0, 0.5)
    assert case == 3 and np.allclose(x, np.array([3.0, 4.0]) / 5.0, atol=1e-6)
    # infeasible beyond reach: recovery -√(2δ/s) b
    x, case = cpo_step(np.array([1.0, 0.0]), np.array([0.0, 2.0]), 5.0, 0.5)
    assert case == 0 and np.allclose(x, [0.0, -1.0], atol=1e-6)


def test_dual_matches_a_qp_solver_on_random_problems():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(120):
        g, b, c, delta = rng.normal(size=3), rng.normal(size=3), 1.5 * rng.normal(), 0.5
        x, case = cpo_step(g, b, c, delta)
        seen.add(case)
        if case == 0:  # no feasible point: CPO steps to reduce the violation most
            expected = -math.sqrt(2 * delta / (b @ b)) * b
        else:
            expected = qp_solution(g, b, c, delta)
        assert np.allclose(x, expected, atol=1e-4), (case, x, expected)
    assert seen == {0, 1, 2, 3}


def test_conjugate_gradient_solves_each_member():
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(3, 5, 5, generator=gen, dtype=torch.float64)
    h = m @ m.transpose(1, 2) + 5 * torch.eye(5, dtype=torch.float64)  # 3 SPD blocks
    rhs = [torch.randn(3, 5, generator=gen, dtype=torch.float64)]
    x = conjugate_gradient(lambda v: [torch.einsum("pij,pj->pi", h, v[0])], rhs, 10)
    assert torch.allclose(x[0], torch.linalg.solve(h, rhs[0]), atol=1e-8)
    assert member_dot(rhs, rhs).shape == (3,)


def test_cmorl_cpo_form_runs_and_needs_two_objectives():
    cfg = CMORLConfig(total_timesteps=12_000, num_envs=4, num_steps=16, n_init_policies=3,
                      num_select=1, ext_iters=2, update_epochs=1, eval_every=2,
                      update_method="cpo")
    algo = CMORL(cfg)
    records = [algo.step() for _ in range(cfg.num_iterations)]
    cpo = [r for r in records if "morl/cpo_recovery_share" in r]
    assert cpo and all(np.isfinite(r["losses/value_loss"]) for r in cpo)
    assert all(np.diff(algo.round_hypervolumes) >= 0)
    with pytest.raises(ValueError, match="update_method"):
        cfg.replace(env="fruit-tree-3d").validate()
