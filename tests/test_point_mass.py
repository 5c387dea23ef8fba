"""PointMass-v0 (polab.envs.point_mass): the dynamics on a hand case, termination at the goal
apart from truncation at 100 steps, per-copy physics, bad parameters named."""

import pytest
import torch

from polab.envs import make
from polab.envs.point_mass import PointMass


def test_one_step_by_hand():
    env = PointMass(2, seed=0, friction=torch.tensor([1.0, 0.5]), gain=2.0)
    env.set_state(torch.tensor([[0.0, 0.0, 0.2, -0.1], [0.9, -0.5, 1.0, 0.0]]))
    obs, reward, terminated, truncated, _ = env.step(torch.tensor([[1.0, 3.0], [1.0, 0.0]]))
    # copy 0: v' = v + 0.1 (2 a - 1 v), a clipped to (1, 1); p' = p + 0.1 v'
    v0 = torch.tensor([0.2 + 0.1 * (2 - 0.2), -0.1 + 0.1 * (2 + 0.1)])
    p0 = 0.1 * v0
    # copy 1: friction 0.5; x runs into the wall at 1 → clipped, vx zeroed
    v1y = 0.0
    expected = torch.stack((torch.cat((p0, v0)), torch.tensor([1.0, -0.5, 0.0, v1y])))
    torch.testing.assert_close(obs, expected)
    goal = torch.tensor([0.5, 0.5])
    torch.testing.assert_close(reward, -torch.linalg.vector_norm(expected[:, :2] - goal, dim=1))
    assert not terminated.any() and not truncated.any()


def test_goal_terminates_with_a_bonus_and_the_time_limit_truncates():
    env = make("PointMass-v0", 2, seed=0)
    env.set_state(torch.tensor([[0.5, 0.45, 0.0, 0.0], [-1.0, -1.0, 0.0, 0.0]]))
    _, reward, terminated, truncated, info = env.step(torch.zeros(2, 2))
    assert terminated.tolist() == [True, False] and not truncated.any()
    assert reward[0] == pytest.approx(10.0 - 0.05)
    torch.testing.assert_close(info["final_obs"][0], torch.tensor([0.5, 0.45, 0.0, 0.0]))
    env.set_state(torch.tensor([[-1.0, -1.0, 0.0, 0.0]] * 2))
    for _ in range(98):  # copy 1 has taken 1 step, copy 0 restarted its clock on reaching
        _, _, terminated, truncated, _ = env.step(torch.zeros(2, 2))
        assert not terminated.any() and not truncated.any()
    _, _, terminated, truncated, _ = env.step(torch.zeros(2, 2))
    assert truncated.tolist() == [False, True] and not terminated.any()


def test_reset_is_seeded_and_at_rest():
    a, b = make("PointMass-v0", 5, seed=3), make("PointMass-v0", 5, seed=3)
    torch.testing.assert_close(a.get_state(), b.get_state())
    assert (a.get_state()[:, 2:] == 0).all() and (a.get_state()[:, :2].abs() <= 1).all()


@pytest.mark.parametrize(("kwargs", "word"), [({"friction": -0.1}, "friction"),
                                              ({"gain": 0.0}, "gain"),
                                              ({"gain": torch.ones(3)}, "gain"),
                                              ({"mass": 1.0}, "mass")])
def test_bad_parameters_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        PointMass(2).set_physics(**kwargs)
