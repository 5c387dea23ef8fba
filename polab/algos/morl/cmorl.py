"""C-MORL — constrained multi-objective RL (Liu et al., ICLR 2025, arXiv 2410.02236), and the
linear-scalarisation baseline it is compared with. ../shared/cards/04_cmorl.md; code:
github.com/RuohLiuq/C-MORL.

Both train a *population* of PPO policies on a multi-objective environment
(``polab.envs.mo``: rewards ``(N, K)``). All policies of a stage are one
:class:`~polab.algos.morl.networks.StackedActorCritic` — weights stacked ``(P, in, out)``, one
``baddbmm`` per layer — so P policies act, learn and are evaluated together, never one after
another.

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

Where the pieces live: :mod:`~polab.algos.morl.config` (the knobs),
:mod:`~polab.algos.morl.networks` (the stacked policies), :mod:`~polab.algos.morl.losses`
(pure functions), :mod:`~polab.algos.morl.population` (the engine both methods share),
:mod:`~polab.algos.morl.cpo` (the ``cpo`` form); this module holds the two methods.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from polab.algos.morl.config import CMORLConfig
from polab.algos.morl.losses import crowding_selection, extension_thresholds
from polab.algos.morl.population import Population
from polab.envs.mo.base import MOBatchedEnv
from polab.envs.mo.metrics import evenly_spread_preferences


def _preference_label(w: np.ndarray) -> str:
    return "w=(" + ", ".join(f"{x:.2f}" for x in w) + ")"


class CMORL(Population):
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
        iteration's rollout (the card's slack plot; ``> 0``: feasible)."""
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


class LinearScalarisation(Population):
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
