"""Multi-objective environments: true fronts by exact enumeration, transitions by hand."""

import numpy as np
import torch

from polab.envs.mo.deep_sea_treasure import DST_FRONTS, DeepSeaTreasure, dst_front_by_enumeration
from polab.envs.mo.energy_runner import EnergyRunner
from polab.envs.mo.fruit_tree import FruitTree, fruit_tree_front_by_enumeration
from polab.envs.mo.metrics import pareto_mask
from polab.envs.mo.registry import make_mo

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


def test_dst_fronts_by_enumeration():
    for name in ("convex", "concave"):
        enumerated = dst_front_by_enumeration(name)
        assert sorted(map(tuple, enumerated.tolist())) == sorted(DST_FRONTS[name])


def test_dst_transitions_by_hand():
    env = DeepSeaTreasure(3, map_name="concave")
    env.reset()
    # copy 0 bumps the top wall, copy 1 finds the first treasure, copy 2 moves right
    obs, r, term, trunc, info = env.step(torch.tensor([UP, DOWN, RIGHT]))
    assert r.tolist() == [[0, -1], [1, -1], [0, -1]]
    assert term.tolist() == [False, True, False] and not trunc.any()
    assert obs[1].argmax() == 0 and info["final_obs"][1].argmax() == 11  # reset vs (1, 0)
    assert obs[0].argmax() == 0 and obs[2].argmax() == 1
    # the sea floor blocks: from (1, 1) down is (2, 1), a treasure of 2 after 3 steps
    env.reset()
    total = torch.zeros(3, 2)
    for a in (RIGHT, DOWN, DOWN):
        _, r, term, _, _ = env.step(torch.tensor([a, a, LEFT]))
        total += r
    assert total[0].tolist() == [2.0, -3.0] and term[0]


def test_dst_optimal_paths_reach_the_front_and_time_limit():
    env = DeepSeaTreasure(2, map_name="convex")
    env.reset()
    # (4, 5) holds 16.1 after 9 steps: 5 right, 4 down; copy 1 pushes left for 100 steps
    plan = [RIGHT] * 5 + [DOWN] * 4
    total = torch.zeros(2, 2)
    for a in plan:
        _, r, term, trunc, _ = env.step(torch.tensor([a, LEFT]))
        total += r
    assert torch.allclose(total[0], torch.tensor([16.1, -9.0])) and term[0]
    for _ in range(100 - len(plan)):
        _, _, term, trunc, _ = env.step(torch.tensor([UP, LEFT]))
    assert trunc[1] and not term[1]


def test_fruit_tree_front_by_enumeration():
    for k in (3, 6):
        env = FruitTree(1, objectives=k)
        front = fruit_tree_front_by_enumeration(env)
        fruits = env.known_front()
        assert front.shape == (32, k)
        assert sorted(map(tuple, front.round(5).tolist())) == \
            sorted(map(tuple, fruits.round(5).tolist()))
        assert pareto_mask(fruits).all()


def test_fruit_tree_episode():
    env = FruitTree(2, objectives=3)
    env.reset()
    for t in range(5):
        _, r, term, trunc, _ = env.step(torch.tensor([1, 0]))
        assert term.tolist() == [t == 4] * 2 and not trunc.any()
    assert torch.allclose(r[0], env.fruits[31]) and torch.allclose(r[1], env.fruits[0])


def test_energy_runner_front_is_reached_by_its_plans():
    env = EnergyRunner(3)
    env.reset()
    steps = np.arange(50)
    c = 1 - 0.8 ** (50 - steps)
    plans = np.stack([np.ones(50), np.minimum(1, 0.5 * c), np.zeros(50)])
    total = torch.zeros(3, 2)
    for t in range(50):
        _, r, _, trunc, info = env.step(torch.tensor(plans[:, t:t + 1], dtype=torch.float32))
        total += r
    assert trunc.all()
    expected = np.stack([(plans * c).sum(1), -(plans**2).sum(1)], 1)
    assert np.allclose(total.numpy(), expected, atol=1e-3)
    front = env.known_front()
    assert pareto_mask(front).all()
    assert np.allclose(front[-1], expected[0], atol=1e-3)


def test_make_mo_and_reference_points():
    for name in ("deep-sea-treasure-v0", "deep-sea-treasure-concave-v0", "fruit-tree-v0",
                 "fruit-tree-3d", "energy-runner"):
        env = make_mo(name, 4)
        assert len(env.reference_point) == env.reward_dim and env.reference_source
        _, r, _, _, _ = env.step(torch.zeros((4, 1)) if name == "energy-runner"
                                 else torch.zeros(4, dtype=torch.long))
        assert r.shape == (4, env.reward_dim)
        front = env.known_front()
        assert (front >= np.array(env.reference_point)).all()
        assert (front[1:-1] > np.array(env.reference_point)).all()  # runner: ends on it
