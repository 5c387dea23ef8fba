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


# --- dataset qualities from the shipped actors (polab.algos.offline.actors) -----------------

from polab.algos.offline import actors  # noqa: E402
from polab.algos.offline.datasets import (  # noqa: E402
    QUALITIES,
    complete_returns,
    make_dataset,
    to_minari,
)


def _score(env, data):
    ref = actors.references(env)
    returns = complete_returns(data, actors.horizon(env))
    return float(normalized_score(returns.mean(), ref["random"], ref["expert"]))


@pytest.mark.parametrize("env", ["point-mass", "pendulum"])
def test_random_scores_0_and_expert_100(env):
    n = 20_000
    assert abs(_score(env, make_dataset(env, "random", n, seed=1))) < 6
    assert abs(_score(env, make_dataset(env, "expert", n, seed=1)) - 100) < 6
    medium = _score(env, make_dataset(env, "medium", n, seed=1))
    assert 25 < medium < 60


def test_point_mass_qualities_end_episodes_and_keep_true_final_observations():
    for quality in QUALITIES:
        data = make_dataset("PointMass-v0", quality, 3000, seed=0)
        assert len(data) == 3000 and data.actions.shape == (3000, 2)
        assert not (data.terminations & data.truncations).any()
        assert data.actions.abs().max() <= 1
    data = make_dataset("point-mass", "expert", 3000, seed=0)
    assert data.terminations.any()  # reached the goal: terminal, not truncated
    # a terminal next observation is inside the goal disc, not the restart
    final = data.next_observations[data.terminations, :2]
    assert (torch.linalg.vector_norm(final - torch.tensor([0.5, 0.5]), dim=1) <= 0.1).all()
    # mixed = 70 % random rows first, then 30 % expert ones
    mixed = make_dataset("point-mass", "mixed", 1000, seed=0)
    assert mixed.terminations[:700].float().mean() < mixed.terminations[700:].float().mean()


def test_same_seed_same_data_and_sizes_in_budget():
    import time
    a = make_dataset("point-mass", "medium-replay", 2000, seed=4)
    b = make_dataset("point-mass", "medium-replay", 2000, seed=4)
    assert torch.equal(a.actions, b.actions)
    start = time.perf_counter()
    make_dataset("point-mass", "mixed", 20_000, seed=0)
    make_dataset("pendulum", "medium-replay", 50_000, seed=0)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize(("kwargs", "word"), [({"quality": "great"}, "quality"),
                                              ({"env": "CartPole-v1"}, "environment"),
                                              ({"n": 0}, "n=")])
def test_make_dataset_bad_input_is_named(kwargs, word):
    args = {"env": "point-mass", "quality": "random", "n": 100} | kwargs
    with pytest.raises(ValueError, match=word):
        make_dataset(**args)


def test_to_minari_round_trip(tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    data = make_dataset("point-mass", "expert", 500, seed=0)
    ref = actors.references("point-mass")
    made = to_minari(data, "polab/point-mass-expert-v0", ref_min_score=ref["random"],
                     ref_max_score=ref["expert"])
    loaded = minari.load_dataset("polab/point-mass-expert-v0")
    assert loaded.total_steps == 500 == made.total_steps
    episodes = list(loaded.iterate_episodes())
    assert sum(len(e.rewards) for e in episodes) == 500
    assert sum(int(e.terminations.sum()) for e in episodes) == int(data.terminations.sum())
    first = episodes[0]
    n = len(first.rewards)
    torch.testing.assert_close(torch.as_tensor(first.observations[-1]),
                               data.next_observations[n - 1])
