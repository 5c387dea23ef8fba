"""C-MORL's pieces on hand cases, the stacked policies, and short end-to-end runs."""

import math

import numpy as np
import pytest
import torch

from polab.algos.morl.cmorl import CMORL, LinearScalarisation
from polab.algos.morl.config import CMORLConfig
from polab.algos.morl.losses import (
    assign_policy,
    barrier_terms,
    crowding_selection,
    extension_thresholds,
    objective_advantages,
)
from polab.algos.morl.networks import StackedMLP, clip_grad_norm_per_member
from polab.core.losses import clipped_surrogate

TINY = CMORLConfig(total_timesteps=12_000, num_envs=4, num_steps=16, n_init_policies=3,
                   num_select=2, ext_iters=2, update_epochs=1, eval_every=2)


def test_clipped_surrogate_hand():
    ratio = torch.tensor([[1.5, 0.5, 1.1]])
    adv = torch.tensor([[1.0, -1.0, 2.0]])
    # min(1.5, 1.2) = 1.2; min(-0.5, -0.8) = -0.8; min(2.2, 2.2) = 2.2
    assert clipped_surrogate(ratio, adv, 0.2).item() == pytest.approx((1.2 - 0.8 + 2.2) / 3)


def test_barrier_terms_hand():
    ratio = torch.tensor([[2.0, 1.0]])
    adv = torch.tensor([[[1.0, 4.0], [3.0, 0.0]]])  # (P=1, B=2, K=2)
    current = torch.tensor([[10.0, -5.0]])
    thresholds = torch.tensor([[-math.inf, -7.0]])
    out = barrier_terms(ratio, adv, current, thresholds, torch.tensor([3.0]), barrier_t=2.0)
    # change = mean((ρ-1) Â) = ((1·1 + 0·3)/2, (1·4 + 0)/2) = (0.5, 2); Ĝ = J + 3 · change
    assert out["estimate"].tolist() == [[11.5, 1.0]]
    assert out["slack"][0, 1].item() == pytest.approx(8.0)
    assert out["barrier"].item() == pytest.approx(math.log(8.0) / 2)
    # an infeasible iterate is clamped, not NaN
    out = barrier_terms(ratio, adv, current, torch.tensor([[-math.inf, 5.0]]),
                        torch.tensor([3.0]), 2.0)
    assert out["barrier"].item() == pytest.approx(math.log(1e-3) / 2)


def test_objective_advantages():
    adv = torch.tensor([[[1.0, 10.0], [2.0, 20.0], [3.0, 60.0]]]).repeat(2, 1, 1)
    w = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    out = objective_advantages(adv, w, torch.tensor([False, True]))
    raw = torch.tensor([5.5, 11.0, 31.5])
    assert torch.allclose(out[0], (raw - raw.mean()) / raw.std(), atol=1e-5)
    a, b = adv[1, :, 0], adv[1, :, 1]
    normed = 0.5 * (a - a.mean()) / a.std() + 0.5 * (b - b.mean()) / b.std()
    assert torch.allclose(out[1], (normed - normed.mean()) / normed.std(), atol=1e-5)


def test_extension_thresholds_hand():
    front = np.array([[124.0, -19.0], [1.0, -1.0]])
    ref = np.array([0.0, -25.0])
    # extents above the reference point: treasure 124 - 0 = 124, time -1 - (-25) = 24
    b = extension_thresholds(front[[0, 0, 1]], front, ref, np.array([1, 0, 0]), beta=0.25)
    assert b[0, 0] == pytest.approx(124 - 0.75 * 124) and b[0, 1] == -math.inf
    assert b[1, 0] == -math.inf and b[1, 1] == pytest.approx(-19 - 0.75 * 24)
    assert b[2, 1] == pytest.approx(-1 - 0.75 * 24)  # a time penalty is relaxed, not tightened


def test_selection_and_assignment():
    pts = np.array([[0, 4], [1, 2], [2, 1.5], [4, 0]])
    # crowding: (1, 2): 2/4 + 2.5/4 = 1.125; (2, 1.5): 3/4 + 2/4 = 1.25
    assert crowding_selection(pts, 3).tolist() == [0, 3, 2]  # extremes, then the sparser
    assert crowding_selection(pts[:2], 3).tolist() == [0, 1, 0]  # cycles
    assert assign_policy(pts, np.array([1.0, 0.0])) == 3
    assert assign_policy(pts, np.array([0.0, 1.0])) == 0


def test_stacked_mlp_is_independent_networks():
    g = torch.Generator().manual_seed(0)
    net = StackedMLP(3, [4, 8, 2], 1.0, g)
    x = torch.randn(3, 5, 4)
    out = net(x)
    for m in range(3):
        h = torch.tanh(x[m] @ net.weights[0][m] + net.biases[0][m])
        assert torch.allclose(out[m], h @ net.weights[1][m] + net.biases[1][m], atol=1e-6)
    # member m's loss moves only member m's weights; clipping acts per member
    out[1].sum().mul(100).backward()
    assert net.weights[0].grad[0].abs().sum() == 0 and net.weights[0].grad[1].abs().sum() > 0
    norms = clip_grad_norm_per_member(list(net.parameters()), 0.5)
    after = sum(p.grad.pow(2).flatten(1).sum(1) for p in net.parameters()).sqrt()
    assert norms[1] > 0.5 and after[1].item() == pytest.approx(0.5, rel=1e-4)
    assert after[0].item() == 0


def test_cmorl_runs_extends_and_never_loses_hypervolume():
    algo = CMORL(TINY)
    assert TINY.extension_rounds(2) >= 1
    records = [algo.step() for _ in range(TINY.num_iterations)]
    spent = TINY.init_iterations * 3 * 64 + TINY.extension_rounds(2) * 2 * 2 * 64 * 2
    assert algo.global_step == spent <= TINY.total_timesteps
    stages = {s.stage for s in algo.population}
    assert stages == {"init", "extension"}
    assert len(algo.population) == 3 + TINY.extension_rounds(2) * 4
    hv = algo.round_hypervolumes
    assert len(hv) == 1 + TINY.extension_rounds(2) and all(np.diff(hv) >= 0)
    assert records[-1]["morl/hypervolume"] == pytest.approx(hv[-1])
    idx = algo.assign(np.array([0.0, 1.0]))
    episode = algo.play(idx)
    assert np.allclose(episode["rewards"].sum(0), algo.population[idx].returns)
    with pytest.raises(RuntimeError):
        algo.step()


def test_baseline_uses_the_same_budget_and_seeds_are_reproducible():
    base = LinearScalarisation(TINY)
    for _ in range(TINY.baseline_iterations):
        base.step()
    assert len(base.population) == 6 and {s.stage for s in base.population} == {"linear"}
    assert abs(base.global_step - TINY.total_timesteps) <= 6 * 64
    again = LinearScalarisation(TINY)
    for _ in range(TINY.baseline_iterations):
        again.step()
    assert np.array_equal(base.population_returns, again.population_returns)
    state = base.state_dict()
    again.load_state_dict(state)
    assert again.global_step == base.global_step


def test_continuous_task_runs():
    cfg = TINY.replace(env="energy-runner", total_timesteps=6_000)
    algo = CMORL(cfg)
    for _ in range(cfg.num_iterations):
        rec = algo.step()
    assert rec["morl/hypervolume"] >= 0 and algo.population_returns.shape[1] == 2
