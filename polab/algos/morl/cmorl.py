"""C-MORL — constrained multi-objective RL (Liu et al., ICLR 2025, arXiv 2410.02236), and the
linear-scalarisation baseline it is compared with. Card 4; code: github.com/RuohLiuq/C-MORL.

Both train a *population* of PPO policies on a multi-objective environment
(``polab.envs.mo.multiobjective``: rewards ``(N, K)``). All policies of a stage are one
:class:`StackedActorCritic` — weights stacked ``(P, in, out)``, one ``baddbmm`` per layer —
so P policies act, learn and are evaluated together, never one after another.

* **Stage 1 (initialisation)**: ``M`` policies, each PPO on a linear scalarisation
  ``A = w_mᵀ Â`` of the vector GAE advantage ``Â = R̂ - V(s) ∈ R^K`` (vector critic),
  standardised per policy and minibatch (card: ``A = wᵀ(R̂ - V)``, then standardised).
* **Pareto set**: the non-dominated policies among all kept so far, by their deterministic,
  undiscounted returns ``G(π)`` (card pitfall 4).
* **Selection**: the ``N`` policies of the set with the largest crowding distance on
  normalised objectives, boundary points first (pitfall 3).
* **Stage 2 (Pareto extension)**, for each selected ``π_r`` and each objective ``l``: start from
  ``π_r`` and solve ``max G_l(π)  s.t.  G_i(π) ≥ b_i, i ≠ l`` by the barrier (IPO) form

      loss = -L^CLIP(Ā_l) - (1/t) Σ_{i≠l} log(Ĝ_i(π) - b_i),
      Ĝ_i(π) = Ĵ_i + H · mean((ρ - 1) Â_i)

  with ``Ā_l`` the standardised advantage of objective ``l``, ``ρ`` the probability ratio,
  ``Ĵ_i`` the policy's undiscounted return in the current rollout and ``H`` its mean episode
  length (the PPO surrogate of objective ``i``'s return, card's ``Ĝ_i``). While a constraint
  is violated (``Ĵ_i ≤ b_i``) the policy steps on the sum of the violated objectives'
  standardised advantages alone (card pitfall 1); ``log`` is guarded by clamping its argument
  at ``1e-3``. Each extension runs ``ext_iters`` PPO iterations; the results join the
  population; rounds repeat until the budget is spent.
* **Policy assignment**: for a preference ``w``, ``argmax_{π ∈ P} wᵀ G(π)``.

Differences from the card / the authors' code, all noted here:

1. Threshold ``b_i = G_i(π_r) - (1-β) s_i`` with ``s_i`` the extent of objective ``i`` between
   the reference point and the front's best value (:func:`extension_thresholds`), instead of
   the paper's ``β G_i(π_r)``, which depends on where zero is and would *tighten* a negative
   objective such as a time penalty. Defaults ``β = 0.3``, ``t = 100`` (card: 0.9 and 20, for
   normalised returns): with raw DST returns and ``t = 20`` the barrier, whose gradient scales
   with the episode length ``H``, holds every extension far inside its constraint.
2. The barrier form is inferred (``cmorl-ipo``'s file was not available). The CPO form of the
   code (``update_method="cpo"``, :mod:`polab.algos.morl.cpo`: conjugate gradients on Fisher-vector
   products, damping 1e-2, 10 steps, closed-form dual, no line search) takes one constraint, so
   two objectives; its KL radius defaults to 0.01 (TRPO's) rather than the code's 1e-5, with
   which a 10-iteration extension barely moves, and its constraint is the return estimate
   ``Ĝ_i`` of the barrier form rather than the code's critic value.
3. No observation or return normalisation; stage-1 advantages are scalarised in raw units.
4. Every extension round trains exactly ``N·K`` policies (if the Pareto set has fewer than
   ``N`` points, the selection cycles through it), so each round costs the same env steps.
5. Evaluation runs one deterministic episode per policy: every polab MO environment is
   deterministic given the actions. Evaluation steps are not counted in ``global_step``.

Taught in notebooks/09_multi_objective.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from polab.algos.morl.cpo import conjugate_gradient, cpo_direction, cpo_dual, member_dot
from polab.config import Config, param
from polab.core.advantages import gae
from polab.core.distributions import (
    categorical_entropy,
    categorical_kl,
    categorical_logp,
    categorical_sample,
    gaussian_entropy,
    gaussian_kl,
    gaussian_logp,
    gaussian_sample,
)
from polab.device import pick_device, seed_everything
from polab.envs.mo.metrics import (
    cardinality,
    crowding_distance,
    evenly_spread_preferences,
    expected_utility,
    hypervolume,
    pareto_mask,
    random_preferences,
    sparsity,
)
from polab.envs.mo.mo_gym import MO_GYM_PREFIX, MO_GYM_REFERENCE_POINTS
from polab.envs.mo.multiobjective import MO_ENVS, MOBatchedEnv, make_mo

CPO_DAMPING = 1e-2
"""Fisher damping of the ``cpo`` form (the authors' code)."""
CPO_CG_ITERATIONS = 10
"""Conjugate-gradient steps per solve in the ``cpo`` form (the authors' code)."""


@dataclass(frozen=True)
class CMORLConfig(Config):
    """C-MORL's knobs (card 4 widgets) and the PPO underneath. Defaults are tuned for concave
    DST on a 2-core CPU (≈7 s CPU a run): a smaller network and batch than the card,
    ``num_select=2`` (the card's 4 re-extends duplicates of DST's two-point initial front), and
    an entropy bonus of 0.03 (card: 0): with 0.01, stage 1 ended with only the first treasure
    on 1 of 10 seeds, with 0.03 on 1 of 20."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    env: str = param("deep-sea-treasure-concave-v0", help="multi-objective environment "
                     "(mo-gym:… ones are MO-Gymnasium's, stepped on the CPU)",
                     choices=(*MO_ENVS, *(MO_GYM_PREFIX + k for k in MO_GYM_REFERENCE_POINTS)))
    total_timesteps: int = param(300_000, help="environment steps in the whole run (both "
                                 "stages; the baseline gets the same)", low=1_000,
                                 high=100_000_000)
    n_init_policies: int = param(6, help="M: preference-scalarised policies of stage 1",
                                 low=2, high=12)
    init_budget_frac: float = param(0.4, help="share of the budget spent in stage 1",
                                    low=0.2, high=0.8)
    num_select: int = param(2, help="N: sparse front points extended per round", low=1, high=8)
    beta: float = param(0.3, help="constraint relaxation β: keep G_i ≥ G_i(π_r) - (1-β)·s_i, "
                        "s_i = extent of objective i above the reference point",
                        low=0.1, high=0.99, paper="C-MORL eq. (3)")
    barrier_t: float = param(100.0, help="barrier sharpness t (weight 1/t on the log barrier)",
                             low=1.0, high=1000.0, log=True)
    ext_iters: int = param(10, help="K: PPO iterations per extension", low=1, high=50)
    update_method: str = param("ipo", help="extension step: ipo (log barrier in the PPO loss) "
                               "or cpo (CPO's trust-region step; two objectives)",
                               choices=("ipo", "cpo"))
    cpo_max_kl: float = param(0.01, help="cpo: KL radius δ of each step", low=1e-6, high=1.0,
                              log=True)
    num_envs: int = param(16, help="environment copies per policy", low=1, high=4096)
    num_steps: int = param(32, help="steps per copy per rollout", low=1, high=2048)
    learning_rate: float = param(3e-3, help="Adam learning rate", low=1e-5, high=1e-1, log=True)
    gamma: float = param(0.99, help="discount factor γ (training only; fronts are undiscounted)",
                         low=0.0, high=1.0)
    gae_lambda: float = param(0.95, help="GAE λ", low=0.0, high=1.0)
    update_epochs: int = param(4, help="passes over each rollout", low=1, high=50)
    num_minibatches: int = param(2, help="minibatches per epoch", low=1, high=256)
    clip_coef: float = param(0.2, help="surrogate clipping ε", low=0.0, high=1.0)
    ent_coef: float = param(0.03, help="entropy bonus weight", low=0.0, high=1.0)
    vf_coef: float = param(0.5, help="value loss weight", low=0.0, high=10.0)
    max_grad_norm: float = param(0.5, help="gradient clipping norm, per policy", low=0.0,
                                 high=100.0)
    hidden: int = param(32, help="hidden units per layer", low=4, high=512)
    eval_every: int = param(5, help="evaluate the current policies every this many iterations",
                            low=1, high=1000)

    def rules(self) -> list[tuple[bool, str]]:
        rules = [((self.num_envs * self.num_steps) % self.num_minibatches == 0,
                  f"num_minibatches={self.num_minibatches} must divide num_envs*num_steps="
                  f"{self.num_envs * self.num_steps}")]
        if self.update_method == "cpo":
            k = self.n_objectives
            rules.append((k == 2, f"update_method='cpo' takes one constraint, so two "
                                  f"objectives; env={self.env!r} has {k} (use 'ipo')"))
        return rules

    @property
    def n_objectives(self) -> int:
        """The environment's number of objectives ``K``."""
        return make_mo(self.env, 1).reward_dim

    @property
    def steps_per_policy_iteration(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def init_iterations(self) -> int:
        """Stage-1 PPO iterations (M policies at once)."""
        per_iter = self.n_init_policies * self.steps_per_policy_iteration
        return max(1, round(self.init_budget_frac * self.total_timesteps / per_iter))

    def extension_rounds(self, n_objectives: int) -> int:
        """Whole extension rounds that fit in the rest of the budget."""
        spent = self.init_iterations * self.n_init_policies * self.steps_per_policy_iteration
        per_round = (self.num_select * n_objectives * self.steps_per_policy_iteration
                     * self.ext_iters)
        return max(0, (self.total_timesteps - spent) // per_round)

    @property
    def num_iterations(self) -> int:
        """Iterations of a whole C-MORL run (``step()`` calls)."""
        return self.init_iterations + self.extension_rounds(self.n_objectives) * self.ext_iters

    @property
    def baseline_iterations(self) -> int:
        """Iterations of the linear-scalarisation baseline: ``2M`` policies, same budget."""
        per_iter = 2 * self.n_init_policies * self.steps_per_policy_iteration
        return max(1, round(self.total_timesteps / per_iter))


# --- P policies as one network -----------------------------------------------------------

class StackedMLP(nn.Module):
    """``P`` independent MLPs with weights ``(P, in, out)``: ``forward((P, B, in)) -> (P, B, out)``
    by one ``baddbmm`` per layer; CleanRL's orthogonal init for every member."""

    def __init__(self, members: int, sizes: list[int], out_gain: float,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            w = torch.empty(members, a, b)
            gain = out_gain if i == len(sizes) - 2 else math.sqrt(2)
            for m in range(members):  # initialisation only
                nn.init.orthogonal_(w[m], gain, generator=generator)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(members, 1, b)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.tanh(x)
        return x


class StackedActorCritic(nn.Module):
    """``P`` actor-critics: categorical or diagonal-Gaussian actors and *vector* critics
    ``V(s) ∈ R^K``. Tensors are member-major: observations ``(P, B, obs_dim)``."""

    def __init__(self, members: int, obs_dim: int, action_dim: int, discrete: bool,
                 reward_dim: int, hidden: int, generator: torch.Generator | None = None):
        super().__init__()
        self.members, self.discrete = members, discrete
        self.actor = StackedMLP(members, [obs_dim, hidden, hidden, action_dim], 0.01, generator)
        self.critic = StackedMLP(members, [obs_dim, hidden, hidden, reward_dim], 1.0, generator)
        self.log_std = None if discrete else nn.Parameter(torch.zeros(members, 1, action_dim))

    def values(self, obs: torch.Tensor) -> torch.Tensor:
        """``(P, B, K)`` vector values."""
        return self.critic(obs)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None,
            deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.actor(obs)
        if self.discrete:
            actions = out.argmax(-1) if deterministic else categorical_sample(out, generator)
            return actions, categorical_logp(out, actions)
        log_std = self.log_std.expand_as(out)
        actions = out if deterministic else gaussian_sample(out, log_std, generator)
        return actions, gaussian_logp(out, log_std, actions)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor,
                 out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log π(a|s), entropy)``, each ``(P, B)``, with gradients (``out``: the actor's
        output on ``obs`` if already computed)."""
        out = self.actor(obs) if out is None else out
        if self.discrete:
            return categorical_logp(out, actions), categorical_entropy(out)
        log_std = self.log_std.expand_as(out)
        return gaussian_logp(out, log_std, actions), gaussian_entropy(log_std, out.shape[:-1])

    def member(self, index: int) -> dict[str, torch.Tensor]:
        """One member's weights (clones), for storing it in a population."""
        return {k: v[index].detach().clone() for k, v in self.state_dict().items()}

    def load_members(self, members: list[dict[str, torch.Tensor]]) -> None:
        """Overwrite the ``P`` members with stored ones (``len(members) == P``)."""
        self.load_state_dict({k: torch.stack([m[k] for m in members])
                              for k in self.state_dict()})


def clip_grad_norm_per_member(params: list[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clip each member's gradient (the slices ``[m]`` of every stacked parameter) to norm
    ``max_norm`` separately — ``clip_grad_norm_`` of ``P`` independent networks. Returns the
    ``(P,)`` norms before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    sq = sum(g.pow(2).flatten(1).sum(1) for g in grads)
    norms = sq.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
    return norms


# --- the losses as pure functions ---------------------------------------------------------

def standardize(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` along ``dim`` (per policy)."""
    return (x - x.mean(dim, keepdim=True)) / (x.std(dim, keepdim=True) + eps)


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor,
                      clip_coef: float) -> torch.Tensor:
    """PPO's ``L^CLIP = mean_B min(ρ A, clip(ρ, 1-ε, 1+ε) A)`` per policy: ``(P, B) -> (P,)``."""
    return torch.min(ratio * advantages,
                     ratio.clamp(1 - clip_coef, 1 + clip_coef) * advantages).mean(1)


def barrier_terms(ratio: torch.Tensor, advantages: torch.Tensor, current: torch.Tensor,
                  thresholds: torch.Tensor, horizon: torch.Tensor, barrier_t: float,
                  floor: float = 1e-3) -> dict[str, torch.Tensor]:
    """C-MORL's log barrier (card 4, IPO form) for ``P`` policies and ``K`` objectives.

    ``ratio`` ``(P, B)``; ``advantages`` raw vector advantages ``(P, B, K)``; ``current`` the
    returns ``Ĵ`` ``(P, K)``; ``thresholds`` ``b`` ``(P, K)`` (``-inf`` where unconstrained);
    ``horizon`` ``H`` ``(P,)``. Estimates ``Ĝ_i = Ĵ_i + H · mean_B((ρ-1) Â_i)`` and returns
    ``{"estimate": Ĝ, "slack": Ĝ - b, "barrier": (1/t) Σ_i log(max(Ĝ_i - b_i, floor))}``
    (constrained objectives only; the clamp guards the log at infeasible iterates).
    """
    change = ((ratio - 1.0).unsqueeze(-1) * advantages).mean(1)
    estimate = current + horizon[:, None] * change
    slack = estimate - thresholds
    constrained = torch.isfinite(thresholds)
    logs = torch.log(slack.clamp_min(floor)).masked_fill(~constrained, 0.0)
    return {"estimate": estimate, "slack": slack, "barrier": logs.sum(1) / barrier_t}


def objective_advantages(advantages: torch.Tensor, weights: torch.Tensor,
                         per_objective: torch.Tensor) -> torch.Tensor:
    """The advantage each policy ascends, standardised per policy ``(P, B)``.

    ``advantages`` ``(P, B, K)``; ``weights`` ``(P, K)``; ``per_objective`` ``(P,)`` bools.
    Scalarised policies (stage 1, baseline): ``wᵀ Â`` in raw units. Extension policies
    (``per_objective``): ``Σ_k w_k Ā_k`` with each objective's advantage standardised first
    (card pitfall 2; the code's CPO variant standardises per objective too)."""
    raw = (advantages * weights[:, None, :]).sum(-1)
    normed = (standardize(advantages) * weights[:, None, :]).sum(-1)
    return standardize(torch.where(per_objective[:, None], normed, raw))


def extension_thresholds(parents: np.ndarray, front: np.ndarray, reference: np.ndarray,
                          objectives: np.ndarray, beta: float) -> np.ndarray:
    """The constraint levels ``b`` ``(P, K)`` of the extension problems (C-MORL eq. 3).

    Member ``p`` starts from returns ``G = parents[p]`` and maximises objective
    ``objectives[p]`` subject to ``G_i(π) ≥ b_i = G_i - (1-β) s_i`` for every other ``i``, with
    ``s_i = max_front G_i - ref_i`` the extent of objective ``i`` between the reference point and
    the best point of the current ``front``; its own objective gets ``-inf`` (no constraint).
    The paper's ``b_i = β G_i`` relaxes by a share of the parent's own value, which depends on
    where zero is and tightens a negative objective (a time penalty); ``s_i`` is the scale the
    hypervolume already measures objective ``i`` in (card 4, pitfall 2)."""
    scale = front.max(0) - reference
    out = parents - (1.0 - beta) * scale[None, :]
    out[np.arange(len(parents)), objectives] = -np.inf
    return out


def crowding_selection(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` points with the largest crowding distance (boundary points
    first, ties by index); cycles through the points if there are fewer than ``count``."""
    order = np.argsort(-crowding_distance(points), kind="stable")
    return order[np.arange(count) % len(order)]


def assign_policy(returns: np.ndarray, preference: np.ndarray) -> int:
    """C-MORL's policy assignment: ``argmax_π wᵀ G(π)`` over the rows of ``returns``."""
    return int(np.argmax(np.asarray(returns) @ np.asarray(preference)))


# --- the population machinery shared by C-MORL and the baseline ---------------------------

@dataclass
class StoredPolicy:
    """A policy kept in the population: its evaluated returns and where it came from."""

    returns: np.ndarray
    stage: str  # "init", "extension" or "linear"
    round: int  # extension round (0 for stage 1 and the baseline)
    label: str
    weights: dict[str, torch.Tensor] = field(repr=False)


class _Population:
    """Trains ``P`` policies at once with PPO and keeps the evaluated population.

    Subclasses decide what the members optimise (``_configure``) and when they join the
    population."""

    def __init__(self, config: CMORLConfig, env: MOBatchedEnv | str | None = None,
                 device: str | torch.device | None = None):
        self.config = c = config.validate()
        self.device = pick_device(device)
        seed_everything(c.seed)
        self.generator = torch.Generator(self.device).manual_seed(c.seed)
        self.init_generator = torch.Generator().manual_seed(c.seed)
        name = c.env if env is None else env
        probe = make_mo(name, 1, self.device) if isinstance(name, str) else name
        self.probe = probe  # builds the copies: ``probe.copies(n)``
        self.env_name = probe.name
        self.objective_names = list(probe.objective_names)
        self.k = probe.reward_dim
        self.reference_point = np.array(probe.reference_point, dtype=np.float64)
        self.true_front = probe.known_front()
        self.obs_dim, self.action_dim = probe.obs_dim, probe.action_dim
        self.discrete = probe.is_discrete
        self.max_episode_steps = probe.max_episode_steps
        self.eu_preferences = random_preferences(self.k, 100, seed=0)
        self.population: list[StoredPolicy] = []
        self.global_step = 0
        self.iteration = 0
        self.current_returns = np.zeros((0, self.k))
        self.metrics_log: list[dict[str, float]] = []

    # --- members ------------------------------------------------------------------------

    def _start_members(self, weights: torch.Tensor, per_objective: torch.Tensor,
                       thresholds: torch.Tensor, labels: list[str],
                       init: list[dict[str, torch.Tensor]] | None = None,
                       start_returns: torch.Tensor | None = None) -> None:
        """A fresh stack of ``P = len(weights)`` members (optionally copied from stored
        policies), its optimiser, its environment copies and its per-member bookkeeping."""
        c, p = self.config, len(weights)
        self.net = StackedActorCritic(p, self.obs_dim, self.action_dim, self.discrete, self.k,
                                      c.hidden, self.init_generator).to(self.device)
        if init is not None:
            self.net.load_members(init)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=c.learning_rate, eps=1e-5)
        self.env = self.probe.copies(p * c.num_envs)
        self.obs = self.env.reset(seed=c.seed)
        self.weights = weights.to(self.device)
        self.per_objective = per_objective.to(self.device)
        self.thresholds = thresholds.to(self.device)
        self.labels = labels
        nan = torch.full((p, self.k), math.nan, device=self.device)
        self.member_returns = nan if start_returns is None else start_returns.to(self.device)
        self.member_lengths = torch.full((p,), float(self.max_episode_steps), device=self.device)
        self.running = torch.zeros((p * c.num_envs, self.k), device=self.device)
        self.running_len = torch.zeros(p * c.num_envs, device=self.device)

    def _per_member(self, x: torch.Tensor) -> torch.Tensor:
        """``(T, P·E, ...)`` → ``(P, T·E, ...)``."""
        t, n = x.shape[:2]
        p = self.net.members
        return x.reshape(t, p, n // p, *x.shape[2:]).transpose(0, 1).reshape(p, -1, *x.shape[2:])

    def _rollout(self) -> dict[str, torch.Tensor]:
        c, net, env = self.config, self.net, self.env
        p, e, t_len = net.members, c.num_envs, c.num_steps
        obs_buf, final_buf, act_buf, logp_buf, rew_buf, term_buf, trunc_buf = ([] for _ in
                                                                                range(7))
        ended_ret = torch.zeros((p, self.k), device=self.device)
        ended_len = torch.zeros(p, device=self.device)
        ended = torch.zeros(p, device=self.device)
        obs = self.obs
        for _ in range(t_len):  # over time steps; all policies and copies at once
            actions, logp = net.act(obs.view(p, e, -1), self.generator)
            flat_actions = actions.reshape(p * e, *actions.shape[2:])
            nxt, reward, terminated, truncated, info = env.step(flat_actions)
            obs_buf.append(obs)
            act_buf.append(flat_actions)
            logp_buf.append(logp.reshape(-1))
            rew_buf.append(reward)
            term_buf.append(terminated)
            trunc_buf.append(truncated)
            final_buf.append(info["final_obs"])
            done = (terminated | truncated).float()
            self.running += reward
            self.running_len += 1
            ended_ret += (self.running * done[:, None]).view(p, e, -1).sum(1)
            ended_len += (self.running_len * done).view(p, e).sum(1)
            ended += done.view(p, e).sum(1)
            self.running *= 1 - done[:, None]
            self.running_len *= 1 - done
            obs = nxt
        self.obs = obs
        finished = ended > 0
        self.member_returns = torch.where(finished[:, None],
                                          ended_ret / ended.clamp_min(1)[:, None],
                                          self.member_returns)
        self.member_lengths = torch.where(finished, ended_len / ended.clamp_min(1),
                                          self.member_lengths)
        return {"obs": torch.stack(obs_buf), "actions": torch.stack(act_buf),
                "logp": torch.stack(logp_buf), "rewards": torch.stack(rew_buf),
                "terminated": torch.stack(term_buf), "truncated": torch.stack(trunc_buf),
                "final_obs": torch.stack(final_buf)}

    @torch.no_grad()
    def _advantages(self, ro: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Vector GAE (``(T, P·E, K)``): every objective has its own trace; a truncated step
        bootstraps from ``V(final_obs)``."""
        c, net = self.config, self.net
        t_len = ro["obs"].shape[0]

        def values(obs: torch.Tensor) -> torch.Tensor:  # (T', P·E, D) -> (T', P·E, K)
            v = net.values(self._per_member(obs))
            return v.reshape(net.members, len(obs), -1, self.k).transpose(0, 1).reshape(
                len(obs), -1, self.k)

        v = values(torch.cat([ro["obs"], self.obs[None]]))
        vals, next_vals = v[:t_len], v[1:]
        next_vals = torch.where(ro["truncated"][..., None], values(ro["final_obs"]), next_vals)
        term = ro["terminated"][..., None].expand_as(vals)
        trunc = ro["truncated"][..., None].expand_as(vals)
        adv, ret = gae(ro["rewards"], vals, next_vals, term, trunc, c.gamma, c.gae_lambda)
        return adv, ret

    def _update(self, ro: dict[str, torch.Tensor], adv: torch.Tensor,
                ret: torch.Tensor) -> dict[str, float]:
        if self.config.update_method == "cpo" and bool(self.per_objective.all()):
            return self._cpo_update(ro, adv, ret)
        c, net = self.config, self.net
        pm = self._per_member
        obs, actions, old_logp = pm(ro["obs"]), pm(ro["actions"]), pm(ro["logp"])
        adv, ret = pm(adv), pm(ret)
        feasible = self._feasible()
        weights = self._objective_weights(feasible)
        current = torch.nan_to_num(self.member_returns)
        use_barrier = self.per_objective & feasible
        stats: dict[str, list[torch.Tensor]] = {}
        params = list(net.parameters())
        for mb in self._minibatches(obs.shape[1]):
            new_logp, entropy = net.evaluate(obs[:, mb], actions[:, mb])
            ratio = (new_logp - old_logp[:, mb]).exp()
            a_obj = objective_advantages(adv[:, mb], weights, self.per_objective)
            surrogate = clipped_surrogate(ratio, a_obj, c.clip_coef)
            bar = barrier_terms(ratio, adv[:, mb], current, self.thresholds,
                                self.member_lengths, c.barrier_t)
            barrier = torch.where(use_barrier, bar["barrier"], torch.zeros_like(surrogate))
            v_loss = 0.5 * ((net.values(obs[:, mb]) - ret[:, mb]) ** 2).mean((1, 2))
            per_member = (-surrogate - barrier - c.ent_coef * entropy.mean(1)
                          + c.vf_coef * v_loss)
            self.optimizer.zero_grad(set_to_none=True)
            per_member.sum().backward()
            clip_grad_norm_per_member(params, c.max_grad_norm)
            self.optimizer.step()
            for key, value in (("policy_loss", -surrogate.mean()), ("value_loss",
                               v_loss.mean()), ("entropy", entropy.mean()),
                               ("approx_kl", ((ratio - 1) - ratio.log()).mean())):
                stats.setdefault(key, []).append(value.detach())
        out = {f"losses/{k}": float(torch.stack(v).mean()) for k, v in stats.items()}
        if bool(self.per_objective.any()):
            out["morl/feasible_share"] = float(feasible[self.per_objective].float().mean())
        return out

    def _cpo_update(self, ro: dict[str, torch.Tensor], adv: torch.Tensor,
                    ret: torch.Tensor) -> dict[str, float]:
        """The ``cpo`` extension form: one CPO step (:mod:`polab.algos.morl.cpo`) per iteration for
        every member's actor — objective ``l``'s standardised advantage as ``g``; the other
        objective's return estimate ``Ĝ_i = Ĵ_i + H·mean((ρ-1)Â_i)`` (as in the barrier form)
        as the constraint, violation ``c = b_i - Ĵ_i`` — then the critics by Adam."""
        c, net, pm = self.config, self.net, self._per_member
        obs, actions, old_logp = pm(ro["obs"]), pm(ro["actions"]), pm(ro["logp"])
        adv, ret = pm(adv), pm(ret)
        params = [*net.actor.parameters(), *([net.log_std] if net.log_std is not None else [])]
        objective = self.weights.argmax(1)
        other = 1 - objective  # two objectives (a config rule)
        rows = torch.arange(net.members, device=self.device)
        out = net.actor(obs)
        old_out = out.detach()  # the policy that sampled: the step has not moved it yet
        new_logp, _ = net.evaluate(obs, actions, out)
        ratio = (new_logp - old_logp).exp()
        a_obj = standardize(adv[rows, :, objective])
        gain = (ratio * a_obj).mean(1)
        estimate = self.member_lengths * ((ratio - 1.0) * adv[rows, :, other]).mean(1)
        g = torch.autograd.grad(gain.sum(), params, retain_graph=True)
        b = torch.autograd.grad(-estimate.sum(), params, retain_graph=True)
        if net.discrete:
            kl = categorical_kl(old_out, out).mean(1).sum()
        else:
            log_std = net.log_std.detach().expand_as(out)
            kl = gaussian_kl(old_out, log_std, out, net.log_std.expand_as(out)).mean(1).sum()
        grad_kl = torch.autograd.grad(kl, params, create_graph=True)

        def fisher(v: list[torch.Tensor]) -> list[torch.Tensor]:
            hv = torch.autograd.grad(member_dot(list(grad_kl), v).sum(), params,
                                     retain_graph=True)
            return [h + CPO_DAMPING * x for h, x in zip(hv, v, strict=True)]

        v = conjugate_gradient(fisher, list(g), CPO_CG_ITERATIONS)
        w = conjugate_gradient(fisher, list(b), CPO_CG_ITERATIONS)
        current = torch.nan_to_num(self.member_returns)[rows, other]
        violation = self.thresholds[rows, other] - current
        dual = cpo_dual(member_dot(list(g), v), member_dot(list(g), w), member_dot(list(b), w),
                        violation, c.cpo_max_kl)
        with torch.no_grad():
            for p, step in zip(params, cpo_direction(v, w, dual), strict=True):
                p.add_(step)
        v_losses = []
        for mb in self._minibatches(obs.shape[1]):
            v_loss = 0.5 * ((net.values(obs[:, mb]) - ret[:, mb]) ** 2).mean((1, 2))
            self.optimizer.zero_grad(set_to_none=True)
            (c.vf_coef * v_loss).sum().backward()
            clip_grad_norm_per_member(list(net.critic.parameters()), c.max_grad_norm)
            self.optimizer.step()
            v_losses.append(v_loss.mean().detach())
        with torch.no_grad():
            entropy = net.evaluate(obs, actions)[1].mean()
        return {"losses/value_loss": float(torch.stack(v_losses).mean()),
                "losses/entropy": float(entropy),
                "morl/cpo_infeasible_share": float((violation > 0).float().mean()),
                "morl/cpo_recovery_share": float((dual["case"] == 0).float().mean()),
                "morl/feasible_share": float((violation <= 0).float().mean())}

    def _minibatches(self, batch: int) -> Iterator[torch.Tensor]:
        """``update_epochs`` shuffled passes over ``batch`` samples, ``num_minibatches`` index
        tensors each (the same draws for every member)."""
        c = self.config
        for _epoch in range(c.update_epochs):
            perm = torch.randperm(batch, device=self.device, generator=self.generator)
            yield from perm.view(c.num_minibatches, batch // c.num_minibatches)

    def _slack(self) -> torch.Tensor:
        """``(P, K)``: current returns minus constraint levels (``+inf`` where unconstrained,
        NaN for a member without finished episodes yet)."""
        return torch.nan_to_num(self.member_returns, nan=-math.inf) - self.thresholds

    def _feasible(self) -> torch.Tensor:
        """``(P,)``: every constraint of the member holds at its current returns."""
        return (self._slack() > 0).all(1)

    def _objective_weights(self, feasible: torch.Tensor) -> torch.Tensor:
        """What each member ascends: its preference, or — for an infeasible extension
        member — the sum of its violated constraints (card pitfall 1)."""
        violated = (~(self._slack() > 0)).float()
        recover = self.per_objective & ~feasible
        return torch.where(recover[:, None], violated, self.weights)

    def _iterate(self) -> dict[str, float]:
        ro = self._rollout()
        self.global_step += ro["rewards"].shape[0] * ro["rewards"].shape[1]
        self.iteration += 1
        adv, ret = self._advantages(ro)
        return self._update(ro, adv, ret)

    # --- evaluation and the front -------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> np.ndarray:
        """Deterministic, undiscounted returns ``(P, K)`` of the current members (one episode
        each: the environments are deterministic given the actions)."""
        p = self.net.members
        env = self.probe.copies(p)
        obs = env.reset()
        total = torch.zeros((p, self.k), device=self.device)
        alive = torch.ones(p, dtype=torch.bool, device=self.device)
        for _ in range(env.max_episode_steps):
            actions, _ = self.net.act(obs[:, None], None, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(actions[:, 0])
            total += reward * alive[:, None]
            alive &= ~(terminated | truncated)
            if not bool(alive.any()):
                break
        self.current_returns = total.cpu().double().numpy()
        return self.current_returns

    def _store_members(self, stage: str, round_: int) -> None:
        returns = self.evaluate()
        self.population += [StoredPolicy(returns[i], stage, round_, self.labels[i],
                                         self.net.member(i)) for i in range(self.net.members)]

    @property
    def population_returns(self) -> np.ndarray:
        if not self.population:
            return np.zeros((0, self.k))
        return np.stack([s.returns for s in self.population])

    def front_indices(self) -> np.ndarray:
        """Indices of the population's Pareto set."""
        returns = self.population_returns
        return np.flatnonzero(pareto_mask(returns)) if len(returns) else np.zeros(0, int)

    def front_metrics(self, points: np.ndarray | None = None) -> dict[str, float]:
        """HV, EU, sparsity and cardinality of the population's front (plus ``points``)."""
        pts = self.population_returns if points is None else np.concatenate(
            [self.population_returns, points])
        if len(pts) == 0:
            return {}
        front = pts[pareto_mask(pts)]
        return {"morl/hypervolume": hypervolume(front, self.reference_point),
                "morl/expected_utility": expected_utility(front, self.eu_preferences),
                "morl/sparsity": sparsity(front),
                "morl/cardinality": float(cardinality(front))}

    def assign(self, preference: np.ndarray) -> int:
        """Index (into ``population``) of the policy assigned to ``preference``."""
        front = self.front_indices()
        return int(front[assign_policy(self.population_returns[front], preference)])

    @torch.no_grad()
    def play(self, index: int) -> dict[str, np.ndarray]:
        """One deterministic episode of stored policy ``index``: per-step rewards ``(T, K)``
        and observations ``(T, obs_dim)``."""
        net = StackedActorCritic(1, self.obs_dim, self.action_dim, self.discrete, self.k,
                                 self.config.hidden).to(self.device)
        net.load_members([self.population[index].weights])
        env = self.probe.copies(1)
        obs, rewards, observations = env.reset(), [], []
        for _ in range(env.max_episode_steps):
            actions, _ = net.act(obs[None], None, deterministic=True)
            observations.append(obs[0])
            obs, reward, terminated, truncated, info = env.step(actions[0])
            rewards.append(reward[0])
            if bool((terminated | truncated)[0]):
                observations.append(info["final_obs"][0])
                break
        return {"rewards": torch.stack(rewards).cpu().numpy(),
                "obs": torch.stack(observations).cpu().numpy()}

    def _record(self, stats: dict[str, float], stage: float, evaluate: bool) -> dict[str, Any]:
        extra = self.evaluate() if evaluate else None
        rec = {**stats, **self.front_metrics(extra), "morl/stage": stage,
               "morl/population": float(len(self.population))}
        self.metrics_log.append({"global_step": float(self.global_step), **rec})
        return rec

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "population": list(self.population), "global_step": self.global_step,
                "iteration": self.iteration, "member_returns": self.member_returns.clone(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.population = list(state["population"])
        self.global_step, self.iteration = state["global_step"], state["iteration"]
        self.member_returns = state["member_returns"].clone()
        self.generator.set_state(state["generator"])


def _preference_label(w: np.ndarray) -> str:
    return "w=(" + ", ".join(f"{x:.2f}" for x in w) + ")"


class CMORL(_Population):
    """C-MORL: ``step()`` is one PPO iteration of the current stage; stage 1 runs
    ``config.init_iterations`` iterations, then each extension round ``ext_iters``."""

    def __init__(self, config: CMORLConfig, env: MOBatchedEnv | str | None = None,
                 device: str | torch.device | None = None):
        super().__init__(config, env, device)
        c = self.config
        self.preferences = evenly_spread_preferences(self.k, c.n_init_policies)
        self.rounds = c.extension_rounds(self.k)
        self.round = 0
        self.round_hypervolumes: list[float] = []
        self.selected: np.ndarray = np.zeros(0, int)
        self.slack_log: list[dict[str, Any]] = []
        w = torch.tensor(self.preferences, dtype=torch.float32)
        self._start_members(w, torch.zeros(len(w), dtype=torch.bool),
                            torch.full_like(w, -math.inf),
                            [_preference_label(x) for x in self.preferences])
        self._left = c.init_iterations

    @property
    def stage(self) -> str:
        return "init" if self.round == 0 else "extension"

    def step(self) -> dict[str, Any]:
        if self._left == 0:
            raise RuntimeError("C-MORL has spent its budget (config.num_iterations steps)")
        stats = self._iterate()
        if self.round > 0:
            self._log_slack()
        self._left -= 1
        stage_end = self._left == 0
        if stage_end:
            self._store_members(self.stage, self.round)
            self.round_hypervolumes.append(self.front_metrics()["morl/hypervolume"])
            if self.round < self.rounds:
                self._start_extension()
        evaluate = not stage_end and self.iteration % self.config.eval_every == 0
        return self._record(stats, float(self.round), evaluate)

    def _log_slack(self) -> None:
        """Each extension member's constraint slack ``min_{i≠l} (Ĵ_i - b_i)`` after this
        iteration's rollout (card 4's slack plot; ``> 0``: feasible)."""
        slack = self._slack()
        self.slack_log.append({"round": self.round, "iteration": self.iteration,
                               "global_step": self.global_step, "labels": list(self.labels),
                               "slack": slack.min(1).values.cpu().tolist()})

    def _start_extension(self) -> None:
        """Select sparse front points by crowding distance and start one constrained member
        per (selected policy, objective)."""
        c = self.config
        self.round += 1
        returns = self.population_returns
        front = self.front_indices()
        pick = front[crowding_selection(returns[front], c.num_select)]
        self.selected = pick
        parents = np.repeat(pick, self.k)
        objectives = np.tile(np.arange(self.k), len(pick))
        g = torch.tensor(returns[parents], dtype=torch.float32)
        thresholds = torch.tensor(extension_thresholds(returns[parents], returns[front],
                                                       self.reference_point, objectives, c.beta),
                                  dtype=torch.float32)
        own = torch.nn.functional.one_hot(torch.as_tensor(objectives), self.k).float()
        self._start_members(own, torch.ones(len(parents), dtype=torch.bool), thresholds,
                            [f"#{i} → max objective {j + 1}" for i, j in
                             zip(parents, objectives, strict=True)],
                            init=[self.population[i].weights for i in parents],
                            start_returns=g)
        self._left = c.ext_iters


class LinearScalarisation(_Population):
    """The baseline: ``2M`` preference-scalarised PPO policies (evenly spread preferences),
    trained together for the same total env steps as C-MORL; they join the population at the
    end (``config.baseline_iterations`` steps)."""

    def __init__(self, config: CMORLConfig, env: MOBatchedEnv | str | None = None,
                 device: str | torch.device | None = None):
        super().__init__(config, env, device)
        self.preferences = evenly_spread_preferences(self.k, 2 * self.config.n_init_policies)
        w = torch.tensor(self.preferences, dtype=torch.float32)
        self._start_members(w, torch.zeros(len(w), dtype=torch.bool),
                            torch.full_like(w, -math.inf),
                            [_preference_label(x) for x in self.preferences])
        self._left = self.config.baseline_iterations
        self.round = 0

    def step(self) -> dict[str, Any]:
        if self._left == 0:
            raise RuntimeError("the baseline has spent its budget")
        stats = self._iterate()
        self._left -= 1
        if self._left == 0:
            self._store_members("linear", 0)
            return self._record(stats, 0.0, False)
        return self._record(stats, 0.0, self.iteration % self.config.eval_every == 0)


def run_to_end(algo: CMORL | LinearScalarisation) -> CMORL | LinearScalarisation:
    """Step ``algo`` until its budget is spent (``TrainingRun`` works too; this needs no
    progress bar)."""
    while algo._left:
        algo.step()
    return algo


def compare_with_baseline(config: CMORLConfig, seeds: list[int],
                          device: str | torch.device | None = None) -> list[dict[str, Any]]:
    """C-MORL and the linear-scalarisation baseline, each run to the end on every seed: one
    row per (method, seed) with the final front's HV, EU, sparsity, cardinality, env steps,
    the front points themselves and (C-MORL) the hypervolume after each stage."""
    rows = []
    for seed in seeds:
        for method, cls in (("C-MORL", CMORL), ("linear scalarisation", LinearScalarisation)):
            algo = run_to_end(cls(config.replace(seed=seed), device=device))
            front = algo.population_returns[algo.front_indices()]
            rows.append({"method": method, "seed": seed, "env_steps": algo.global_step,
                         **{k.split("/")[1]: v for k, v in algo.front_metrics().items()},
                         "front": front, "algo": algo,
                         "round_hypervolumes": getattr(algo, "round_hypervolumes", [])})
    return rows
