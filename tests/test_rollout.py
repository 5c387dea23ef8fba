"""EpisodeTracker by hand: episode returns and lengths across rollout boundaries, with and
without a validity mask (polab.core.rollout)."""

import torch

from polab.core.rollout import EpisodeTracker, Rollout


def rollout(rewards: list[list[float]], terminated: list[list[bool]],
            truncated: list[list[bool]] | None = None) -> Rollout:
    r = torch.tensor(rewards)
    term = torch.tensor(terminated)
    trunc = torch.zeros_like(term) if truncated is None else torch.tensor(truncated)
    return Rollout(r, r, r, r, term, trunc, r)  # only rewards and the end flags are read


def test_episodes_are_recorded_in_time_order_and_carry_across_rollouts():
    tracker = EpisodeTracker(2, torch.device("cpu"))
    # copy 0 ends after steps 1 (terminated) and 3 (truncated); copy 1 never ends here
    tracker.update(rollout([[1, 10], [2, 20], [3, 30], [4, 40]],
                           [[False, False], [True, False], [False, False], [False, False]],
                           [[False, False], [False, False], [False, False], [True, False]]))
    assert list(tracker.recent_returns) == [3.0, 7.0]
    assert list(tracker.recent_lengths) == [2.0, 2.0]
    assert tracker.ret.tolist() == [0.0, 100.0] and tracker.len.tolist() == [0.0, 4.0]
    # copy 1's episode ends in the next rollout: its return includes what it carried in
    tracker.update(rollout([[5, 50], [6, 60]], [[False, True], [True, False]]))
    assert list(tracker.recent_returns) == [3.0, 7.0, 150.0, 11.0]
    assert list(tracker.recent_lengths) == [2.0, 2.0, 5.0, 2.0]
    assert tracker.episodes == 4
    assert tracker.metrics()["charts/episodic_return"] == (3 + 7 + 150 + 11) / 4


def test_steps_outside_the_mask_count_for_nothing():
    """REINFORCE's mask: after a copy's first episode its steps are not part of the batch."""
    tracker = EpisodeTracker(1, torch.device("cpu"))
    valid = torch.tensor([[True], [True], [False], [False]])
    tracker.update(rollout([[1], [1], [1], [1]], [[False], [True], [False], [True]]), valid)
    assert list(tracker.recent_returns) == [2.0] and list(tracker.recent_lengths) == [2.0]
    assert tracker.ret.tolist() == [0.0] and tracker.len.tolist() == [0.0]
