"""H2O — dynamics-aware hybrid offline-and-online RL (Niu et al. 2022, When to Trust Your
Simulator, NeurIPS), card 42 "Core update", read from the authors' code
(github.com/t6-thu/H2O: ``SimpleSAC/sim2real_sac.py``, ``Network/Weight_net.py``).

One SAC learner (:mod:`.sac_core`) on batches of ``(1 − batch_ratio)`` real transitions (a
fixed dataset) and ``batch_ratio`` simulated ones (a replay filled online by the policy in a
wrong simulator: Pendulum with gravity × ``sim_gap``, batched copies). Two discriminators
(2-way softmax, real = class 0, sim = class 1, input noise 0.1), ``D_sa(s, a)`` and
``D_sas(s, a, s')`` whose logits add ``D_sa``'s, give the dynamics ratio

    P_real/P_sim (s'|s, a) = [D_sas(real)/D_sas(sim)] · [D_sa(sim)/D_sa(real)]

(the ``D_sa`` factor cancels the coverage difference of (s, a): card 42, pitfall 1), then

    w(s, a, s') = clip(P_real/P_sim, 1e-5, is_clip)            on the sim Bellman error
    u(s, a)     = mean_k log P_sim/P_real (s, a, s' + ε_k),  ε_k ~ N(0, σ_data²), k = 1..10
    ω           = clamp(u, 1e-45, 10) / Σ_sim batch           (a distribution over the batch)
    L_Q        += β · Σ_k [ log Σ_b ω_b exp Q_k(s_b, a_b) − mean_real Q_k ]

(β = ``beta_pen``). The Gaussian perturbation of the sim next state stands in for real
next states, as in the authors' code (crude: card 42, pitfall 4).

Variants (``variant``) on the same data, nets and budget: ``h2o``; ``naive`` (real ∪ sim with
no IS weights and uniform ω: CQL-style on sim); ``sac-sim`` (SAC on sim only, evaluated in
the real env); ``cql-real`` (CQL(H) on the real data only, ``cql_alpha``); ``darc`` (SAC on
sim with DARC's reward correction ``Δr = log P_real/P_sim``, Eysenbach et al. 2021).
Always evaluated in the real env. Taught in notebooks/11_robust_and_offline.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from polab.algos.offline.cql import build_core, cql_losses, load_testbed
from polab.algos.offline.sac_core import evaluate
from polab.config import Config, param
from polab.core.algorithm import Algorithm
from polab.core.continuous import UniformPolicy
from polab.core.networks import mlp
from polab.core.replay import ReplayBuffer, Transitions
from polab.core.rollout import EpisodeTracker, collect
from polab.envs.classic import Pendulum

VARIANTS = ("h2o", "naive", "sac-sim", "cql-real", "darc")

# --- LOSSES AND WEIGHTS (pure functions) ----------------------------------------------------


def log_dynamics_ratio(logits_sa: torch.Tensor, logits_sas: torch.Tensor) -> torch.Tensor:
    """``log P_real/P_sim (s'|s, a) = log D_sas(real)/D_sas(sim) − log D_sa(real)/D_sa(sim)``
    from the 2-way logits ``(..., 2)`` (real = class 0; card 42, core update)."""
    ls_sa, ls_sas = logits_sa.log_softmax(-1), logits_sas.log_softmax(-1)
    return (ls_sas[..., 0] - ls_sas[..., 1]) - (ls_sa[..., 0] - ls_sa[..., 1])


def is_weights(log_ratio: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    """``clip(P_real/P_sim, 1e-5, clip)``: sim rows never up-weighted at the default 1
    (card 42, pitfall 2)."""
    return log_ratio.exp().clamp(1e-5, clip)


def gap_weights(u: torch.Tensor) -> torch.Tensor:
    """``ω = clamp(u, 1e-45, 10) / Σ clamp(u)`` over the sim batch (card 42, pitfall 3)."""
    u = u.clamp(1e-45, 10.0)
    return u / u.sum()


def h2o_penalty(q_sim: torch.Tensor, omega: torch.Tensor, q_real: torch.Tensor) -> torch.Tensor:
    """``Σ_k [log Σ_b ω_b exp Q_k(sim_b) − mean Q_k(real)]`` for ``q_sim (K, Bs)``,
    ``omega (Bs,)``, ``q_real (K, Br)`` (card 42, critic loss; temperature 1)."""
    soft = torch.logsumexp(q_sim + omega.clamp_min(1e-45).log(), dim=-1)
    return (soft - q_real.mean(-1)).sum()


def discriminator_loss(logits_sa: torch.Tensor, logits_sas: torch.Tensor,
                       is_sim: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of both discriminators on labels real = 0, sim = 1."""
    ce = nn.functional.cross_entropy
    return ce(logits_sa, is_sim.long()) + ce(logits_sas, is_sim.long())


# --- DISCRIMINATORS -------------------------------------------------------------------------


class Discriminators(nn.Module):
    """``D_sa`` and ``D_sas`` (2×``hidden`` MLPs, 2 logits); ``D_sas``'s logits add ``D_sa``'s
    (DARC's and H2O's code). Gaussian input noise ``noise`` while training."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, noise: float):
        super().__init__()
        self.sa = mlp([obs_dim + action_dim, hidden, hidden, 2], out_gain=0.01,
                      activation=nn.ReLU)
        self.sas = mlp([2 * obs_dim + action_dim, hidden, hidden, 2], out_gain=0.01,
                       activation=nn.ReLU)
        self.noise = noise

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor,
                generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        sa = torch.cat([obs, actions], -1)
        sas = torch.cat([sa, next_obs], -1)
        if generator is not None:  # training: noisy inputs
            sa = sa + self.noise * torch.randn(sa.shape, generator=generator, device=sa.device)
            sas = sas + self.noise * torch.randn(sas.shape, generator=generator,
                                                 device=sas.device)
        logits_sa = self.sa(sa)
        return logits_sa, self.sas(sas) + logits_sa


# --- CONFIG AND ALGORITHM -------------------------------------------------------------------


@dataclass(frozen=True)
class H2OConfig(Config):
    """H2O's knobs (card 42's widgets) and its baselines' (``variant``)."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    variant: str = param("h2o", help="h2o, or a baseline on the same budget",
                         choices=VARIANTS)
    num_iterations: int = param(30, help="iterations (each: sim steps, updates, evaluation)",
                                low=1, high=100_000)
    updates_per_iteration: int = param(40, help="gradient steps per iteration", low=1,
                                       high=100_000)
    batch_size: int = param(256, help="transitions per gradient step (real + sim)", low=2,
                            high=8192, paper="Niu et al. 2022")
    batch_ratio: float = param(0.5, help="sim share of each batch", low=0.0, high=1.0,
                               paper="Niu et al. 2022: 0.5")
    real_data: int = param(10_000, help="real transitions (from the testbed's dataset)",
                           low=256, high=50_000, paper="card 42: medium, 10k")
    sim_gap: float = param(1.5, help="simulator's gravity ÷ the real one", low=0.5, high=3.0)
    beta_pen: float = param(0.1, help="weight β of the dynamics-aware Q penalty", low=0.0,
                            high=10.0, paper="Niu et al. 2022: 0.01; 0.1 toy (card 42)")
    use_is_weight: bool = param(True, help="IS-weight the sim Bellman error")
    use_gap_weights: bool = param(True, help="ω from the discriminators (off: uniform ω)")
    is_clip: float = param(1.0, help="largest IS weight P_real/P_sim", low=0.5, high=10.0)
    disc_noise: float = param(0.1, help="Gaussian input noise of the discriminators",
                              low=0.0, high=1.0)
    gap_samples: int = param(10, help="perturbed next states per sim (s, a) in u", low=1,
                             high=100)
    cql_alpha: float = param(1.0, help="CQL(H) weight of the cql-real baseline", low=0.0,
                             high=100.0)
    cql_n_actions: int = param(10, help="cql-real's sampled actions per proposal", low=1,
                               high=100)
    sim_envs: int = param(16, help="simulator copies stepped in parallel", low=1, high=4096)
    sim_steps: int = param(4, help="steps per sim copy per iteration", low=1, high=10_000)
    learning_rate: float = param(1e-3, help="Adam learning rate (actor, Q, α)", low=1e-5,
                                 high=1e-1, log=True)
    disc_learning_rate: float = param(3e-4, help="Adam learning rate of the discriminators",
                                      low=1e-5, high=1e-1, log=True)
    hidden: int = param(64, help="hidden units per layer (2 layers)", low=4, high=1024)
    gamma: float = param(0.99, help="discount factor γ", low=0.0, high=1.0)
    tau: float = param(5e-3, help="Polyak rate of the target Q", low=0.0, high=1.0)
    eval_envs: int = param(10, help="real-env episodes per evaluation (batched)", low=1,
                           high=4096)

    def rules(self) -> list[tuple[bool, str]]:
        hybrid = self.variant in ("h2o", "naive")
        n_sim = round(self.batch_ratio * self.batch_size)
        return [(not hybrid or 1 <= n_sim < self.batch_size,
                 f"batch_ratio={self.batch_ratio} leaves no real or no sim rows in a batch of "
                 f"{self.batch_size}")]


class H2O(Algorithm):
    """H2O or one of its baselines (``variant``): ``step()`` = ``sim_envs × sim_steps``
    simulator steps into the sim replay (not for ``cql-real``), ``updates_per_iteration``
    gradient steps, then a batched evaluation in the real env."""

    config: H2OConfig
    state_parts = ("core", "disc", "disc_optimizer", "sim_buffer", "generator", "sim_obs",
                   "tracker")
    x_label = "gradient steps"

    def __init__(self, config: H2OConfig, env: str = "pendulum-medium",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        c = self.config
        data, key = load_testbed(env, c.seed, c.real_data)
        if key != "pendulum":
            raise ValueError(f"H2O: env={env!r}: its simulator is Pendulum with gravity × "
                             "sim_gap, so it needs a pendulum-* testbed")
        self.data = data.to(self.device)
        self.obs_std = self.data.observations.std(0)
        self.real = Pendulum(c.eval_envs, self.device, seed=c.seed)
        self.sim = Pendulum(c.sim_envs, self.device, seed=c.seed + 1, gravity=10.0 * c.sim_gap)
        self.core = build_core(c, self.real, self.device)
        self.disc = Discriminators(self.real.obs_dim, self.real.action_dim, c.hidden,
                                   c.disc_noise).to(self.device)
        self.disc_optimizer = torch.optim.Adam(self.disc.parameters(), lr=c.disc_learning_rate)
        self.sim_buffer = ReplayBuffer(100_000, self.real.obs_dim, self.real.action_dim,
                                       self.device)
        self.tracker = EpisodeTracker(c.sim_envs, self.device)
        self.sim_obs = self.sim.reset(c.seed + 1)
        if c.variant != "cql-real":  # warm-up: a uniform policy fills a first sim batch
            space = self.real.single_action_space
            low, high = (torch.as_tensor(b, device=self.device) for b in (space.low, space.high))
            steps = -(-c.batch_size // c.sim_envs)
            self._simulate(UniformPolicy(low, high), steps)

    def _simulate(self, policy: Any, steps: int) -> None:
        rollout, self.sim_obs = collect(self.sim, policy, self.sim_obs, steps, self.generator)
        self.sim_buffer.add_rollout(rollout)
        self.tracker.update(rollout)

    @property
    def n_sim(self) -> int:
        """Sim rows per batch: all for sac-sim and darc, none for cql-real."""
        c = self.config
        return {"sac-sim": c.batch_size, "darc": c.batch_size,
                "cql-real": 0}.get(c.variant, round(c.batch_ratio * c.batch_size))

    def step(self) -> dict[str, Any]:
        c = self.config
        if c.variant != "cql-real":
            self._simulate(self.core.actor, c.sim_steps)
        stats: dict[str, list[torch.Tensor]] = {}
        for _ in range(c.updates_per_iteration):
            for k, v in self.update().items():
                stats.setdefault(k, []).append(v)
        self.global_step += c.updates_per_iteration
        self.iteration += 1
        ret = evaluate(self.core.actor, self.real, c.seed + 10_000 * self.iteration)
        return {"charts/real_return": float(ret.mean()),
                **{f"losses/{k}": float(torch.stack(v).mean()) for k, v in stats.items()}}

    def update(self) -> dict[str, torch.Tensor]:
        """One gradient step of the variant's losses (and of the discriminators, which
        always train on a real and a sim batch when there is a sim replay)."""
        c, g = self.config, self.generator
        n_sim = self.n_sim
        real = self.data.sample(c.batch_size - n_sim if n_sim < c.batch_size else
                                c.batch_size // 2, g)
        if c.variant == "cql-real":
            terms = cql_losses(self.core, real, c.cql_alpha, c.cql_n_actions, g)
            self.core.step(terms["loss"])
            return {"td_loss": terms["td_loss"].detach(), "q_real": terms["q"].mean().detach()}
        sim = self.sim_buffer.sample(n_sim, g)
        stats = self.train_discriminators(real, sim)
        with torch.no_grad():
            log_ratio = log_dynamics_ratio(*self.disc(sim.obs, sim.actions, sim.next_obs))
        weights = is_weights(log_ratio, c.is_clip)
        stats["is_weight"] = weights.mean()
        if c.variant in ("sac-sim", "darc"):
            bonus = log_ratio if c.variant == "darc" else None
            terms = self.core.losses(sim, g, reward_bonus=bonus)
            self.core.step(terms["loss"])
            return {**stats, "td_loss": terms["td_loss"].detach(),
                    "q_sim": terms["q"].mean().detach(),
                    "q_real": self.core.q(real.obs, real.actions).mean().detach()}
        h2o = c.variant == "h2o"
        batch = Transitions(*(torch.cat([r, s]) for r, s in zip(real, sim, strict=True)))
        ones = torch.ones(len(real.obs), device=self.device)
        td_w = torch.cat([ones, weights]) if h2o and c.use_is_weight else None
        terms = self.core.losses(batch, g, td_weights=td_w)
        q_real, q_sim = terms["q"][:, :len(real.obs)], terms["q"][:, len(real.obs):]
        omega = (gap_weights(self.gap(sim)) if h2o and c.use_gap_weights else
                 torch.full((n_sim,), 1.0 / n_sim, device=self.device))
        penalty = h2o_penalty(q_sim, omega, q_real)
        self.core.step(terms["loss"] + c.beta_pen * penalty)
        return {**stats, "td_loss": terms["td_loss"].detach(), "penalty": penalty.detach(),
                "q_real": q_real.mean().detach(), "q_sim": q_sim.mean().detach(),
                "omega_max": omega.max()}

    def train_discriminators(self, real: Transitions, sim: Transitions
                             ) -> dict[str, torch.Tensor]:
        """One cross-entropy step of ``D_sa`` and ``D_sas`` (noisy inputs) on real (0) vs
        sim (1); the accuracy of ``D_sas`` on the batch."""
        both = Transitions(*(torch.cat([r, s]) for r, s in zip(real, sim, strict=True)))
        is_sim = torch.cat([torch.zeros(len(real.obs)), torch.ones(len(sim.obs))]).to(
            self.device)
        logits_sa, logits_sas = self.disc(both.obs, both.actions, both.next_obs,
                                          self.generator)
        loss = discriminator_loss(logits_sa, logits_sas, is_sim)
        self.disc_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.disc_optimizer.step()
        accuracy = ((logits_sas.argmax(-1) == is_sim.long()).float().mean()).detach()
        return {"disc_loss": loss.detach(), "disc_accuracy": accuracy}

    @torch.no_grad()
    def gap(self, sim: Transitions) -> torch.Tensor:
        """``u(s, a) = mean_k log P_sim/P_real (s, a, s' + ε_k)``, ``ε_k ~ N(0, σ_data²)``
        (card 42, gap estimate): ``(B,)`` before clamping."""
        k = self.config.gap_samples
        eps = torch.randn((k, *sim.next_obs.shape), generator=self.generator,
                          device=self.device) * self.obs_std
        rep = [x.expand(k, *x.shape) for x in (sim.obs, sim.actions)]
        return -log_dynamics_ratio(*self.disc(*rep, sim.next_obs + eps)).mean(0)

    @torch.no_grad()
    def gap_vs_error(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``u(s, a)`` and the true one-step error ``‖s'_sim − s'_real‖`` of ``n`` sim
        transitions, the real env replayed from the same states and actions (batched)."""
        sim = self.sim_buffer.sample(n, self.generator)
        real = Pendulum(n, self.device, seed=self.config.seed)
        real.reset()
        state = torch.stack([torch.atan2(sim.obs[:, 1], sim.obs[:, 0]), sim.obs[:, 2]], 1)
        real.set_state(state)
        _, _, _, _, info = real.step(sim.actions)
        return self.gap(sim), (info["final_obs"] - sim.next_obs).norm(dim=-1)

    @torch.no_grad()
    def is_weight_sample(self, n: int) -> torch.Tensor:
        """IS weights of ``n`` sim transitions (the histogram)."""
        sim = self.sim_buffer.sample(n, self.generator)
        return is_weights(log_dynamics_ratio(*self.disc(sim.obs, sim.actions, sim.next_obs)),
                          self.config.is_clip)
