"""The gymnasium adapters (polab/envs/gym.py): polab envs as gymnasium vector envs pass
gymnasium's checks, gymnasium vector envs work as polab envs, and the round trip is exact."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from polab.envs import make, names
from polab.envs.gym import (
    GymnasiumEnv,
    PolabVectorEnv,
    check_vector_env,
    from_gymnasium,
    to_gymnasium,
)

ENVS = ["CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0"]


def same_step_sync(name: str, num_envs: int) -> gym.vector.SyncVectorEnv:
    return gym.make_vec(name, num_envs=num_envs, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})


def random_actions(env, steps: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    space, n = env.single_action_space, env.num_envs
    if isinstance(space, gym.spaces.Discrete):
        return [torch.randint(0, space.n, (n,), generator=gen) for _ in range(steps)]
    return [torch.rand(n, 1, generator=gen) * 2 - 1 for _ in range(steps)]


@pytest.mark.parametrize("name", ENVS)
def test_polab_env_passes_gymnasium_checks(name):
    venv = to_gymnasium(make(name, 3, seed=0))
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    check_vector_env(venv, num_steps=210 if name == "Pendulum-v1" else 100)  # past its limit


def test_checker_accepts_gymnasiums_own_vector_envs():
    check_vector_env(same_step_sync("CartPole-v1", 3))
    check_vector_env(gym.make_vec("CartPole-v1", 3, vectorization_mode="vector_entry_point"))


class _DropsFinalObs(PolabVectorEnv):
    def step(self, actions):
        *result, info = super().step(actions)
        return (*result, {})


class _UnseededReset(PolabVectorEnv):
    def reset(self, *, seed=None, options=None):
        return super().reset(seed=None, options=options)


@pytest.mark.parametrize("broken", [_DropsFinalObs, _UnseededReset])
def test_checker_rejects_broken_envs(broken):
    with pytest.raises(AssertionError):
        check_vector_env(broken(make("CartPole-v1", 3, seed=0)))


def test_info_layout_is_sync_vector_envs():
    """A step where copy 0 ends: same info keys, masks and final observations as gymnasium."""
    genv = same_step_sync("CartPole-v1", 2)
    genv.reset(seed=0)
    env = make("CartPole-v1", 2, seed=0, dtype=torch.float64)
    about_to_fall = np.array([[0.0, 0.0, 0.2, 2.0], [0.0, 0.0, 0.0, 0.0]])
    env.set_state(about_to_fall)
    for sub, state in zip(genv.envs, about_to_fall, strict=True):
        sub.unwrapped.state = state.copy()
    ours = to_gymnasium(env).step(np.array([1, 1]))
    theirs = genv.step(np.array([1, 1]))
    info, expected = ours[-1], theirs[-1]
    assert info.keys() == expected.keys() == {"final_obs", "_final_obs", "final_info",
                                              "_final_info"}
    for key in ("_final_obs", "_final_info"):
        assert info[key].dtype == expected[key].dtype
        assert np.array_equal(info[key], expected[key])
    assert info["final_obs"][1] is None and expected["final_obs"][1] is None
    np.testing.assert_allclose(info["final_obs"][0], expected["final_obs"][0], atol=1e-7)
    np.testing.assert_allclose(ours[1], theirs[1])
    for ours_flag, theirs_flag in zip(ours[2:4], theirs[2:4], strict=True):
        assert np.array_equal(ours_flag, theirs_flag)


def test_gymnasium_wrappers_see_same_step_episodes():
    venv = RecordEpisodeStatistics(to_gymnasium(make("Pendulum-v1", 4, seed=0)))
    venv.reset(seed=0)
    returns = np.zeros(4)
    for t in range(1, 201):
        _, reward, _, truncated, info = venv.step(venv.action_space.sample())
        returns += reward
        assert truncated.all() == (t == 200) and ("episode" in info) == (t == 200)
    assert np.array_equal(info["episode"]["l"], np.full(4, 200))
    np.testing.assert_allclose(info["episode"]["r"], returns, rtol=1e-6)


@pytest.mark.parametrize("name", ENVS)
def test_round_trip_reproduces_trajectories(name):
    direct = make(name, 4, seed=7)
    round_trip = from_gymnasium(to_gymnasium(make(name, 4)), seed=7)
    assert round_trip.single_observation_space == direct.single_observation_space
    assert round_trip.single_action_space == direct.single_action_space
    assert torch.equal(round_trip.reset(seed=7), direct.reset(seed=7))
    for action in random_actions(direct, 120):
        a, b = direct.step(action), round_trip.step(action)
        for x, y in zip(a[:4], b[:4], strict=True):
            assert torch.equal(x, y)
        assert torch.equal(a[4]["final_obs"], b[4]["final_obs"])


def test_from_gymnasium_wraps_gymnasium_envs():
    env = from_gymnasium("CartPole-v1", num_envs=3, seed=0)
    reference = same_step_sync("CartPole-v1", 3)
    ref_obs, _ = reference.reset(seed=0)
    assert isinstance(env, GymnasiumEnv) and env.max_episode_steps == 500
    assert torch.equal(env.reset(seed=0), torch.as_tensor(ref_obs))
    ended = 0
    for action in random_actions(env, 60):
        obs, reward, terminated, truncated, info = env.step(action)
        r_obs, r_reward, r_term, r_trunc, r_info = reference.step(action.numpy())
        assert torch.equal(obs, torch.as_tensor(r_obs))
        assert reward.dtype == torch.float32 and terminated.dtype == torch.bool
        assert np.array_equal(terminated.numpy(), r_term)
        done = r_term | r_trunc
        final = torch.as_tensor(np.stack([r_info["final_obs"][i] if d else r_obs[i]
                                          for i, d in enumerate(done)]))
        assert torch.equal(info["final_obs"], final)
        ended += int(done.sum())
    assert ended > 0


def test_from_gymnasium_continuous_and_via_make():
    env = make("gym:Pendulum-v1", 2, seed=0)
    assert isinstance(env, GymnasiumEnv) and not env.is_discrete and env.action_dim == 1
    obs, reward, *_ = env.step(torch.zeros(2, 1))
    assert obs.shape == (2, 3) and reward.shape == (2,)
    assert "gym:<id>" in str(pytest.raises(ValueError, make, "Nope-v0", 1).value)
    assert "gym:Pendulum-v1" not in names()


def test_from_gymnasium_rejects_what_it_cannot_handle():
    with pytest.raises(ValueError, match="SAME_STEP"):
        from_gymnasium(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"))
    with pytest.raises(ValueError, match="num_envs=3"):
        from_gymnasium(same_step_sync("CartPole-v1", 2), num_envs=3)
    with pytest.raises(ValueError, match="VectorEnv"):
        from_gymnasium(gym.make("CartPole-v1"))
