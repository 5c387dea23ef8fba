"""A2PR (card 26): the actor's target and mask on a hand batch, the reduction to TD3+BC, the
value target's min of two backups, the VAE's advantage filter, and a short run's metrics."""

import pytest
import torch

from polab.algos.offline.a2pr import (
    A2PR,
    A2PRConfig,
    a2pr_target_and_mask,
    vae_loss,
    value_target,
)
from polab.algos.offline.td3_bc import TD3BC, TD3BCConfig, regularised_actor_loss
from polab.train import train

SMALL = {"num_iterations": 2, "updates_per_iteration": 4, "batch_size": 32,
         "dataset_size": 600, "eval_episodes": 2, "hidden": 16}


def test_target_and_mask_on_a_hand_batch():
    a = torch.tensor([[0.1], [0.2], [0.3], [0.4]])
    a_vae = torch.tensor([[-0.1], [-0.2], [-0.3], [-0.4]])
    v = torch.tensor([1.0, 1.0, 1.0, 1.0])
    q_data = torch.tensor([2.0, 0.5, 3.0, 0.0])  # A_data = 1, -0.5, 2, -1
    q_vae = torch.tensor([3.0, 1.0, 0.0, 0.5])  # A_vae = 2, 0, -1, -0.5
    target, m, vae = a2pr_target_and_mask(a, a_vae, q_data, q_vae, v, mask_coef=0.5)
    assert vae.tolist() == [True, True, False, True]
    torch.testing.assert_close(target, torch.tensor([[-0.1], [-0.2], [0.3], [-0.4]]))
    # m = 0.5 · (1[A_vae ≥ 0] + 1[A_data > 0]): a sum, 2 where both hold
    torch.testing.assert_close(m, torch.tensor([1.0, 0.5, 0.5, 0.0]))
    # advantage-filtered BC: data target, one indicator
    target, m, vae = a2pr_target_and_mask(a, a_vae, q_data, q_vae, v, 0.5, use_vae_target=False)
    assert not vae.any() and torch.equal(target, a)
    torch.testing.assert_close(m, torch.tensor([0.5, 0.0, 0.5, 0.0]))


def test_no_vae_target_and_mask_on_all_is_td3_bc():
    gen = torch.Generator().manual_seed(0)
    pi = torch.rand(64, 2, generator=gen, requires_grad=True)
    a, a_vae = torch.rand(64, 2, generator=gen), torch.rand(64, 2, generator=gen)
    q_pi = (pi * 3).sum(1)
    q_data, q_vae, v = (torch.randn(64, generator=gen) for _ in range(3))
    target, m, _ = a2pr_target_and_mask(a, a_vae, q_data, q_vae, v, 1.0, use_vae_target=False,
                                        advantage_mask=False)
    mine = regularised_actor_loss(q_pi, pi, target, m, 2.5)["loss"]
    td3_bc = -2.5 / q_pi.abs().mean().detach() * q_pi.mean() + torch.nn.functional.mse_loss(pi, a)
    torch.testing.assert_close(mine, td3_bc)
    # and the trainers agree step for step (same seed, same data)
    cfg = {**SMALL, "num_iterations": 1}
    a2pr = A2PR(A2PRConfig(**cfg, use_vae_target=False, advantage_mask=False))
    td3 = TD3BC(TD3BCConfig(**cfg))
    batch = a2pr.norm.sample(32, torch.Generator().manual_seed(1))
    pi_a = a2pr.actor(batch.obs)
    la = a2pr.actor_loss(batch, pi_a, a2pr.q(batch.obs, pi_a)[0])["loss"]
    pi_t = td3.actor(batch.obs)
    torch.testing.assert_close(la, td3.actor_loss(batch, pi_t, td3.q(batch.obs, pi_t)[0])["loss"])


def test_the_vae_target_changes_the_loss():  # the mechanism: removing it changes the target
    a = torch.zeros(3, 1)
    a_vae = torch.ones(3, 1)
    q = torch.tensor([0.0, 0.0, 0.0])
    target, _, _ = a2pr_target_and_mask(a, a_vae, q, q + 1, q, 1.0)
    assert torch.equal(target, a_vae)


def test_value_target_is_the_min_of_two_backups():
    y = torch.tensor([1.0, 5.0])
    got = value_target(torch.tensor([2.0, 2.0]), torch.tensor([1.0, 1.0]),
                       torch.tensor([False, True]), 0.5, y)
    torch.testing.assert_close(got, torch.tensor([1.0, 1.0]))  # min(2, 1), min(1, 5)


def test_vae_loss_ignores_filtered_actions():
    recon, a = torch.zeros(2, 1), torch.tensor([[1.0], [3.0]])
    mean, std = torch.zeros(2, 2), torch.ones(2, 2)
    terms = vae_loss(recon, a, mean, std, torch.tensor([True, False]), 1.0)
    assert float(terms["recon"]) == pytest.approx(0.5) and float(terms["kl"]) == 0.0


def test_short_run_reports_vae_share_and_mask_histogram():
    history = train(A2PR(A2PRConfig(**SMALL)), 2, progress=False)
    last = history.records[-1]
    assert 0 <= last["losses/vae_target_share"] <= 1
    assert sum(last[f"losses/mask_{k}"] for k in range(3)) == pytest.approx(1.0)
    assert "charts/score" in last


@pytest.mark.parametrize(("kwargs", "word"), [({"mask_coef": -1.0}, "mask_coef"),
                                              ({"vae_weight": 5.0}, "vae_weight")])
def test_bad_config_is_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        A2PR(A2PRConfig(**SMALL, **kwargs))


def test_bad_testbed_is_named():
    with pytest.raises(ValueError, match="testbed"):
        A2PR(A2PRConfig(**SMALL), "point-mass-great")
