"""HDPO — Hindsight Differentiable Policy Optimization — and a REINFORCE baseline.

Paper: Alvo, Russo, Kanoria & Lee, "Deep Reinforcement Learning for Inventory Networks:
Toward Reliable Policy Optimization" (arXiv 2306.11246); code:
github.com/MatiasAlvo/Neural_inventory_control; the card: ../shared/cards/03_hdpo.md. The
only randomness in inventory control is exogenous demand, and the dynamics are known and a.e.
differentiable in the orders. HDPO replays sampled demand traces through the simulator with a
deterministic policy and back-propagates the average cost through the whole trajectory (a
pathwise gradient):

    J(θ) = 1/(B (T - T0)) Σ_n Σ_{t ≥ T0} c(s_t^n, π_θ(s_t^n), D_t^n),    θ ← Adam(θ, ∇_θ J)

What this version keeps and changes:

1. Kept: the authors' simulator and order of events, warm-up ``T0`` ignored in the loss,
   softplus(x + 1) outputs, Adam, train/dev/test scenario sets, model selection on dev cost.
2. Changed: miniature sizes (4096 scenarios × 50 periods, MLP 2×32, 200 steps of 256
   scenarios instead of 32768 scenarios, 3×32, 400 epochs of batches of 8192); Adam 3e-2
   decayed linearly to 0 instead of a constant 3e-3 (measured on the backlogged store, seed
   0: 3e-3 leaves a ~9% gap after 300 steps, 3e-2 annealed ~1% after 200; batch 1024 gives
   the same gap per step as 256 at 4× the compute); inputs and outputs in units of mean
   demand; one minibatch per step, drawn at random (not epochs); the dev set has the test
   horizon (a 50-period dev set cannot see a policy that drifts over 500 periods).
   Gradient-norm clipping (``max_grad_norm``, CleanRL's name) is added: with seed 2 the
   initial network orders *more* when it holds more, the first batch's backlog cost explodes
   (~10^7 per period, gradient norm ~5·10^8), that one gradient fills Adam's second-moment
   estimate, and learning freezes for the rest of the run (1831% gap instead of 0.6%).
3. Baseline (:class:`InventoryReinforce`, the card's "REINFORCE variants"): the same network
   gives the mean of a Gaussian ``u ~ N(μ_θ(s), σ²)`` with a learned σ, the order is
   ``max(u, 0)``, and the score-function gradient weights ``∇ log π(u_t|s_t)`` by the
   cost-to-go minus a per-period batch-mean baseline, on the same scenario-period budget.

Taught in notebooks/10_differentiable_simulation.ipynb.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from polab.algos.diffsim.policies import make_policy
from polab.config import Config, param
from polab.core.advantages import discounted_returns
from polab.core.algorithm import Algorithm
from polab.core.distributions import gaussian_logp
from polab.envs.inventory.reference import reference_cost
from polab.envs.inventory.sim import (
    InventorySetting,
    InventoryState,
    Scenarios,
    average_cost,
    evaluate,
    one_store,
    one_warehouse,
    rollout,
    sample_scenarios,
)

SPLIT_SEEDS = {"train": 0, "dev": 1_000_003, "test": 2_000_003}
"""Offsets added to ``config.seed`` for each scenario set (the test set never overlaps)."""


@dataclass(frozen=True)
class HDPOConfig(Config):
    """The problem, the data and the optimiser (authors' YAML names in the help)."""

    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    network: Literal["one_store", "one_warehouse"] = param(
        "one_store", help="one store, or one warehouse feeding n_stores stores (lost sales)")
    lost_sales: bool = param(False, help="one store: unmet demand is lost (else backlogged)")
    lead_time: int = param(2, help="one store: periods from order to arrival L", low=1, high=4)
    underage_cost: float = param(9.0, help="one store: cost p per unit short",
                                 choices=(4.0, 9.0, 19.0, 39.0))
    holding_cost: float = param(1.0, help="one store: cost h per unit held", low=0.1, high=10.0)
    demand: Literal["poisson", "normal"] = param("poisson", help="one store: demand law, mean 5")
    n_stores: int = param(5, help="one warehouse: number of stores", low=1, high=50)
    arch: Literal["mlp", "symmetric"] = param(
        "mlp", help="vanilla MLP or symmetry-aware shared store head")
    hidden: int = param(32, help="hidden units per layer", low=4, high=512)
    layers: int = param(2, help="hidden layers", low=1, high=4)
    n_scenarios: int = param(4096, help="training scenarios (demand traces)", low=1,
                             high=32768, log=True)
    batch_size: int = param(256, help="scenarios per gradient step (capped at n_scenarios)",
                            low=1, high=32768, log=True)
    horizon: int = param(50, help="periods T simulated per training scenario", low=2, high=500)
    warmup: int = param(30, help="first T0 periods left out of the loss (ignore_periods)",
                        low=0, high=499)
    learning_rate: float = param(3e-2, help="Adam learning rate", low=1e-5, high=1e-1, log=True)
    num_iterations: int = param(200, help="gradient steps in the whole run (for anneal_lr)",
                                low=1, high=100_000)
    anneal_lr: bool = param(True, help="decay the learning rate linearly to 0 over the run")
    max_grad_norm: float = param(10.0, help="clip the gradient norm (an unstable initial "
                                 "policy's exploding cost would freeze Adam)", low=0.01,
                                 high=1e6, log=True)
    eval_every: int = param(10, help="steps between dev/test evaluations", low=1, high=10_000)
    dev_scenarios: int = param(256, help="dev scenarios (model selection; test horizon)",
                               low=1, high=32768, log=True)
    test_scenarios: int = param(512, help="test scenarios", low=1, high=32768, log=True)
    test_horizon: int = param(500, help="periods per test scenario", low=2, high=10_000)
    test_warmup: int = param(300, help="test periods ignored", low=0, high=9_999)

    def rules(self) -> list[tuple[bool, str]]:
        return [(self.warmup < self.horizon, "warmup must be < horizon"),
                (self.test_warmup < self.test_horizon, "test_warmup must be < test_horizon")]


@dataclass(frozen=True)
class InventoryReinforceConfig(HDPOConfig):
    """HDPO's config plus the stochastic policy; the learning rate is REINFORCE's own best
    (a sweep over 3e-3..3e-2 on seed 0, printed by ``python benchmarks/hdpo.py``; 3e-2 is also
    its best with lost sales at L = 4 and with 10 stores, 1e-2 with 5 stores)."""

    learning_rate: float = param(3e-2, help="Adam learning rate", low=1e-5, high=1e-1, log=True)
    exploration_std: float = param(1.0, help="initial std σ of the Gaussian orders (units)",
                                   low=0.01, high=10.0, log=True)
    gamma: float = param(0.9, help="discount of the cost-to-go (1 = unbiased)", low=0.0,
                         high=1.0)


@dataclass(frozen=True)
class InventoryConfig(InventoryReinforceConfig):
    """Either estimator from one config, for a panel: ``estimator`` picks the algorithm
    (``exploration_std`` and ``gamma`` matter to REINFORCE only)."""

    estimator: Literal["hdpo", "reinforce"] = param(
        "hdpo", help="pathwise gradient (HDPO) or score-function gradient (REINFORCE)")


def make_setting(c: HDPOConfig) -> InventorySetting:
    """The :class:`InventorySetting` a config describes."""
    if c.network == "one_warehouse":
        return one_warehouse(c.n_stores)
    return one_store(c.lead_time, c.underage_cost, c.holding_cost, c.lost_sales, c.demand)


def hdpo_loss(costs: torch.Tensor, warmup: int) -> dict[str, torch.Tensor]:
    """HDPO's loss: the average cost ``J`` of the batch after the warm-up (its gradient is the
    pathwise gradient when ``costs`` came from a differentiable rollout)."""
    loss = average_cost(costs, warmup)
    return {"loss": loss, "loss_policy": loss}


def score_function_loss(logp: torch.Tensor, costs: torch.Tensor, warmup: int, gamma: float,
                        normalize: bool = True) -> dict[str, torch.Tensor]:
    """REINFORCE's surrogate for minimising cost; ``logp`` and ``costs`` are ``(N, T)``.

        C_t = Σ_{t' ≥ t} γ^{t'-t} c_{t'} 1[t' ≥ T0]      (cost-to-go; counted periods only)
        A_t = C_t - mean_n C_t                             (per-period batch-mean baseline)
        loss = Σ_{n,t} log π(u_t^n|s_t^n) A_t^n / (N (T - T0))

    With ``gamma = 1`` and ``normalize=False`` the gradient of ``loss`` is an unbiased
    estimate of ``∇J`` (Williams 1992) on the same scale as HDPO's; ``normalize=True``
    divides ``A`` by its std (usual for training).
    """
    n, t = costs.shape
    counted = (torch.arange(t, device=costs.device) >= warmup).to(costs.dtype)
    time_major = (costs * counted).T.contiguous()
    to_go = discounted_returns(time_major, torch.zeros_like(time_major, dtype=torch.bool),
                               gamma).T
    adv = to_go - to_go.mean(0, keepdim=True)
    if normalize:
        adv = adv / (adv.std() + 1e-8)
    loss = (logp * adv).sum() / (n * (t - warmup))
    return {"loss": loss, "loss_policy": loss, "advantages": adv, "cost_to_go": to_go}


class HDPO(Algorithm):
    """HDPO on an inventory setting; ``step()`` is one pathwise-gradient step on a minibatch."""

    config: HDPOConfig
    state_parts = ("policy", "optimizer", "best_policy", "best_dev", "generator")
    x_label = "scenario-periods"

    def __init__(self, config: HDPOConfig, setting: InventorySetting | None = None,
                 device: str | torch.device | None = None):
        self.setup(config, device)
        c = self.config
        # minibatch indices are drawn on the CPU: the same scenarios on every device
        self.generator = torch.Generator().manual_seed(c.seed)
        self.setting = (setting or make_setting(c)).to(self.device)
        self.policy = make_policy(self.setting, c.arch, c.hidden, c.layers).to(self.device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=c.learning_rate)
        sizes = {"train": (c.n_scenarios, c.horizon), "dev": (c.dev_scenarios, c.test_horizon),
                 "test": (c.test_scenarios, c.test_horizon)}
        self.scenarios = {k: sample_scenarios(self.setting, n, t, c.seed + SPLIT_SEEDS[k],
                                              self.device) for k, (n, t) in sizes.items()}
        self.optimum = reference_cost(self.setting)
        self.best_dev = math.inf
        self.best_policy = copy.deepcopy(self.policy.state_dict())

    def minibatch(self) -> Scenarios:
        """A random minibatch of training scenarios (seeded)."""
        n = len(self.scenarios["train"])
        idx = torch.randperm(n, generator=self.generator)[: min(self.config.batch_size, n)]
        return self.scenarios["train"][idx.to(self.device)]

    def estimator_loss(self, batch: Scenarios, unbiased: bool = False
                       ) -> dict[str, torch.Tensor]:
        """Roll the deterministic policy through ``batch`` with autograd on: HDPO's loss
        (always an unbiased estimate of ``J``; ``unbiased`` matters to REINFORCE)."""
        costs = rollout(self.setting, self.policy, batch)["costs"]
        return {**hdpo_loss(costs, self.config.warmup), "cost": average_cost(costs.detach(),
                                                                             self.config.warmup)}

    def step(self) -> dict[str, Any]:
        # --- ROLLOUT + LOSS (back-propagated through the whole trajectory) ---
        batch = self.minibatch()
        terms = self.estimator_loss(batch)
        # --- UPDATE ---
        if self.config.anneal_lr:
            frac = self.decay_fraction()
            for group in self.optimizer.param_groups:
                group["lr"] = frac * self.config.learning_rate
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        self.optimizer.step()
        self.iteration += 1
        self.global_step += len(batch) * batch.periods
        # --- LOGGING (plumbing; evaluation and model selection every eval_every steps) ---
        out = {"cost": float(terms["cost"]),
               "losses/policy_loss": float(terms["loss_policy"].detach()),
               "grad_norm": float(grad_norm), **self.extra_metrics()}
        if self.iteration % self.config.eval_every == 0 or self.iteration == 1:
            out.update(self.evaluation())
        return out

    def extra_metrics(self) -> dict[str, float]:
        return {}

    def evaluation(self) -> dict[str, float]:
        """Dev cost (keeps the best policy so far), test cost and the gap to the optimum."""
        dev = self.evaluate("dev")
        if dev < self.best_dev:
            self.best_dev = dev
            self.best_policy = copy.deepcopy(self.policy.state_dict())
        test = self.evaluate("test")
        out = {"dev_cost": dev, "test_cost": test}
        if self.optimum is not None:
            out["gap_pct"] = 100.0 * (test / self.optimum - 1.0)
        return out

    def snapshot(self, best: bool = True) -> torch.nn.Module:
        """A copy of the deterministic policy: the best on dev so far, or the current one."""
        policy = copy.deepcopy(self.policy)
        if best:
            policy.load_state_dict(self.best_policy)
        return policy

    def evaluate(self, split: str = "test", best: bool = False) -> float:
        """Average cost of the deterministic policy (the best-on-dev one if ``best``)."""
        c = self.config
        warmup = c.warmup if split == "train" else c.test_warmup
        policy = self.snapshot() if best else self.policy
        return evaluate(self.setting, policy, self.scenarios[split], warmup)

    def gradient_samples(self, batches: int = 8) -> torch.Tensor:
        """``(batches, P)``: the estimator's gradient of ``J`` on fresh minibatches at the
        current parameters (no update), for variance estimates."""
        params = list(self.policy.parameters())
        rows = []
        for _ in range(batches):
            loss = self.estimator_loss(self.minibatch(), unbiased=True)["loss"]
            rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
        return torch.stack(rows)


class InventoryReinforce(HDPO):
    """The score-function baseline: same network (the Gaussian's mean), same scenarios and
    budget; the rollout runs without autograd and ``log π`` is recomputed in one batch."""

    config: InventoryReinforceConfig
    state_parts = (*HDPO.state_parts, "log_std", "noise")

    def __init__(self, config: InventoryReinforceConfig, setting: InventorySetting | None = None,
                 device: str | torch.device | None = None):
        super().__init__(config, setting, device)
        c = self.config
        n_out = self.setting.n_stores + int(self.setting.has_warehouse)
        self.log_std = torch.nn.Parameter(
            torch.full((n_out,), math.log(c.exploration_std), device=self.device))
        self.optimizer = torch.optim.Adam([*self.policy.parameters(), self.log_std],
                                          lr=c.learning_rate)
        self.noise = torch.Generator(self.device).manual_seed(c.seed)

    def mean_orders(self, state: InventoryState) -> torch.Tensor:
        """``μ_θ(s)``: the deterministic policy's orders as one ``(B, n [+1])`` tensor."""
        store, warehouse = self.policy(state)
        return store if warehouse is None else torch.cat([store, warehouse[:, None]], 1)

    def estimator_loss(self, batch: Scenarios, unbiased: bool = False
                       ) -> dict[str, torch.Tensor]:
        n = self.setting.n_stores
        samples: list[torch.Tensor] = []

        def act(state: InventoryState) -> tuple[torch.Tensor, torch.Tensor | None]:
            mean = self.mean_orders(state)
            noise = torch.randn(mean.shape, generator=self.noise, device=mean.device)
            samples.append(mean + self.log_std.exp() * noise)
            orders = torch.relu(samples[-1])  # clipping at 0 is part of the environment
            return orders[:, :n], (orders[:, n] if self.setting.has_warehouse else None)

        with torch.no_grad():
            out = rollout(self.setting, act, batch, record=True)
        w = out.get("warehouse_states")
        states = InventoryState(out["store_states"].flatten(0, 1),
                                None if w is None else w.flatten(0, 1))
        mean = self.mean_orders(states).view(batch.periods, len(batch), -1)
        logp = gaussian_logp(mean, self.log_std, torch.stack(samples)).T  # (N, T)
        c = self.config
        terms = score_function_loss(logp, out["costs"], c.warmup, 1.0 if unbiased else c.gamma,
                                    normalize=not unbiased)
        return {**terms, "cost": average_cost(out["costs"], c.warmup)}

    def extra_metrics(self) -> dict[str, float]:
        return {"exploration_std": float(self.log_std.detach().exp().mean())}


def make_algo(config: HDPOConfig, device: str | torch.device | None = None) -> HDPO:
    """``InventoryReinforce`` for an :class:`InventoryReinforceConfig`, else ``HDPO``; an
    :class:`InventoryConfig` follows its ``estimator`` field."""
    if isinstance(config, InventoryConfig):
        reinforce = config.estimator == "reinforce"
    else:
        reinforce = isinstance(config, InventoryReinforceConfig)
    return (InventoryReinforce if reinforce else HDPO)(config, device=device)


def gradient_spread(grads: torch.Tensor) -> dict[str, float]:
    """Spread of ``(k, P)`` gradient estimates: ``variance = E‖g - ḡ‖²`` (trace of the
    covariance), ``signal = ‖ḡ‖²`` and their ratio (lower is better)."""
    variance = float(((grads - grads.mean(0)) ** 2).sum(1).mean())
    signal = float((grads.mean(0) ** 2).sum())
    return {"variance": variance, "signal": signal, "relative": variance / max(signal, 1e-30)}


def data_efficiency(config: HDPOConfig, n_scenarios: tuple[int, ...] = (16, 256, 8192),
                    archs: tuple[str, ...] = ("mlp", "symmetric"), steps: int = 200,
                    device: str | torch.device | None = None) -> list[dict[str, Any]]:
    """Train HDPO for ``steps`` per (architecture, training-set size); rows with the test cost
    of the best-on-dev policy and its gap (%) to the lowest cost of the sweep (the network
    setting has no known optimum; the authors also compare against the best policy found)."""
    rows = []
    for arch in archs:
        for n in n_scenarios:
            algo = make_algo(config.replace(arch=arch, n_scenarios=n), device)
            for _ in range(steps):
                algo.step()
            rows.append({"arch": arch, "n_scenarios": n, "test_cost": algo.evaluate(best=True)})
    best = min(r["test_cost"] for r in rows)
    return [{**r, "gap_pct": 100.0 * (r["test_cost"] / best - 1.0)} for r in rows]
