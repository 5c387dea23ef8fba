"""The population engine of C-MORL and its linear-scalarisation baseline (Liu et al., "C-MORL:
Multi-Objective Reinforcement Learning through Efficient Discovery of Pareto Front", ICLR 2025;
../shared/cards/04_cmorl.md): ``P`` PPO policies trained at once as one
:class:`~polab.algos.morl.networks.StackedActorCritic` on copies of a multi-objective
environment (rewards ``(N, K)``), vector GAE, the scalarised or constrained update of each
member, deterministic evaluation, and the evaluated population with its Pareto front.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from polab.algos.morl.config import CMORLConfig
from polab.algos.morl.cpo import cpo_update
from polab.algos.morl.losses import assign_policy, barrier_terms, objective_advantages
from polab.algos.morl.networks import StackedActorCritic, clip_grad_norm_per_member
from polab.core.advantages import gae
from polab.core.algorithm import Algorithm
from polab.core.losses import clipped_surrogate
from polab.core.rollout import collect
from polab.envs.mo.base import MOBatchedEnv
from polab.envs.mo.metrics import (
    cardinality,
    expected_utility,
    hypervolume,
    pareto_mask,
    random_preferences,
    sparsity,
)
from polab.envs.mo.registry import make_mo


@dataclass
class StoredPolicy:
    """A policy kept in the population: its evaluated returns and where it came from."""

    returns: np.ndarray
    stage: str  # "init", "extension" or "linear"
    round: int  # extension round (0 for stage 1 and the baseline)
    label: str
    weights: dict[str, torch.Tensor] = field(repr=False)


class _FlatPolicy:
    """The stacked members seen as one policy over ``P·E`` env copies, for ``collect``:
    copies ``[i·E, (i+1)·E)`` belong to member ``i``."""

    def __init__(self, net: StackedActorCritic, num_envs: int):
        self.net, self.num_envs, self.discrete = net, num_envs, net.discrete

    def act(self, obs: torch.Tensor, generator: torch.Generator | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        actions, logp = self.net.act(obs.view(self.net.members, self.num_envs, -1), generator)
        return actions.reshape(-1, *actions.shape[2:]), logp.reshape(-1)


class Population(Algorithm):
    """Trains ``P`` policies at once with PPO and keeps the evaluated population.

    Subclasses decide what the members optimise (:meth:`_start_members`) and when they join
    the population. ``state_dict`` saves the current members, their optimiser, the population,
    the members' returns and the sampling generator."""

    state_parts = ("net", "optimizer", "population", "member_returns", "generator")
    x_label = "env steps"
    config: CMORLConfig

    def __init__(self, config: CMORLConfig, env: MOBatchedEnv | str | None = None,
                 device: str | torch.device | None = None):
        self.setup(config, device)
        c = self.config
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
        """One ``(T, P·E)`` rollout of every member on its own env copies (the shared
        :func:`~polab.core.rollout.collect`), then each member's mean return and length over
        the episodes that ended in it."""
        c, p = self.config, self.net.members
        rollout, self.obs = collect(self.env, _FlatPolicy(self.net, c.num_envs), self.obs,
                                    c.num_steps, self.generator)
        ended_ret = torch.zeros((p, self.k), device=self.device)
        ended_len = torch.zeros(p, device=self.device)
        ended = torch.zeros(p, device=self.device)
        for t in range(rollout.rewards.shape[0]):  # over time steps; all members at once
            done = rollout.dones[t].float()
            self.running += rollout.rewards[t]
            self.running_len += 1
            ended_ret += (self.running * done[:, None]).view(p, c.num_envs, -1).sum(1)
            ended_len += (self.running_len * done).view(p, c.num_envs).sum(1)
            ended += done.view(p, c.num_envs).sum(1)
            self.running *= 1 - done[:, None]
            self.running_len *= 1 - done
        finished = ended > 0
        self.member_returns = torch.where(finished[:, None],
                                          ended_ret / ended.clamp_min(1)[:, None],
                                          self.member_returns)
        self.member_lengths = torch.where(finished, ended_len / ended.clamp_min(1),
                                          self.member_lengths)
        return {f.name: getattr(rollout, f.name) for f in dataclasses.fields(rollout)}

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
            return cpo_update(self, ro, adv, ret)
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
