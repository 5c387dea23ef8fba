"""N-PG-IGT and (N)-HARPG: policy gradients with better sample complexity, on an exact LQR.

Fatkhullin, Barakat, Kireeva, He, "Stochastic Policy Gradient Methods: Improved Sample
Complexity for Fisher-non-degenerate Policies", ICML 2023 (arXiv 2302.01734); the card:
../shared/cards/10_pg_igt_harpg.md.
To reach a global ε-optimum, vanilla stochastic PG needs O~(ε⁻³) trajectories; N-PG-IGT
(normalised momentum whose fresh gradient is taken at an extrapolated point, "implicit
gradient transport") needs O~(ε⁻²·⁵) with one trajectory per iteration; (N)-HARPG (momentum
corrected by an unbiased Hessian-vector product along the last step) needs O~(ε⁻²) with two.

    vanilla PG   θ_{t+1} = θ_t + γ_t g(τ_t, θ_t)
    N-PG-IGT     θ̃_t = θ_t + (1-η_t)/η_t (θ_t - θ_{t-1}),   τ_t ~ π_{θ̃_t}
                 d_t = (1-η_t) d_{t-1} + η_t g(τ_t, θ̃_t),   θ_{t+1} = θ_t + γ_t d_t / ‖d_t‖
    (N)-HARPG    q_t ~ U[0,1],  θ̂_t = q_t θ_t + (1-q_t) θ_{t-1},  τ̂_t ~ π_{θ̂_t},  τ_t ~ π_{θ_t}
                 d_t = (1-η_t) (d_{t-1} + B(τ̂_t, θ̂_t)(θ_t - θ_{t-1})) + η_t g(τ_t, θ_t)
                 θ_{t+1} = θ_t + γ_t d_t / ‖d_t‖   (HARPG: θ_t + γ_t d_t)

with ``g`` the GPOMDP gradient and ``B`` the Hessian estimator (:func:`gpomdp_gradient`,
:func:`hessian_vector_estimate`). What this version keeps and changes:

1. The testbed is the card's miniature, :class:`polab.envs.lqr.LQR` with the linear Gaussian
   policy ``a = Ks + σε`` (σ fixed, so the Fisher information stays non-degenerate), where
   ``J`` and ``∇J`` are exact: the optimality gap and the gradient tracking error
   ``‖d_t - ∇J(θ_t)‖`` are measured, not estimated. The paper's experiments (garage, MuJoCo)
   are not reproduced.
2. One trajectory per gradient estimate and one per Hessian estimate, as in the theory;
   GPOMDP with the reward-to-go ``Σ_{t≥h} γ^t r_t`` and no baseline.
3. ``num_seeds`` independent runs are one batch dimension; ``global_step`` counts the
   trajectories consumed by *each* run (the x-axis of the card's claim), not their total.
4. Schedules ``γ_t = gamma_0 (2/(t+2))^lr_exponent`` and ``η_t = eta_0 (2/(t+2))^eta_exponent``
   with the exponents (of γ_t, of η_t) of the authors' code (their garage fork:
   ``NIGT_optimizer.py``, ``STORMHess_optimizer.py``, ``SGDM_optimizer.py``): N-PG-IGT
   (1, 4/5), N-HARPG (1, 1), HARPG (1/2, 1), vanilla PG (2/3). **The card marks its exponents
   as needing a check**: it inferred ``γ_t ~ t^-3/5`` for N-PG-IGT, while the authors' code
   decays ``γ_t ~ 1/t`` (on this LQR: median gap 0.62 with 3/5 and its best ``gamma_0`` vs 0.33
   with 1, T = 5000); the exponents are config fields, so the card's value is one setting
   away.
5. The extrapolation uses the same ``η_t`` as the momentum average (paper, card); the authors'
   code extrapolates with the previous iteration's ``η`` — the same schedule shifted by one.
6. ``d_0 = g(τ_0, θ_0)`` and ``θ_{-1} = θ_0``: the first iteration takes no extrapolation
   and no Hessian correction (one trajectory).
7. Step sizes are tuned per method on this LQR (defaults below); the paper's constants are
   worst-case theory values.
8. The card's ordering N-HARPG < N-PG-IGT does not reproduce here (benchmarks/igt_harpg.py,
   up to 50k trajectories); :mod:`polab.algos.pg.igt_harpg_diagnosis` holds the diagnosis:
   N-HARPG's one-trajectory Hessian-vector estimate is hundreds of times noisier than
   ``∇²J u``, and its half as many ``1/t`` steps cover a shorter path.

Taught in notebooks/02_variance_and_trust_regions.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch

from polab.config import Config, param
from polab.core.algorithm import Algorithm
from polab.envs.lqr import LQR, Trajectories, gaussian_log_prob_hvp, gaussian_score

# --- ESTIMATORS (pure functions; parameters are flat vectors θ in the last dimension) -------


def schedule(t: int, scale: float, exponent: float) -> float:
    """``scale · (2 / (t + 2))^exponent`` for iteration ``t = 0, 1, ...`` (authors' code)."""
    return scale * (2.0 / (t + 2)) ** exponent


def reward_to_go(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """``G_h = Σ_{t≥h} γ^t r_t`` over time-major ``rewards (H, *batch)`` (discounted from the
    start, as in GPOMDP: ``γ^h`` times :func:`polab.core.advantages.discounted_returns`)."""
    H = rewards.shape[0]
    discounts = gamma ** torch.arange(H, dtype=rewards.dtype, device=rewards.device)
    weighted = discounts.reshape(H, *[1] * (rewards.dim() - 1)) * rewards
    return weighted.flip(0).cumsum(0).flip(0)


def gpomdp_gradient(scores: torch.Tensor, rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """GPOMDP/REINFORCE with reward-to-go, ``g(τ,θ) = Σ_h ∇log π_θ(a_h|s_h) G_h`` (the card).

    ``scores (H, *batch, d)`` are the per-step ``∇_θ log π``; returns ``(*batch, d)``.
    """
    return (reward_to_go(rewards, gamma).unsqueeze(-1) * scores).sum(0)


def hessian_vector_estimate(scores: torch.Tensor, log_prob_hvps: torch.Tensor,
                            rewards: torch.Tensor, gamma: float,
                            direction: torch.Tensor) -> torch.Tensor:
    """HARPG's unbiased Hessian-vector product ``B(τ,θ) u`` with ``u = direction (*batch, d)``:

        B(τ,θ) = ∇Φ(τ,θ) ∇log p(τ|θ)ᵀ + ∇²Φ(τ,θ),   Φ(τ,θ) = Σ_h G_h log π_θ(a_h|s_h)

    (Fatkhullin et al. 2023, after Shen et al. 2019). ``E_τ[B(τ,θ)] = ∇²J(θ)`` needs *both*
    terms: the score outer product carries the dependence of the trajectory distribution on
    θ. ``log_prob_hvps (H, *batch, d)`` are the per-step ``∇²log π_θ(a_h|s_h) u``. In
    autograd terms: ``∇Φ · <∇log p, u> + ∇_θ <∇Φ, u>`` (a double backward).
    """
    grad_phi = gpomdp_gradient(scores, rewards, gamma)
    score_along_u = (scores.sum(0) * direction).sum(-1, keepdim=True)
    return grad_phi * score_along_u + gpomdp_gradient(log_prob_hvps, rewards, gamma)


def igt_extrapolation(theta: torch.Tensor, theta_prev: torch.Tensor, eta: float) -> torch.Tensor:
    """Implicit gradient transport's evaluation point ``θ̃ = θ + (1-η)/η (θ - θ_prev)``.

    With ``d_t = (1-η) d_{t-1} + η ∇J(θ̃_t)`` and ``d_{t-1} ≈ ∇J(θ_{t-1})``, a first-order
    expansion gives ``d_t ≈ ∇J(θ_t)``: the old average is transported to the new iterate.
    """
    return theta + (1.0 - eta) / eta * (theta - theta_prev)


def momentum_update(direction: torch.Tensor, gradient: torch.Tensor, eta: float,
                    correction: torch.Tensor | None = None) -> torch.Tensor:
    """``d_t = (1-η)(d_{t-1} + v_t) + η g_t``: an exponential average (``v = 0``) or, with the
    Hessian correction ``v_t ≈ ∇J(θ_t) - ∇J(θ_{t-1})``, a recursive (STORM-type) estimator."""
    carried = direction if correction is None else direction + correction
    return (1.0 - eta) * carried + eta * gradient


def normalized_step(theta: torch.Tensor, direction: torch.Tensor,
                    step_size: float) -> torch.Tensor:
    """``θ + γ d / ‖d‖`` (ascent; the norm is taken per run over the last dimension)."""
    return theta + step_size * direction / direction.norm(dim=-1, keepdim=True)


def diverged_as_inf(values: torch.Tensor) -> torch.Tensor:
    """Non-finite entries (a run whose iterates blew up) become ``+inf``."""
    return torch.where(torch.isfinite(values), values, torch.full_like(values, math.inf))


def quartiles(values: torch.Tensor) -> list[float]:
    """First quartile, median and third quartile of ``values`` (1-D; ``+inf`` allowed: a
    diverged run counts as the worst, and the median stays finite while most runs are)."""
    ordered = diverged_as_inf(values).sort().values
    last = ordered.shape[0] - 1
    return [((ordered[math.floor(p * last)] + ordered[math.ceil(p * last)]) / 2).item()
            for p in (0.25, 0.5, 0.75)]


# --- CONFIGS -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LQRPGConfig(Config):
    """What every policy-gradient method on the LQR shares (defaults: vanilla PG's).

    Step-size scales of all methods were tuned on seed 1000 (20 runs) at 5000 trajectories
    on grids ×2-3 apart: the best median gap among the settings where no run diverged.
    Unnormalised steps diverge on some runs when larger (heavy-tailed gradient estimates near
    unstable gains): vanilla PG with ``gamma_0 = 1e-4`` reaches a lower median gap (6.6 vs
    13 at T = 5000) but 3 of 20 runs blow up (the ``diverged`` metric counts them).
    """

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    num_seeds: int = param(10, help="independent runs optimised side by side (a batch "
                           "dimension); metrics are medians and quartiles over them",
                           low=1, high=4096)
    total_trajectories: int = param(5000, help="budget: trajectories per run",
                                    low=1, high=10_000_000)
    horizon: int = param(50, help="trajectory length H", low=2, high=1000)
    gamma: float = param(0.99, help="discount factor (the paper calls its step size γ_t: "
                         "here that is gamma_0)", low=0.5, high=1.0)
    policy_std: float = param(0.5, help="std σ of the Gaussian policy, fixed (a collapsing σ "
                              "breaks Fisher non-degeneracy)", low=0.05, high=2.0)
    gamma_0: float = param(3e-5, help="step-size scale: γ_t = gamma_0 (2/(t+2))^lr_exponent",
                           low=1e-6, high=10.0, log=True, paper="Fatkhullin 2023")
    lr_exponent: float = param(2 / 3, help="decay exponent of the step size γ_t (authors' "
                               "code for vanilla PG: 2/3)", low=0.0, high=1.5)
    evals_per_decade: int = param(60, help="exact J and ∇J (gap, tracking error) are computed "
                                  "at about this many log-spaced iterations per decade",
                                  low=1, high=1_000_000)

    @property
    def num_iterations(self) -> int:
        """Iterations that spend ``total_trajectories`` (one trajectory each)."""
        return self.total_trajectories


@dataclass(frozen=True)
class VanillaPGConfig(LQRPGConfig):
    """Stochastic gradient ascent with one GPOMDP trajectory per step (the O(ε⁻³) baseline)."""


@dataclass(frozen=True)
class MomentumConfig(LQRPGConfig):
    """Adds the momentum schedule ``η_t = eta_0 (2/(t+2))^eta_exponent``."""

    eta_0: float = param(1.0, help="momentum scale: η_t = eta_0 (2/(t+2))^eta_exponent "
                         "(η = 1: no memory)", low=0.01, high=1.0, paper="Fatkhullin 2023")
    eta_exponent: float = param(1.0, help="decay exponent of the momentum weight η_t",
                                low=0.0, high=1.5)


@dataclass(frozen=True)
class NPGIGTConfig(MomentumConfig):
    """Normalised PG with implicit gradient transport (one trajectory per iteration)."""

    gamma_0: float = param(0.2, help="step-size scale: γ_t = gamma_0 (2/(t+2))^lr_exponent",
                           low=1e-6, high=10.0, log=True)
    lr_exponent: float = param(1.0, help="decay exponent of γ_t (authors' code: 1; card "
                               "guessed 3/5)", low=0.0, high=1.5)
    eta_exponent: float = param(0.8, help="decay exponent of η_t (authors' code: 4/5)",
                                low=0.0, high=1.5)
    transport: bool = param(True, help="evaluate the fresh gradient at the extrapolated point "
                            "(off: plain normalised momentum, N-PG)")


@dataclass(frozen=True)
class HARPGConfig(MomentumConfig):
    """Hessian-aided recursive PG, unnormalised steps (two trajectories per iteration)."""

    gamma_0: float = param(3e-5, help="step-size scale: γ_t = gamma_0 (2/(t+2))^lr_exponent",
                           low=1e-6, high=10.0, log=True)
    lr_exponent: float = param(0.5, help="decay exponent of γ_t (authors' code: 1/2)",
                               low=0.0, high=1.5)

    @property
    def num_iterations(self) -> int:
        """Iterations that spend ``total_trajectories`` (1, then 2 per iteration)."""
        return max(1, (self.total_trajectories + 1) // 2)


@dataclass(frozen=True)
class NHARPGConfig(HARPGConfig):
    """Normalised HARPG (two trajectories per iteration)."""

    gamma_0: float = param(0.1, help="step-size scale: γ_t = gamma_0 (2/(t+2))^lr_exponent",
                           low=1e-6, high=10.0, log=True)
    lr_exponent: float = param(1.0, help="decay exponent of γ_t (authors' code: 1)",
                               low=0.0, high=1.5)


# --- ALGORITHMS ----------------------------------------------------------------------------


class VanillaPG(Algorithm):
    """Built as ``VanillaPG(config, lqr=None, device=None)``; ``step()`` runs one iteration.

    ``lqr`` gives the system (default :meth:`LQR.double_integrator`); its discount, horizon
    and policy noise are taken from the config. ``device`` defaults to the CPU (the problem
    is tiny; a GPU pays off only for thousands of seeds). Subclasses change the gradient
    estimate (:meth:`estimate`) and whether the step is normalised.
    """

    config: LQRPGConfig
    normalized = False
    state_parts = ("theta", "theta_prev", "direction", "generator")
    x_label = "trajectories per run"

    def __init__(self, config: LQRPGConfig, lqr: LQR | None = None,
                 device: str | torch.device | None = None):
        self.setup(config, "cpu" if device is None else device)
        config = self.config
        dtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS: no f64
        base = lqr if lqr is not None else LQR.double_integrator(dtype=dtype)
        self.lqr = replace(base.to(self.device), gamma=config.gamma, horizon=config.horizon,
                           policy_std=config.policy_std)
        self.theta = self.lqr.init_gain.reshape(1, -1).repeat(config.num_seeds, 1)
        self.theta_prev = self.theta.clone()
        self.direction = torch.zeros_like(self.theta)
        self.optimal_gain = self.lqr.optimal_gain()
        self.optimal_return = self.lqr.expected_return(self.optimal_gain).item()

    def gain(self, theta: torch.Tensor) -> torch.Tensor:
        """The gain matrices ``K (num_seeds, m, n)`` of flat parameters ``θ``."""
        return theta.reshape(*theta.shape[:-1], self.lqr.action_dim, self.lqr.state_dim)

    def sample(self, theta: torch.Tensor) -> tuple[Trajectories, torch.Tensor]:
        """One trajectory per row of ``θ`` from ``π_θ``, and its per-step scores ``∇log π``."""
        K = self.gain(theta)
        traj = self.lqr.rollout(K, self.generator)
        return traj, gaussian_score(K, traj.states, traj.actions, self.lqr.policy_std).flatten(-2)

    def sample_gradient(self, theta: torch.Tensor) -> torch.Tensor:
        """One trajectory per run from ``π_θ`` and its GPOMDP gradient ``g(τ, θ)``."""
        traj, scores = self.sample(theta)
        self.global_step += 1
        return gpomdp_gradient(scores, traj.rewards, self.lqr.gamma)

    def step(self) -> dict[str, Any]:
        scalars = self.schedules()
        # --- ROLLOUT + ESTIMATE: d_0 = g(τ_0, θ_0), then the method's own estimate ---
        d = self.sample_gradient(self.theta) if self.iteration == 0 else self.estimate(scalars)
        # --- UPDATE ---
        return self.advance(d, scalars["charts/learning_rate"], scalars)

    def schedules(self) -> dict[str, float]:
        """This iteration's step size ``γ_t`` (logged as ``charts/learning_rate``)."""
        cfg = self.config
        return {"charts/learning_rate": schedule(self.iteration, cfg.gamma_0, cfg.lr_exponent)}

    def estimate(self, scalars: dict[str, float]) -> torch.Tensor:
        """The direction ``d_t`` of iteration ``t ≥ 1`` from fresh trajectories, given this
        iteration's :meth:`schedules`. Vanilla PG: ``g(τ_t, θ_t)``."""
        return self.sample_gradient(self.theta)

    def advance(self, d: torch.Tensor, lr: float, scalars: dict[str, Any]) -> dict[str, Any]:
        """Take the (normalised or plain) step along ``d`` and report the metrics."""
        theta = self.theta
        new_theta = normalized_step(theta, d, lr) if self.normalized else theta + lr * d
        self.theta_prev, self.theta, self.direction = theta, new_theta, d
        self.iteration += 1
        # --- LOGGING (plumbing) ---
        metrics = {**scalars, "gain": self.gain(new_theta)}
        if self.evaluate_now(self.iteration - 1):
            metrics.update(self.exact_metrics(theta, d, new_theta))
        return metrics

    def evaluate_now(self, t: int) -> bool:
        """Log-spaced: every ``⌈9·10^k / evals_per_decade⌉`` iterations in ``[10^k, 10^{k+1})``,
        and the last iteration of the budget."""
        every = math.ceil(9 * 10 ** int(math.log10(t + 1)) / self.config.evals_per_decade)
        return (t + 1) % every == 0 or t + 1 == self.config.num_iterations

    def exact_metrics(self, theta: torch.Tensor, d: torch.Tensor,
                      new_theta: torch.Tensor) -> dict[str, Any]:
        """Gap ``J* - J(θ_{t+1})`` and tracking error ``‖d_t - ∇J(θ_t)‖`` per run, summarised."""
        n = theta.shape[0]
        J, grad = self.lqr.exact_gradient(self.gain(torch.cat([theta, new_theta])))
        grad = grad[:n].flatten(-2)
        gap = diverged_as_inf(self.optimal_return - J[n:])
        out = {"expected_return": -quartiles(-J[n:])[1],
               "grad_norm": quartiles(grad.norm(dim=-1))[1],
               "diverged": int(torch.isinf(gap).sum()),
               "optimality_gap_per_seed": gap}
        for key, values in (("optimality_gap", gap), ("grad_error", (d - grad).norm(dim=-1))):
            q25, q50, q75 = quartiles(values)
            out.update({key: q50, f"{key}_q25": q25, f"{key}_q75": q75})
        return out


class MomentumPG(VanillaPG):
    """What N-PG-IGT and (N)-HARPG share: the momentum weight ``η_t`` of iteration ``t``."""

    config: MomentumConfig

    def schedules(self) -> dict[str, float]:
        """Adds the momentum weight ``η_t = eta_0 (2/(t+2))^eta_exponent`` (``eta``)."""
        cfg = self.config
        return {**super().schedules(),
                "eta": schedule(self.iteration, cfg.eta_0, cfg.eta_exponent)}


class NPGIGT(MomentumPG):
    """N-PG-IGT (the card): normalised momentum with implicit gradient transport."""

    config: NPGIGTConfig
    normalized = True

    def estimate(self, scalars: dict[str, float]) -> torch.Tensor:
        """``d_t = (1-η_t) d_{t-1} + η_t g(τ_t, θ̃_t)``, the fresh gradient taken at the
        extrapolated point ``θ̃_t`` (at ``θ_t`` with ``transport=False``)."""
        eta = scalars["eta"]
        point = (igt_extrapolation(self.theta, self.theta_prev, eta) if self.config.transport
                 else self.theta)
        return momentum_update(self.direction, self.sample_gradient(point), eta)


class HARPG(MomentumPG):
    """HARPG (the card): recursive momentum corrected by a Hessian-vector product."""

    def estimate(self, scalars: dict[str, float]) -> torch.Tensor:
        """``d_t = (1-η_t)(d_{t-1} + B(τ̂_t, θ̂_t)(θ_t - θ_{t-1})) + η_t g(τ_t, θ_t)``."""
        eta = scalars["eta"]
        # the Hessian trajectory comes from a uniformly random point of the last step:
        # E_q[∇²J(θ̂) u] = ∇J(θ_t) - ∇J(θ_{t-1}) exactly, so the correction is unbiased
        q = torch.rand(self.theta.shape[0], 1, generator=self.generator,
                       dtype=self.theta.dtype, device=self.device)
        u = self.theta - self.theta_prev
        # both trajectories (at θ̂_t and at θ_t) in one batched rollout
        traj, scores = self.sample(torch.cat([self.theta_prev + q * u, self.theta]))
        gamma, n = self.lqr.gamma, u.shape[0]
        hvps = gaussian_log_prob_hvp(traj.states[:, :n], self.gain(u),
                                     self.lqr.policy_std).flatten(-2)
        v = hessian_vector_estimate(scores[:, :n], hvps, traj.rewards[:, :n], gamma, u)
        g = gpomdp_gradient(scores[:, n:], traj.rewards[:, n:], gamma)
        self.global_step += 2
        return momentum_update(self.direction, g, eta, correction=v)


class NHARPG(HARPG):
    """N-HARPG (the card): HARPG with normalised steps."""

    normalized = True
