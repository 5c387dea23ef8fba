"""LOOP and SPO on the shipped addition base: their defaults are the papers', their hooks do
what the cards say (LOOP's filter and clip interval; SPO's single stream, advantage before the
tracker update, KL-adaptive forgetting), they change the model, and same seed gives the same
numbers."""

import copy

import pytest
import torch
from test_grpo import params, scalars

from polab.algos.group.loop import LOOP, LOOPConfig
from polab.algos.group.spo import SPO, SPOConfig
from polab.core.advantages import spo_advantages
from polab.train import train

LOOP_SMALL = LOOPConfig(generation_batch_size=64, eval_every=0)
SPO_SMALL = SPOConfig(generation_batch_size=64, num_train_prompts=128, offline_samples=2,
                      eval_every=0)


# --- LOOP -----------------------------------------------------------------------------------

def test_loop_defaults_are_the_papers():
    c = LOOPConfig()
    assert (c.baseline, c.scale_rewards, c.loss_type) == ("leave_one_out", "none", "grpo")
    assert 1 - c.epsilon == pytest.approx(1 / 1.1) and 1 + c.epsilon_high == pytest.approx(1.1)
    assert (c.update_epochs, c.abs_adv_threshold, c.weight_decay) == (2, 0.01, 0.01)
    with pytest.raises(ValueError, match="whole groups"):
        c.replace(prefix_grouper=True).validate()


def test_loop_drops_zero_advantage_rollouts_and_trains_on_the_rest():
    algo = LOOP(LOOP_SMALL, "addition")
    before = params(algo)
    m = algo.step()
    b = algo.last_batch
    groups = b.rewards.view(-1, 8)
    # leave-one-out, unscaled: A_i = r_i - (sum - r_i) / 7
    expected = groups - (groups.sum(1, keepdim=True) - groups) / 7
    torch.testing.assert_close(b.advantages, expected.flatten())
    # binary rewards: |A| >= 1/7 unless the group is degenerate, so the filter drops exactly
    # the degenerate groups' rollouts
    assert torch.equal(b.keep, b.advantages.abs() >= 0.01)
    assert m["frac_rows_kept"] == pytest.approx(1 - m["frac_reward_zero_std"])
    assert not torch.equal(before, params(algo))
    # 2 epochs × 4 minibatches of the kept rollouts
    assert algo.optimizer.state[algo.model.wte.weight]["step"] == 8


def test_loop_clip_interval_is_asymmetric_in_ratio_space():
    algo = LOOP(LOOP_SMALL, "addition")
    h = train(algo, 2, progress=False)
    assert 0 <= h.last("clip_ratio/low_mean") <= 1 and h.last("approx_kl") > 0
    traj = LOOP(LOOP_SMALL.replace(importance_sampling_level="trajectory"), "addition")
    assert train(traj, 2, progress=False).status == "finished"


def test_loop_same_seed_same_numbers():
    a, b = (train(LOOP(LOOP_SMALL, "addition"), 2, progress=False) for _ in range(2))
    assert [scalars(r) for r in a.records] == [scalars(r) for r in b.records]


# --- SPO ------------------------------------------------------------------------------------

def test_spo_rules():
    with pytest.raises(ValueError, match="num_generations must be 1"):
        SPOConfig(num_generations=8).validate()
    with pytest.raises(ValueError, match="scale_rewards"):
        SPOConfig(scale_rewards="group").validate()


def test_spo_offline_prior_and_one_step_of_the_tracker():
    algo = SPO(SPO_SMALL, "addition")
    t = algo.tracker
    # offline init with N = 2 samples: α + β = N_init = 1/(1 - 0.875) = 8 for every prompt
    torch.testing.assert_close(t.alpha + t.beta, torch.full((128,), 8.0))
    alpha, beta = t.alpha.clone(), t.beta.clone()
    before = params(algo)
    m = algo.step()
    b = algo.last_batch
    ids, r = b.pool_ids, b.rewards
    assert ids.unique().numel() == 64 and len(r) == 64  # one completion per distinct prompt
    # the advantage used p̂ from BEFORE this reward was folded in, normalised over the batch
    p_before = alpha[ids] / (alpha[ids] + beta[ids])
    torch.testing.assert_close(b.advantages, spo_advantages(r, p_before))
    assert m["frac_zero_advantage"] == 0.0
    # first visit: no stored response, drift 0, so ρ = ρ_max = 0.96
    torch.testing.assert_close(t.alpha[ids], 0.96 * alpha[ids] + r)
    torch.testing.assert_close(t.beta[ids], 0.96 * beta[ids] + 1 - r)
    assert m["spo/rho_mean"] == pytest.approx(0.96) and m["spo/drift_mean"] == 0.0
    assert int(t.visits.sum()) == 64 and t.memory_mask[ids].any(1).all()
    assert not torch.equal(before, params(algo))


def test_spo_revisits_measure_drift_and_forget_faster():
    algo = SPO(SPO_SMALL.replace(generation_batch_size=128), "addition")  # the whole pool
    algo.step()
    m = algo.step()  # every prompt revisited after one update
    assert m["spo/drift_mean"] > 0 and m["spo/rho_mean"] < 0.96
    assert (algo.tracker.visits == 2).all()


def test_spo_prioritised_sampling_prefers_uncertain_prompts():
    algo = SPO(SPO_SMALL, "addition")
    w = algo.tracker.sampling_weights()
    draws = torch.cat([algo.tracker.sample(32, torch.Generator().manual_seed(s))
                       for s in range(20)])
    assert w[draws].mean() > w.mean()


def test_spo_same_seed_same_numbers_and_state_round_trip():
    a, b = SPO(SPO_SMALL, "addition"), SPO(SPO_SMALL, "addition")
    assert [scalars(a.step()) for _ in range(2)] == [scalars(b.step()) for _ in range(2)]
    state = copy.deepcopy(a.state_dict())
    first = scalars(a.step())
    a.load_state_dict(state)
    assert scalars(a.step()) == first
