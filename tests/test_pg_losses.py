"""REINFORCE and PPO losses on hand-computed batches."""

import math

import pytest
import torch

from polab.algos.pg.ppo import explained_variance, ppo_loss
from polab.algos.pg.reinforce import reinforce_loss


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def test_ppo_loss_hand_case():
    # ratios r = [1.5, 0.6], advantages [1, -2], ε = 0.2
    new_logp, old_logp = t(math.log(1.5), math.log(0.6)), t(0.0, 0.0)
    terms = ppo_loss(new_logp, old_logp, t(1.0, -2.0), new_values=t(1.0, 2.0),
                     old_values=t(0.5, 2.1), returns=t(2.0, 1.0), entropy=t(0.6, 0.4),
                     clip_coef=0.2, clip_vloss=True, ent_coef=0.01, vf_coef=0.5)
    # sample 1: max(-1.5, -1.2) = -1.2;  sample 2: max(1.2, 1.6) = 1.6  → mean 0.2
    assert float(terms["loss_policy"]) == pytest.approx(0.2)
    # V clipped = [0.7, 2.0]; max((V-R)², (Vc-R)²) = [1.69, 1] → ½·mean = 0.6725
    assert float(terms["loss_value"]) == pytest.approx(0.6725)
    assert float(terms["loss_entropy"]) == pytest.approx(0.5)
    assert float(terms["loss"]) == pytest.approx(0.2 - 0.01 * 0.5 + 0.5 * 0.6725)
    # approx_kl = mean((r-1) - log r); old_approx_kl = mean(-log r)
    kl = ((0.5 - math.log(1.5)) + (-0.4 - math.log(0.6))) / 2
    assert float(terms["approx_kl"]) == pytest.approx(kl)
    assert float(terms["old_approx_kl"]) == pytest.approx((-math.log(1.5) - math.log(0.6)) / 2)
    assert float(terms["clipfrac"]) == 1.0


def test_ppo_unclipped_value_loss_and_gradient_only_where_unclipped():
    new_logp = t(math.log(1.5), math.log(1.1)).requires_grad_()
    terms = ppo_loss(new_logp, t(0.0, 0.0), t(1.0, 1.0), t(1.0, 2.0), t(0.5, 2.1),
                     t(2.0, 1.0), t(0.0, 0.0), clip_coef=0.2, clip_vloss=False)
    assert float(terms["loss_value"]) == pytest.approx(0.5)
    terms["loss_policy"].backward()
    # r=1.5 > 1+ε with A>0 is clipped: no gradient; r=1.1 is inside: d/dlogp(-A r / 2) = -0.55
    assert new_logp.grad.tolist() == pytest.approx([0.0, -0.55])
    assert float(terms["clipfrac"]) == 0.5


def test_reinforce_loss_hand_case():
    logp = torch.tensor([[-0.5, -1.0], [-0.2, -2.0]])
    returns = torch.tensor([[2.0, 1.0], [1.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    plain = reinforce_loss(logp, returns, mask)
    assert float(plain["loss_policy"]) == pytest.approx((1.0 + 1.0 + 0.2) / 3)
    assert float(plain["loss_value"]) == 0.0
    values = torch.tensor([[1.0, 0.5], [0.5, 9.0]])
    based = reinforce_loss(logp, returns, mask, values)
    assert float(based["loss_policy"]) == pytest.approx((0.5 + 0.5 + 0.1) / 3)
    assert float(based["loss_value"]) == pytest.approx(0.5 * (1 + 0.25 + 0.25) / 3)


def test_reinforce_baseline_gets_no_policy_gradient():
    logp = torch.tensor([[-0.5, -1.0]], requires_grad=True)
    values = torch.tensor([[1.0, 0.5]], requires_grad=True)
    terms = reinforce_loss(logp, torch.tensor([[2.0, 1.0]]), torch.ones(1, 2, dtype=torch.bool),
                           values)
    terms["loss_policy"].backward()
    assert values.grad is None or float(values.grad.abs().sum()) == 0.0


def test_explained_variance():
    y = t(1.0, 2.0, 3.0)
    key = "losses/explained_variance"
    assert explained_variance(y, y)[key] == pytest.approx(1.0)
    assert explained_variance(torch.full_like(y, 2.0), y)[key] == pytest.approx(0.0)
    assert explained_variance(t(1.0), t(2.0)) == {}  # one sample: undefined, not NaN
