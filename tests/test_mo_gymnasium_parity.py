"""polab's batched Deep Sea Treasure and Fruit-Tree against MO-Gymnasium's (the reference
implementations): the same Pareto fronts, and the same transitions — rewards, terminations,
truncations and positions — under the same random action sequences, auto-resets included.
Also: the MO-Gymnasium adapter trains with C-MORL and fails clearly on bad input."""

import numpy as np
import pytest
import torch

from polab.algos.morl.cmorl import CMORL
from polab.algos.morl.config import CMORLConfig
from polab.envs.mo.deep_sea_treasure import DeepSeaTreasure
from polab.envs.mo.fruit_tree import FruitTree
from polab.envs.mo.mo_gym import MOGymnasiumEnv, from_mo_gymnasium
from polab.envs.mo.registry import make_mo

DST = {"convex": "deep-sea-treasure-v0", "concave": "deep-sea-treasure-concave-v0"}


def same_points(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal point sets, up to float32 rounding (polab stores fruits as float32)."""
    a, b = (np.asarray(x, dtype=np.float64) for x in (a, b))
    a, b = (x[np.lexsort(x.T[::-1])] for x in (a, b))
    return a.shape == b.shape and np.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("map_name", sorted(DST))
def test_dst_fronts_match(map_name):
    ours = DeepSeaTreasure(1, map_name=map_name).known_front()
    theirs = from_mo_gymnasium(DST[map_name]).known_front()
    assert same_points(ours, theirs) and len(ours) == 10


def test_fruit_tree_front_matches():
    ours = FruitTree(1, objectives=6).known_front()
    theirs = from_mo_gymnasium("fruit-tree-v0", depth=5).known_front()
    assert same_points(ours, theirs) and len(ours) == 32


def run_both(ours, theirs, actions: np.ndarray, decode) -> int:
    """Step both with the same actions ``(T, N)``; compare every output. Returns episodes."""
    assert np.array_equal(decode(ours.reset(seed=0)), theirs.reset(seed=0).numpy())
    episodes = 0
    for a in actions:
        o1, r1, te1, tr1, i1 = ours.step(torch.as_tensor(a))
        o2, r2, te2, tr2, i2 = theirs.step(torch.as_tensor(a))
        assert torch.allclose(r1, r2, atol=1e-5), (r1, r2)
        assert torch.equal(te1, te2) and torch.equal(tr1, tr2)
        assert np.array_equal(decode(o1), o2.numpy())
        assert np.array_equal(decode(i1["final_obs"]), i2["final_obs"].numpy())
        episodes += int((te1 | tr1).sum())
    return episodes


def dst_cell(obs: torch.Tensor) -> np.ndarray:
    """polab's one-hot cell → MO-Gymnasium's ``(row, col)``."""
    cell = obs.argmax(1).numpy()
    return np.stack([cell // 11, cell % 11], 1).astype(np.float32)


@pytest.mark.parametrize("map_name", sorted(DST))
def test_dst_transitions_match(map_name):
    n, steps = 16, 1500
    rng = np.random.default_rng(0)
    # biased towards down/right so that deep treasures and the 100-step limit both occur
    actions = rng.choice(4, size=(steps, n), p=[0.15, 0.4, 0.15, 0.3])
    actions[:, :2] = 0  # two copies only bump the top wall: they hit the time limit
    episodes = run_both(DeepSeaTreasure(n, map_name=map_name),
                        MOGymnasiumEnv(DST[map_name], n), actions, dst_cell)
    assert episodes > 500


def test_fruit_tree_transitions_match():
    n, steps = 16, 500
    actions = np.random.default_rng(1).integers(0, 2, size=(steps, n))

    def node(obs: torch.Tensor) -> np.ndarray:  # one-hot node → (depth, position)
        k = obs.argmax(1).numpy() + 1
        depth = np.floor(np.log2(k)).astype(int)
        return np.stack([depth, k - 2 ** depth], 1).astype(np.float32)

    episodes = run_both(FruitTree(n, objectives=6), MOGymnasiumEnv("fruit-tree-v0", n, depth=5),
                        actions, node)
    assert episodes == n * steps // 5


def test_cmorl_trains_on_an_mo_gymnasium_env():
    cfg = CMORLConfig(env="mo-gym:deep-sea-treasure-v0", total_timesteps=6_000, num_envs=4,
                      num_steps=16, n_init_policies=3, num_select=1, ext_iters=2,
                      update_epochs=1, eval_every=2)
    algo = CMORL(cfg)
    assert isinstance(algo.env, MOGymnasiumEnv)
    for _ in range(cfg.num_iterations):
        rec = algo.step()
    assert 0 < algo.global_step <= cfg.total_timesteps
    assert algo.population_returns.shape[1] == 2 and rec["morl/hypervolume"] >= 0
    assert algo.true_front is not None and len(algo.true_front) == 10


def test_adapter_errors_name_the_problem():
    with pytest.raises(ValueError, match="reference_point"):
        make_mo("mo-gym:mo-mountaincarcontinuous-v0", 2)
    env = MOGymnasiumEnv("mo-mountaincarcontinuous-v0", 2, reference_point=(-1.0, -1.0))
    _, reward, *_ = env.step(torch.zeros(2, 1))
    assert reward.shape == (2, 2)
    with pytest.raises(ValueError, match="3 values"):
        MOGymnasiumEnv("deep-sea-treasure-v0", 1, reference_point=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="num_envs"):
        MOGymnasiumEnv("deep-sea-treasure-v0", 0)


def test_cmorl_trains_on_copies_of_the_env_it_was_given():
    env = MOGymnasiumEnv("fruit-tree-v0", 1, depth=5)  # MO-Gymnasium's default depth is 6
    cfg = CMORLConfig(env="fruit-tree-v0", total_timesteps=2_000, num_envs=4, num_steps=10,
                      n_init_policies=3, num_select=1, ext_iters=1, update_epochs=1)
    algo = CMORL(cfg, env=env)
    algo.step()
    assert algo.env.num_envs == 12 and algo.env.kwargs == {"depth": 5}
    assert algo.max_episode_steps == 7 and len(algo.true_front) == 32
