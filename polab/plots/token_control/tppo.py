"""T-PPO's figures (card 8; notebooks/04_token_level_control.ipynb): the dashboard against
generation steps, held-out pass@1 of several arms against generation steps, the
slot-utilisation Gantt chart (slots × generation steps) of a scheduler, and the critic's
bootstrap value at the cuts against the return realised later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from polab.plots.base import COLORS, MARGIN, Chart

X_LABEL = "generation steps"
"""What ``ppo-lm``'s and ``tppo``'s ``global_step`` counts (forward passes of the pool)."""

TPPO_CHARTS = (
    Chart("held-out greedy pass@1", ("eval/pass@1",), x_label=X_LABEL),
    Chart("slot utilisation (active share)", ("slot_utilisation",), x_label=X_LABEL),
    Chart("reward of finished responses", ("reward",), x_label=X_LABEL),
    Chart("critic loss (finished responses)", ("losses/value_loss",), x_label=X_LABEL),
    Chart("cut share of the round's rows", ("window/cut_share",), x_label=X_LABEL),
    Chart("critic's value at the cuts (mean)", ("value/at_cut",), x_label=X_LABEL),
    Chart("finished length (tokens)", ("completions/mean_length",), x_label=X_LABEL),
    Chart("clip ratios", ("clip_ratio/low_mean", "clip_ratio/high_mean"), x_label=X_LABEL),
    Chart("completions finished", ("completions",), x_label=X_LABEL),
)
"""The dashboard of ``ppo-lm`` and ``tppo`` (``window/*`` and ``value/at_cut`` are T-PPO's)."""


def pass_curves_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                       target: float | None = None,
                       title: str = "held-out pass@1 vs generation steps") -> go.Figure:
    """One line per arm: ``{name: (generation steps, pass@1)}``; ``target`` (the synchronous
    baseline's final pass@1) as a dashed line."""
    fig = go.Figure()
    for i, (name, (x, y)) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=name,
                                 line={"color": COLORS[i % len(COLORS)]}))
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="grey",
                      annotation_text="sync PPO final", annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title=X_LABEL, yaxis_title="pass@1", height=360,
                      margin=MARGIN)
    return fig


def gantt_figure(occupancy: Mapping[str, np.ndarray], steps: int | None = None,
                 title: str = "slot utilisation: which sequence each slot generates") -> go.Figure:
    """One panel per scheduler: ``{name: (slots, steps) sequence ids, -1 idle}``, the first
    ``steps`` generation steps; consecutive sequences in a slot alternate colour, idle is white.
    The panel title gives the active share over the steps shown."""
    names = list(occupancy)
    mats = [np.asarray(occupancy[n])[:, :steps] for n in names]
    titles = [f"{n}: {100 * float((m >= 0).mean()):.0f}% of slot-steps active"
              for n, m in zip(names, mats, strict=True)]
    fig = make_subplots(rows=len(names), cols=1, subplot_titles=titles, vertical_spacing=0.12)
    scale = [[0.0, "#ffffff"], [0.33, "#ffffff"], [0.34, COLORS[0]], [0.66, COLORS[0]],
             [0.67, "#9ecae1"], [1.0, "#9ecae1"]]
    for i, m in enumerate(mats, start=1):
        prev = np.pad(m, ((0, 0), (1, 0)), constant_values=-1)[:, :-1]
        nth = np.cumsum((m >= 0) & (m != prev), axis=1)  # sequences started in the slot so far
        shade = np.where(m < 0, 0, 1 + nth % 2)
        fig.add_trace(go.Heatmap(z=shade, customdata=m, colorscale=scale, zmin=0, zmax=2,
                                 showscale=False,
                                 hovertemplate="slot %{y}, step %{x}: sequence %{customdata}"
                                 "<extra></extra>"), i, 1)
        fig.update_yaxes(title_text="slot", row=i, col=1)
    fig.update_xaxes(title_text=X_LABEL, row=len(names), col=1)
    fig.update_layout(title=title, height=240 * len(names) + 80, margin=MARGIN)
    return fig


def bootstrap_figure(values: np.ndarray, returns: np.ndarray,
                     title: str = "critic's value at the cut vs the realised return"
                     ) -> go.Figure:
    """EGAE's bootstrap ``V(s_t_end)`` of every cut response, grouped by the return that
    response later realised (0 wrong, 1 right): a useful critic separates the two boxes."""
    values, returns = np.asarray(values, dtype=float), np.asarray(returns, dtype=float)
    fig = go.Figure()
    for i, r in enumerate((0.0, 1.0)):
        v = values[returns == r]
        fig.add_trace(go.Box(y=v, name=f"R = {r:g} ({len(v)} cuts)", boxpoints="outliers",
                             marker_color=COLORS[i]))
    fig.update_layout(title=title, yaxis_title="V(s_t_end)", height=340, margin=MARGIN,
                      showlegend=False)
    return fig
