"""Offline datasets (issue 17): D4RL/Minari fields, terminations kept apart from truncations,
the true final next observation at a time limit, and D4RL's normalised score."""

import pytest
import torch

from polab.algos.offline.datasets import Dataset, collect, normalized_score
from polab.envs import make


def test_collect_keeps_true_final_observations_and_truncations():
    env = make("Pendulum-v1", 4, seed=0)  # 200-step limit, never terminates
    data = collect(env, lambda obs: torch.zeros(len(obs), 1), 4 * 201)
    assert len(data) == 804 and data.observations.shape == (804, 3)
    per_copy = data.truncations.view(4, 201)
    assert per_copy[:, 199].all() and per_copy.sum() == 4  # step 200 of each copy
    assert not data.terminations.any()
    # at the time limit the next observation is the final one, not the reset state
    final = data.next_observations.view(4, 201, 3)[:, 199]
    restart = data.observations.view(4, 201, 3)[:, 200]
    assert not torch.allclose(final, restart)
    # elsewhere next_observations is the next row's observation
    rows = data.next_observations.view(4, 201, 3)[:, :199]
    assert torch.equal(rows, data.observations.view(4, 201, 3)[:, 1:200])


def test_dataset_rows_sample_and_score():
    data = collect(make("Pendulum-v1", 2, seed=1), lambda o: torch.ones(len(o), 1), 10)
    assert len(data) == 10 and len(data.select(slice(0, 3))) == 3
    assert len(Dataset.concat([data, data])) == 20
    batch = data.sample(5, torch.Generator().manual_seed(0))
    assert batch.obs.shape == (5, 3) and batch.terminated.dtype == torch.bool
    assert normalized_score(torch.tensor([-1200.0, -150.0]), -1200.0, -150.0).tolist() == [
        0.0, 100.0]
    with pytest.raises(ValueError, match="rows of observations"):
        Dataset(data.observations, data.actions[:3], data.rewards, data.terminations,
                data.truncations, data.next_observations)
    with pytest.raises(ValueError, match="n=0"):
        collect(make("Pendulum-v1", 2), lambda o: torch.zeros(len(o), 1), 0)
