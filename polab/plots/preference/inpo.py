"""INPO's figures (card 16; notebooks/08_preferences.ipynb): exploitability against iteration
over the regularised Nash's level, policy paths on the rock–paper–scissors simplex, the
preference matrix as a heatmap, and KL to π_ref against iteration for several τ.

:data:`INPO_CHARTS` is the live dashboard of the ``inpo`` panel (records of
:class:`~polab.algos.preference.trainer.PreferenceTrainer` on a preference game).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from polab.plots.base import COLORS, Chart

X_LABEL = "preference pairs"
INPO_CHARTS = (
    Chart("exploitability max_y P(y ≻ π) − ½", ("exploitability",), x_label=X_LABEL),
    Chart("gap to the regularised Nash", ("nash_gap",), x_label=X_LABEL),
    Chart("KL(π ‖ π_ref)", ("kl",), x_label=X_LABEL),
    Chart("loss (h_t − η/2)²", ("loss",), x_label=X_LABEL),
)
"""The ``inpo`` panel's charts."""
VERTICES = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
"""The corners of the 2-D barycentric triangle, one per response."""


def exploitability_figure(curves: Mapping[str, Sequence[float]], nash: float,
                          title: str | None = None) -> go.Figure:
    """Exploitability against iteration (round 0 = π_0), one line per method; the regularised
    Nash's exploitability as a dotted line."""
    fig = go.Figure()
    for i, (name, ys) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(range(len(ys))), y=list(ys), name=name,
                                 mode="lines+markers", marker={"size": 4},
                                 line={"color": COLORS[i % len(COLORS)]}))
    fig.add_hline(y=nash, line_dash="dot", annotation_text="regularised Nash",
                  annotation_position="bottom right")
    fig.update_layout(title=title or "Exploitability max_y P(y ≻ π) − ½ (mean over prompts)",
                      xaxis_title="iteration t", yaxis={"title": "exploitability",
                                                        "rangemode": "tozero"})
    return fig


def barycentric(probs: np.ndarray) -> np.ndarray:
    """Points ``[..., 2]`` of the triangle :data:`VERTICES` for probabilities ``[..., 3]``."""
    return np.asarray(probs, dtype=float) @ VERTICES


def simplex_figure(paths: Mapping[str, np.ndarray], names: Sequence[str],
                   points: Mapping[str, Sequence[float]] | None = None,
                   title: str | None = None) -> go.Figure:
    """Policy paths ``[T + 1, 3]`` on the probability simplex of three responses (2-D
    barycentric: each corner is a response played for sure), with marked ``points`` (the
    Nash policies, π_ref)."""
    fig = go.Figure()
    corners = np.vstack([VERTICES, VERTICES[:1]])
    fig.add_trace(go.Scatter(x=corners[:, 0], y=corners[:, 1], mode="lines",
                             line={"color": "#888"}, showlegend=False, hoverinfo="skip"))
    for (x, y), name in zip(VERTICES, names, strict=True):
        fig.add_annotation(x=x, y=y, text=name, showarrow=False,
                           yshift=-14 if y == 0 else 12)
    for i, (name, path) in enumerate(paths.items()):
        xy = barycentric(path)
        fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], name=name, mode="lines+markers",
                                 marker={"size": 4}, line={"color": COLORS[i % len(COLORS)]},
                                 customdata=np.arange(len(xy)),
                                 hovertemplate="t=%{customdata}<extra></extra>"))
    symbols = ("star", "x", "diamond", "circle")
    for i, (name, p) in enumerate((points or {}).items()):
        xy = barycentric(np.asarray(p)[None])
        fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], name=name, mode="markers",
                                 marker={"size": 13, "symbol": symbols[i % len(symbols)],
                                         "color": "black"}))
    fig.update_layout(title=title or "Policy paths on the simplex", width=620, height=560,
                      xaxis={"visible": False, "range": [-0.1, 1.1]},
                      yaxis={"visible": False, "scaleanchor": "x", "range": [-0.12, 1.0]},
                      plot_bgcolor="white")
    return fig


def preference_heatmap(P: np.ndarray, title: str | None = None) -> go.Figure:
    """``P(y_i ≻ y_j)`` of one prompt as a heatmap (rows: ``y_i``), ½ white."""
    P = np.asarray(P, dtype=float)
    labels = [f"y{i}" for i in range(P.shape[0])]
    fig = go.Figure(go.Heatmap(z=P, x=labels, y=labels, zmin=0, zmax=1, colorscale="RdBu",
                               colorbar={"title": "P(row ≻ col)"},
                               hovertemplate="P(%{y} ≻ %{x}) = %{z:.2f}<extra></extra>"))
    fig.update_layout(title=title or "Preference matrix P(y_i ≻ y_j)", width=520, height=460,
                      yaxis={"autorange": "reversed"})
    return fig


def kl_figure(curves: Mapping[str, Sequence[float]], title: str | None = None) -> go.Figure:
    """``KL(π_t ‖ π_ref)`` against iteration, one line per label (e.g. per τ)."""
    fig = go.Figure()
    for i, (name, ys) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(range(len(ys))), y=list(ys), name=name,
                                 mode="lines", line={"color": COLORS[i % len(COLORS)]}))
    fig.update_layout(title=title or "KL(π_t ‖ π_ref) per iteration", xaxis_title="iteration t",
                      yaxis_title="KL (nats)")
    return fig
