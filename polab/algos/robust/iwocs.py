"""IWOCS, Incremental Worst-Case Search (card 39; Zouitine, Geist & Rachelson 2024, *Solving
Robust MDPs as a Sequence of Static RL Problems*, arXiv 2410.06212), tabular.

The loop (card 39, "Core update"): start from the nominal kernel ``T_0``; at iteration i
(i) solve the static problem ``T_i`` exactly (value iteration, ``Q_i``), (ii) combine all
found ``Q_j`` pessimistically, ``Q_rob = min_j Q_j``, (iii) act greedily, ``π_i = argmax Q_rob``,
(iv) search the uncertainty set for the kernel on which ``π_i`` does worst, ``T_{i+1}``; stop
when that worst value is no lower than ``min_j V_j(s_0) − tol`` or ``T_{i+1}`` was found
before (no new, worse model).

On an sa-rectangular set the search is exact robust policy evaluation and, with no duality
gap, the loop ends at the robust-VI value; on the coupled (static) set it enumerates a grid
of kernels (or samples random ones) and IWOCS is a heuristic (card 39, pitfall 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from polab.algos.robust.exact import (
    evaluate_policy,
    robust_policy_evaluation,
    robust_value_iteration,
    value_iteration,
)
from polab.config import Config, param
from polab.core.algorithm import Algorithm
from polab.envs.tabular import WindyWalk

Search = Callable[[torch.Tensor], tuple[torch.Tensor, float]]
"""A worst-case search: deterministic policy ``[S]`` → (worst kernel ``[S, A, S]``, the
policy's value from the start state on it)."""

ENVS = ("windy-walk", "windy-walk-coupled")


@dataclass(frozen=True)
class IWOCSConfig(Config):
    """IWOCS's knobs (card 39, "Widgets"); the static solver is exact value iteration."""

    seed: int = param(0, help="random seed (random search)", low=0, high=2**31 - 1)
    uncertainty_radius: float = param(0.3, help="wind box [0, radius]: the largest "
                                      "probability that a windy column blows you down",
                                      low=0.0, high=0.5, paper="card 39")
    n_iterations: int = param(5, help="IWOCS outer iterations (each solves one static "
                              "problem and searches one worst kernel)", low=1, high=10,
                              paper="card 39")
    search: Literal["grid", "random"] = param(
        "grid", help="worst-case search on the coupled set: a grid of wind levels or random "
        "strengths (a rectangular set is searched exactly)", choices=("grid", "random"),
        paper="card 39")
    search_budget: int = param(125, help="candidate kernels per search (grid: levels per "
                               "column = ⌊budget^(1/3)⌋; 125 = the 5³ set)", low=8, high=256,
                               paper="card 39 (64 there)")
    combine: Literal["min", "mean", "last"] = param(
        "min", help="how found Q-functions combine: min (IWOCS), mean (≈ domain "
        "randomisation), last (chases the latest adversary)", choices=("min", "mean", "last"),
        paper="card 39, pitfall 2")
    tol: float = param(1e-6, help="stop when the worst value ≥ min_j V_j(s0) − tol",
                       low=0.0, high=1.0, paper="card 39, pitfall 5")
    wind_levels: int = param(5, help="wind levels of the uncertainty sets (per (s, a) "
                             "rows, per column values)", low=2, high=9, paper="issue 17")

    def rules(self) -> list[tuple[bool, str]]:
        return [(self.search != "grid" or self.search_budget >= 8,
                 "search_budget must allow ≥ 2 levels per column on a grid (≥ 8)")]


# --- pure functions ---------------------------------------------------------------------------

def combine_q(qs: torch.Tensor, how: str) -> torch.Tensor:
    """Card 39, loop step (ii): ``min_j Q_j`` (IWOCS), ``mean_j Q_j`` or the last ``Q_j`` of
    ``qs [J, S, A]``."""
    if how == "min":
        return qs.min(0).values
    if how == "mean":
        return qs.mean(0)
    if how == "last":
        return qs[-1]
    raise ValueError(f"combine must be 'min', 'mean' or 'last', got {how!r}")


def rectangular_search(candidates: torch.Tensor, reward: torch.Tensor, gamma: float,
                       start: int) -> Search:
    """Exact worst-case search on an sa-rectangular set (rows ``[S, A, K, S]``): robust
    policy evaluation and its minimising kernel (card 39, loop step (iv))."""
    def search(policy: torch.Tensor) -> tuple[torch.Tensor, float]:
        v, kernel = robust_policy_evaluation(candidates, reward, gamma, policy)
        return kernel, float(v[start])
    return search


def enumeration_search(kernels: Callable[[], torch.Tensor] | torch.Tensor,
                       reward: torch.Tensor, gamma: float, start: int) -> Search:
    """Worst-case search by enumeration: evaluate the policy exactly on every kernel of
    ``kernels [K, S, A, S]`` (or of a fresh batch from a callable, for random search) and
    return the worst (card 39, loop step (iv), the tabular toy's exhaustive search)."""
    def search(policy: torch.Tensor) -> tuple[torch.Tensor, float]:
        batch = kernels() if callable(kernels) else kernels
        values = evaluate_policy(batch, reward, gamma, policy)[:, start]
        k = int(values.argmin())
        return batch[k], float(values[k])
    return search


class IWOCSLoop:
    """Card 39's loop on any finite kernel set given by its ``search``: the found kernels
    and their ``Q_j``; :meth:`step` is one iteration (module docstring)."""

    def __init__(self, nominal: torch.Tensor, reward: torch.Tensor, gamma: float, start: int,
                 search: Search, combine: str = "min", tol: float = 1e-6):
        combine_q(torch.zeros(1, 1, 1), combine)  # names a bad ``combine``
        self.reward, self.gamma, self.start, self.search = reward, gamma, start, search
        self.combine, self.tol = combine, tol
        self.kernels = nominal[None].clone()           # [J, S, A, S]: T_0 .. T_J-1 found
        self.qs = reward.new_zeros((0, *reward.shape))  # [J, S, A]: their Q*
        self.done = False

    def step(self) -> dict[str, Any]:
        """Solve the newest kernel, combine, act greedily, search the worst kernel; record
        it unless the stop rule holds: no lower than ``min_j V*_j(s0) − tol``, or a kernel found
        before (on a coupled set ``min_j Q_j`` need not be any policy's value, so the first
        test alone may never hold; card 39, loop steps (i)-(iv) and pitfall 5)."""
        if len(self.qs) < len(self.kernels):
            q = value_iteration(self.kernels[-1], self.reward, self.gamma)
            self.qs = torch.cat([self.qs, q[None]])
        self.q_rob = combine_q(self.qs, self.combine)
        self.policy = self.q_rob.argmax(-1)
        worst, value = self.search(self.policy)
        bound = float(self.qs[:, self.start].max(-1).values.min())  # min_j V*_j(s0)
        known = bool(((self.kernels - worst).abs().flatten(1).max(1).values <= 1e-12).any())
        self.done = value >= bound - self.tol or known
        if not self.done:
            self.kernels = torch.cat([self.kernels, worst[None]])
        return {"worst_case_value": value, "pessimistic_value": bound,
                "kernels_found": len(self.qs), "stopped": float(self.done)}


# --- the trainer ------------------------------------------------------------------------------

class IWOCS(Algorithm):
    """Tabular IWOCS on the windy walk (:class:`~polab.envs.tabular.WindyWalk`): env
    ``windy-walk`` is the sa-rectangular set (exact search), ``windy-walk-coupled`` the
    coupled one (grid or random search). ``step()`` is one IWOCS iteration; ``global_step``
    counts the static problems solved."""

    x_label = "static problems solved"
    state_parts = ("generator", "loop", "metrics")

    def __init__(self, config: IWOCSConfig, env: str | None = None,
                 device: str | torch.device | None = None):
        self.setup(config, device)
        env = env or ENVS[0]
        if env not in ENVS:
            raise ValueError(f"env must be one of {ENVS}, got {env!r}")
        c = self.config
        self.env_name, self.coupled = env, env == ENVS[1]
        self.walk = WindyWalk(c.uncertainty_radius, c.wind_levels, device=self.device)
        w = self.walk
        self.candidates = w.rectangular_set()
        self.robust_q = robust_value_iteration(self.candidates, w.reward, w.gamma)
        self.robust_value = float(self.robust_q[w.start_index].max())
        self.eval_strengths = w.grid(9)
        self.eval_kernels = w.kernels(self.eval_strengths)
        if not self.coupled:
            search = rectangular_search(self.candidates, w.reward, w.gamma, w.start_index)
        elif c.search == "grid":
            levels = int(round(c.search_budget ** (1 / len(w.windy)) + 1e-9))
            levels = levels - (levels ** len(w.windy) > c.search_budget)
            self.search_strengths = w.grid(levels)
            search = enumeration_search(w.kernels(self.search_strengths), w.reward, w.gamma,
                                        w.start_index)
        else:
            search = enumeration_search(self._random_kernels, w.reward, w.gamma, w.start_index)
        self.loop = IWOCSLoop(w.nominal().P, w.reward, w.gamma, w.start_index, search,
                              c.combine, c.tol)
        self.metrics: dict[str, Any] = {}

    def _random_kernels(self) -> torch.Tensor:
        c, w = self.config, self.walk
        u = torch.rand(c.search_budget, len(w.windy), generator=self.generator,
                       dtype=torch.double, device=self.device)
        return w.kernels((u * c.uncertainty_radius).cpu())

    def step(self) -> dict[str, Any]:
        """One IWOCS iteration (a no-op once the stop rule held); metrics: the worst-case
        value the search found, the robust-VI value, kernels found, the greedy policy's
        value on the nominal kernel and its worst case on the 9³ evaluation grid."""
        if not self.loop.done:
            self.metrics = self.loop.step()
            self.global_step += 1
            w = self.walk
            values = evaluate_policy(self.eval_kernels, w.reward, w.gamma,
                                     self.loop.policy)[:, w.start_index]
            self.metrics.update(robust_vi_value=self.robust_value,
                                nominal_value=float(values[0]),
                                fine_worst_case=float(values.min()))
        self.iteration += 1
        return dict(self.metrics)
