"""Where the score-function gradient degrades: card 3's claim examined.

The claim of ../shared/cards/03_hdpo.md ("Deep Reinforcement Learning for Inventory Networks:
Toward Reliable Policy Optimization", Alvo, Russo, Kanoria & Lee, 2023, arXiv 2306.11246):
HDPO (pathwise gradient) ends within 2% of the optimum while REINFORCE (score-function
gradient) on the same simulated budget stays more than 10% away. On polab's one-store
miniature REINFORCE ends only 1–2% away. This module holds the pieces that find out why:

* :func:`relative_noise` — both estimators' relative gradient variance
  ``E‖g − ḡ‖² / ‖ḡ‖²`` (:func:`~polab.algos.diffsim.hdpo.gradient_spread`) at the same
  policy, so it can be drawn against the lead time or the number of stores. The
  score-function estimate sums ``∇ log π`` over every sampled order — one per store per
  period — and weights it by a cost-to-go whose noise grows with the periods it spans; the
  pathwise estimate differentiates the realised cost and has no such terms (Mohamed et al.
  2020, "Monte Carlo Gradient Estimation in Machine Learning", §4–5).
* :func:`lr_sweep` — each estimator's test gap over learning rates (REINFORCE is compared at
  its own best).
* :func:`excess_pct` — the excess cost of one policy over another; with HDPO's cost as an
  upper bound on the optimum, REINFORCE's excess over HDPO is a *lower bound* on its gap to
  the (unknown) optimum of the network.
* :func:`verdict` — the claim's two thresholds applied per seed.

Taught in notebooks/10_differentiable_simulation.ipynb; run by benchmarks/hdpo.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from polab.algos.diffsim.hdpo import InventoryConfig, gradient_spread, make_algo


def relative_noise(config: InventoryConfig, probe_steps: int = 20, batches: int = 16
                   ) -> dict[str, float]:
    """Relative variance of the pathwise and the score-function gradient at one policy.

    HDPO trains ``probe_steps`` steps from ``config`` (a policy past the initial blow-up but
    not yet optimal); REINFORCE gets the same weights, its initial σ and the unbiased
    estimator (``γ = 1``, no advantage normalisation); each estimator's gradient is taken on
    ``batches`` fresh minibatches. Returns ``{"pathwise": …, "score_function": …,
    "ratio": score / pathwise}`` — about how many times more scenarios per step REINFORCE
    needs for the same precision.
    """
    probe = config.replace(eval_every=10_000)
    hdpo = make_algo(probe.replace(estimator="hdpo"))
    for _ in range(probe_steps):
        hdpo.step()
    reinforce = make_algo(probe.replace(estimator="reinforce"))
    reinforce.policy.load_state_dict(hdpo.policy.state_dict())
    path = gradient_spread(hdpo.gradient_samples(batches))["relative"]
    score = gradient_spread(reinforce.gradient_samples(batches))["relative"]
    return {"pathwise": path, "score_function": score, "ratio": score / max(path, 1e-30)}


def train_and_test(config: InventoryConfig, test_cost: Callable[[Any], float]) -> float:
    """Train ``config`` to ``num_iterations`` and return ``test_cost(algo)`` (e.g. the
    best-on-dev policy's cost on a large test set)."""
    algo = make_algo(config)
    for _ in range(config.num_iterations):
        algo.step()
    return test_cost(algo)


def lr_sweep(config: InventoryConfig, learning_rates: Sequence[float],
             test_cost: Callable[[Any], float], estimators: Sequence[str] = ("reinforce",)
             ) -> list[dict[str, Any]]:
    """Rows ``{"estimator", "learning_rate", "test_cost"}``, one run per (estimator, rate)."""
    return [{"estimator": est, "learning_rate": lr,
             "test_cost": train_and_test(config.replace(estimator=est, learning_rate=lr),
                                         test_cost)}
            for est in estimators for lr in learning_rates]


def best_rate(rows: Sequence[dict[str, Any]], estimator: str = "reinforce") -> float:
    """The learning rate of the lowest finite test cost among ``estimator``'s rows."""
    mine = [r for r in rows if r["estimator"] == estimator and r["test_cost"] == r["test_cost"]
            and r["test_cost"] < float("inf")]
    return min(mine, key=lambda r: r["test_cost"])["learning_rate"]


def excess_pct(cost: float, reference: float) -> float:
    """``100 (cost / reference − 1)``: the gap (%) of ``cost`` over ``reference``."""
    return 100.0 * (cost / reference - 1.0)


def verdict(hdpo_gaps: Sequence[float] | None, reinforce_gaps: Sequence[float],
            hdpo_max: float = 2.0, reinforce_min: float = 10.0) -> str:
    """Card 3's claim on per-seed gaps (%): HDPO ``≤ hdpo_max`` and REINFORCE
    ``> reinforce_min`` on *every* seed.

    ``"reproduced"`` when both hold; ``"partly"`` when REINFORCE is worse than HDPO on every
    seed but a threshold fails; ``"not reproduced"`` otherwise. ``hdpo_gaps=None`` (no exact
    optimum; ``reinforce_gaps`` are then REINFORCE's excess over HDPO, a lower bound on its
    gap) checks REINFORCE's threshold alone: ``"partly"`` when REINFORCE is worse on every
    seed but not by ``reinforce_min``.
    """
    rf_ok = min(reinforce_gaps) > reinforce_min
    if hdpo_gaps is None:
        worse = all(r > 0 for r in reinforce_gaps)
        hdpo_ok = True
    else:
        worse = all(r > h for h, r in zip(hdpo_gaps, reinforce_gaps, strict=True))
        hdpo_ok = max(hdpo_gaps) <= hdpo_max
    if hdpo_ok and rf_ok:
        return "reproduced"
    return "partly" if worse else "not reproduced"
