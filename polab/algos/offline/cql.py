"""CQL — Conservative Q-Learning for offline RL (Kumar, Zhou, Tucker, Levine 2020), CQL(H) on
SAC, as in CORL's ``algorithms/offline/cql.py``.

Paper: https://arxiv.org/abs/2006.04779. The SAC update of :mod:`.sac_core` on batches of a
fixed dataset, plus the conservative penalty (eq. 4) weighted by ``cql_alpha``:

    L_Q += cql_alpha · mean_s [ log ∫ exp Q(s, a) da − Q(s, a_data) ]

the integral estimated from ``cql_n_actions`` uniform actions and as many from π(·|s) and
π(·|s'), each corrected by its log-density (CORL's ``cql_importance_sample``). Kept from CORL:
batch 256, lr 3e-4, τ = 5e-3, automatic entropy, 2-layer nets (64 units here, as CORL's small
configs; 256 in the paper). Dropped: the Lagrangian variant and CORL's backup-entropy option.

Testbeds: the offline family's datasets from shipped SAC actors (``pendulum-medium``,
``point-mass-medium``, ... in :mod:`.testbeds`), evaluated in their env.
Taught in notebooks/11_robust_and_offline.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from polab.algos.offline import actors
from polab.algos.offline.base import DATASET_SIZES, parse_testbed
from polab.algos.offline.datasets import Dataset, make_dataset
from polab.algos.offline.sac_core import SACCore, cql_penalty, evaluate
from polab.config import Config, param
from polab.core.algorithm import Algorithm
from polab.core.replay import Transitions
from polab.device import seed_everything
from polab.envs.base import BatchedEnv


@lru_cache(maxsize=4)
def load_testbed(name: str, seed: int, n: int | None = None) -> tuple[Dataset, str]:
    """The dataset of testbed ``name`` (``<env>-<quality>``, e.g. ``pendulum-medium``: the
    shipped actors' data, :func:`~polab.algos.offline.datasets.make_dataset`; names parsed
    as the other offline learners do, :func:`~polab.algos.offline.base.parse_testbed`), its
    first ``n`` rows if given, and the offline env key of its real env. Cached (the last
    four): the learners only read it."""
    key, quality = parse_testbed(name)
    return make_dataset(key, quality, n or DATASET_SIZES[key], seed), key


@dataclass(frozen=True)
class CQLConfig(Config):
    """CQL's knobs (CORL's names where they exist)."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    num_iterations: int = param(25, help="iterations (each: updates, then an evaluation)",
                                low=1, high=100_000)
    updates_per_iteration: int = param(50, help="gradient steps per iteration", low=1,
                                       high=100_000)
    batch_size: int = param(256, help="transitions per gradient step", low=2, high=8192,
                            paper="CORL")
    learning_rate: float = param(1e-3, help="Adam learning rate (all networks)", low=1e-5,
                                 high=1e-1, log=True)
    hidden: int = param(64, help="hidden units per layer (2 layers)", low=4, high=1024)
    gamma: float = param(0.99, help="discount factor γ", low=0.0, high=1.0)
    tau: float = param(5e-3, help="Polyak rate of the target Q", low=0.0, high=1.0)
    cql_alpha: float = param(1.0, help="weight of the CQL(H) penalty (0 = plain offline SAC)",
                             low=0.0, high=100.0, paper="Kumar et al. 2020: 5 or 10")
    cql_n_actions: int = param(10, help="sampled actions per state and proposal", low=1,
                               high=100)
    eval_envs: int = param(10, help="real-env episodes per evaluation (batched)", low=1,
                           high=4096)


class CQL(Algorithm):
    """CQL(H) on a fixed dataset: ``step()`` = ``updates_per_iteration`` gradient steps, then
    a batched evaluation of the deterministic policy in the real env."""

    config: CQLConfig
    state_parts = ("core", "generator")
    x_label = "gradient steps"

    def __init__(self, config: CQLConfig, env: str = "pendulum-medium",
                 device: str | torch.device | None = None):
        self.setup(config, device)
        data, key = load_testbed(env, self.config.seed)
        self.data = data.to(self.device)
        self.real = actors.make_env(key, self.config.eval_envs, self.config.seed, self.device)
        self.core = build_core(self.config, self.real, self.device)

    def step(self) -> dict[str, Any]:
        c = self.config
        stats: dict[str, list[torch.Tensor]] = {}
        for _ in range(c.updates_per_iteration):
            batch = self.data.sample(c.batch_size, self.generator)
            terms = cql_losses(self.core, batch, c.cql_alpha, c.cql_n_actions, self.generator)
            self.core.step(terms["loss"])
            for k in ("td_loss", "cql_penalty", "alpha"):
                stats.setdefault(k, []).append(terms[k].detach())
            stats.setdefault("q_data", []).append(terms["q"].mean().detach())
        self.global_step += c.updates_per_iteration
        self.iteration += 1
        ret = evaluate(self.core.actor, self.real, c.seed + 10_000 * self.iteration)
        return {"charts/real_return": float(ret.mean()),
                **{f"losses/{k}": float(torch.stack(v).mean()) for k, v in stats.items()}}


def build_core(config: Any, env: BatchedEnv, device: torch.device) -> SACCore:
    """A :class:`SACCore` sized for ``env`` from a config with ``seed``, ``hidden``,
    ``learning_rate``, ``gamma``, ``tau``; torch is reseeded first, so the initial networks do
    not depend on whether the dataset came from :func:`load_testbed`'s cache."""
    seed_everything(config.seed)
    space = env.single_action_space
    low, high = (torch.as_tensor(b, dtype=torch.float32, device=device)
                 for b in (space.low, space.high))
    return SACCore(env.obs_dim, env.action_dim, config.hidden, low, high,
                   config.learning_rate, config.gamma, config.tau).to(device)


def cql_losses(core: SACCore, batch: Transitions, weight: float, n_actions: int,
               generator: torch.Generator) -> dict[str, torch.Tensor]:
    """SAC's losses on ``batch`` plus ``weight`` × CQL(H) with uniform, π(·|s) and π(·|s')
    proposals (``cql_penalty``'s importance-sampled logsumexp)."""
    terms = core.losses(batch, generator)
    if weight == 0.0:
        return {**terms, "cql_penalty": torch.zeros(())}
    low, high = core.actor.bias - core.actor.scale, core.actor.bias + core.actor.scale
    b, adim = batch.actions.shape
    uniform = low + (high - low) * torch.rand((b, n_actions, adim), generator=generator,
                                              device=batch.obs.device)
    log_uniform = torch.full((b, n_actions), -float(torch.log(high - low).sum()),
                             device=batch.obs.device)
    pi_now, logp_now = core.policy_samples(batch.obs, n_actions, generator)
    pi_next, logp_next = core.policy_samples(batch.next_obs, n_actions, generator)
    actions = torch.cat([uniform, pi_now, pi_next], 1)
    log_density = torch.cat([log_uniform, logp_now, logp_next], 1)
    penalty = cql_penalty(core.q_many(batch.obs, actions), log_density, terms["q"])
    return {**terms, "loss": terms["loss"] + weight * penalty, "cql_penalty": penalty}

