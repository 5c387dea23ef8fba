"""H2O's figures (card 42, "Plots"): real-env return against the simulator's gap for every
method, the estimated gap u(s, a) against the simulator's true one-step error, the histogram
of the IS weights, Q on real and on sim data over training; the panel's charts.

Taught in notebooks/11_robust_and_offline.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from polab.plots.base import COLORS, MARGIN, Chart, histogram

H2O_CHARTS = (
    Chart("return in the REAL env", ("charts/real_return",), x_label="gradient steps"),
    Chart("Q on real vs sim rows", ("losses/q_real", "losses/q_sim"),
          x_label="gradient steps"),
    Chart("discriminator accuracy (D_sas)", ("losses/disc_accuracy",),
          x_label="gradient steps"),
    Chart("mean IS weight of sim rows", ("losses/is_weight",), x_label="gradient steps"),
)
"""The panel's dashboard."""


def return_vs_gap(returns: Mapping[str, Mapping[float, Sequence[float]]]) -> go.Figure:
    """Mean ± std over seeds of the real-env return against ``sim_gap``, a line per method
    (``returns[method][gap] = per-seed returns``)."""
    fig = go.Figure()
    for i, (name, by_gap) in enumerate(returns.items()):
        gaps = sorted(by_gap)
        vals = [np.asarray(by_gap[g], dtype=float) for g in gaps]
        fig.add_trace(go.Scatter(x=gaps, y=[v.mean() for v in vals], name=name,
                                 mode="lines+markers", line={"color": COLORS[i % len(COLORS)]},
                                 error_y={"type": "data", "array": [v.std() for v in vals]}))
    fig.update_layout(title="return in the real env vs the simulator's gravity factor",
                      xaxis_title="sim_gap (sim gravity ÷ real)", yaxis_title="real return",
                      template="plotly_white", height=380, margin=MARGIN)
    return fig


def gap_scatter(u: Sequence[float], error: Sequence[float], spearman: float | None = None
                ) -> go.Figure:
    """The estimated gap ``u(s, a)`` against the true one-step error ``‖s'_sim − s'_real‖``
    of the same sim transitions."""
    title = "estimated gap u(s, a) vs the simulator's true one-step error"
    if spearman is not None:
        title += f" (Spearman {spearman:+.2f})"
    fig = go.Figure(go.Scatter(x=list(error), y=list(u), mode="markers",
                               marker={"size": 5, "color": COLORS[0], "opacity": 0.6}))
    fig.update_layout(title=title, xaxis_title="‖s'_sim − s'_real‖", yaxis_title="u(s, a)",
                      template="plotly_white", height=380, margin=MARGIN)
    return fig


def is_weight_histogram(weights: Mapping[str, Sequence[float]] | Sequence[float]) -> go.Figure:
    """Histogram of the clipped IS weights ``clip(P_real/P_sim, 1e-5, 1)`` of sim rows."""
    values = ({k: np.asarray(v) for k, v in weights.items()} if isinstance(weights, Mapping)
              else np.asarray(weights))
    return histogram(values, "IS weights of sim transitions", "clip(P_real / P_sim, 1e-5, 1)",
                     nbins=40)


def q_over_training(curves: Mapping[str, Sequence[Mapping[str, float]]],
                    updates_per_iteration: int) -> go.Figure:
    """Mean Q on the real and on the sim rows of each batch over training, per run
    (``curves[name]`` = the per-iteration metrics of ``step()``)."""
    fig = go.Figure()
    for i, (name, curve) in enumerate(curves.items()):
        x = [updates_per_iteration * (t + 1) for t in range(len(curve))]
        for key, dash in (("losses/q_real", "solid"), ("losses/q_sim", "dot")):
            if key in curve[0]:
                fig.add_trace(go.Scatter(x=x, y=[r[key] for r in curve],
                                         name=f"{name}: Q {key.split('_')[-1]}",
                                         line={"color": COLORS[i % len(COLORS)], "dash": dash}))
    fig.update_layout(title="mean Q on real (solid) and sim (dotted) rows",
                      xaxis_title="gradient steps", yaxis_title="Q",
                      template="plotly_white", height=380, margin=MARGIN)
    return fig
