"""IWOCS's figures (card 39, "Plots"; notebook 11, section "IWOCS"): a policy's value over
the wind grid per method with the worst cell marked, the worst case per IWOCS iteration
against the robust-VI line, the kernels added per iteration, policy arrows on the grid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from polab.algos.robust.exact import evaluate_policy
from polab.envs.tabular import WindyWalk
from polab.plots.base import COLORS, MARGIN, Chart

X_LABEL = "static problems solved"

IWOCS_CHARTS = (
    Chart("worst-case value of π_i vs the robust-VI value",
          ("worst_case_value", "robust_vi_value"), x_label=X_LABEL),
    Chart("value of π_i: calm kernel and worst of the 9³ grid",
          ("nominal_value", "fine_worst_case"), x_label=X_LABEL),
    Chart("kernels found", ("kernels_found",), x_label=X_LABEL),
)
"""The dashboard of :class:`polab.algos.robust.iwocs.IWOCS` (its panel's live charts)."""


def value_over_wind_grid(walk: WindyWalk, policies: Mapping[str, torch.Tensor],
                         levels: int = 9) -> go.Figure:
    """One heatmap per policy of its exact value from S over the first two windy columns'
    strengths (a ``levels``-point grid each), the third column's wind set to its worst for
    that cell; the worst cell overall marked ✕. Shared colour scale."""
    strengths = walk.grid(levels)
    kernels = walk.kernels(strengths)
    values = {k: evaluate_policy(kernels, walk.reward, walk.gamma, pi)[:, walk.start_index]
              .view(levels, levels, levels).amin(-1).cpu().numpy() for k, pi in policies.items()}
    lo = min(float(v.min()) for v in values.values())
    hi = max(float(v.max()) for v in values.values())
    axis = walk.level_values(levels).numpy()
    fig = make_subplots(1, len(values), subplot_titles=list(values), horizontal_spacing=0.06)
    for i, z in enumerate(values.values(), start=1):
        fig.add_trace(go.Heatmap(z=z, x=axis, y=axis, zmin=lo, zmax=hi, colorscale="RdYlGn",
                                 showscale=i == len(values),
                                 hovertemplate=f"w(col {walk.windy[1]}) %{{x:.3f}}, w(col "
                                 f"{walk.windy[0]}) %{{y:.3f}}: %{{z:.3f}}<extra></extra>"),
                      1, i)
        r, c = np.unravel_index(z.argmin(), z.shape)
        fig.add_trace(go.Scatter(x=[axis[c]], y=[axis[r]], mode="markers+text",
                                 marker={"symbol": "x", "size": 14, "color": "black"},
                                 text=[f"{z.min():.2f}"], textposition="top center",
                                 showlegend=False), 1, i)
        fig.update_xaxes(title_text=f"wind of column {walk.windy[1]}", row=1, col=i)
    fig.update_yaxes(title_text=f"wind of column {walk.windy[0]}", row=1, col=1)
    fig.update_layout(title=f"value from S over the wind box (column {walk.windy[2]}'s wind "
                      "at its worst; ✕ = worst cell)", template="plotly_white", height=360,
                      width=min(900, max(420, 300 * len(values))), margin={**MARGIN, "t": 80})
    return fig


def worst_case_per_iteration(runs: Mapping[str, Sequence[float]], robust_vi: float
                             ) -> go.Figure:
    """The worst-case value of π_i per IWOCS iteration, one line per run, with the robust-VI
    value dashed (card 39's convergence plot)."""
    fig = go.Figure()
    for i, (label, values) in enumerate(runs.items()):
        fig.add_trace(go.Scatter(x=list(range(len(values))), y=list(values),
                                 mode="lines+markers", name=label,
                                 line={"color": COLORS[i % len(COLORS)]}))
    fig.add_hline(y=robust_vi, line_dash="dash", line_color="black",
                  annotation_text="robust VI")
    fig.update_layout(title="worst-case value of π_i per IWOCS iteration",
                      template="plotly_white", xaxis_title="IWOCS iteration i", xaxis_dtick=1,
                      yaxis_title="worst-case value from S", height=360, margin=MARGIN)
    return fig


def kernels_added(walk: WindyWalk, strengths: Sequence[Sequence[float]]) -> go.Figure:
    """The wind strengths of the kernels IWOCS added, one row per iteration (row 0 the
    calm nominal kernel), one column per windy column."""
    z = np.asarray(strengths, dtype=float)
    fig = go.Figure(go.Heatmap(z=z, x=[f"column {c}" for c in walk.windy],
                               y=[f"T_{i}" for i in range(len(z))], zmin=0,
                               zmax=walk.radius or 1.0, colorscale="Blues",
                               text=np.round(z, 3), texttemplate="%{text}",
                               colorbar={"title": "wind"}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="kernels found by the worst-case search", template="plotly_white",
                      height=120 + 40 * len(z), width=480, margin=MARGIN)
    return fig


ARROWS = ("↑", "↓", "←", "→")


def policy_arrows(walk: WindyWalk, policies: Mapping[str, torch.Tensor]) -> go.Figure:
    """Each policy as arrows on the grid; windy columns shaded by column, S, G and the pit
    (P) marked."""
    rows, cols = walk.shape
    shade = np.zeros((rows, cols))
    shade[:, list(walk.windy)] = 1.0
    marks = {walk.start: "S", walk.goal: "G", **{cell: "P" for cell in walk.pit}}
    shade[[r for r, _ in walk.pit], [c for _, c in walk.pit]] = 2.0
    fig = make_subplots(1, len(policies), subplot_titles=list(policies),
                        horizontal_spacing=0.05)
    for i, pi in enumerate(policies.values(), start=1):
        arrows = np.asarray(ARROWS)[pi.cpu().numpy()].reshape(rows, cols)
        text = [[marks.get((r, c), "") + ("" if (r, c) in (walk.goal, *walk.pit)
                                           else arrows[r, c]) for c in range(cols)]
                for r in range(rows)]
        fig.add_trace(go.Heatmap(z=shade, text=text, texttemplate="%{text}", showscale=False,
                                 colorscale=[[0, "#ffffff"], [0.5, "#dbe9f6"],
                                             [1, "#f4a6a6"]], zmin=0, zmax=2,
                                 hoverinfo="skip", textfont={"size": 16}), 1, i)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i}", showticklabels=False,
                         row=1, col=i)
        fig.update_xaxes(showticklabels=False, row=1, col=i)
    fig.update_layout(title="greedy policies (blue: windy columns, red: pit)",
                      template="plotly_white", height=300,
                      width=min(900, max(420, 330 * len(policies))),
                      margin={**MARGIN, "t": 80})
    return fig
