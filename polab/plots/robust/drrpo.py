"""DR-RPO's figures (card 32, "Plots"; notebooks/11_robust_and_offline.ipynb, section 2):
return vs perturbation size (robust vs non-robust), log–log cumulative regret with its fitted
slope, the policy per state over episodes, the bonus over time and the adversary's
worst-case kernel. Inputs are plain arrays (a run's records or the benchmark's JSON)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from polab.envs.linear_mdp import ACTIONS, STATES
from polab.plots.base import COLORS, MARGIN, Chart

X_LABEL = "episodes"

DRRPO_CHARTS = (
    Chart("robust value of π_k at ρ_test (exact) and robust DP's", ("robust_value",
          "robust_optimum"), x_label=X_LABEL),
    Chart("regret vs robust DP, and vs the KL-regularised robust DP",
          ("regret", "regret_regularised"), x_label=X_LABEL),
    Chart("UCB bonus at the start state (h = 1)", ("bonus",), x_label=X_LABEL),
    Chart("π(go | start): risky lane (1) or safe lane (0)", ("pi_risky_at_start",),
          x_label=X_LABEL),
)
"""The dashboard of :class:`polab.algos.robust.drrpo.DRRPO` (its panel's live charts)."""


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white",
                      height=380, margin=MARGIN)
    return fig


def return_vs_rho(rho_tests: Sequence[float], returns: Mapping[str, np.ndarray]) -> go.Figure:
    """Exact return of each arm's final policy on the kernel perturbed by ρ_test, mean ± std
    over seeds (``returns[arm]`` is ``[seeds, len(rho_tests)]``): the curves cross."""
    fig = go.Figure()
    for i, (arm, rows) in enumerate(returns.items()):
        rows = np.asarray(rows)
        mean, std = rows.mean(0), rows.std(0)
        fig.add_trace(go.Scatter(x=list(rho_tests), y=mean, name=arm, mode="lines+markers",
                                 line_color=COLORS[i % len(COLORS)],
                                 error_y={"type": "data", "array": std, "visible": True}))
    return _layout(fig, "return vs test perturbation (TV mass moved to fail)", "ρ_test",
                   "exact return")


def regret_loglog(cum_regret: Mapping[str, np.ndarray], every: int = 10,
                  start: int = 100) -> go.Figure:
    """Cumulative regret (mean over seeds; ``[seeds, K/every]`` sampled every ``every``
    episodes) on log–log axes, with the least-squares slope from episode ``start`` on."""
    fig = go.Figure()
    for i, (arm, rows) in enumerate(cum_regret.items()):
        mean = np.asarray(rows).mean(0)
        k = every * np.arange(1, len(mean) + 1)
        keep = (k >= start) & (mean > 0)
        slope = np.polyfit(np.log(k[keep]), np.log(mean[keep]), 1)[0] if keep.sum() > 1 else 0
        fig.add_trace(go.Scatter(x=k, y=np.maximum(mean, 1e-6), name=f"{arm} (slope "
                                 f"{slope:.2f})", line_color=COLORS[i % len(COLORS)]))
    fig.add_trace(go.Scatter(x=[start, 1000], y=[1, 10 ** 0.5 * 1], name="slope ½ (guide)",
                             line={"dash": "dot", "color": "gray"}))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return _layout(fig, "cumulative regret (log–log)", "episode k", "Σ regret")


def policy_heatmap(policy: np.ndarray, every: int = 10) -> go.Figure:
    """π_k(go/push | s) at h = 1 for start, risky and safe (``policy [T, 3]``, one row every
    ``every`` episodes): which lane the policy settles on, and when."""
    z = np.asarray(policy).T
    fig = go.Figure(go.Heatmap(z=z, x=every * np.arange(1, z.shape[1] + 1), y=list(STATES[:3]),
                               zmin=0, zmax=1, colorscale="Viridis",
                               colorbar={"title": "π(go/push)"}))
    return _layout(fig, "policy per state over episodes (h = 1)", "episode", "state")


def bonus_over_time(bonus: Mapping[str, np.ndarray], every: int = 10) -> go.Figure:
    """Mean UCB bonus at the start state over episodes (``[seeds, K/every]`` per arm)."""
    fig = go.Figure()
    for i, (arm, rows) in enumerate(bonus.items()):
        mean = np.asarray(rows).mean(0)
        fig.add_trace(go.Scatter(x=every * np.arange(1, len(mean) + 1), y=mean, name=arm,
                                 line_color=COLORS[i % len(COLORS)]))
    fig.update_yaxes(type="log")
    return _layout(fig, "bonus β Σ φ_i √(Λ⁻¹)_ii at the start state", "episode", "bonus")


def worst_kernel(kernel: np.ndarray, nominal: np.ndarray) -> go.Figure:
    """The adversary's kernel minus the nominal one at h = 1, rows (s, a), columns s′
    (``[S, A, S]`` each): the mass pushed toward "fail" (positive column) from the states
    the policy values most (negative entries)."""
    diff = (np.asarray(kernel) - np.asarray(nominal)).reshape(-1, len(STATES))
    rows = [f"{s} · {a}" for s in STATES for a in ACTIONS]
    bound = float(np.abs(diff).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=diff, x=list(STATES), y=rows, colorscale="RdBu", zmid=0,
                               zmin=-bound, zmax=bound, text=np.round(diff, 2),
                               texttemplate="%{text}", colorbar={"title": "ΔP"}))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "worst-case kernel − nominal kernel (h = 1)", "next state s′",
                   "(s, a)")
