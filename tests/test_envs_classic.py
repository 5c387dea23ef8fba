"""polab's classic-control envs (polab/envs/classic/) against gymnasium 1.x, step for step.

The equivalence harness runs gymnasium's ``SyncVectorEnv`` (same-step auto-reset) of ``copies``
single environments next to polab's env with as many copies. Polab starts from gymnasium's
start states (``set_state``) and gets the same seeded random actions; whenever gymnasium resets
a copy, its new start state is copied into polab. Observations, final observations, rewards,
``terminated`` and ``truncated`` must agree within 1e-5 at every step, over > 10,000 steps per
environment, through terminations, time-limit truncations and resets.

Precision (measured with gymnasium 1.4.0 and torch 2.13):

* Gymnasium's internals are float64, so CartPole, Acrobot and Pendulum are compared with
  ``dtype=torch.float64``; the remaining gap is gymnasium's float32 observations (≤ 3e-7).
* Acrobot is chaotic: torch's vectorized cos/sin and NumPy's libm differ in the last bit for
  ~0.15% of arguments, and over an episode of several hundred steps the dynamics amplify that
  beyond 1e-5 even in float64. Its copies are therefore also re-synchronised every 100 steps
  (they are ≤ 3e-7 apart by then, bit-identical on ~99.5% of single steps).
* Pendulum: gymnasium evaluates ``3/(m l²)·u`` and ``0.001·u²`` in float32 because ``u`` is the
  float32 action (NumPy 2 promotion). Drawing actions on a 1/256 grid makes those products
  exact, so the comparison sees the dynamics, not that rounding.
* MountainCarContinuous: gymnasium stores the state as float32 after every step, so polab runs
  in float32 there.
* ``test_float32_matches_gymnasium_over_short_horizons``: the default float32 envs drift from
  gymnasium by float32 rounding, fastest for a pendulum near upright, where errors grow by
  ``exp(√(3g/2l)·dt)`` ≈ 1.2 a step (×50 in 20 steps: 3e-5 measured), so they are checked
  over 10-step horizons (re-synchronised every 10 steps).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from polab.envs import make, names
from polab.envs.classic import Acrobot, CartPole, ClassicControl, Pendulum, wrap

ENVS = ["CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0"]

# Start states for the first episode of the first copies, so rare events happen early: the
# Acrobot tip swinging above the bar, the car reaching the goal and hitting the left wall.
HOT_STARTS = {"Acrobot-v1": [[2.0, 0.0, 1.0, 0.0]],
              "MountainCarContinuous-v0": [[0.40, 0.05], [-1.19, -0.05]]}


def gym_states(genv: gym.vector.SyncVectorEnv, ids) -> np.ndarray:
    return np.stack([np.asarray(genv.envs[i].unwrapped.state, dtype=np.float64) for i in ids])


def random_actions(space: gym.Space, copies: int, rng: np.random.Generator,
                   grid: int | None) -> np.ndarray:
    """Uniform actions; continuous ones span 1.5× the bounds so that clipping is exercised."""
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, copies)
    a = rng.uniform(1.5 * space.low, 1.5 * space.high, (copies, *space.shape))
    return (np.round(a * grid) / grid if grid else a).astype(np.float32)


def run_against_gymnasium(name: str, dtype: torch.dtype, copies: int, steps: int,
                          resync_every: int | None = None, grid: int | None = None,
                          atol: float = 1e-5, rtol: float = 0.0, seed: int = 0,
                          sync_free_reset: bool = False) -> dict[str, int]:
    """Step gymnasium and polab side by side (see the module docstring); return counts of
    compared steps, terminations and truncations."""
    genv = gym.make_vec(name, num_envs=copies, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    genv.reset(seed=seed)
    hot = HOT_STARTS.get(name, [])
    for i, state in enumerate(hot):
        genv.envs[i].unwrapped.state = np.array(state)
    env = make(name, copies, seed=seed + 1, dtype=dtype)
    env.sync_free_reset = sync_free_reset
    all_ids = torch.arange(copies)
    env.set_state(gym_states(genv, range(copies)))

    def close(polab: torch.Tensor, gymnasium: np.ndarray, what: str) -> None:
        actual = polab.numpy()
        if not (np.abs(actual - gymnasium) <= atol + rtol * np.abs(gymnasium)).all():
            np.testing.assert_allclose(actual, gymnasium, atol=atol, rtol=rtol,
                                       err_msg=f"{name} {what} at step {t}")

    rng = np.random.default_rng(seed)
    counts = {"steps": 0, "terminated": 0, "truncated": 0}
    for t in range(steps):
        actions = random_actions(env.single_action_space, copies, rng, grid)
        obs, reward, terminated, truncated, info = genv.step(actions)
        p_obs, p_reward, p_terminated, p_truncated, p_info = env.step(torch.as_tensor(actions))
        assert np.array_equal(p_terminated.numpy(), terminated), f"{name} step {t}"
        assert np.array_equal(p_truncated.numpy(), truncated), f"{name} step {t}"
        done = terminated | truncated
        final_obs = obs.copy()
        final_obs[done] = np.stack(info["final_obs"][done]) if done.any() else final_obs[done]
        close(p_info["final_obs"], final_obs, "final_obs")
        close(p_reward, reward, "reward")
        resync = all_ids if resync_every and (t + 1) % resync_every == 0 else all_ids[done]
        if len(resync):
            p_obs = env.set_state(gym_states(genv, resync.tolist()), resync)
        close(p_obs, obs, "obs")
        counts["steps"] += copies
        counts["terminated"] += int(terminated.sum())
        counts["truncated"] += int(truncated.sum())
    return counts


EQUIVALENCE = {  # name: (dtype, copies, steps, resync_every, action grid); steps > time limit
    "CartPole-v1": (torch.float64, 32, 320, None, None),
    "Acrobot-v1": (torch.float64, 20, 512, 100, None),
    "Pendulum-v1": (torch.float64, 50, 205, None, 256),
    "MountainCarContinuous-v0": (torch.float32, 10, 1000, None, None),
}


@pytest.mark.parametrize("name", ENVS)
def test_matches_gymnasium_step_for_step(name):
    dtype, copies, steps, resync_every, grid = EQUIVALENCE[name]
    counts = run_against_gymnasium(name, dtype, copies, steps, resync_every, grid)
    assert counts["steps"] >= 10_000
    if name != "Pendulum-v1":  # Pendulum never terminates
        assert counts["terminated"] > 0
    if name != "CartPole-v1":  # random CartPole never lasts 500 steps (see the test below)
        assert counts["truncated"] > 0


@pytest.mark.parametrize("name", ENVS)
def test_float32_matches_gymnasium_over_short_horizons(name):
    counts = run_against_gymnasium(name, torch.float32, 8, 100, resync_every=10, rtol=1e-5)
    assert counts["steps"] == 800


@pytest.mark.parametrize("name, copies, steps, grid", [("CartPole-v1", 16, 100, None),
                                                      ("Pendulum-v1", 8, 205, 256)])
def test_sync_free_reset_path_matches_gymnasium(name, copies, steps, grid):
    """The accelerator path of the auto-reset (no host sync), forced on the CPU, through
    terminations (CartPole) and a time limit (Pendulum)."""
    counts = run_against_gymnasium(name, torch.float64, copies, steps, grid=grid,
                                   sync_free_reset=True)
    assert counts["terminated" if name == "CartPole-v1" else "truncated"] > 0


def test_cartpole_truncates_at_500_steps_with_final_obs():
    """Hold the pole upright with ``set_state`` so only the time limit can end the episode."""
    env = CartPole(4, seed=0, dtype=torch.float64)
    gym_env = gym.make("CartPole-v1").unwrapped
    gym_env.reset(seed=0)
    push_right = torch.ones(4, dtype=torch.long)
    for t in range(1, 501):
        env.set_state(torch.zeros(4, 4))
        obs, reward, terminated, truncated, info = env.step(push_right)
        assert not terminated.any()
        assert bool(truncated.all()) == (t == 500), t
        assert torch.equal(reward, torch.ones(4, dtype=torch.float64))
    gym_env.state = np.zeros(4)
    expected_final, *_ = gym_env.step(1)
    np.testing.assert_allclose(info["final_obs"].numpy(), np.tile(expected_final, (4, 1)),
                               atol=1e-7)
    assert obs.abs().max() <= 0.05 and not torch.equal(obs, info["final_obs"])  # reset
    assert (env.elapsed == 0).all()
    _, _, _, truncated, info = env.step(push_right)
    assert not truncated.any() and torch.equal(info["final_obs"], env._observe())


@pytest.mark.parametrize("name", ENVS)
def test_same_seed_same_trajectory(name):
    def trajectory(seed: int) -> list[torch.Tensor]:
        env = make(name, 8, seed=seed)
        gen = torch.Generator().manual_seed(0)
        out = [env.reset(seed=seed)]
        for _ in range(100):
            space = env.single_action_space
            action = (torch.randint(0, space.n, (8,), generator=gen)
                      if isinstance(space, gym.spaces.Discrete)
                      else torch.rand(8, 1, generator=gen) * 2 - 1)
            obs, reward, terminated, truncated, info = env.step(action)
            out += [obs, reward, terminated, truncated, info["final_obs"]]
        return out

    first, again, other = trajectory(3), trajectory(3), trajectory(4)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize("name", ENVS)
def test_spaces_and_time_limit_are_gymnasiums(name):
    env, reference = make(name, 2), gym.make(name)
    assert env.name == name
    assert env.single_observation_space == reference.observation_space
    assert env.single_action_space == reference.action_space
    assert env.max_episode_steps == reference.spec.max_episode_steps
    obs = env.reset(seed=0)
    assert obs.shape == (2, env.obs_dim) and obs.dtype == torch.float32
    assert all(o in env.single_observation_space for o in obs.numpy())


def test_state_access_and_devices():
    env = Pendulum(5, seed=0, dtype=torch.float64)
    assert env.device == torch.device("cpu") and env.generator.device == env.device
    state = env.get_state()
    obs = env.set_state([[0.0, 1.0], [math.pi / 2, -1.0]], index=[1, 3])
    assert torch.equal(env.get_state()[[0, 2, 4]], state[[0, 2, 4]])
    assert torch.equal(obs[1], torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(obs[3], torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64),
                          atol=1e-15, rtol=0)
    state[0, 0] = 100.0  # get_state returns a copy
    assert env.get_state()[0, 0] != 100.0


def test_rewards_and_clipping_by_hand():
    pendulum = Pendulum(1, dtype=torch.float64)
    pendulum.set_state([[0.5, 1.0]])
    _, reward, *_ = pendulum.step(torch.tensor([[5.0]]))  # torque clipped to 2
    assert reward.item() == pytest.approx(-(0.5**2 + 0.1 * 1.0 + 0.001 * 4.0))
    assert pendulum.get_state()[0, 1].item() == pytest.approx(1.0 + (15 * math.sin(0.5) + 6.0)
                                                              * 0.05)
    car = make("MountainCarContinuous-v0", 1, dtype=torch.float64)
    car.set_state([[0.44, 0.07]])
    _, reward, terminated, _, info = car.step(torch.tensor([[3.0]]))  # reward: unclipped action
    assert terminated.item() and reward.item() == pytest.approx(100.0 - 0.9)
    assert info["final_obs"][0, 0].item() == pytest.approx(0.51)
    acrobot = Acrobot(1, dtype=torch.float64)
    acrobot.set_state([[0.0, 0.0, 0.0, 0.0]])
    _, reward, terminated, *_ = acrobot.step(torch.tensor([1]))
    assert reward.item() == -1.0 and not terminated.item()


@pytest.mark.parametrize("name", ENVS)
def test_step_leaves_the_action_alone(name):
    env = make(name, 3, seed=0)
    action = torch.ones(3) if env.is_discrete else torch.full((3, 1), 0.5)
    env.step(action)
    assert torch.equal(action, torch.ones(3) if env.is_discrete else torch.full((3, 1), 0.5))


def test_wrap_matches_gymnasiums_loop():
    from gymnasium.envs.classic_control.acrobot import wrap as gym_wrap
    x = torch.tensor([-20.0, -math.pi - 0.1, -math.pi, 0.3, math.pi, math.pi + 1e-9, 7.0, 40.0],
                     dtype=torch.float64)
    expected = torch.tensor([gym_wrap(v, -math.pi, math.pi) for v in x.tolist()], dtype=x.dtype)
    assert torch.allclose(wrap(x, -math.pi, math.pi), expected, atol=1e-12, rtol=0)


def test_make_registry_and_errors():
    assert set(ENVS) <= set(names())
    env = make("Acrobot-v1", 3, device="cpu", seed=1, dtype=torch.float64)
    assert isinstance(env, ClassicControl) and env.num_envs == 3
    assert env.reset().dtype == torch.float64
    with pytest.raises(ValueError, match="NoSuchEnv-v0") as err:
        make("NoSuchEnv-v0", 2)
    assert all(known in str(err.value) for known in ENVS)


@pytest.mark.parametrize("name", ["CartPole-v1", "gym:CartPole-v1"])
@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "4", None])
def test_make_refuses_num_envs_below_one_or_not_an_int(name, bad):
    with pytest.raises(ValueError, match=r"num_envs=.*expected an int ≥ 1"):
        make(name, bad)


@pytest.mark.parametrize("bad", [0, -1])
def test_batched_env_itself_refuses_num_envs_below_one(bad):
    with pytest.raises(ValueError, match=rf"num_envs={bad}: expected an int ≥ 1"):
        CartPole(bad)
    env = CartPole(2)
    with pytest.raises(ValueError, match="num_envs"):
        env.num_envs = bad


def test_numpy_int_num_envs_is_accepted():
    env = make("CartPole-v1", np.int64(3), seed=0)
    assert env.num_envs == 3 and type(env.num_envs) is int and env.reset().shape == (3, 4)


def test_pendulum_physics_per_copy_matches_one_setting_each():
    """Per-copy mass/length/gravity/gain step each copy as a pendulum built with that
    setting alone would (chapter 11's uncertainty grids), and bad values are named."""
    mass, length = torch.tensor([0.7, 1.0, 1.3]), torch.tensor([1.3, 1.0, 0.7])
    gravity, gain = torch.tensor([10.0, 15.0, 10.0]), torch.tensor([1.0, 1.0, 0.5])
    batch = Pendulum(3, seed=0, mass=mass, length=length, gravity=gravity, gain=gain)
    start = batch.get_state()
    action = torch.tensor([[1.5], [-2.0], [2.0]])
    obs, reward, *_ = batch.step(action)
    for i in range(3):
        one = Pendulum(1, seed=0, mass=float(mass[i]), length=float(length[i]),
                       gravity=float(gravity[i]), gain=float(gain[i]))
        one.set_state(start[i:i + 1])
        o, r, *_ = one.step(action[i:i + 1])
        assert torch.allclose(o, obs[i:i + 1]) and torch.allclose(r, reward[i:i + 1])
    heavy = Pendulum(1, seed=0, mass=2.0)
    heavy.set_state(start[:1])
    default = Pendulum(1, seed=0)
    default.set_state(start[:1])
    assert not torch.equal(heavy.step(action[:1])[0], default.step(action[:1])[0])
    with pytest.raises(ValueError, match="mass"):
        Pendulum(2, mass=-1.0)
    with pytest.raises(ValueError, match="gain: a tensor must hold 2"):
        Pendulum(2, gain=torch.ones(3))
    with pytest.raises(ValueError, match="no parameter 'friction'"):
        batch.set_physics(friction=0.1)


def test_auto_reset_states_come_from_the_reset_box_across_pool_refills():
    """One CartPole copy through ~180 episodes: the pool of start states (64 rows for N = 1)
    is redrawn twice, and every new episode starts inside gymnasium's reset box."""
    env = make("CartPole-v1", 1, seed=0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    starts = 0
    for _ in range(4000):
        obs, _, terminated, truncated, _ = env.step(torch.randint(0, env.action_dim, (1,),
                                                                  generator=gen))
        if terminated | truncated:
            starts += 1
            assert (env.get_state().abs() <= 0.05).all() and (env.elapsed == 0).all()
            assert torch.equal(obs, env._observe())
    assert starts > 2 * 64


@pytest.mark.parametrize("name", [*ENVS, "PointMass-v0"])
def test_reset_and_step_outside_inference_mode_after_steps_inside_it(name):
    """Offline datasets are collected under ``torch.inference_mode``; the same env is reset
    and stepped outside it afterwards."""
    env = make(name, 4, seed=0)
    action = (torch.zeros(4, dtype=torch.long) if env.is_discrete
              else torch.zeros(4, env.action_dim))
    with torch.inference_mode():
        for _ in range(30):
            env.step(action)
    env.reset(seed=1)
    for _ in range(30):
        obs, *_ = env.step(action)
    assert not obs.is_inference()
