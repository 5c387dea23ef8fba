"""Exercise (PARL, card 1, pitfalls 1–2): how many Neumann terms does the implicit term need?

The implicit term applies −H⁻¹ (the inverse lower-level Hessian) with a truncated Neumann series
of J terms. :func:`implicit_cosine` compares that truncated term with the exact Jacobian
product (autograd through soft value iteration) on the gridworld. Before you run it: which is
the smallest J in :data:`TERMS` whose cosine exceeds 0.99 at the card's λ = 0.05? Does a
larger entropy coefficient λ make that J smaller or larger? Run, then answer with
:func:`check_neumann_answer`.
"""

from __future__ import annotations

import torch

from polab.algos.preference.parl import implicit_term
from polab.core.exercises import Check
from polab.envs.tabular import gridworld

TERMS = (0, 1, 2, 5, 10, 20, 50)
"""The candidate numbers of Neumann terms J."""


def implicit_cosine(terms: int, ent_coef: float = 0.05, reward_scale: float = 0.3,
                    seed: int = 0) -> float:
    """Cosine between the Neumann implicit term with ``terms`` terms and the exact
    ``(dθ*/dν)ᵀ g`` (autograd through soft VI) on the gridworld at
    ``ν = reward_scale · r* + 0.1·noise``, ``g`` the exact gradient of the true return in θ."""
    mdp = gridworld()
    noise = torch.randn(mdp.num_states, generator=torch.Generator().manual_seed(seed),
                        dtype=mdp.reward.dtype)
    nu = (reward_scale * mdp.reward[:, 0] + 0.1 * noise).requires_grad_(True)
    theta_star = mdp.soft_value_iteration(mdp.linear_reward(nu), ent_coef)[0] / ent_coef
    theta = theta_star.detach().requires_grad_(True)
    g = torch.autograd.grad(mdp.expected_return(torch.softmax(theta, -1)), theta)[0]
    exact = torch.autograd.grad(theta_star, nu, g)[0]
    ours = implicit_term(mdp, nu, theta, ent_coef, g, scale=1.0, terms=terms)
    return float(torch.nn.functional.cosine_similarity(ours, exact, dim=0))


def smallest_terms(ent_coef: float, threshold: float = 0.99) -> int | None:
    """The smallest J in :data:`TERMS` whose :func:`implicit_cosine` exceeds ``threshold``."""
    return next((j for j in TERMS if implicit_cosine(j, ent_coef) > threshold), None)


def check_neumann_answer(first_terms: int, larger_lambda: str, ent_coef: float = 0.05
                         ) -> Check:
    """The learner's ``first_terms`` (the smallest J in :data:`TERMS` with cosine > 0.99 at
    ``ent_coef``) and ``larger_lambda`` ("smaller" or "larger": what λ = 0.3 does to that J)."""
    larger_lambda = larger_lambda.strip().lower()
    if first_terms not in TERMS:
        return Check(False, f"first_terms must be one of {TERMS}, got {first_terms!r}")
    if larger_lambda not in ("smaller", "larger", "same"):
        return Check(False, "larger_lambda: answer 'smaller', 'larger' or 'same'")
    truth, high = smallest_terms(ent_coef), smallest_terms(0.3)
    direction = ("same" if truth == high else
                 "smaller" if (high or 10**9) < (truth or 10**9) else "larger")
    facts = (f"at λ = {ent_coef:g} the cosine first exceeds 0.99 at J = {truth}; at λ = 0.3 "
             f"at J = {high}. ")
    if first_terms != truth:
        return Check(False, facts + f"You said J = {first_terms}. J = 0 is ηD⁻¹g, a "
                     "natural-gradient-like step that ignores the curvature between actions.")
    if larger_lambda != direction:
        return Check(False, facts + f"So a larger λ makes it {direction}, not "
                     f"{larger_lambda}: the entropy term adds −λ·(Fisher) curvature.")
    return Check(True, facts + "Right: the series converges like (1 − η|h|)^J on each "
                 "eigen-direction h of D⁻¹H; the entropy bonus λ lifts the smallest |h| "
                 "(pitfall 1: with λ = 0 it vanishes and no J is enough).")
