"""Multi-objective batched environments: vector rewards ``(N, K)`` (chapter 09, card 4).

Same conventions as :class:`polab.envs.base.BatchedEnv` (batched torch tensors on any device,
same-step auto-reset with ``info["final_obs"]``, ``terminated`` and ``truncated`` apart), except
that ``step`` returns a reward *vector* per copy, shape ``(N, reward_dim)``. Because of that
these environments are not in ``polab.envs``' registry (its algorithms expect scalar rewards);
build them directly or with :func:`make_mo`.

* :class:`DeepSeaTreasure` — MO-Gymnasium's ``deep-sea-treasure-v0`` (Yang et al. 2019 map,
  ``map_name="convex"``) and ``deep-sea-treasure-concave-v0`` (Vamplew et al. 2018 values,
  ``map_name="concave"``): 11x11 grid, objectives (treasure, -1 per step), 100-step limit.
* :class:`FruitTree` — MO-Gymnasium's ``fruit-tree-v0`` at depth 5 (6 nutrients, its table of
  32 fruits), or a 3-objective variant whose 32 fruits lie on the positive octant of a sphere
  of radius 10 (every fruit Pareto-optimal, the front concave).
* :class:`EnergyRunner` — a continuous 1-D runner: speed vs energy, both to be maximised.

``make_mo("mo-gym:<id>", n)`` wraps any MO-Gymnasium environment instead
(:mod:`polab.envs.mo.mo_gym`);
tests/test_mo_gymnasium_parity.py checks that polab's DST and Fruit-Tree match MO-Gymnasium's.

Each env states a fixed hypervolume reference point (``reference_point``) and where it comes
from (``reference_source``); ``known_front()`` returns the true Pareto front where it is known
(undiscounted returns). Taught in notebooks/09_multi_objective.ipynb.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from polab.envs.base import BatchedEnv


class MOBatchedEnv(BatchedEnv):
    """A :class:`BatchedEnv` whose ``step`` returns rewards ``(N, reward_dim)``."""

    reward_dim: int
    objective_names: tuple[str, ...]
    reference_point: tuple[float, ...]
    reference_source: str

    def known_front(self) -> np.ndarray | None:
        """The true Pareto front of undiscounted returns ``(F, reward_dim)``, if known."""
        return None

    def copies(self, num_envs: int) -> MOBatchedEnv:
        """``num_envs`` fresh copies of this environment, on its device, built as it was."""
        return make_mo(self.name, num_envs, self.device)

    def _setup(self, num_envs: int, device: str | torch.device | None) -> None:
        self.num_envs = num_envs
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.single_observation_space = copy.deepcopy(self.single_observation_space)
        self.single_action_space = copy.deepcopy(self.single_action_space)
        self.elapsed = torch.zeros(num_envs, dtype=torch.int32, device=self.device)


# --- Deep Sea Treasure -------------------------------------------------------------------

_S = -10.0  # sea floor: not enterable
DST_MAPS: dict[str, tuple[tuple[float, ...], ...]] = {
    # MO-Gymnasium DEFAULT_MAP, "as in Yang et al. (2019)"; MO-Gymnasium calls it "convex"
    "convex": (
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (0.7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (_S, 8.2, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (_S, _S, 11.5, 0, 0, 0, 0, 0, 0, 0, 0),
        (_S, _S, _S, 14.0, 15.1, 16.1, 0, 0, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, 0, 0, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, 0, 0, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, 19.6, 20.3, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, _S, _S, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, _S, _S, 22.4, 0, 0),
        (_S, _S, _S, _S, _S, _S, _S, _S, _S, 23.7, 0),
    ),
    # MO-Gymnasium CONCAVE_MAP, "as in Vamplew et al. (2018)": the original treasure values
    "concave": (
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (_S, 2.0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (_S, _S, 3.0, 0, 0, 0, 0, 0, 0, 0, 0),
        (_S, _S, _S, 5.0, 8.0, 16.0, 0, 0, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, 0, 0, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, 0, 0, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, 24.0, 50.0, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, _S, _S, 0, 0, 0),
        (_S, _S, _S, _S, _S, _S, _S, _S, 74.0, 0, 0),
        (_S, _S, _S, _S, _S, _S, _S, _S, _S, 124.0, 0),
    ),
}
DST_FRONTS: dict[str, tuple[tuple[float, float], ...]] = {
    # MO-Gymnasium's CONVEX_FRONT and CONCAVE_FRONT (treasure, -steps)
    "convex": ((0.7, -1), (8.2, -3), (11.5, -5), (14.0, -7), (15.1, -8), (16.1, -9),
               (19.6, -13), (20.3, -14), (22.4, -17), (23.7, -19)),
    "concave": ((1.0, -1), (2.0, -3), (3.0, -5), (5.0, -7), (8.0, -8), (16.0, -9),
                (24.0, -13), (50.0, -14), (74.0, -17), (124.0, -19)),
}


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
    size = 11
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
    from polab.envs.mo.metrics import pareto_front

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


# --- Fruit Tree --------------------------------------------------------------------------

FRUITS_5 = (
    (3.67917966, 0.38835143, 8.09989551, 2.86026356, 3.24527031, 1.41124976),
    (7.49190652, 0.86177565, 0.26446419, 6.40116659, 1.13497678, 0.89198211),
    (3.14072363, 8.1320309, 3.56036928, 2.95551047, 0.38337821, 1.56450569),
    (0.03085158, 4.25364725, 3.34139266, 4.67838906, 1.98970378, 6.70032708),
    (4.02109647, 4.65093134, 5.52044309, 0.41989912, 5.07013412, 2.41697202),
    (2.96104264, 6.42797292, 4.00884559, 2.28915409, 0.82767172, 5.28368061),
    (3.95849765, 4.90714693, 3.91729584, 2.69024104, 6.08226306, 0.82077889),
    (0.74185053, 1.02527749, 5.89640728, 5.80289307, 2.44397849, 4.89737136),
    (4.2850684, 0.09305206, 7.94851261, 1.77192616, 2.93208106, 2.59111093),
    (5.93102382, 4.12666154, 0.77446586, 4.31927672, 5.33551751, 0.26443358),
    (1.05416268, 2.2897475, 1.46517302, 2.79084328, 9.0996314, 0.95234852),
    (0.79064992, 0.57247091, 4.45310153, 6.54823417, 6.00440567, 0.53364626),
    (4.35145246, 0.63842407, 0.7493827, 1.11659248, 7.71912589, 4.38907945),
    (2.44514113, 3.33980397, 2.63961606, 1.86832856, 8.08225336, 2.66194486),
    (6.66924742, 3.12365865, 5.35457136, 1.0395009, 0.1690967, 3.99791261),
    (4.45750971, 3.52046079, 3.30278422, 3.47142192, 4.12997745, 5.26508267),
    (1.70141153, 6.84591866, 0.69367176, 1.01722498, 6.77031075, 1.69869412),
    (1.61886242, 1.17208561, 0.89685985, 3.80015468, 8.79718107, 1.83563934),
    (2.36047279, 2.6207669, 7.50292079, 0.53373023, 5.49537505, 0.88425889),
    (0.52087376, 3.04167888, 0.13469428, 7.33280189, 2.69762123, 5.42324568),
    (4.85800708, 1.07551152, 0.44983357, 3.87424429, 5.7594417, 5.18263972),
    (3.51780254, 1.44977209, 2.26423569, 6.76102431, 5.18387135, 2.79508338),
    (0.92487495, 0.88767274, 2.25049907, 2.94454564, 2.46602119, 8.86229586),
    (0.91807423, 2.21441185, 3.17003378, 8.38445357, 1.6293076, 3.35420641),
    (1.00725144, 3.13922254, 5.11333093, 2.46965818, 6.66930986, 3.52216804),
    (1.89889027, 4.26005076, 3.8055043, 2.601719, 2.73103432, 7.03824055),
    (4.57737545, 1.06276164, 4.19723485, 6.86155259, 2.25429762, 2.85282836),
    (1.23346934, 1.23694538, 9.64358056, 0.16691509, 0.29485875, 1.95833379),
    (1.51947586, 8.43245754, 4.84809716, 0.58788756, 0.37534243, 1.61068716),
    (3.8159377, 2.93304432, 0.41425422, 5.33636409, 1.0104518, 6.8677849),
    (5.85626898, 4.80785389, 1.58310642, 3.48908773, 2.29308951, 4.7592474),
    (4.24912001, 6.97078189, 4.74298955, 1.38027302, 0.67165641, 2.91563942),
)
"""MO-Gymnasium's ``FRUITS["5"]`` (mo_gymnasium/envs/fruit_tree/fruit_tree.py): the 32 fruits
of the depth-5 tree, six nutrients each (protein, carbs, fats, vitamins, minerals, water)."""


def sphere_fruits(count: int = 32, radius: float = 10.0) -> tuple[tuple[float, ...], ...]:
    """``count`` points on the positive octant of a sphere (a golden-angle spiral, equal-area
    in the height ``z``): mutually non-dominated, so every fruit is Pareto-optimal and the front
    is concave — the 3-objective fruits of the card's miniature."""
    golden = math.pi * (3 - math.sqrt(5))
    out = []
    for i in range(count):
        z = (i + 0.5) / count
        phi = ((i + 0.5) * golden) % (math.pi / 2)
        rho = math.sqrt(1 - z * z)
        out.append(tuple(round(radius * v, 6) for v in (rho * math.cos(phi),
                                                        rho * math.sin(phi), z)))
    return tuple(out)


class FruitTree(MOBatchedEnv):
    """MO-Gymnasium's ``FruitTreeEnv`` (fruit-tree-v0) at depth 5, batched.

    A full binary tree: start at the root, action 0 goes to the left child, 1 to the right;
    after ``depth`` steps a leaf is reached, its fruit is the (only) reward and the episode
    terminates. ``objectives=6`` uses MO-Gymnasium's fruits; ``objectives=3`` the fruits of
    :func:`sphere_fruits`. Every fruit is Pareto-optimal, so the known front is the fruit table
    (undiscounted; MO-Gymnasium's ``pareto_front(gamma)`` scales it by ``gamma**(depth-1)``).

    Observations: a one-hot of the node (``2**(depth+1) - 1`` values) instead of MO-Gymnasium's
    integer ``(row, position)``. Reference point: the origin (MORL-Baselines' fruit-tree
    experiments use ``ref_point = zeros``); every fruit has positive nutrients.
    """

    depth = 5
    max_episode_steps = depth
    single_action_space = gym.spaces.Discrete(2)
    single_observation_space = gym.spaces.Box(0.0, 1.0, (2 ** (depth + 1) - 1,), np.float32)
    reference_source = "the origin, as in MORL-Baselines' fruit-tree experiments"

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, objectives: int = 3):
        if objectives not in (3, 6):
            raise ValueError(f"objectives={objectives}: expected 3 (sphere fruits) or 6 "
                             "(MO-Gymnasium's)")
        self.reward_dim = objectives
        self.name = "fruit-tree-v0" if objectives == 6 else "fruit-tree-3d"
        self.objective_names = (("protein", "carbs", "fats", "vitamins", "minerals", "water")
                                if objectives == 6 else ("fruit 1", "fruit 2", "fruit 3"))
        self.reference_point = (0.0,) * objectives
        self._setup(num_envs, device)
        table = FRUITS_5 if objectives == 6 else sphere_fruits(2 ** self.depth)
        self.fruits = torch.tensor(table, dtype=torch.float32, device=self.device)
        self.reset(seed)

    def known_front(self) -> np.ndarray:
        return self.fruits.cpu().double().numpy()

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """The root for every copy (deterministic: ``seed`` unused)."""
        self.row = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self.col = torch.zeros_like(self.row)
        self.elapsed.zero_()
        return self._observe()

    def _observe(self) -> torch.Tensor:
        node = 2 ** self.row - 1 + self.col
        return torch.nn.functional.one_hot(node, 2 ** (self.depth + 1) - 1).float()

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        self.col = 2 * self.col + torch.as_tensor(action, device=self.device).long()
        self.row = self.row + 1
        terminated = self.row == self.depth
        leaf = self.col.clamp(max=2 ** self.depth - 1)
        reward = self.fruits[leaf] * terminated[:, None]
        self.elapsed += 1
        final_obs = self._observe()
        self.row = self.row.masked_fill(terminated, 0)
        self.col = self.col.masked_fill(terminated, 0)
        self.elapsed.masked_fill_(terminated, 0)
        truncated = torch.zeros_like(terminated)  # every episode terminates at a leaf
        return self._observe(), reward, terminated, truncated, {"final_obs": final_obs}


def fruit_tree_front_by_enumeration(env: FruitTree) -> np.ndarray:
    """The front by exact enumeration: play all ``2**depth`` action sequences (one env copy
    each, batched), sum their reward vectors and keep the non-dominated returns."""
    from polab.envs.mo.metrics import pareto_front

    paths = torch.tensor(list(itertools.product((0, 1), repeat=env.depth)), device=env.device)
    probe = FruitTree(len(paths), env.device, objectives=env.reward_dim)
    total = torch.zeros((len(paths), env.reward_dim), device=env.device)
    for t in range(env.depth):
        total += probe.step(paths[:, t])[1]
    return pareto_front(total.cpu().double().numpy())


# --- a continuous two-objective task -----------------------------------------------------

class EnergyRunner(MOBatchedEnv):
    """A point runner on a line: objectives (speed, -energy), both maximised.

    Action ``a`` (clipped to [-1, 1]) is a force; the speed follows a first-order lag
    ``v ← 0.8 v + 0.2 a`` from ``v = 0``; every step rewards ``(v, -a²)``; 50 steps, truncated.
    Observation ``(v, t / 50)``.

    Known front: the return is linear in the actions, ``Σ_t v_t = Σ_s c_s a_s`` with
    ``c_s = 1 - 0.8^(T-s)``, so for an energy budget ``Σ a_s² ≤ E`` the best plan is
    ``a_s = min(1, α c_s)`` (KKT); sweeping ``α ≥ 0`` traces the whole front (a concave curve
    in (speed, -energy): every point supported). Reference point ``(0, -50)`` (polab's choice:
    no progress at full energy |a| = 1 every step; any forward-moving policy dominates it).
    """

    name = "energy-runner"
    reward_dim = 2
    objective_names = ("speed", "energy")
    max_episode_steps = 50
    lag = 0.8
    single_observation_space = gym.spaces.Box(np.array([-1, 0], np.float32),
                                              np.array([1, 1], np.float32))
    single_action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    reference_point = (0.0, -50.0)
    reference_source = "polab: zero progress at full energy (|a| = 1 for all 50 steps)"

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None):
        self._setup(num_envs, device)
        self.reset(seed)

    def known_front(self, points: int = 200) -> np.ndarray:
        steps = np.arange(self.max_episode_steps)
        c = 1 - self.lag ** (self.max_episode_steps - steps)
        alphas = np.concatenate([[0.0], np.geomspace(1e-2, 1 / c.min(), points - 1)])
        plans = np.minimum(1.0, alphas[:, None] * c[None])
        return np.stack([(plans * c).sum(1), -(plans**2).sum(1)], 1)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Rest at time 0 (deterministic: ``seed`` unused)."""
        self.v = torch.zeros(self.num_envs, device=self.device)
        self.elapsed.zero_()
        return self._observe()

    def _observe(self) -> torch.Tensor:
        return torch.stack((self.v, self.elapsed.float() / self.max_episode_steps), 1)

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        a = torch.as_tensor(action, device=self.device).float().reshape(self.num_envs, -1)[:, 0]
        a = a.clamp(-1.0, 1.0)
        self.v = self.lag * self.v + (1 - self.lag) * a
        reward = torch.stack((self.v, -a * a), 1)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        final_obs = self._observe()
        self.v = self.v.masked_fill(truncated, 0.0)
        self.elapsed.masked_fill_(truncated, 0)
        return (self._observe(), reward, torch.zeros_like(truncated), truncated,
                {"final_obs": final_obs})


MO_ENVS = {
    "deep-sea-treasure-v0": lambda n, **kw: DeepSeaTreasure(n, map_name="convex", **kw),
    "deep-sea-treasure-concave-v0": lambda n, **kw: DeepSeaTreasure(n, map_name="concave", **kw),
    "fruit-tree-v0": lambda n, **kw: FruitTree(n, objectives=6, **kw),
    "fruit-tree-3d": lambda n, **kw: FruitTree(n, objectives=3, **kw),
    "energy-runner": EnergyRunner,
}
"""The multi-objective environments by name (outside ``polab.envs``' scalar registry)."""


def make_mo(name: str, num_envs: int, device: str | torch.device | None = None,
            seed: int | None = None) -> MOBatchedEnv:
    """Build ``num_envs`` copies of the multi-objective environment ``name``: one of
    :data:`MO_ENVS`, or ``"mo-gym:<id>"`` for MO-Gymnasium's ``<id>`` (:mod:`polab.envs.mo.mo_gym`,
    stepped by MO-Gymnasium on the CPU)."""
    from polab.envs.mo.mo_gym import MO_GYM_PREFIX, MOGymnasiumEnv

    if name.startswith(MO_GYM_PREFIX):
        return MOGymnasiumEnv(name[len(MO_GYM_PREFIX):], num_envs, device=device, seed=seed)
    if name not in MO_ENVS:
        raise ValueError(f"unknown multi-objective environment {name!r}; known: "
                         f"{', '.join(sorted(MO_ENVS))} (or '{MO_GYM_PREFIX}<id>' for an "
                         "MO-Gymnasium environment)")
    return MO_ENVS[name](num_envs, device=device, seed=seed)
