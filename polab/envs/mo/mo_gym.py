"""MO-Gymnasium environments as polab multi-objective environments (chapter 09,
../shared/cards/04_cmorl.md).

`MO-Gymnasium <https://mo-gymnasium.farama.org>`_ (Farama) is the reference library of
multi-objective RL environments. :class:`MOGymnasiumEnv` holds ``num_envs`` copies of one of
them and presents them as a :class:`~polab.envs.mo.base.MOBatchedEnv`: tensors in and
out, rewards ``(N, K)``, same-step auto-reset with ``info["final_obs"]``. MO-Gymnasium's own
vector env resets on the *next* step, and gymnasium's ``SyncVectorEnv`` stores scalar rewards,
so the copies are stepped here, one after another on the CPU: an adapter's cost, paid for
access to every MO-Gymnasium environment. polab's batched Deep Sea Treasure and Fruit-Tree are
tested against these (tests/test_mo_gymnasium_parity.py).

``make_mo("mo-gym:<id>", n)`` builds one; C-MORL and the baseline train on it like on polab's
own environments. A hypervolume reference point is needed: the ids in
:data:`MO_GYM_REFERENCE_POINTS` have one (with its source); any other id takes it as an
argument. Needs ``pip install mo-gymnasium`` (in polab's ``dev`` extra).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from polab.envs.mo.base import MOBatchedEnv

MO_GYM_PREFIX = "mo-gym:"

MO_GYM_REFERENCE_POINTS: dict[str, tuple[tuple[float, ...], str]] = {
    "deep-sea-treasure-v0": ((0.0, -25.0), "MORL-Baselines' DST experiments"),
    "deep-sea-treasure-concave-v0": ((0.0, -25.0), "MORL-Baselines' DST experiments"),
    "fruit-tree-v0": ((0.0,) * 6, "the origin, as in MORL-Baselines' fruit-tree experiments"),
}
"""Reference points of the MO-Gymnasium environments polab knows, and where they come from."""

_EPISODE_BOUNDS = {"fruit-tree-v0": 7}
"""Episode-length bounds of known environments without a time limit (Fruit-Tree ends at a leaf;
MO-Gymnasium's depths go up to 7)."""


def _import_mo_gymnasium() -> Any:
    try:
        import mo_gymnasium
    except ImportError as err:  # pragma: no cover - exercised only without the package
        raise ImportError("MO-Gymnasium environments need the mo-gymnasium package: "
                          "pip install mo-gymnasium (it is in polab's dev extra)") from err
    return mo_gymnasium


class MOGymnasiumEnv(MOBatchedEnv):
    """``num_envs`` copies of the MO-Gymnasium environment ``env_id`` (``kwargs`` go to
    ``mo_gymnasium.make``), stepped in turn with same-step auto-reset.

    Observations are the environment's own (cast to ``float32``); actions are ``Discrete`` or
    ``Box``. ``reset(seed)`` seeds copy ``i`` with ``seed + i``. ``max_episode_steps`` (a bound
    on an episode's length, which C-MORL's evaluation needs) is the registration's time limit,
    else the argument, else a known bound. ``known_front()`` is MO-Gymnasium's
    ``pareto_front(gamma=1)`` where the environment has one.
    """

    def __init__(self, env_id: str, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, reference_point: tuple[float, ...] | None = None,
                 max_episode_steps: int | None = None, **kwargs: Any):
        mo_gymnasium = _import_mo_gymnasium()
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}: expected at least 1")
        self.envs = [mo_gymnasium.make(env_id, **kwargs) for _ in range(num_envs)]
        first = self.envs[0]
        self.name = MO_GYM_PREFIX + env_id
        self.env_id, self.kwargs = env_id, kwargs
        obs_space, act_space = first.observation_space, first.action_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"{env_id}: polab needs a Box observation space, got {obs_space}")
        if not isinstance(act_space, gym.spaces.Box | gym.spaces.Discrete):
            raise ValueError(f"{env_id}: polab's algorithms handle Discrete and Box actions, "
                             f"got {act_space}")
        self.reward_dim = int(first.unwrapped.reward_space.shape[0])
        self.objective_names = tuple(f"objective {i + 1}" for i in range(self.reward_dim))
        if reference_point is None:
            if env_id not in MO_GYM_REFERENCE_POINTS:
                raise ValueError(f"{env_id}: no known hypervolume reference point; pass "
                                 f"reference_point=(...) with {self.reward_dim} values")
            reference_point, self.reference_source = MO_GYM_REFERENCE_POINTS[env_id]
        else:
            self.reference_source = "given by the caller"
        if len(reference_point) != self.reward_dim:
            raise ValueError(f"reference_point has {len(reference_point)} values, {env_id} "
                             f"has {self.reward_dim} objectives")
        self.reference_point = tuple(float(x) for x in reference_point)
        limit = first.spec.max_episode_steps if first.spec is not None else None
        self.max_episode_steps = (limit if limit is not None else max_episode_steps
                                  or _EPISODE_BOUNDS.get(env_id))
        if self.max_episode_steps is None:
            raise ValueError(f"{env_id} has no time limit; pass max_episode_steps=...")
        self.single_observation_space = gym.spaces.Box(
            obs_space.low.astype(np.float32), obs_space.high.astype(np.float32), obs_space.shape,
            np.float32)
        self.single_action_space = act_space
        self._setup(num_envs, device)
        self.reset(seed)

    def known_front(self) -> np.ndarray | None:
        front = getattr(self.envs[0].unwrapped, "pareto_front", None)
        return None if front is None else np.asarray(front(gamma=1.0), dtype=np.float64)

    def copies(self, num_envs: int) -> MOGymnasiumEnv:
        return MOGymnasiumEnv(self.env_id, num_envs, self.device,
                              reference_point=self.reference_point,
                              max_episode_steps=self.max_episode_steps, **self.kwargs)

    def _tensor(self, x: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.tensor(np.asarray(x), dtype=dtype, device=self.device)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Reset every copy (copy ``i`` with ``seed + i`` when ``seed`` is given)."""
        obs = [env.reset(seed=None if seed is None else seed + i)[0]
               for i, env in enumerate(self.envs)]
        self.elapsed.zero_()
        return self._tensor(np.stack(obs))

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        space = self.single_action_space
        actions = torch.as_tensor(action).detach().cpu().numpy()
        actions = actions.astype(space.dtype, copy=False).reshape(self.num_envs, *space.shape)
        obs, final_obs, rewards, terminated, truncated = [], [], [], [], []
        for env, a in zip(self.envs, actions, strict=True):  # an adapter: one env at a time
            o, r, term, trunc, _ = env.step(a)
            final_obs.append(o)
            if term or trunc:
                o, _ = env.reset()
            obs.append(o)
            rewards.append(r)
            terminated.append(term)
            truncated.append(trunc)
        done = self._tensor(np.array(terminated) | np.array(truncated), torch.bool)
        self.elapsed += 1
        self.elapsed.masked_fill_(done, 0)
        return (self._tensor(np.stack(obs)), self._tensor(np.stack(rewards)),
                self._tensor(terminated, torch.bool), self._tensor(truncated, torch.bool),
                {"final_obs": self._tensor(np.stack(final_obs))})

    def __repr__(self) -> str:
        return f"MOGymnasiumEnv({self.name[len(MO_GYM_PREFIX):]!r}, num_envs={self.num_envs})"


def from_mo_gymnasium(env_id: str, num_envs: int = 1, device: str | torch.device | None = None,
                      seed: int | None = None, **kwargs: Any) -> MOGymnasiumEnv:
    """``num_envs`` copies of MO-Gymnasium's ``env_id`` as a polab multi-objective env."""
    return MOGymnasiumEnv(env_id, num_envs, device=device, seed=seed, **kwargs)
