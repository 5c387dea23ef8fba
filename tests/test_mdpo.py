"""On-policy MDPO (../shared/cards/20_mdpo.md): the loss and the KL schedule on hand-computed
cases, the exact KLs, the KL direction, and the algorithm's trust-region behaviour."""

import math

import pytest
import torch
from helpers import f64

from polab.algos import ALGORITHMS
from polab.algos.pg.mdpo import MDPO, MDPOConfig, mdpo_kl_coef, mdpo_loss, policy_kl
from polab.core.distributions import categorical_kl, gaussian_kl
from polab.train import train

SMALL = {"num_envs": 8, "num_steps": 32, "num_minibatches": 2, "total_timesteps": 2560}


def test_mdpo_loss_hand_case_and_unclipped_gradient():
    # ratios r = [1.5, 0.6], advantages [1, -2], per-state KL [0.1, 0.3], 1/t = 2
    new_logp = f64([math.log(1.5), math.log(0.6)]).requires_grad_()
    terms = mdpo_loss(new_logp, f64([0.0, 0.0]), f64([1.0, -2.0]), f64([0.1, 0.3]), kl_coef=2.0)
    assert terms["loss_policy"].item() == pytest.approx(-(1.5 - 1.2) / 2)
    assert terms["loss_kl"].item() == pytest.approx(0.2)
    assert terms["loss"].item() == pytest.approx(-0.15 + 2.0 * 0.2)
    kl = ((0.5 - math.log(1.5)) + (-0.4 - math.log(0.6))) / 2
    assert float(terms["approx_kl"]) == pytest.approx(kl)
    terms["loss"].backward()
    # d/dlog π of -r A / n: no clipping, so the r = 1.5 sample keeps its gradient (PPO's is 0)
    assert new_logp.grad.tolist() == pytest.approx([-0.75, 0.6])


def test_kl_coef_schedule():
    # K = 4: t_k = 1 - (k-1)/K = 1, 3/4, 1/2, 1/4
    assert [mdpo_kl_coef(i, 4) for i in range(4)] == pytest.approx([1.0, 4 / 3, 2.0, 4.0])
    assert mdpo_kl_coef(3, 4, max_kl_coef=3.0) == 3.0       # capped
    assert mdpo_kl_coef(4, 4, max_kl_coef=50.0) == 50.0     # t = 0 past K: the cap
    assert mdpo_kl_coef(7, 4, "constant", kl_coef=0.5) == 0.5
    assert mdpo_kl_coef(0, 4, "constant", kl_coef=9.0, max_kl_coef=3.0) == 3.0


def test_categorical_kl_hand_case_and_asymmetry():
    p, q = torch.log(f64([0.5, 0.5])), torch.log(f64([0.25, 0.75]))
    assert float(categorical_kl(p, q)) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert float(categorical_kl(q, p)) == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5))
    assert float(categorical_kl(p, p)) == pytest.approx(0.0)


def test_gaussian_kl_hand_case_and_against_torch():
    # KL(N(0,1) ‖ N(1,2²)) = log 2 + (1 + 1)/(2·4) - 1/2
    kl = gaussian_kl(f64([[0.0]]), f64([[0.0]]), f64([[1.0]]), f64([[math.log(2.0)]]))
    assert float(kl) == pytest.approx(math.log(2) + 0.25 - 0.5)
    g = torch.Generator().manual_seed(0)
    mp, lp, mq, lq = (torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(4))
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mp, lp.exp()),
                                            torch.distributions.Normal(mq, lq.exp())).sum(-1)
    assert torch.allclose(gaussian_kl(mp, lp, mq, lq), ref)


def test_loss_terms_use_the_configured_kl_direction():
    obs = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
    terms = {}
    for direction in ("reverse", "forward"):
        algo = MDPO(MDPOConfig(kl_direction=direction, **SMALL), "CartPole-v1")
        with torch.no_grad():
            old_out = algo.agent.actor(obs) + torch.tensor([0.8, -0.8])  # π_k ≠ π_θ
        actions, old_logp = torch.zeros(16, dtype=torch.long), torch.zeros(16)
        terms[direction] = algo.loss_terms(obs, actions, old_logp, torch.ones(16), old_out, None,
                                           kl_coef=1.0)
        new_out = algo.agent.actor(obs)
    reverse, forward = (terms[d]["loss_kl"].item() for d in ("reverse", "forward"))
    assert reverse == pytest.approx(categorical_kl(new_out, old_out).mean().item())
    assert forward == pytest.approx(categorical_kl(old_out, new_out).mean().item())
    assert policy_kl(True, new_out, None, old_out, None).mean().item() == pytest.approx(reverse)
    assert reverse != pytest.approx(forward)


def successive_kl(**changes) -> float:
    algo = MDPO(MDPOConfig(seed=3, **{**SMALL, **changes}), "CartPole-v1")
    return algo.step()["losses/kl"]


def test_a_heavier_kl_weight_keeps_the_new_policy_closer():
    free = successive_kl(t_schedule="constant", kl_coef=0.01)
    tight = successive_kl(t_schedule="constant", kl_coef=100.0)
    assert 0 < tight < 0.5 * free


def test_more_sgd_steps_move_the_policy_further():
    assert successive_kl(sgd_steps=1) < successive_kl(sgd_steps=5)


def test_same_seed_same_numbers_and_schedule_logged():
    runs = [train(MDPO(MDPOConfig(seed=5, **SMALL), "CartPole-v1"), 3, progress=False)
            for _ in range(2)]
    assert runs[0].records[-1]["losses/kl"] == runs[1].records[-1]["losses/kl"]
    # K = 2560 / 256 = 10 iterations: 1/t_k = 1, 10/9, 10/8
    assert runs[0].column("mdpo/kl_coef").tolist() == pytest.approx([1.0, 10 / 9, 10 / 8])


def test_mdpo_on_a_continuous_env():
    history = train(MDPO(MDPOConfig(**SMALL), "Pendulum-v1"), 2, progress=False)
    assert history.status == "finished"
    assert history.last("losses/kl") > 0


def test_registered_for_the_cli_and_the_smoke_tests():
    assert ALGORITHMS["mdpo"].cls is MDPO
