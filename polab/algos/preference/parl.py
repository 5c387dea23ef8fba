"""PARL / A-PARL: reward learning from preferences as a bilevel problem (card 1).

Chakraborty, Bedi, Koppel, Manocha, Wang, Wang, Huang, "PARL: A Unified Framework for Policy
Alignment in Reinforcement Learning", ICLR 2024 (arXiv 2308.02585). The upper level picks
reward parameters ν to maximise the Bradley–Terry log-likelihood of human labels on pairs of
trajectories that the lower level's optimal policy θ*(ν) generates; the lower level maximises
the entropy-regularised return of r_ν. Because the data come from θ*(ν), the hypergradient
has a second, *implicit* term (card 1, "Hypergradient"):

    ∇_ν G = E_{ρ(θ*)}[∇_ν U_ν]  +  (dθ*/dν)ᵀ E_{ρ(θ*)}[U_ν ∇_θ log ρ(τ; θ*)],
    dθ*/dν = −H⁻¹ ∇²_{θν} V,   H = ∇²_{θθ} V(ν, θ*),

with −H⁻¹ applied by a truncated Neumann series η Σ_{j≤J} (I + ηH)^j (H is negative
definite for a maximisation: card 1, pitfall 2), here on the occupancy-preconditioned D⁻¹H.
One :meth:`PARL.step` is A-PARL's loop:
(i) K warm-started exact policy-gradient steps on V(ν, θ); (ii) fresh pairs from π_θ, labelled
by a Bradley–Terry oracle on the hidden true return; (iii) ν ← ν + β ∇_ν Ĝ.
``use_implicit_term=False`` drops the second term: plain maximum-likelihood reward fitting on
the current policy's data, the PEBBLE-like baseline.

What this miniature keeps and drops (card 1, "Miniature"):

1. the lower level is a tabular softmax policy on a finite MDP (:mod:`polab.envs.tabular`),
   its value, gradient, Hessian-vector products and mixed ν–θ derivatives exact by autograd
   through a linear solve (the paper estimates them from samples);
2. the reward model is linear in the MDP's features (one-hot cells on the gridworld);
3. the distribution term's expectation is a score-function estimate on the queried pairs with
   the mean utility as baseline (pitfall 5); everything else is exact;
4. trajectory returns are discounted (γ^h) in both the oracle and the reward model;
5. the Neumann series runs on D⁻¹H (D the state occupancy; same fixed point, better
   conditioned), its η from a power-iteration estimate of the norm, and stops where a term
   grows (positive curvature when θ is still far from θ*).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from polab.algos.preference.losses import dpo_loss
from polab.config import Config, param
from polab.core.algorithm import Algorithm
from polab.envs.tabular import FiniteMDP


@dataclass(frozen=True)
class PARLConfig(Config):
    """A-PARL's knobs (card 1, "Widgets"); ``use_implicit_term=False`` is PEBBLE-like."""

    seed: int = param(0, help="random seed (trajectories, labels)", low=0, high=2**31 - 1)
    num_iterations: int = param(300, help="outer iterations T (each queries pairs_per_iter "
                                "pairs)", low=1, high=100_000, paper="card 1 (full run: 300)")
    K_inner: int = param(10, help="K: warm-started lower-level policy-gradient steps per "
                         "outer step", low=1, high=50, paper="card 1")
    inner_lr: float = param(2.0, help="α: lower-level exact policy-gradient step size",
                            low=1e-3, high=100.0, log=True, paper="card 1 (α)")
    use_implicit_term: bool = param(True, help="keep the distribution-shift term of the "
                                    "hypergradient (A-PARL); off = PEBBLE-like",
                                    paper="Chakraborty et al. 2024")
    ent_coef: float = param(0.05, help="λ: entropy bonus of the lower level (0 makes θ* "
                            "non-unique and H singular)", low=0.0, high=0.5, paper="card 1")
    pairs_per_iter: int = param(8, help="preference queries (trajectory pairs) per outer step",
                                low=1, high=64, paper="card 1")
    beta_outer: float = param(0.1, help="β: upper-level step size on ν", low=1e-3, high=1.0,
                              log=True, paper="card 1")
    neumann_terms: int = param(20, help="J: terms of the Neumann series for −H⁻¹ (0 = ηI)",
                               low=0, high=50, paper="card 1")
    neumann_scale: float = param(1.0, help="η·‖H‖ of the Neumann series (η is set each step "
                                 "from a power-iteration estimate of ‖H‖; < 2 converges)",
                                 low=0.05, high=1.9)
    label_temperature: float = param(1.0, help="temperature of the simulated human's "
                                     "Bradley–Terry labels on true returns", low=0.1,
                                     high=5.0, log=True, paper="card 1 (label_noise)")
    slip: float = param(0.1, help="probability a gridworld move is replaced by a random one",
                        low=0.0, high=0.9)

    def rules(self) -> list[tuple[bool, str]]:
        return [(not self.use_implicit_term or self.ent_coef > 0,
                 "use_implicit_term needs ent_coef > 0: with λ = 0 the lower-level Hessian "
                 "is singular and the implicit term explodes (card 1, pitfall 1)")]


# --- pure functions ---------------------------------------------------------------------------

def policy_gradient(mdp: FiniteMDP, logits: torch.Tensor, reward: torch.Tensor,
                    ent_coef: float) -> torch.Tensor:
    """Exact ``∇_θ V(ν, θ)`` of the entropy-regularised value (card 1, lower level)."""
    theta = logits.detach().requires_grad_(True)
    return torch.autograd.grad(mdp.soft_objective(theta, reward, ent_coef), theta)[0]


def lower_level(mdp: FiniteMDP, logits: torch.Tensor, reward: torch.Tensor, ent_coef: float,
                lr: float, steps: int) -> torch.Tensor:
    """``steps`` exact policy-gradient ascent steps from ``logits`` (warm start; card 1,
    A-PARL step (i) and pitfall 3)."""
    for _ in range(steps):
        logits = logits + lr * policy_gradient(mdp, logits, reward, ent_coef)
    return logits


def bt_log_likelihood(delta: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """``U = y log σ(Δ) + (1 − y) log σ(−Δ)`` with ``Δ = R_ν(τ¹) − R_ν(τ⁰)`` and ``y`` the
    (possibly soft) probability that τ¹ is preferred (card 1, RLHF instance); DPO's loss with
    β = 1 on the reward margin, negated."""
    return -(label * dpo_loss(delta, 1.0) + (1 - label) * dpo_loss(-delta, 1.0))


def oracle_labels(true0: torch.Tensor, true1: torch.Tensor, temperature: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The simulated human: ``y ~ Bernoulli(σ((R*(τ¹) − R*(τ⁰))/T))`` (card 1)."""
    p = torch.sigmoid((true1 - true0) / temperature)
    return torch.bernoulli(p, generator=generator)


def trajectory_scores(logits: torch.Tensor, states: torch.Tensor,
                      actions: torch.Tensor) -> torch.Tensor:
    """``∇_θ log ρ(τ; θ) = Σ_h (e_{s_h a_h} − e_{s_h} ⊗ π(·|s_h))`` of a tabular softmax policy,
    ``[n, S, A]`` (the transitions do not depend on θ)."""
    S, A = logits.shape
    pi = torch.softmax(logits, -1)
    visits = torch.nn.functional.one_hot(states * A + actions, S * A).sum(1).view(-1, S, A)
    return visits.to(pi.dtype) - visits.sum(-1, keepdim=True) * pi


def neumann_inverse(op: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, eta: float,
                    terms: int, weight: torch.Tensor | float = 1.0) -> torch.Tensor:
    """``η Σ_{j=0}^{J} (I + ηA)^j v ≈ −A⁻¹ v`` for an operator ``A`` with a non-positive
    spectrum, self-adjoint in the inner product weighted by ``weight`` (card 1, truncated
    Neumann series with (I + ηH) for a maximisation; pitfall 2). With η‖A‖ ≤ 1 the terms never
    grow when A ⪯ 0; away from θ* the Hessian may have positive curvature, so the series stops
    at the first term that grows (in the weighted norm) instead of diverging."""
    def norm(u: torch.Tensor) -> torch.Tensor:
        return (weight * u * u).sum()

    term, total = v, v
    for _ in range(terms):
        nxt = term + eta * op(term)
        if norm(nxt) > norm(term):
            break
        term = nxt
        total = total + term
    return eta * total


def spectral_norm(op: Callable[[torch.Tensor], torch.Tensor], like: torch.Tensor,
                  iterations: int = 10) -> torch.Tensor:
    """‖A‖ by power iteration from a fixed pseudo-random start (seeded locally, so runs stay
    reproducible), for the Neumann step η = scale/‖A‖."""
    v = torch.randn(like.shape, generator=torch.Generator().manual_seed(0), dtype=like.dtype)
    v = v.to(like.device)
    norm = v.norm()
    for _ in range(iterations):
        v = op(v / norm)
        norm = v.norm()
    return norm


def implicit_term(mdp: FiniteMDP, nu: torch.Tensor, logits: torch.Tensor, ent_coef: float,
                  score_term: torch.Tensor, scale: float, terms: int) -> torch.Tensor:
    """``(dθ*/dν)ᵀ g = (∇²_{θν} V)ᵀ (−H⁻¹ g)`` at ``(ν, θ)`` for ``g = score_term`` (card 1,
    implicit function theorem); every derivative of the exact V by autograd.

    −H⁻¹g comes from :func:`neumann_inverse` on the occupancy-preconditioned Hessian D⁻¹H
    (D = diag of the discounted state occupancy d_π(s)): the stationarity condition
    D⁻¹∇_θV = 0 has the same solution θ* and, at θ*, the Jacobian D⁻¹H, so
    −H⁻¹g = −(D⁻¹H)⁻¹D⁻¹g exactly; D⁻¹H is far better conditioned on the grid (rarely
    visited cells have tiny curvature), so J = 20 terms suffice. η = scale/‖D⁻¹H‖."""
    nu = nu.detach().requires_grad_(True)
    theta = logits.detach().requires_grad_(True)
    value = mdp.soft_objective(theta, mdp.linear_reward(nu), ent_coef)
    grad_theta = torch.autograd.grad(value, theta, create_graph=True)[0]
    occupancy = mdp.occupancy(torch.softmax(theta, -1).detach(), horizon=0)
    d = occupancy.sum(-1, keepdim=True).clamp_min(1e-12)

    def op(u: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(grad_theta, theta, u, retain_graph=True)[0] / d

    eta = scale / float(spectral_norm(op, theta).clamp_min(1e-12))
    w = neumann_inverse(op, score_term / d, eta, terms, weight=d)
    return torch.autograd.grad(grad_theta, nu, w)[0]


def preference_hypergradient(mdp: FiniteMDP, nu: torch.Tensor, logits: torch.Tensor,
                             states: torch.Tensor, actions: torch.Tensor, labels: torch.Tensor,
                             config: PARLConfig) -> dict[str, torch.Tensor]:
    """The sampled hypergradient on ``n`` labelled pairs (``states``/``actions`` ``[2, n, H]``:
    τ⁰ and τ¹): ``direct`` = mean ∇_ν U, ``implicit`` from the score-function estimate
    ``g = mean (U − Ū)(∇_θ log ρ(τ⁰) + ∇_θ log ρ(τ¹))`` (pitfall 5), ``total`` = direct +
    implicit (implicit only when ``config.use_implicit_term``), and ``utility`` = Ū."""
    phi = mdp.trajectory_features(states.flatten(0, 1), actions.flatten(0, 1))
    phi = phi.view(2, -1, phi.shape[-1])
    nu_ = nu.detach().requires_grad_(True)
    utility = bt_log_likelihood((phi[1] - phi[0]) @ nu_, labels)
    direct = torch.autograd.grad(utility.mean(), nu_)[0]
    out = {"direct": direct, "utility": utility.mean().detach()}
    if config.use_implicit_term:
        scores = trajectory_scores(logits, states.flatten(0, 1), actions.flatten(0, 1))
        scores = scores.view(2, -1, *logits.shape).sum(0)
        u = (utility - utility.mean()).detach()
        g = (u[:, None, None] * scores).mean(0)
        out["implicit"] = implicit_term(mdp, nu, logits, config.ent_coef, g,
                                        config.neumann_scale, config.neumann_terms)
    else:
        out["implicit"] = torch.zeros_like(direct)
    out["total"] = direct + out["implicit"]
    return out


def oracle_policy(mdp: FiniteMDP, ent_coef: float) -> torch.Tensor:
    """The reference: the lower level's optimum on the true reward, π*(r*) by soft VI."""
    return mdp.soft_value_iteration(mdp.reward, ent_coef)[1]


# --- trainer ----------------------------------------------------------------------------------

class PARL(Algorithm):
    """A-PARL (module docstring); ``env`` is ``"gridworld"`` or a :class:`FiniteMDP` with
    features. ``global_step`` counts preference queries (labelled pairs)."""

    state_parts = ("logits", "nu", "generator")
    x_label = "preference queries"
    config: PARLConfig

    def __init__(self, config: PARLConfig, env: FiniteMDP | str = "gridworld",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        if isinstance(env, str):
            if env != "gridworld":
                raise ValueError(f"PARL runs on env 'gridworld' or a FiniteMDP, got {env!r}")
            from polab.algos.preference.testbeds import make_testbed
            env = make_testbed(env, self.config, self.device)
        if env.features is None:
            raise ValueError("PARL's env needs reward features (FiniteMDP(features=...))")
        self.mdp = env
        dtype = env.P.dtype
        self.logits = torch.zeros(env.num_states, env.num_actions, dtype=dtype,
                                  device=env.device)
        self.nu = torch.zeros(env.features.shape[-1], dtype=dtype, device=env.device)
        self.oracle = oracle_policy(env, self.config.ent_coef)
        self.oracle_return = float(env.expected_return(self.oracle))

    @property
    def policy(self) -> torch.Tensor:
        """π_θ ``[S, A]``."""
        return torch.softmax(self.logits, -1)

    @property
    def learned_reward(self) -> torch.Tensor:
        """r_ν ``[S, A]``."""
        return self.mdp.linear_reward(self.nu)

    def step(self) -> dict[str, Any]:
        c, mdp = self.config, self.mdp
        # --- LOWER LEVEL: K warm-started exact PG steps on V(ν, θ) ---
        self.logits = lower_level(mdp, self.logits, self.learned_reward, c.ent_coef,
                                  c.inner_lr, c.K_inner)
        # --- QUERIES: fresh pairs from π_θ, labelled by the BT oracle on true returns ---
        states, actions = mdp.sample(self.policy, 2 * c.pairs_per_iter, self.generator)
        states = states.view(2, c.pairs_per_iter, -1)
        actions = actions.view(2, c.pairs_per_iter, -1)
        true = mdp.trajectory_returns(states, actions)
        labels = oracle_labels(true[0], true[1], c.label_temperature, self.generator)
        # --- UPPER LEVEL: hypergradient ascent on ν ---
        hyper = preference_hypergradient(mdp, self.nu, self.logits, states, actions, labels, c)
        self.nu = self.nu + c.beta_outer * hyper["total"]
        # --- LOGGING (plumbing) ---
        self.iteration += 1
        self.global_step += c.pairs_per_iter
        return {"true_return": float(mdp.expected_return(self.policy)),
                "oracle_return": self.oracle_return,
                "utility": float(hyper["utility"]),
                "hypergrad/direct_norm": float(hyper["direct"].norm()),
                "hypergrad/implicit_norm": float(hyper["implicit"].norm()),
                "lower/grad_norm": float(policy_gradient(
                    mdp, self.logits, self.learned_reward, c.ent_coef).norm())}
