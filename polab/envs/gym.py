"""Adapters between polab's batched torch environments and gymnasium's vector environments.

* ``to_gymnasium(env)``: a polab env as a ``gymnasium.vector.VectorEnv`` (NumPy in and out),
  for gymnasium wrappers and any library that speaks gymnasium's vector API;
* ``from_gymnasium(venv_or_id, ...)``: any gymnasium vector env as a polab ``BatchedEnv``
  (torch tensors out, NumPy into gymnasium), so polab's algorithms train on it;
* ``check_vector_env(venv)``: gymnasium 1.x checks single environments (``check_env``), not
  vector ones; this runs gymnasium's own checkers that accept a vector env and adds the
  vector and same-step auto-reset contracts.

Both adapters use gymnasium's ``AutoresetMode.SAME_STEP`` (polab's convention, see
:mod:`polab.envs.base`): when copy ``i`` ends, ``obs[i]`` already starts the next episode and
gymnasium reports the last observation as ``info["final_obs"][i]`` (an object array, ``None``
where nothing ended) with the mask ``info["_final_obs"]``; polab reports it as the tensor
``info["final_obs"]`` filled for every copy. Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.utils.env_checker import (
    check_reset_options,
    check_reset_return_type,
    data_equivalence,
)
from gymnasium.utils.passive_env_checker import (
    check_action_space,
    check_observation_space,
    data_shares_objects,
    env_reset_passive_checker,
)
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from polab.envs.base import BatchedEnv


class PolabVectorEnv(VectorEnv):
    """A polab ``BatchedEnv`` seen as a gymnasium vector env with same-step auto-reset."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env: BatchedEnv):
        self.env = env
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.observation_space = batch_space(env.single_observation_space, env.num_envs)
        self.action_space = batch_space(env.single_action_space, env.num_envs)

    def _numpy_obs(self, obs: torch.Tensor) -> np.ndarray:
        return obs.cpu().numpy().astype(self.single_observation_space.dtype)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)  # seeds self.np_random, as every gymnasium env does
        return self._numpy_obs(self.env.reset(seed=seed)), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray, dict[str, Any]]:
        action = torch.as_tensor(np.asarray(actions), device=self.env.device)
        obs, reward, terminated, truncated, info = self.env.step(action)
        terminated, truncated = terminated.cpu().numpy(), truncated.cpu().numpy()
        done = terminated | truncated
        infos: dict[str, Any] = {}
        if done.any():  # SyncVectorEnv's SAME_STEP layout: per-copy objects plus masks
            ended = np.flatnonzero(done)
            final_obs = np.full(self.num_envs, None, dtype=object)
            final_obs[ended] = [*self._numpy_obs(info["final_obs"][torch.as_tensor(ended)])]
            infos = {"final_obs": final_obs, "_final_obs": done,
                     "final_info": {}, "_final_info": done.copy()}
        return (self._numpy_obs(obs), reward.cpu().numpy().astype(np.float64),
                terminated, truncated, infos)

    def __repr__(self) -> str:
        return f"PolabVectorEnv({self.env!r})"


def to_gymnasium(env: BatchedEnv) -> PolabVectorEnv:
    """Expose ``env`` as a gymnasium vector env (``metadata["autoreset_mode"] = SAME_STEP``)."""
    return PolabVectorEnv(env)


class GymnasiumEnv(BatchedEnv):
    """A gymnasium vector env with same-step auto-reset, seen as a polab ``BatchedEnv``.

    Gymnasium steps on the CPU with NumPy; actions go there with ``.cpu().numpy()`` and
    results come back as tensors on ``device`` (observations and rewards in ``dtype``).
    ``info`` holds gymnasium's own keys plus the tensor ``final_obs`` for every copy.
    """

    def __init__(self, venv: VectorEnv, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32):
        mode = venv.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"polab needs a vector env with same-step auto-reset, {venv} has "
                f"autoreset_mode={mode}; create it with gymnasium.make_vec(id, vector_kwargs="
                "{'autoreset_mode': gymnasium.vector.AutoresetMode.SAME_STEP}) or pass the id")
        if not isinstance(venv.single_observation_space, gym.spaces.Box):
            raise ValueError(f"polab needs a Box observation space, got "
                             f"{venv.single_observation_space}")
        if not isinstance(venv.single_action_space, gym.spaces.Box | gym.spaces.Discrete):
            raise ValueError(f"polab's algorithms handle Discrete and Box actions, got "
                             f"{venv.single_action_space}")
        self.venv = venv
        self.name = venv.spec.id if venv.spec is not None else type(venv).__name__
        self.num_envs = venv.num_envs
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.dtype = dtype
        self.single_observation_space = venv.single_observation_space
        self.single_action_space = venv.single_action_space
        self.max_episode_steps = getattr(venv.spec, "max_episode_steps", None)
        self.reset(seed)

    def _tensor(self, x: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        # a copy: a vector env made with copy=False reuses its arrays
        return torch.tensor(x, dtype=dtype or self.dtype, device=self.device)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        obs, _ = self.venv.reset(seed=seed)
        return self._tensor(obs)

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        space = self.venv.action_space
        actions = torch.as_tensor(action).detach().cpu().numpy()
        actions = actions.astype(space.dtype, copy=False).reshape(space.shape)
        obs, reward, terminated, truncated, info = self.venv.step(actions)
        info = dict(info)
        final_obs = obs.copy()
        ended = info.pop("_final_obs", np.zeros(self.num_envs, dtype=bool))
        if ended.any():
            final_obs[ended] = np.stack(info["final_obs"][ended])
        info["final_obs"] = self._tensor(final_obs)
        return (self._tensor(obs), self._tensor(reward), self._tensor(terminated, torch.bool),
                self._tensor(truncated, torch.bool), info)


def from_gymnasium(env: VectorEnv | str, num_envs: int | None = None,
                   device: str | torch.device | None = None, seed: int | None = None,
                   dtype: torch.dtype = torch.float32,
                   vectorization_mode: str = "sync") -> GymnasiumEnv:
    """Wrap a gymnasium vector env, or ``gymnasium.make_vec(id, num_envs or 1,
    vectorization_mode)`` with same-step auto-reset, as a polab ``BatchedEnv``."""
    if isinstance(env, str):
        env = gym.make_vec(env, num_envs=num_envs or 1, vectorization_mode=vectorization_mode,
                           vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    elif not isinstance(env, VectorEnv):
        raise ValueError(f"expected a gymnasium VectorEnv or an environment id, got {env!r}")
    elif num_envs is not None and num_envs != env.num_envs:
        raise ValueError(f"num_envs={num_envs} but {env} has {env.num_envs} copies")
    return GymnasiumEnv(env, device=device, seed=seed, dtype=dtype)


def check_vector_env(venv: VectorEnv, seed: int = 123, num_steps: int = 100) -> None:
    """Raise ``AssertionError`` unless ``venv`` follows gymnasium's vector API.

    Spaces (gymnasium's ``check_*_space``, batched spaces = ``batch_space`` of the single
    ones); reset (gymnasium's ``check_reset_return_type``, ``check_reset_options``,
    ``env_reset_passive_checker``, and the observation half of ``check_reset_seed_determinism``,
    whose other half inspects ``env.np_random``, which gymnasium's own ``SyncVectorEnv``
    leaves unseeded as it seeds its sub-environments instead); then two seeded rollouts of
    ``num_steps`` random actions must agree exactly, every step must return batched arrays
    of the right types inside the spaces with no data shared between calls, and in
    SAME_STEP mode ``info["final_obs"]`` must hold a valid observation exactly where a copy
    ended (the layout of gymnasium's ``SyncVectorEnv``).
    """
    n = venv.num_envs
    for space, check in ((venv.single_observation_space, check_observation_space),
                         (venv.single_action_space, check_action_space)):
        check(space)
    assert venv.observation_space == batch_space(venv.single_observation_space, n)
    assert venv.action_space == batch_space(venv.single_action_space, n)
    mode = venv.metadata.get("autoreset_mode")
    assert isinstance(mode, AutoresetMode), f"metadata['autoreset_mode'] is {mode!r}"

    check_reset_return_type(venv)
    check_reset_options(venv)
    seeded = [venv.reset(seed=s)[0] for _ in range(2) for s in (seed, None)]
    assert data_equivalence(seeded[0], seeded[2], exact=True), "reset(seed) not reproducible"
    assert data_equivalence(seeded[1], seeded[3], exact=True), "reset() after reset(seed) differs"
    assert all(obs in venv.observation_space for obs in seeded), "reset obs outside the space"
    env_reset_passive_checker(venv)

    first, second = (_checked_rollout(venv, seed, num_steps) for _ in range(2))
    assert data_equivalence(first, second, exact=True), "same seed and actions, other results"


def _checked_rollout(venv: VectorEnv, seed: int, num_steps: int) -> list[Any]:
    venv.action_space.seed(seed)
    obs, info = venv.reset(seed=seed)
    record: list[Any] = [(obs, None, None, None, info)]  # laid out like a step's results
    for _ in range(num_steps):
        result = venv.step(venv.action_space.sample())
        obs, reward, terminated, truncated, info = result
        assert obs in venv.observation_space, "step observation outside observation_space"
        for name, value, kind in (("reward", reward, np.floating),
                                  ("terminated", terminated, np.bool_),
                                  ("truncated", truncated, np.bool_)):
            assert isinstance(value, np.ndarray) and value.shape == (venv.num_envs,), name
            assert np.issubdtype(value.dtype, kind), f"{name} has dtype {value.dtype}"
        assert isinstance(info, dict)
        assert not data_shares_objects(result, record[-1]), "step returned data it had returned"
        if venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            done = terminated | truncated
            mask = info.get("_final_obs", np.zeros(venv.num_envs, dtype=bool))
            assert np.array_equal(mask, done), "info['_final_obs'] must mark the ended copies"
            for ended, final in zip(mask, info.get("final_obs", [None] * venv.num_envs),
                                    strict=True):
                assert (final in venv.single_observation_space) if ended else final is None
        record.append(result)
    return record
