"""Fruit Tree, batched: MO-Gymnasium's ``fruit-tree-v0`` at depth 5 (6 nutrients, its table of
32 fruits), or a 3-objective variant whose 32 fruits lie on the positive octant of a sphere of
radius 10 (every fruit Pareto-optimal, the front concave) (chapter 09,
../shared/cards/04_cmorl.md). tests/test_mo_gymnasium_parity.py checks it against
MO-Gymnasium's.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from polab.envs.mo.base import MOBatchedEnv
from polab.envs.mo.metrics import pareto_front

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

    def copy_kwargs(self) -> dict[str, Any]:
        return {"objectives": self.reward_dim}

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
    paths = torch.tensor(list(itertools.product((0, 1), repeat=env.depth)), device=env.device)
    probe = FruitTree(len(paths), env.device, objectives=env.reward_dim)
    total = torch.zeros((len(paths), env.reward_dim), device=env.device)
    for t in range(env.depth):
        total += probe.step(paths[:, t])[1]
    return pareto_front(total.cpu().double().numpy())
