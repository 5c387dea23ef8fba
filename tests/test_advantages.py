"""GAE and reward-to-go against hand-computed trajectories."""

import pytest
import torch

from polab.core.advantages import discounted_returns, gae, normalize


def col(*xs, dtype=torch.float64):
    return torch.tensor(xs, dtype=dtype).unsqueeze(1)  # (T, N=1)


def test_gae_keeps_termination_and_truncation_apart():
    # t=1 terminates (its next value, of the reset observation, must be ignored);
    # t=2 is truncated (bootstrap from V(final_obs)=0.6, but cut the λ-trace).
    rewards = col(1.0, 1.0, 2.0, 0.5)
    values = col(0.5, 0.4, 0.3, 0.1)
    next_values = col(0.4, 9.0, 0.6, 0.2)
    terminated = col(0, 1, 0, 0, dtype=torch.bool)
    truncated = col(0, 0, 1, 0, dtype=torch.bool)
    adv, ret = gae(rewards, values, next_values, terminated, truncated, gamma=0.9, gae_lambda=0.5)
    # δ3 = 0.5 + 0.9·0.2 − 0.1 = 0.58          A3 = 0.58
    # δ2 = 2 + 0.9·0.6 − 0.3 = 2.24 (truncated) A2 = 2.24
    # δ1 = 1 + 0 − 0.4 = 0.6 (terminated)       A1 = 0.6
    # δ0 = 1 + 0.9·0.4 − 0.5 = 0.86             A0 = 0.86 + 0.9·0.5·0.6 = 1.13
    assert adv.squeeze(1).tolist() == pytest.approx([1.13, 0.6, 2.24, 0.58])
    assert ret.squeeze(1).tolist() == pytest.approx([1.63, 1.0, 2.54, 0.68])


def test_gae_lambda_one_is_monte_carlo_and_zero_is_td():
    g = torch.Generator().manual_seed(0)
    rewards = torch.rand(6, 3, generator=g)
    values = torch.rand(6, 3, generator=g)
    next_values = torch.cat([values[1:], torch.zeros(1, 3)])
    no = torch.zeros(6, 3, dtype=torch.bool)
    term = no.clone()
    term[-1] = True
    _, ret1 = gae(rewards, values, next_values, term, no, 0.9, 1.0)
    assert torch.allclose(ret1, discounted_returns(rewards, term, 0.9), atol=1e-6)
    adv0, _ = gae(rewards, values, next_values, term, no, 0.9, 0.0)
    td = rewards + 0.9 * next_values * (~term) - values
    assert torch.allclose(adv0, td, atol=1e-6)


def test_discounted_returns_hand_case():
    out = discounted_returns(col(1.0, 2.0, 3.0), col(0, 1, 0, dtype=torch.bool), 0.5,
                             last_value=torch.tensor([4.0], dtype=torch.float64))
    # G2 = 3 + 0.5·4 = 5;  G1 = 2 (episode ends);  G0 = 1 + 0.5·2 = 2
    assert out.squeeze(1).tolist() == [2.0, 2.0, 5.0]


def test_normalize():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = normalize(x)
    assert abs(float(y.mean())) < 1e-6 and abs(float(y.std()) - 1) < 1e-4
