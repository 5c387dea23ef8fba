"""Group-relative advantages and SPO's tracker against hand-computed numbers.

Every expected value below is written out from the formula with plain arithmetic, never by
calling the function under test.
"""

import math

import pytest
import torch

from polab.algos.group.spo_tracker import SPOTracker
from polab.core.advantages import (
    as_groups,
    batch_normalized_advantages,
    frac_reward_zero_std,
    group_advantages,
    policy_drift,
    small_advantage_filter,
    spo_advantages,
    spo_forgetting,
    spo_offline_prior,
    spo_sampling_weights,
)

# three prompts, G = 4: a split group, a degenerate (all-correct) group, a graded group
REWARDS = torch.tensor([[0.0, 0.0, 1.0, 1.0],
                        [1.0, 1.0, 1.0, 1.0],
                        [1.0, 2.0, 3.0, 6.0]])
STD_A = math.sqrt(4 * 0.25 / 3)        # unbiased std of [0, 0, 1, 1]
STD_C = math.sqrt((4 + 1 + 0 + 9) / 3)  # of [1, 2, 3, 6], mean 3


def close(actual: torch.Tensor, expected: list, tol: float = 1e-6) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=actual.dtype),
                               atol=tol, rtol=0)


def test_group_scaling_uses_group_mean_and_unbiased_group_std_plus_1e4():
    adv = group_advantages(REWARDS, scale_rewards="group")
    a, c = 0.5 / (STD_A + 1e-4), 1.0 / (STD_C + 1e-4)
    close(adv, [[-a, -a, a, a], [0, 0, 0, 0], [-2 * c, -1 * c, 0, 3 * c]])


def test_flat_rewards_with_num_generations_keep_their_shape():
    flat = group_advantages(REWARDS.flatten(), num_generations=4)
    assert flat.shape == (12,)
    close(flat, group_advantages(REWARDS).flatten().tolist())


def test_batch_scaling_divides_by_the_std_of_all_rewards_but_centres_per_group():
    values = REWARDS.flatten().tolist()
    mean = sum(values) / 12
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 11)
    adv = group_advantages(REWARDS, scale_rewards="batch")
    s = std + 1e-4
    close(adv, [[-0.5 / s, -0.5 / s, 0.5 / s, 0.5 / s], [0, 0, 0, 0],
                [-2 / s, -1 / s, 0, 3 / s]])


def test_no_scaling_is_reward_minus_group_mean():
    close(group_advantages(REWARDS, scale_rewards="none"),
          [[-0.5, -0.5, 0.5, 0.5], [0, 0, 0, 0], [-2, -1, 0, 3]])


def test_leave_one_out_subtracts_the_mean_of_the_other_rewards():
    # group C: baselines (12 - r_i) / 3 = [11/3, 10/3, 3, 2]
    adv = group_advantages(REWARDS, scale_rewards="none", leave_one_out=True)
    close(adv, [[-2 / 3, -2 / 3, 2 / 3, 2 / 3], [0, 0, 0, 0],
                [1 - 11 / 3, 2 - 10 / 3, 0, 4]])


def test_leave_one_out_with_group_scaling():
    adv = group_advantages(REWARDS[2:], scale_rewards="group", leave_one_out=True)
    s = STD_C + 1e-4
    close(adv, [[(1 - 11 / 3) / s, (2 - 10 / 3) / s, 0, 4 / s]])


def test_groups_of_one_have_zero_std_and_zero_advantage():
    adv = group_advantages(torch.tensor([1.0, 0.0]), num_generations=1)
    close(adv, [0.0, 0.0])


def test_bad_shapes_and_options_are_rejected():
    with pytest.raises(ValueError, match="groups"):
        as_groups(torch.zeros(10), 4)
    with pytest.raises(ValueError, match="num_generations"):
        as_groups(torch.zeros(8))
    with pytest.raises(ValueError, match=">= 2"):
        group_advantages(torch.zeros(3), 1, leave_one_out=True)
    with pytest.raises(ValueError, match="scale_rewards"):
        group_advantages(REWARDS, scale_rewards="std")


def test_frac_reward_zero_std_counts_degenerate_groups():
    close(frac_reward_zero_std(REWARDS), 1 / 3)
    close(frac_reward_zero_std(torch.tensor([0.0, 0.0, 1.0, 0.0]), 2), 0.5)


def test_batch_normalization_reinforce_pp():
    # [0, 1, 2, 3]: mean 1.5, unbiased std sqrt(5/3)
    s = math.sqrt(5 / 3) + 1e-8
    close(batch_normalized_advantages(torch.tensor([[0.0, 1.0], [2.0, 3.0]])),
          [[-1.5 / s, -0.5 / s], [0.5 / s, 1.5 / s]])


def test_small_advantage_filter_drops_abs_below_threshold():
    adv = torch.tensor([0.5, -0.005, 0.0, -0.2, 0.01, 0.009])
    assert small_advantage_filter(adv, 0.01).tolist() == [True, False, False, True, True, False]
    # 3 survive; rounded up to a multiple of 2 keeps the next largest |A| (0.009)
    assert small_advantage_filter(adv, 0.01, multiple_of=2).tolist() == [
        True, False, False, True, True, True]
    # all-zero batch: the authors' code still keeps one rollout
    assert int(small_advantage_filter(torch.zeros(5), 0.01).sum()) == 1


# --- SPO ------------------------------------------------------------------------------------

def test_offline_prior():
    alpha, beta = spo_offline_prior(torch.tensor([0, 3, 8]), num_samples=8, rho_min=0.875)
    close(alpha, [8 * 0.5 / 9, 8 * 3.5 / 9, 8 * 8.5 / 9])  # N_init = 1 / (1 - 0.875) = 8
    close(beta, [8 * 8.5 / 9, 8 * 5.5 / 9, 8 * 0.5 / 9])
    alpha, beta = spo_offline_prior(torch.tensor([2]), num_samples=0)
    close(alpha, [0.5])
    close(beta, [0.5])


def test_forgetting_is_clipped_half_life():
    rho = spo_forgetting(torch.tensor([0.0, 0.005, 0.06, 1.0]))
    close(rho, [0.96, 2 ** (-0.005 / 0.06), 0.875, 0.875])


def test_policy_drift_is_masked_mean_abs_log_ratio_and_zero_when_empty():
    prev = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -1.0, -1.0]])
    cur = torch.tensor([[-1.5, -1.0, -9.0], [-2.0, -2.0, -2.0]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    close(policy_drift(prev, cur, mask), [(0.5 + 1.0) / 2, 0.0])


def test_sampling_weights():
    close(spo_sampling_weights(torch.tensor([0.5, 0.75, 0.0])),
          [0.5 + 0.05, math.sqrt(0.75 * 0.25) + 0.05, 0.05])


def test_spo_advantages_are_globally_normalised_residuals():
    a = [1 - 0.5, 0 - 0.5, 1 - 0.75]
    m = sum(a) / 3
    s = math.sqrt(sum((x - m) ** 2 for x in a) / 2) + 1e-8
    close(spo_advantages(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.5, 0.5, 0.75])),
          [(x - m) / s for x in a])


def make_tracker(memory_len: int = 3) -> SPOTracker:
    tracker = SPOTracker(3, memory_len=memory_len)
    tracker.alpha.copy_(torch.tensor([1.0, 3.0, 2.0]))
    tracker.beta.copy_(torch.tensor([1.0, 1.0, 2.0]))
    return tracker


def test_tracker_hand_case_advantage_before_update_then_kl_adaptive_update():
    tracker = make_tracker()
    ids, r = torch.tensor([2, 0, 1]), torch.tensor([1.0, 0.0, 1.0])
    # p̂ before the update: prompt 2 → 2/4, prompt 0 → 1/2, prompt 1 → 3/4
    resid = [1 - 0.5, 0 - 0.5, 1 - 0.75]
    m = sum(resid) / 3
    s = math.sqrt(sum((x - m) ** 2 for x in resid) / 2) + 1e-8
    adv = tracker.advantages(ids, r)
    close(adv, [(x - m) / s for x in resid])

    rho = tracker.update(ids, r, drift=torch.tensor([0.0, 0.06, 0.005]))
    rho1 = 2 ** (-0.005 / 0.06)
    close(rho, [0.96, 0.875, rho1])
    close(tracker.alpha, [0.875 * 1 + 0, rho1 * 3 + 1, 0.96 * 2 + 1])
    close(tracker.beta, [0.875 * 1 + 1, rho1 * 1 + 0, 0.96 * 2 + 0])
    assert tracker.visits.tolist() == [1, 1, 1]
    # had the update come first, the advantages would differ
    assert not torch.allclose(tracker.advantages(ids, r), adv)


def test_tracker_duplicates_decay_once_and_add_every_reward():
    tracker = SPOTracker(3, rho_mode="constant")
    tracker.update(torch.tensor([1, 1]), torch.tensor([1.0, 0.0]))
    close(tracker.alpha, [0.5, 0.875 * 0.5 + 1.0, 0.5])
    close(tracker.beta, [0.5, 0.875 * 0.5 + 1.0, 0.5])


def test_tracker_memory_gives_drift_on_the_previous_response():
    tracker = make_tracker()
    ids = torch.tensor([0, 2])
    tokens, mask = tracker.recall(ids)
    assert not mask.any()  # first visit: nothing stored, drift 0, rho = 0.96
    close(tracker.drift(ids, torch.zeros(2, 3)), [0.0, 0.0])
    close(tracker.forgetting(tracker.drift(ids, torch.zeros(2, 3))), [0.96, 0.96])

    tracker.remember(ids, torch.tensor([[5, 6], [7, 8]]), torch.tensor([[True, True],
                                                                        [True, False]]),
                     torch.tensor([[-1.0, -2.0], [-0.5, -9.0]]))
    tokens, mask = tracker.recall(torch.tensor([2, 1, 0]))
    assert tokens.tolist() == [[7, 8, 0], [0, 0, 0], [5, 6, 0]]
    assert mask.tolist() == [[True, False, False], [False] * 3, [True, True, False]]
    now = torch.tensor([[-1.2, -2.5, 0.0], [-1.0, -7.0, 0.0]])  # re-scored, rows for ids 0, 2
    close(tracker.drift(ids, now), [(0.2 + 0.5) / 2, 0.5])  # id 2: only its first token counts


def test_tracker_prioritised_sampling():
    tracker = SPOTracker(3, rho_mode="constant")
    tracker.alpha.copy_(torch.tensor([1.0, 1.0, 1e-9]))
    tracker.beta.copy_(torch.tensor([1.0, 1.0, 1.0]))  # p̂ = 0.5, 0.5, ~0
    gen = torch.Generator().manual_seed(0)
    ids = tracker.sample(30_000, gen)
    counts = torch.bincount(ids, minlength=3).float() / 30_000
    close(counts, [0.55 / 1.15, 0.55 / 1.15, 0.05 / 1.15], tol=0.01)
    # as many draws as candidates: a weighted permutation of them
    cand = torch.tensor([2, 0])
    assert sorted(tracker.sample(2, gen, candidates=cand).tolist()) == [0, 2]


def test_tracker_state_dict_round_trip_and_offline_init():
    tracker = make_tracker()
    tracker.init_offline(torch.tensor([0, 8, 4]), num_samples=8)
    close(tracker.p_hat(), [0.5 / 9, 8.5 / 9, 0.5])
    tracker.remember(torch.tensor([1]), torch.tensor([[3]]), torch.tensor([[True]]),
                     torch.tensor([[-0.25]]))
    clone = SPOTracker(3, memory_len=3)
    clone.load_state_dict(tracker.state_dict())
    for name, value in tracker.state_dict().items():
        assert torch.equal(getattr(clone, name), value), name


def test_tracker_rejects_kl_mode_without_memory():
    with pytest.raises(ValueError, match="memory_len"):
        SPOTracker(3)
    with pytest.raises(ValueError, match="drift"):
        make_tracker().update(torch.tensor([0]), torch.tensor([1.0]))
