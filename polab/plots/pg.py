"""The policy-gradient family's chart tables and figures (REINFORCE and PPO use the
generic :data:`~polab.plots.base.RL_CHARTS`): the LQR methods N-PG-IGT / (N)-HARPG
(notebooks/02_variance_and_trust_regions.ipynb; "Stochastic Policy Gradient Methods:
Improved Sample Complexity for Fisher-non-degenerate Policies", Fatkhullin et al., ICML 2023;
../shared/cards/10_pg_igt_harpg.md), on- and off-policy MDPO and SAC ("Mirror Descent Policy
Optimization", Tomar et al., 2020; ../shared/cards/20_mdpo.md).

The LQR methods optimise ``num_seeds`` runs side by side, one trajectory per run per sample,
so their ``global_step`` counts :data:`LQR_X_LABEL`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from polab.plots.base import COLORS, MARGIN, Chart
from polab.train import History

LQR_X_LABEL = "trajectories per run"
"""What the LQR methods' ``global_step`` counts."""


def quantile_bands(runs: Mapping[str, History], y: str = "optimality_gap",
                   x: str = "global_step", slopes: Mapping[str, float] | None = None,
                   title: str | None = None, y_title: str | None = None,
                   log: bool = True, x_label: str = LQR_X_LABEL) -> go.Figure:
    """Median of ``y`` with its interquartile band against ``x`` (titled ``x_label``), one
    colour per label, on log-log axes by default (the optimality-gap figure of
    ../shared/cards/10_pg_igt_harpg.md).

    Each history holds the median over its seeds in ``y`` and the quartiles in ``{y}_q25`` and
    ``{y}_q75`` (as :mod:`polab.algos.pg.igt_harpg` reports them; iterations without them are
    skipped). ``slopes`` maps a label to an exponent ``s`` and draws the dashed reference line
    ``∝ x^s`` from a tenth of the range to its end, anchored at the mean log-median there, so
    measured and theoretical rates can be compared by eye.
    """
    fig = go.Figure()
    curves = []
    for i, (label, h) in enumerate(runs.items()):
        color = COLORS[i % len(COLORS)]
        xs, mid = h.column(x), h.column(y)
        lo, hi = h.column(f"{y}_q25"), h.column(f"{y}_q75")
        ok = np.isfinite(xs) & np.isfinite(mid) & np.isfinite(lo) & np.isfinite(hi)
        xs, mid, lo, hi = xs[ok], mid[ok], lo[ok], hi[ok]
        curves.append((xs, mid))
        fig.add_trace(go.Scatter(x=np.concatenate([xs, xs[::-1]]),
                                 y=np.concatenate([hi, lo[::-1]]), fill="toself",
                                 fillcolor=color, opacity=0.2, line={"width": 0},
                                 hoverinfo="skip", showlegend=False, name=f"{label} IQR"))
        fig.add_trace(go.Scatter(x=xs, y=mid, mode="lines", line={"color": color},
                                 name=f"{label} (median, IQR band)"))
    curves = [(cx, cy) for cx, cy in curves if len(cx) and np.all(cy > 0)]
    if slopes and curves:
        x_end = max(cx[-1] for cx, _ in curves)
        x_start = x_end / 10
        anchor = np.exp(np.mean([np.log(np.interp(x_start, cx, cy)) for cx, cy in curves]))
        for label, s in slopes.items():
            fig.add_trace(go.Scatter(x=[x_start, x_end], y=[anchor, anchor * 10.0 ** s],
                                     mode="lines", line={"color": "gray", "dash": "dash"},
                                     name=f"slope {s:.2g}: {label}"))
    axis = "log" if log else "linear"
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_title or y,
                      xaxis_type=axis, yaxis_type=axis, template="plotly_white", height=400,
                      margin=MARGIN)
    return fig


def loglog_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line ``log y = intercept + slope·log x``: ``(slope, intercept)`` over the
    finite, positive points: the fitted rate of a log-log plot
    (../shared/cards/10_pg_igt_harpg.md)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    slope, intercept = np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)
    return float(slope), float(intercept)


def crossover_budget(behind: tuple[float, float], ahead: tuple[float, float]) -> float:
    """Where the fitted line ``behind`` (higher now, steeper) meets ``ahead``: the ``x`` with
    equal predicted ``y`` (fits from :func:`loglog_fit`); ``inf`` when the lines do not
    converge (``behind`` is not steeper)."""
    (s_b, c_b), (s_a, c_a) = behind, ahead
    if s_b >= s_a:
        return math.inf
    return math.exp((c_b - c_a) / (s_a - s_b))


def step_size_sweep(sweep: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str | None = None,
                    x_title: str = "step-size scale gamma_0",
                    y_title: str = "median gap J* − J(θ_T)") -> go.Figure:
    """The final median gap against the step-size scale, one line per method, log-log axes:
    ``sweep`` maps a label to ``(gamma_0 values, median gaps)``."""
    fig = go.Figure()
    for i, (label, (xs, ys)) in enumerate(sweep.items()):
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label,
                                 line={"color": COLORS[i % len(COLORS)]}))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, xaxis_type="log",
                      yaxis_type="log", template="plotly_white", height=380, margin=MARGIN)
    return fig


LQR_CHARTS = (
    Chart("median optimality gap J* − J(θ) (exact)",
          ("optimality_gap", "optimality_gap_q25", "optimality_gap_q75"), x_label=LQR_X_LABEL),
    Chart("tracking error ‖d_t − ∇J(θ_t)‖ (median)", ("grad_error",), x_label=LQR_X_LABEL),
    Chart("step size γ_t", ("charts/learning_rate",), x_label=LQR_X_LABEL),
)
"""The dashboard of the LQR policy-gradient methods (:mod:`polab.algos.pg.igt_harpg`)."""

MDPO_CHARTS = (
    Chart("return vs env steps", ("charts/episodic_return",)),
    Chart("KL(π_k+1 ‖ π_k) per iteration", ("losses/kl",), x="iteration"),
    Chart("KL weight 1/t_k", ("mdpo/kl_coef",), x="iteration"),
    Chart("policy entropy", ("losses/entropy",)),
    Chart("value loss", ("losses/value_loss",)),
    Chart("advantages of the last batch", ("advantages",), kind="hist"),
)
"""The dashboard of on-policy MDPO (:mod:`polab.algos.pg.mdpo`): the KL and its weight are
per iteration by meaning (one mirror-descent step each)."""

OFF_POLICY_CHARTS = (
    Chart("return vs env steps", ("charts/episodic_return",)),
    Chart("return vs wall time", ("charts/episodic_return",), x="time"),
    Chart("policy entropy −E[log π]", ("losses/entropy",)),
    Chart("mean Q₁(s, a) on replayed batches", ("losses/qf1_values",)),
    Chart("critic losses", ("losses/qf1_loss", "losses/value_loss")),
    Chart("KL(π_θ ‖ π_k) estimate (MDPO)", ("losses/kl",)),
)
"""The dashboard of SAC and off-policy MDPO (polab.algos.pg.sac, polab.algos.pg.mdpo_off)."""
