"""The TV inner problem of chapter 11 (issue 17's hand case): sorting = linprog (1e-8) =
card 32's α-dual, on a hand case and on random batches."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from polab.algos.robust.exact import tv_dual, tv_inner_min, tv_worst_distribution


def lp_inner_min(p: np.ndarray, v: np.ndarray, rho: float) -> float:
    """min q·v s.t. q ≥ 0, Σq = 1, ½Σ|q − p| ≤ ρ, with slacks t ≥ |q − p|."""
    S = len(p)
    c = np.concatenate([v, np.zeros(S)])
    a_ub = np.block([[np.eye(S), -np.eye(S)], [-np.eye(S), -np.eye(S)],
                     [np.zeros((1, S)), 0.5 * np.ones((1, S))]])
    b_ub = np.concatenate([p, -p, [rho]])
    a_eq = np.concatenate([np.ones(S), np.zeros(S)])[None]
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=[(0, None)] * (2 * S),
                  method="highs")
    return float(res.fun)


def test_hand_case():
    # p = (0.5, 0.3, 0.2), v = (1, 2, 0): move 0.25 off the best (s1: 0.3 -> 0.05) onto s2
    p, v = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), torch.tensor([1.0, 2.0, 0.0],
                                                                             dtype=torch.float64)
    expect = 0.5 * 1 + 0.05 * 2 + 0.45 * 0
    assert tv_inner_min(p, v, 0.25).item() == pytest.approx(expect, abs=1e-12)
    assert tv_dual(p, v, 0.25).item() == pytest.approx(expect, abs=1e-12)
    q = tv_worst_distribution(p, v, 0.25)
    assert torch.allclose(q, torch.tensor([0.5, 0.05, 0.45], dtype=torch.float64))
    assert tv_inner_min(p, v, 0.0).item() == pytest.approx((p * v).sum().item())
    assert tv_inner_min(p, v, 1.0).item() == pytest.approx(0.0)  # all mass to the worst


def test_sorting_equals_linprog_and_dual_on_random_batches():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(3 * torch.randn(40, 6, generator=g, dtype=torch.float64), -1)
    v = torch.randn(40, 6, generator=g, dtype=torch.float64)
    rho = torch.rand(40, generator=g, dtype=torch.float64) * 0.6
    sort, dual = tv_inner_min(p, v, rho), tv_dual(p, v, rho)
    lp = torch.tensor([lp_inner_min(p[i].numpy(), v[i].numpy(), float(rho[i]))
                       for i in range(40)], dtype=torch.float64)
    assert torch.allclose(sort, lp, atol=1e-8) and torch.allclose(dual, lp, atol=1e-8)
    q = tv_worst_distribution(p, v, rho)
    assert torch.allclose(q.sum(-1), torch.ones(40, dtype=torch.float64))
    assert (q >= -1e-12).all() and (0.5 * (q - p).abs().sum(-1) <= rho + 1e-12).all()
    assert torch.allclose((q * v).sum(-1), sort)


def test_radius_is_checked():
    with pytest.raises(ValueError, match="radius"):
        tv_inner_min(torch.ones(2) / 2, torch.zeros(2), 1.5)
