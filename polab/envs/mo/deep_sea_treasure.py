"""Deep Sea Treasure, batched: MO-Gymnasium's ``deep-sea-treasure-v0`` (Yang et al. 2019 map,
``map_name="convex"``) and ``deep-sea-treasure-concave-v0`` (Vamplew et al. 2018 values,
``map_name="concave"``): 11x11 grid, objectives (treasure, -1 per step), 100-step limit
(chapter 09, ../shared/cards/04_cmorl.md). tests/test_mo_gymnasium_parity.py checks it against
MO-Gymnasium's.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from polab.envs.mo.base import MOBatchedEnv
from polab.envs.mo.metrics import pareto_front

_S = -10.0  # sea floor: not enterable
DST_SIZE = 11

DST_TREASURES: tuple[tuple[int, int, float, float], ...] = (
    # (row, col, convex value, concave value): MO-Gymnasium's DEFAULT_MAP, "as in Yang et al.
    # (2019)", which it calls "convex", and its CONCAVE_MAP, "as in Vamplew et al. (2018)" (the
    # original treasure values). Both maps have the same shape.
    (1, 0, 0.7, 1.0), (2, 1, 8.2, 2.0), (3, 2, 11.5, 3.0), (4, 3, 14.0, 5.0),
    (4, 4, 15.1, 8.0), (4, 5, 16.1, 16.0), (7, 6, 19.6, 24.0), (7, 7, 20.3, 50.0),
    (9, 8, 22.4, 74.0), (10, 9, 23.7, 124.0),
)
"""The treasures of both DST maps. Column ``col`` holds one treasure at ``row``; the cells below
it are sea floor (column 10 is open water to the bottom)."""

_VALUE_COLUMN = {"convex": 2, "concave": 3}


def _dst_map(map_name: str) -> tuple[tuple[float, ...], ...]:
    """The ``DST_SIZE x DST_SIZE`` map: treasure values, 0 for water, ``-10`` for sea floor."""
    grid = [[0.0] * DST_SIZE for _ in range(DST_SIZE)]
    for treasure in DST_TREASURES:
        row, col, value = treasure[0], treasure[1], treasure[_VALUE_COLUMN[map_name]]
        grid[row][col] = value
        for below in range(row + 1, DST_SIZE):
            grid[below][col] = _S
    return tuple(tuple(r) for r in grid)


def _dst_front(map_name: str) -> tuple[tuple[float, float], ...]:
    """Returns ``(treasure, -steps)``: every treasure is reached in ``row + col`` steps (the
    sea floor is a staircase, so the shortest path is the Manhattan one), and a deeper
    treasure is worth more, so each one is Pareto-optimal (MO-Gymnasium's CONVEX_FRONT and
    CONCAVE_FRONT; :func:`dst_front_by_enumeration` checks it)."""
    return tuple((t[_VALUE_COLUMN[map_name]], float(-(t[0] + t[1]))) for t in DST_TREASURES)


DST_MAPS: dict[str, tuple[tuple[float, ...], ...]] = {n: _dst_map(n) for n in _VALUE_COLUMN}
DST_FRONTS: dict[str, tuple[tuple[float, float], ...]] = {n: _dst_front(n)
                                                          for n in _VALUE_COLUMN}


class DeepSeaTreasure(MOBatchedEnv):
    """MO-Gymnasium's ``DeepSeaTreasure`` (mo_gymnasium/envs/deep_sea_treasure), batched.

    A submarine starts at the top-left cell (0, 0) of an 11x11 grid. Actions 0, 1, 2, 3 move
    up, down, left, right; a move off the grid or into the sea floor (-10 cells) leaves it in
    place. Every step gives the reward ``(treasure, -1)``: ``treasure`` is the value of the
    cell entered (0 on water), and reaching a treasure terminates. 100-step limit (the
    ``max_episode_steps`` of MO-Gymnasium's registration).

    Observations are a one-hot of the cell (121 values) rather than MO-Gymnasium's integer
    ``(row, col)``: the same information, but a small MLP then behaves like a table.

    Reference point ``(0, -25)``: MORL-Baselines' DST experiments (``ref_point=[0, -25]``);
    every treasure-reaching policy dominates it.
    """

    reward_dim = 2
    objective_names = ("treasure", "time")
    max_episode_steps = 100
    size = DST_SIZE
    single_observation_space = gym.spaces.Box(0.0, 1.0, (size * size,), np.float32)
    single_action_space = gym.spaces.Discrete(4)
    reference_point = (0.0, -25.0)
    reference_source = "MORL-Baselines' Deep Sea Treasure experiments (ref_point=[0, -25])"

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, map_name: str = "concave"):
        if map_name not in DST_MAPS:
            raise ValueError(f"map_name={map_name!r}: expected one of {sorted(DST_MAPS)}")
        self.map_name = map_name
        self.name = "deep-sea-treasure-concave-v0" if map_name == "concave" \
            else "deep-sea-treasure-v0"
        self._setup(num_envs, device)
        self.sea_map = torch.tensor(DST_MAPS[map_name], dtype=torch.float32, device=self.device)
        self._moves = torch.tensor([[-1, 0], [1, 0], [0, -1], [0, 1]], device=self.device)
        self.reset(seed)

    def known_front(self) -> np.ndarray:
        return np.array(DST_FRONTS[self.map_name], dtype=np.float64)

    def copy_kwargs(self) -> dict[str, Any]:
        return {"map_name": self.map_name}

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """The start cell for every copy (the environment is deterministic: ``seed`` unused)."""
        self.pos = torch.zeros((self.num_envs, 2), dtype=torch.long, device=self.device)
        self.elapsed.zero_()
        return self._observe()

    def _observe(self) -> torch.Tensor:
        cell = self.pos[:, 0] * self.size + self.pos[:, 1]
        return torch.nn.functional.one_hot(cell, self.size * self.size).float()

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        nxt = self.pos + self._moves[torch.as_tensor(action, device=self.device).long()]
        inside = ((nxt >= 0) & (nxt < self.size)).all(1)
        clamped = nxt.clamp(0, self.size - 1)
        valid = inside & (self.sea_map[clamped[:, 0], clamped[:, 1]] != _S)
        self.pos = torch.where(valid[:, None], nxt, self.pos)
        treasure = self.sea_map[self.pos[:, 0], self.pos[:, 1]]
        terminated = treasure > 0
        reward = torch.stack((treasure, torch.full_like(treasure, -1.0)), 1)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        final_obs = self._observe()
        done = terminated | truncated
        self.pos = self.pos.masked_fill(done[:, None], 0)
        self.elapsed.masked_fill_(done, 0)
        return self._observe(), reward, terminated, truncated, {"final_obs": final_obs}


def dst_front_by_enumeration(map_name: str) -> np.ndarray:
    """The Pareto front of a DST map by exact enumeration: for every treasure cell, the fewest
    steps to reach it without crossing another treasure or the sea floor (breadth-first search
    from the start), giving the return ``(value, -steps)``; then the non-dominated ones."""
    grid = np.array(DST_MAPS[map_name])
    size = grid.shape[0]
    dist = {(0, 0): 0}
    frontier = [(0, 0)]
    while frontier:
        nxt = []
        for r, c in frontier:
            if grid[r, c] > 0:  # a treasure ends the episode
                continue
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                cell = (r + dr, c + dc)
                if (0 <= cell[0] < size and 0 <= cell[1] < size and grid[cell] != _S
                        and cell not in dist):
                    dist[cell] = dist[(r, c)] + 1
                    nxt.append(cell)
        frontier = nxt
    returns = np.array([(grid[cell], -d) for cell, d in dist.items() if grid[cell] > 0])
    return pareto_front(returns)


