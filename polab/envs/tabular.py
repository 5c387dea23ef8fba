"""Finite MDPs as tensors: exact occupancy, soft value iteration, batched rollouts.

A :class:`FiniteMDP` is the transition tensor ``P[s, a, s']``, a reward table ``r[s, a]``, a
discount γ, an initial distribution μ and a rollout horizon H, plus optional reward features
``φ[s, a, f]`` for a linear reward ``r_ν = φ·ν``. Everything is a torch tensor on one device and
differentiable where it makes sense: :meth:`FiniteMDP.soft_value_iteration` gives the
entropy-regularised optimal policy π*(r) ∝ exp(Q*/λ) through ``Q* = r + γ P (λ logsumexp Q*/λ)``,
so a gradient can flow from π*(r_ν) back to ν (card 1's ground-truth hypergradient), and
:meth:`FiniteMDP.soft_objective` is the exact entropy-regularised discounted value of a
softmax policy, whose autograd gradient is the exact policy gradient.

:func:`gridworld` builds card 1's 6×6 world: four moves, a goal that keeps paying, a lava patch
that costs, γ = 0.95, 20-step rollouts, one-hot state features. Chapter 11 (robust RL) reuses
the class as a general finite MDP.
"""

from __future__ import annotations

from typing import Any

import torch


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class FiniteMDP:
    """A finite MDP ``(P [S, A, S], reward [S, A], γ, μ [S], H)`` with optional features
    ``[S, A, F]`` (module docstring). ``horizon`` is the length of sampled trajectories and of
    :meth:`occupancy`'s finite sum; the value functions are the infinite discounted ones."""

    def __init__(self, P: torch.Tensor, reward: torch.Tensor, gamma: float,
                 initial: torch.Tensor, horizon: int, features: torch.Tensor | None = None):
        _check(P.dim() == 3 and P.shape[0] == P.shape[2],
               f"P must be [S, A, S], got shape {tuple(P.shape)}")
        S, A = P.shape[:2]
        _check(bool((P >= 0).all()) and torch.allclose(P.sum(-1), torch.ones_like(P[..., 0])),
               "P[s, a, :] must be probability distributions (non-negative, summing to 1)")
        _check(tuple(reward.shape) == (S, A), f"reward must be [S, A] = [{S}, {A}], got "
               f"{tuple(reward.shape)}")
        _check(0.0 < gamma < 1.0, f"gamma must be in (0, 1), got {gamma}")
        _check(tuple(initial.shape) == (S,) and bool((initial >= 0).all())
               and abs(float(initial.sum()) - 1.0) < 1e-6,
               f"initial must be a distribution over the {S} states")
        _check(isinstance(horizon, int) and horizon >= 1, f"horizon must be an int ≥ 1, got "
               f"{horizon!r}")
        _check(features is None or (features.dim() == 3 and tuple(features.shape[:2]) == (S, A)),
               f"features must be [S, A, F] = [{S}, {A}, F]")
        self.P, self.reward, self.gamma, self.initial = P, reward, float(gamma), initial
        self.horizon, self.features = horizon, features
        self.num_states, self.num_actions = S, A

    @property
    def device(self) -> torch.device:
        return self.P.device

    def linear_reward(self, nu: torch.Tensor) -> torch.Tensor:
        """``r_ν[s, a] = φ[s, a] · ν`` (card 1's reward model); needs ``features``."""
        _check(self.features is not None, "this MDP has no features for a linear reward")
        _check(nu.shape == self.features.shape[-1:],
               f"nu must have {self.features.shape[-1]} entries, got {tuple(nu.shape)}")
        return self.features @ nu

    # --- exact quantities -------------------------------------------------------------------

    def occupancy(self, policy: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
        """Discounted state-action occupancy ``d[s, a] = Σ_{h<H} γ^h Pr(s_h = s, a_h = a)``
        of ``policy [S, A]`` from μ; ``horizon=None`` uses the MDP's H, ``0`` the infinite
        sum (a linear solve). Sums to ``(1 − γ^H)/(1 − γ)``."""
        H = self.horizon if horizon is None else horizon
        if H == 0:
            P_pi = torch.einsum("sa,sat->st", policy, self.P)
            eye = torch.eye(self.num_states, dtype=P_pi.dtype, device=P_pi.device)
            d_s = torch.linalg.solve((eye - self.gamma * P_pi).T, self.initial)
            return d_s[:, None] * policy
        state, total = self.initial, torch.zeros_like(policy)
        for h in range(H):
            sa = state[:, None] * policy
            total = total + self.gamma ** h * sa
            state = torch.einsum("sa,sat->t", sa, self.P)
        return total

    def expected_return(self, policy: torch.Tensor, reward: torch.Tensor | None = None,
                        horizon: int | None = None) -> torch.Tensor:
        """``Σ d[s, a] r[s, a]``: the discounted H-step return of ``policy`` on ``reward``
        (default the MDP's own)."""
        r = self.reward if reward is None else reward
        return (self.occupancy(policy, horizon) * r).sum()

    def soft_objective(self, logits: torch.Tensor, reward: torch.Tensor,
                       ent_coef: float) -> torch.Tensor:
        """``J(θ) = E_μ Σ_{h≥0} γ^h (r(s_h, a_h) + λ H(π_θ(·|s_h)))`` of the softmax policy
        ``π_θ = softmax(logits)`` exactly (a linear solve; card 1's lower-level V(ν, θ)).
        Its autograd gradient is the exact policy gradient."""
        logp = torch.log_softmax(logits, -1)
        pi = logp.exp()
        r_ent = reward - ent_coef * logp
        return (self.occupancy(pi, horizon=0) * r_ent).sum()

    def soft_value_iteration(self, reward: torch.Tensor, ent_coef: float,
                             iterations: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft (entropy-regularised) value iteration: ``Q ← r + γ P V``,
        ``V = λ logsumexp(Q/λ)`` (``max`` when λ = 0), ``iterations`` times from zero (a
        γ-contraction: error ≤ γ^iterations · max|r|/(1−γ)). Returns ``(Q [S, A], π* [S, A])``
        with ``π* = softmax(Q/λ)`` (greedy when λ = 0); differentiable in ``reward``."""
        _check(ent_coef >= 0, f"ent_coef must be ≥ 0, got {ent_coef}")
        V = torch.zeros(self.num_states, dtype=reward.dtype, device=reward.device)
        for _ in range(iterations):
            Q = reward + self.gamma * torch.einsum("sat,t->sa", self.P, V)
            V = (ent_coef * torch.logsumexp(Q / ent_coef, -1) if ent_coef > 0
                 else Q.max(-1).values)
        if ent_coef > 0:
            return Q, torch.softmax(Q / ent_coef, -1)
        return Q, torch.nn.functional.one_hot(Q.argmax(-1), self.num_actions).to(Q.dtype)

    # --- sampling ---------------------------------------------------------------------------

    def sample(self, policy: torch.Tensor, n: int, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` trajectories of H steps in parallel: ``(states, actions)``, each ``[n, H]``
        (a loop over the H steps only)."""
        _check(isinstance(n, int) and n >= 1, f"n must be an int ≥ 1, got {n!r}")
        states = torch.empty(n, self.horizon, dtype=torch.long, device=self.device)
        actions = torch.empty_like(states)
        s = torch.multinomial(self.initial.expand(n, -1), 1, True, generator=generator)[:, 0]
        for h in range(self.horizon):
            a = torch.multinomial(policy[s], 1, generator=generator)[:, 0]
            states[:, h], actions[:, h] = s, a
            s = torch.multinomial(self.P[s, a], 1, generator=generator)[:, 0]
        return states, actions

    def discounts(self) -> torch.Tensor:
        """``[γ^0, …, γ^{H−1}]``."""
        return self.gamma ** torch.arange(self.horizon, device=self.device, dtype=self.P.dtype)

    def trajectory_features(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``Φ(τ) = Σ_h γ^h φ(s_h, a_h)`` per trajectory, ``[n, F]``: ``R_ν(τ) = Φ(τ)·ν``."""
        return torch.einsum("nhf,h->nf", self.features[states, actions], self.discounts())

    def trajectory_returns(self, states: torch.Tensor, actions: torch.Tensor,
                           reward: torch.Tensor | None = None) -> torch.Tensor:
        """``R(τ) = Σ_h γ^h r(s_h, a_h)`` per trajectory, ``[n]`` (default the MDP's reward)."""
        r = self.reward if reward is None else reward
        return r[states, actions] @ self.discounts()


# --- the gridworld ------------------------------------------------------------------------------

MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
"""Up, down, left, right as (row, column) steps."""


def gridworld(size: int = 6, goal: tuple[int, int] | None = None,
              lava: tuple[tuple[int, int], ...] | None = None, start: tuple[int, int] | None = None,
              slip: float = 0.1, gamma: float = 0.95, horizon: int = 20,
              goal_reward: float = 1.0, lava_reward: float = -1.0,
              device: torch.device | str = "cpu") -> FiniteMDP:
    """Card 1's gridworld: ``size × size`` cells, 4 moves (a move into a wall stays put; with
    probability ``slip`` a uniformly random move happens instead), an absorbing goal paying
    ``goal_reward`` each step, ``lava`` cells costing ``lava_reward`` each step spent there,
    a ``start`` cell (default: uniform over the cells that are neither goal nor lava).
    Features: one-hot of the state (a reward table over cells). Defaults:
    6×6, goal in the far corner, a 2×3 lava patch across the diagonal, γ = 0.95, H = 20."""
    _check(isinstance(size, int) and size >= 2, f"size must be an int ≥ 2, got {size!r}")
    _check(0.0 <= slip < 1.0, f"slip must be in [0, 1), got {slip}")
    goal = (size - 1, size - 1) if goal is None else goal
    lava = ((2, 2), (2, 3), (3, 2), (3, 3), (1, 3), (3, 1)) if lava is None else lava
    cells = {"goal": [goal], "start": [] if start is None else [start], "lava": list(lava)}
    for name, group in cells.items():
        _check(all(0 <= r < size and 0 <= c < size for r, c in group),
               f"{name} cells must lie on the {size}×{size} grid, got {group}")
    _check(goal not in lava and start not in (*lava, goal),
           "start, goal and lava cells must be distinct")
    S, A = size * size, len(MOVES)
    idx = torch.arange(S)
    row, col = idx // size, idx % size
    moves = torch.tensor(MOVES)
    nr = (row[:, None] + moves[:, 0]).clamp(0, size - 1)
    nc = (col[:, None] + moves[:, 1]).clamp(0, size - 1)
    intended = torch.nn.functional.one_hot(nr * size + nc, S).double()  # [S, A, S]
    P = (1 - slip) * intended + slip * intended.mean(1, keepdim=True)
    g = goal[0] * size + goal[1]
    P[g] = torch.nn.functional.one_hot(torch.tensor(g), S).double()
    state_reward = torch.zeros(S, dtype=torch.double)
    state_reward[g] = goal_reward
    state_reward[[r * size + c for r, c in lava]] = lava_reward
    if start is None:  # uniform over the cells that are neither goal nor lava
        initial = (state_reward == 0).double()
    else:
        initial = torch.zeros(S, dtype=torch.double)
        initial[start[0] * size + start[1]] = 1.0
    initial = initial / initial.sum()
    features = torch.eye(S, dtype=torch.double)[:, None, :].expand(S, A, S).contiguous()
    mdp = FiniteMDP(P.to(device), state_reward[:, None].expand(S, A).contiguous().to(device),
                    gamma, initial.to(device), horizon, features.to(device))
    mdp.shape, mdp.goal, mdp.lava, mdp.start = (size, size), goal, tuple(lava), start
    return mdp


def from_config(config: Any, device: torch.device) -> FiniteMDP:
    """The default gridworld on ``device`` (``make_testbed("gridworld", ...)``); a config
    with a ``slip`` field sets the slip probability."""
    return gridworld(slip=float(getattr(config, "slip", 0.1)), device=device)


# --- the windy walk (chapter 11, card 39) -------------------------------------------------------

class WindyWalk:
    """Card 39's *windy walk* (Zouitine, Geist & Rachelson 2024, the tabular toy): a
    ``rows × cols`` grid (default 5 × 9), start S and goal G on row ``rows − 2`` at the two
    ends, three windy columns in between (default 3, 4, 5) with a pit under them on the
    bottom row. Four moves (a wall keeps you in place); then, in a windy column ``c`` (the
    column the agent moved *from*), the wind blows it one cell down with probability
    ``w_c`` — this definition of the wind is ours (the card only says "static wind strength
    per column from a box"). G pays +1 and the pit −1 per step, both absorbing; γ = 0.95.

    The uncertainty box is ``w_c ∈ [0, radius]`` per windy column, the nominal kernel calm
    (``w = 0``). Two sets are built from it:

    * :meth:`rectangular_set` (sa-rectangular): for every (s, a) one candidate next-state row
      per wind level ``w ∈ linspace(0, radius, levels)``; nature may pick a different level
      in every (s, a) (the *dynamic* model; robust VI is exact there);
    * :meth:`coupled_set` (static, coupled): one level per windy column for the whole
      episode, ``levels^3`` = 125 kernels; IWOCS is a heuristic there (card 39, pitfall 1).

    :meth:`kernels` builds any batch of kernels from strengths ``[K, C]``; fractional
    strengths give the finer evaluation grid (the kernel is affine in ``w``)."""

    def __init__(self, radius: float = 0.3, levels: int = 5, rows: int = 5, cols: int = 9,
                 windy: tuple[int, ...] = (3, 4, 5), gamma: float = 0.95, horizon: int = 40,
                 device: torch.device | str = "cpu"):
        _check(isinstance(radius, (int, float)) and 0.0 <= radius <= 1.0,
               f"radius must be a wind probability in [0, 1], got {radius!r}")
        _check(isinstance(levels, int) and levels >= 1, f"levels must be an int ≥ 1, got "
               f"{levels!r}")
        _check(isinstance(rows, int) and isinstance(cols, int) and rows >= 3 and cols >= 3,
               f"rows and cols must be ints ≥ 3, got {rows!r}, {cols!r}")
        _check(len(windy) >= 1 and len(set(windy)) == len(windy)
               and all(0 < c < cols - 1 for c in windy),
               f"windy must be distinct columns strictly between 0 and {cols - 1}, got {windy}")
        self.radius, self.levels, self.shape, self.windy = float(radius), levels, (rows, cols), \
            tuple(windy)
        self.gamma, self.horizon, self.device = gamma, horizon, torch.device(device)
        S = rows * cols
        idx = torch.arange(S)
        row, col = idx // cols, idx % cols
        moves = torch.tensor(MOVES)
        nr = (row[:, None] + moves[:, 0]).clamp(0, rows - 1)
        nc = (col[:, None] + moves[:, 1]).clamp(0, cols - 1)
        self.start, self.goal = (rows - 2, 0), (rows - 2, cols - 1)
        self.pit = tuple((rows - 1, c) for c in windy)
        absorbing = torch.zeros(S, dtype=torch.bool)
        absorbing[[r * cols + c for r, c in (self.goal, *self.pit)]] = True
        self._calm = torch.where(absorbing[:, None], idx[:, None], nr * cols + nc)  # [S, A]
        self._blown = torch.where(absorbing[:, None], idx[:, None],
                                  (nr + 1).clamp(max=rows - 1) * cols + nc)
        # which windy column (index into strengths) blows on s; −1 where calm
        self._column = torch.full((S,), -1, dtype=torch.long)
        for k, c in enumerate(windy):
            self._column[(col == c) & ~absorbing] = k
        state_reward = torch.zeros(S, dtype=torch.double)
        state_reward[self.goal[0] * cols + self.goal[1]] = 1.0
        state_reward[[r * cols + c for r, c in self.pit]] = -1.0
        self.reward = state_reward[:, None].expand(S, len(MOVES)).contiguous().to(self.device)
        self.initial = torch.zeros(S, dtype=torch.double)
        self.initial[self.start[0] * cols + self.start[1]] = 1.0
        self.initial = self.initial.to(self.device)
        self.num_states, self.num_actions = S, len(MOVES)
        self.start_index = self.start[0] * cols + self.start[1]

    def check_strengths(self, strengths: torch.Tensor) -> torch.Tensor:
        """``strengths`` as a ``[K, C]`` double tensor in ``[0, 1]`` (a named error if not)."""
        w = torch.as_tensor(strengths, dtype=torch.double)
        _check(w.dim() == 2 and w.shape[1] == len(self.windy),
               f"strengths must be [K, {len(self.windy)}] (one per windy column), got "
               f"{tuple(w.shape)}")
        _check(bool(((w >= 0) & (w <= 1)).all()), "strengths are wind probabilities in [0, 1]")
        return w

    def kernels(self, strengths: torch.Tensor) -> torch.Tensor:
        """The kernels ``P[k, s, a, s']`` of the wind strengths ``[K, C]`` (one per windy
        column), batched: ``(1 − w) 1{s' = calm(s, a)} + w 1{s' = blown(s, a)}``."""
        w = self.check_strengths(strengths)
        ws = torch.cat([w, torch.zeros(len(w), 1, dtype=w.dtype)], 1)[:, self._column]  # [K,S]
        S = self.num_states
        calm = torch.nn.functional.one_hot(self._calm, S).double()
        blown = torch.nn.functional.one_hot(self._blown, S).double()
        ws = ws[:, :, None, None]
        return ((1 - ws) * calm + ws * blown).to(self.device)

    def level_values(self, levels: int | None = None) -> torch.Tensor:
        """The wind levels ``linspace(0, radius, levels)`` (default ``self.levels``)."""
        n = self.levels if levels is None else levels
        _check(isinstance(n, int) and n >= 1, f"levels must be an int ≥ 1, got {n!r}")
        return torch.linspace(0.0, self.radius, n, dtype=torch.double)

    def grid(self, levels: int | None = None) -> torch.Tensor:
        """All ``levels^C`` strength vectors of the box's grid, ``[levels^C, C]``
        (lexicographic, first column slowest)."""
        values = self.level_values(levels)
        return torch.cartesian_prod(*[values] * len(self.windy)).reshape(-1, len(self.windy))

    def nominal(self) -> FiniteMDP:
        """The calm windy walk (``w = 0``) as a :class:`FiniteMDP`."""
        return self.mdp(torch.zeros(1, len(self.windy), dtype=torch.double))

    def mdp(self, strengths: torch.Tensor) -> FiniteMDP:
        """The windy walk with one strength vector ``[1, C]`` as a :class:`FiniteMDP`."""
        return FiniteMDP(self.kernels(strengths)[0], self.reward, self.gamma, self.initial,
                         self.horizon)

    def rectangular_set(self) -> torch.Tensor:
        """The sa-rectangular set's candidate rows ``[S, A, levels, S]``: the row of
        ``(s, a)`` under each wind level (class docstring)."""
        values = self.level_values()
        uniform = values[:, None].expand(-1, len(self.windy))
        return self.kernels(uniform).permute(1, 2, 0, 3).contiguous()

    def coupled_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The coupled set: ``(strengths [levels^C, C], kernels [levels^C, S, A, S])``."""
        strengths = self.grid()
        return strengths, self.kernels(strengths)
