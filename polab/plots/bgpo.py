"""BGPO's figures (card 41, "Plots"): saved bytes and ELBO-estimate variance against n_mc, the
objectives along a line through θ_old, held-out pass@1 per arm, the gap against the number of
inner updates; the panel's charts.

Taught in notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from polab.plots.base import COLORS, MARGIN, Chart

BGPO_CHARTS = (
    Chart("reward and held-out pass@1", ("reward", "eval/pass@1"), x_label="answers sampled"),
    Chart("bound gap exact − BGPO after the updates", ("bound_gap",),
          x_label="answers sampled"),
    Chart("ELBO-estimate variance (θ_old, n_mc samples)", ("elbo/variance",), log_y=True,
          x_label="answers sampled"),
    Chart("bytes autograd saved (peak)", ("saved_bytes",), x_label="answers sampled"),
)
"""The BGPO panel's dashboard."""

DIFFU_GRPO_CHARTS = (
    BGPO_CHARTS[0],
    Chart("approx-KL to θ_old and clip share", ("approx_kl", "clip_ratio/region_mean"),
          x_label="answers sampled"),
)
"""The diffu-GRPO panel's dashboard."""


def _layout(fig: go.Figure, title: str, x: str, y: str, log_x: bool = False,
            log_y: bool = False) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white",
                      height=380, margin=MARGIN)
    if log_x:
        fig.update_xaxes(type="log")
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def saved_bytes_figure(memory: Mapping[str, Mapping[int, float]]) -> go.Figure:
    """Peak bytes autograd held saved during one update against n_mc, a line per objective
    (``memory[objective][n_mc] = bytes``), log–log: slope 1 = linear, flat = constant."""
    fig = go.Figure()
    for i, (name, row) in enumerate(memory.items()):
        ns = sorted(row, key=int)
        fig.add_trace(go.Scatter(x=[int(n) for n in ns], y=[row[n] / 2**20 for n in ns],
                                 name=name, mode="lines+markers",
                                 line={"color": COLORS[i % len(COLORS)]}))
    return _layout(fig, "memory of one update: bytes autograd saves vs n_mc",
                   "n_mc (MC samples of the ELBO)", "MiB saved (parameters excluded)",
                   log_x=True, log_y=True)


def variance_figure(variance: Mapping[int, Mapping[object, float]]) -> go.Figure:
    """Variance of the n_mc-sample ELBO estimate against n_mc, per seed (markers) and the
    1/n_mc line through n_mc = 1's mean (``variance[n_mc][seed]``)."""
    ns = sorted(variance, key=int)
    fig = go.Figure()
    seeds = list(variance[ns[0]])
    for i, s in enumerate(seeds):
        fig.add_trace(go.Scatter(x=[int(n) for n in ns], y=[variance[n][s] for n in ns],
                                 name=f"seed {s}", mode="markers+lines",
                                 line={"color": COLORS[i % len(COLORS)], "width": 1}))
    v1 = float(np.mean(list(variance[ns[0]].values())))
    fig.add_trace(go.Scatter(x=[int(n) for n in ns], y=[v1 * int(ns[0]) / int(n) for n in ns],
                             name="1/n_mc", mode="lines", line={"dash": "dash",
                                                                "color": "gray"}))
    return _layout(fig, "variance of the ELBO estimate vs n_mc (answers sampled from the base)",
                   "n_mc", "variance (nats²)", log_x=True, log_y=True)


def line_figure(steps: Sequence[float], values: Mapping[str, Sequence[float]]) -> go.Figure:
    """The objectives along ``θ_old + s·d`` (d: the exact objective's normalised gradient):
    the bound touches the exact objective at s = 0 and lies below it elsewhere."""
    fig = go.Figure()
    for i, (name, ys) in enumerate(values.items()):
        fig.add_trace(go.Scatter(x=list(steps), y=list(ys), name=name, mode="lines+markers",
                                 line={"color": COLORS[i % len(COLORS)]}))
    fig.add_vline(x=0.0, line={"dash": "dot", "color": "gray"})
    fig = _layout(fig, "objective along a line through θ_old (mean over responses)",
                  "step s along the exact objective's gradient (‖d‖ = 1)", "objective")
    # the bound can fall by many orders of magnitude off-policy (a sample with small t_j has
    # weight 1/t_j); the y-range follows the other curves so the touch at s = 0 stays visible
    others = [y for name, ys in values.items() if name != "bgpo" for y in ys]
    if others:
        low, high = min(others), max(others)
        pad = 0.5 * (high - low) + 1e-6
        fig.update_yaxes(range=[low - pad, high + pad])
        below = [s for s, y in zip(steps, values.get("bgpo", []), strict=False) if y < low - pad]
        if below:
            fig.add_annotation(x=below[0], y=low - pad, yanchor="bottom", showarrow=False,
                               text="bound off the scale below")
    return fig


def pass_figure(curves: Mapping[str, Mapping[object, Sequence[Sequence[float]]]]) -> go.Figure:
    """Held-out greedy pass@1 against iterations: per arm the mean over seeds (bold) and each
    seed (thin); ``curves[arm][seed] = [(iteration, pass@1), ...]``."""
    fig = go.Figure()
    for i, (name, by_seed) in enumerate(curves.items()):
        color = COLORS[i % len(COLORS)]
        runs = [np.asarray(c, dtype=float) for c in by_seed.values()]
        for r in runs:
            fig.add_trace(go.Scatter(x=r[:, 0], y=r[:, 1], mode="lines", showlegend=False,
                                     line={"color": color, "width": 0.7}, opacity=0.5))
        fig.add_trace(go.Scatter(x=runs[0][:, 0], y=np.mean([r[:, 1] for r in runs], 0),
                                 name=name, mode="lines+markers",
                                 line={"color": color, "width": 3}))
    return _layout(fig, "held-out greedy pass@1 (512 sums)", "iteration", "pass@1")


def gap_figure(gaps: Mapping[object, Mapping[int, float]]) -> go.Figure:
    """The gap exact − bound on a fixed probe of masks after k inner updates, per seed
    (``gaps[seed][k]``), log y."""
    fig = go.Figure()
    for i, (s, row) in enumerate(gaps.items()):
        ks = sorted(row, key=int)
        fig.add_trace(go.Scatter(x=[int(k) for k in ks], y=[row[k] for k in ks],
                                 name=f"seed {s}", mode="lines+markers",
                                 line={"color": COLORS[i % len(COLORS)]}))
    fig = _layout(fig, "how far below the objective the bound lies, off-policy",
                  "inner updates k on one batch", "exact − bound (median over iterations)",
                  log_y=True)
    return fig.update_xaxes(dtick=1)
