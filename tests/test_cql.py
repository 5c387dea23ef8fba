"""CQL (card 42's offline baseline): the CQL(H) penalty on a hand batch, the shared SAC core's
pieces, bad input named, same seed same numbers."""

import math

import pytest
import torch

from polab.algos.offline.cql import CQL, CQLConfig, load_testbed
from polab.algos.offline.sac_core import cql_penalty, td_target, weighted_td_loss


def test_cql_penalty_hand_batch():
    # one member, two states, N = 2 uniform proposals of density 1/4 (an action box of width 4)
    q_sampled = torch.tensor([[[1.0, 1.0], [0.0, math.log(3.0)]]])
    log_density = torch.full((2, 2), -math.log(4.0))
    q_data = torch.tensor([[0.5, 0.0]])
    # state 0: log mean(4e^1, 4e^1) - 0.5 = 1 + log 4 - 0.5; state 1: log mean(4, 12) - 0 = log 8
    expected = ((1 + math.log(4) - 0.5) + math.log(8.0)) / 2
    assert float(cql_penalty(q_sampled, log_density, q_data)) == pytest.approx(expected)


def test_cql_penalty_sums_ensemble_and_vanishes_when_data_is_the_max():
    q_sampled = torch.zeros(2, 3, 4)
    q_data = torch.zeros(2, 3)  # uniform density 1 on a unit box, Q flat: log ∫ e^0 = 0
    assert float(cql_penalty(q_sampled, torch.zeros(3, 4), q_data)) == pytest.approx(0.0)


def test_td_target_and_weighted_loss():
    y = td_target(torch.tensor([1.0, 2.0]), torch.tensor([False, True]),
                  torch.tensor([10.0, 10.0]), 0.5)
    assert y.tolist() == [6.0, 2.0]
    q = torch.tensor([[6.0, 4.0], [7.0, 2.0]])
    assert float(weighted_td_loss(q, y)) == pytest.approx((0 + 4) / 2 + (1 + 0) / 2)
    w = torch.tensor([1.0, 0.0])
    assert float(weighted_td_loss(q, y, w)) == pytest.approx(0 / 2 + 1 / 2)


def test_bad_input_named():
    with pytest.raises(ValueError, match="cql_alpha"):
        CQLConfig(cql_alpha=-1.0).validate()
    with pytest.raises(ValueError, match="unknown offline testbed 'nope'"):
        load_testbed("nope", 0)


def test_cql_runs_and_is_deterministic():
    cfg = CQLConfig(num_iterations=2, updates_per_iteration=3, batch_size=32, eval_envs=2)
    a, b = CQL(cfg), CQL(cfg)
    ma, mb = a.step(), b.step()
    assert ma == mb
    assert math.isfinite(ma["charts/real_return"]) and ma["losses/cql_penalty"] > 0
