"""A batched linear-quadratic regulator with a linear Gaussian policy, solved exactly.

The testbed of ../shared/cards/10_pg_igt_harpg.md (Fatkhullin et al., ICML 2023): dynamics
``s' = A s + B a``, reward ``r = -(sᵀQs + aᵀRa)``, initial state ``s_0 ~ N(0, Σ_0)`` and the policy
``a = K s + σ ε`` with ``ε ~ N(0, I)``. The objective of the gain ``K`` is the discounted
return over the horizon ``H`` that the trajectories are sampled from,

    J(K) = E[Σ_{t<H} γ^t r_t] = -Σ_{t<H} γ^t [tr((Q + KᵀRK) Σ_t) + σ² tr R],
    Σ_{t+1} = M Σ_t Mᵀ + σ² B Bᵀ,   M = A + B K        (finite-horizon Lyapunov recursion)

so every quantity the estimators try to learn is known exactly:

* :meth:`LQR.expected_return` — ``J(K)`` in closed form (the discounted sum of the ``Σ_t``
  as one matrix power, :meth:`LQR.discounted_state_covariance`);
* :meth:`LQR.exact_gradient` — ``∇J(K)``, the autograd derivative of that closed form;
* :meth:`LQR.riccati_gain` — the infinite-horizon discounted optimum (discrete Riccati
  equation with ``√γ A, √γ B``), the ``H → ∞`` limit of the optimum below;
* :meth:`LQR.optimal_gain` — the best *stationary* gain for the finite horizon ``H``
  (Newton's method on the exact ``J``, started at the Riccati gain). The optimality gap
  ``J(K*) - J(K)`` of the card is measured against this gain, because it is the optimum of
  the very objective the sampled trajectories estimate: with ``γ = 0.99`` and ``H = 50``
  (``γ^H ≈ 0.6``) the infinite-horizon Riccati cost would leave an estimator-independent
  bias floor in the gap.

:meth:`LQR.rollout` samples one trajectory per gain (any batch shape) without a Python loop
over trajectories, and in log₂ H steps instead of H (the dynamics are linear, so a parallel
scan applies). :func:`gaussian_score` and :func:`gaussian_log_prob_hvp` are the policy's
per-step ``∇log π`` and ``∇²log π·u`` in closed form (the tests check them against autograd
of :func:`polab.core.distributions.gaussian_logp`).
:class:`LQREnv` is the same system behind the step-by-step :class:`BatchedEnv` interface, so
the chapter-01 algorithms can run on it too.

These tensors are tiny: run with ``torch.set_num_threads(1)`` (a second intra-op thread
only adds synchronisation, and on a busy CPU makes every call many times slower).

Taught in notebooks/02_variance_and_trust_regions.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch

from polab.envs.base import BatchedEnv


class Trajectories(NamedTuple):
    """Time-major samples: ``states (H, *batch, n)``, ``actions (H, *batch, m)``,
    ``rewards (H, *batch)``."""

    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor


@dataclass(frozen=True)
class LQR:
    """The system matrices, a stabilising gain to start from, the discount, the horizon and
    the policy noise ``σ``.

    Gains ``K`` have shape ``(*batch, m, n)``; every method broadcasts over ``batch`` (e.g.
    one gain per seed, or a grid of gains for a contour plot).
    """

    A: torch.Tensor
    B: torch.Tensor
    Q: torch.Tensor
    R: torch.Tensor
    init_cov: torch.Tensor
    init_gain: torch.Tensor
    gamma: float = 0.99
    horizon: int = 50
    policy_std: float = 0.5

    @classmethod
    def double_integrator(cls, gamma: float = 0.99, horizon: int = 50, policy_std: float = 0.5,
                          dt: float = 0.2, device: str | torch.device = "cpu",
                          dtype: torch.dtype = torch.float64) -> LQR:
        """The card's miniature: state (position, velocity), one force, ``Q = I``, ``R = I``,
        ``s_0 ~ N(0, I)``. The initial gain ``K_0 = [-0.2, -0.5]`` is stabilising (spectral
        radius of ``A + BK_0`` ≈ 0.95) and far from the optimum ``≈ [-0.79, -1.57]``."""
        t = dict(device=device, dtype=dtype)
        return cls(A=torch.tensor([[1.0, dt], [0.0, 1.0]], **t),
                   B=torch.tensor([[0.0], [dt]], **t), Q=torch.eye(2, **t),
                   R=torch.eye(1, **t), init_cov=torch.eye(2, **t),
                   init_gain=torch.tensor([[-0.2, -0.5]], **t), gamma=gamma,
                   horizon=horizon, policy_std=policy_std)

    @property
    def state_dim(self) -> int:
        return self.A.shape[0]

    @property
    def action_dim(self) -> int:
        return self.B.shape[1]

    def to(self, device: str | torch.device | None = None,
           dtype: torch.dtype | None = None) -> LQR:
        """The same problem with its tensors on ``device`` and/or in ``dtype``."""
        move = {k: getattr(self, k).to(device=device, dtype=dtype)
                for k in ("A", "B", "Q", "R", "init_cov", "init_gain")}
        return replace(self, **move)

    # --- exact quantities -------------------------------------------------------------------

    def closed_loop(self, K: torch.Tensor) -> torch.Tensor:
        """``M = A + BK``, shape ``(*batch, n, n)``."""
        return self.A + self.B @ K

    def discounts(self) -> torch.Tensor:
        """``γ^t`` for ``t < H``."""
        return self.gamma ** torch.arange(self.horizon, dtype=self.A.dtype, device=self.A.device)

    def discounted_state_covariance(self, K: torch.Tensor) -> torch.Tensor:
        """``S = Σ_{t<H} γ^t Σ_t`` with ``Σ_{t+1} = M Σ_t Mᵀ + σ² BBᵀ``: ``(*batch, n, n)``.

        Vectorised, the recursion is affine, ``vec Σ_{t+1} = (M⊗M) vec Σ_t + σ² vec BBᵀ``, i.e.
        linear in ``x_t = [vec Σ_t; 1]``: ``x_{t+1} = L x_t``. The discounted sum of its first
        ``H`` terms, ``Σ_{t<H} (γL)^t x_0``, is the top-right block of
        ``[[γL, I], [0, I]]^H`` — one matrix power (log₂ H products) instead of H steps.
        """
        n = self.state_dim
        d = n * n + 1
        M = self.closed_loop(K)
        batch = M.shape[:-2]
        opts = dict(dtype=M.dtype, device=M.device)
        kron = (M[..., :, None, :, None] * M[..., None, :, None, :]).reshape(*batch, n * n, n * n)
        noise = (self.policy_std ** 2 * self.B @ self.B.T).reshape(n * n, 1).expand(*batch, -1, -1)
        last_row = torch.zeros(1, d, **opts)
        last_row[0, -1] = 1.0
        L = torch.cat([torch.cat([kron, noise], -1), last_row.expand(*batch, -1, -1)], -2)
        eye = torch.eye(d, **opts).expand(*batch, -1, -1)
        block = torch.cat([torch.cat([self.gamma * L, eye], -1),
                           torch.cat([torch.zeros_like(eye), eye], -1)], -2)
        series = torch.linalg.matrix_power(block, self.horizon)[..., :d, d:]
        x0 = torch.cat([self.init_cov.reshape(n * n), torch.ones(1, **opts)])
        return (series @ x0)[..., : n * n].reshape(*batch, n, n)

    def expected_return(self, K: torch.Tensor) -> torch.Tensor:
        """Exact ``J(K) = -tr((Q + KᵀRK) S) - σ² tr(R) Σ_{t<H} γ^t``, shape ``batch``."""
        weight = self.Q + K.transpose(-1, -2) @ self.R @ K
        return -((weight * self.discounted_state_covariance(K)).sum((-1, -2))
                 + self.policy_std ** 2 * torch.trace(self.R) * self.discounts().sum())

    def exact_gradient(self, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(J(K), ∇_K J(K))``: the autograd derivative of the closed-form ``J``."""
        with torch.enable_grad():
            K = K.detach().requires_grad_(True)
            J = self.expected_return(K)
            (grad,) = torch.autograd.grad(J.sum(), K)
        return J.detach(), grad

    def riccati_gain(self, tol: float = 1e-12, max_iter: int = 100_000) -> torch.Tensor:
        """Infinite-horizon discounted optimum ``K∞ = -γ (R + γBᵀPB)⁻¹ BᵀPA`` where ``P``
        solves the discrete Riccati equation ``P = Q + γAᵀPA - γ²AᵀPB (R + γBᵀPB)⁻¹ BᵀPA``
        (iterated to its fixed point)."""
        A, B, g = self.A, self.B, self.gamma
        P = self.Q.clone()
        for _ in range(max_iter):
            K = -g * torch.linalg.solve(self.R + g * B.T @ P @ B, B.T @ P @ A)
            P_next = self.Q + K.T @ self.R @ K + g * (A + B @ K).T @ P @ (A + B @ K)
            if torch.max(torch.abs(P_next - P)) <= tol * torch.max(torch.abs(P_next)):
                return K
            P = P_next
        raise RuntimeError("the Riccati iteration did not converge (is (A, B) stabilizable?)")

    def optimal_gain(self, tol: float = 1e-10, max_iter: int = 50) -> torch.Tensor:
        """The stationary gain maximising the finite-horizon ``J`` (damped Newton's method
        on the exact objective, started at :meth:`riccati_gain`)."""
        K = self.riccati_gain()
        J, grad = self.exact_gradient(K)
        for _ in range(max_iter):
            if grad.norm() <= tol * max(1.0, abs(J.item())):
                return K
            hess = torch.autograd.functional.hessian(self.expected_return, K).reshape(
                K.numel(), K.numel())
            step = -torch.linalg.solve(hess, grad.reshape(-1)).reshape(K.shape)
            for _ in range(60):  # halve the step until J improves
                J_new, grad_new = self.exact_gradient(K + step)
                if J_new >= J:
                    break
                step = step / 2
            K, J, grad = K + step, J_new, grad_new
        raise RuntimeError("Newton's method did not reach the optimal stationary gain")

    # --- sampling ---------------------------------------------------------------------------

    def rollout(self, K: torch.Tensor, generator: torch.Generator | None = None,
                batch_shape: tuple[int, ...] | None = None) -> Trajectories:
        """One trajectory of ``H`` steps per gain in ``K (*batch, m, n)`` (or ``batch_shape``
        trajectories of one shared gain ``(m, n)``), all trajectories at once.

        ``s_{t+1} = M s_t + σ B ε_t`` is a linear recursion, so instead of H sequential steps
        it runs as a log-depth scan (Hillis–Steele): start from ``y_0 = s_0``,
        ``y_t = σ B ε_{t-1}`` and repeat ``y_t += M^k y_{t-k}`` for ``k = 1, 2, 4, ...``; then
        ``y_t = s_t``. Actions are ``a_t = K s_t + σ ε_t``.
        """
        H, n, m, sigma = self.horizon, self.state_dim, self.action_dim, self.policy_std
        batch = tuple(batch_shape) if batch_shape is not None else tuple(K.shape[:-2])
        opts = dict(dtype=self.A.dtype, device=self.A.device, generator=generator)
        s0 = torch.randn(*batch, 1, n, **opts) @ torch.linalg.cholesky(self.init_cov).T
        eps = torch.randn(*batch, H, m, **opts)
        states = torch.cat([s0, sigma * eps[..., :-1, :] @ self.B.T], dim=-2)  # (*batch, H, n)
        Mk, k = self.closed_loop(K), 1
        while k < H:
            states[..., k:, :] += states[..., :-k, :] @ Mk.transpose(-1, -2)
            Mk, k = Mk @ Mk, 2 * k
        actions = states @ K.transpose(-1, -2) + sigma * eps
        states, actions = states.movedim(-2, 0), actions.movedim(-2, 0)    # time-major
        return Trajectories(states, actions, reward(self, states, actions))


def reward(lqr: LQR, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``r = -(sᵀQs + aᵀRa)`` over the last dimension."""
    return -((states @ lqr.Q * states).sum(-1) + (actions @ lqr.R * actions).sum(-1))


def _mean_action(K: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """``K s_t`` for time-major ``states (H, *batch, n)`` and ``K (*batch, m, n)``."""
    return (states.unsqueeze(-2) @ K.transpose(-1, -2)).squeeze(-2)


def gaussian_score(K: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                   policy_std: float) -> torch.Tensor:
    """Per-step score ``∇_K log π_K(a_t|s_t) = (a_t - K s_t) s_tᵀ / σ²``: ``(H, *batch, m, n)``
    for the linear Gaussian policy ``π_K(·|s) = N(K s, σ² I)``."""
    residual = actions - _mean_action(K, states)
    return residual.unsqueeze(-1) * states.unsqueeze(-2) / policy_std ** 2


def gaussian_log_prob_hvp(states: torch.Tensor, direction: torch.Tensor,
                          policy_std: float) -> torch.Tensor:
    """Per-step Hessian-vector product ``∇²_K log π_K(a_t|s_t)[U] = -(U s_t) s_tᵀ / σ²``
    along ``U = direction (*batch, m, n)``: ``(H, *batch, m, n)`` (independent of ``K``)."""
    return -_mean_action(direction, states).unsqueeze(-1) * states.unsqueeze(-2) / policy_std ** 2


class LQREnv(BatchedEnv):
    """The LQR as a step-by-step batched environment: ``num_envs`` copies, actions ``a``.

    Built like the classic-control envs, ``LQREnv(num_envs, device=None, seed=None)`` (so it
    can be registered in :mod:`polab.envs`); ``lqr`` defaults to
    :meth:`LQR.double_integrator`, cast to ``dtype``. Episodes are truncated after
    ``lqr.horizon`` steps (never terminated) and auto-reset in the same step, with the true
    last state in ``info["final_obs"]`` (see :mod:`polab.envs.base`).
    """

    name = "LQR-v0"

    def __init__(self, num_envs: int, device: str | torch.device | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32,
                 lqr: LQR | None = None):
        self.num_envs = num_envs
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.lqr = (lqr if lqr is not None else LQR.double_integrator()).to(self.device, dtype)
        self.max_episode_steps = self.lqr.horizon
        n, m = self.lqr.state_dim, self.lqr.action_dim
        np_dtype = torch.empty((), dtype=dtype).numpy().dtype
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (n,), np_dtype)
        self.single_action_space = gym.spaces.Box(-np.inf, np.inf, (m,), np_dtype)
        self._chol = torch.linalg.cholesky(self.lqr.init_cov)
        self.generator = torch.Generator(self.device)
        if seed is None:
            self.generator.seed()
        self.elapsed = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.reset(seed)

    def _initial_states(self) -> torch.Tensor:
        return torch.randn(self.num_envs, self.lqr.state_dim, dtype=self.lqr.A.dtype,
                           device=self.device, generator=self.generator) @ self._chol.T

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.generator.manual_seed(seed)
        self.state = self._initial_states()
        self.elapsed.zero_()
        return self.state.clone()

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, dict[str, Any]]:
        action = torch.as_tensor(action, device=self.device).to(self.state.dtype)
        r = reward(self.lqr, self.state, action)
        next_state = self.state @ self.lqr.A.T + action @ self.lqr.B.T
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        self.state = torch.where(truncated[:, None], self._initial_states(), next_state)
        self.elapsed.masked_fill_(truncated, 0)
        return (self.state.clone(), r, torch.zeros_like(truncated), truncated,
                {"final_obs": next_state})
