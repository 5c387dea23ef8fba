"""The differentiable-simulation family's chart tables and figures: HDPO on inventory
control and its REINFORCE baseline (notebooks/10_differentiable_simulation.ipynb; "Deep
Reinforcement Learning for Inventory Networks: Toward Reliable Policy Optimization", Alvo,
Russo, Kanoria and Lee, 2023; ../shared/cards/03_hdpo.md).

The card's figures are per gradient step, so the tables here keep ``x="iteration"``
(titled :data:`X_LABEL`); ``global_step`` counts scenario-periods simulated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from polab.plots.base import COLORS, MARGIN, Chart
from polab.train import History

X_LABEL = "gradient steps"
"""The x-axis title of the family's per-iteration charts."""

_per_step = partial(Chart, x="iteration", x_label=X_LABEL)

INVENTORY_CHARTS = (
    _per_step("test-cost gap to the exact optimum (%, log)", ("gap_pct",), log_y=True),
    _per_step("average cost per period (training batch)", ("cost",)),
    _per_step("dev and test cost", ("dev_cost", "test_cost")),
    _per_step("gradient norm (before clipping)", ("grad_norm",)),
)
"""The dashboard of HDPO (:mod:`polab.algos.diffsim.hdpo`) against gradient steps
(``gap_pct`` only where the optimum is known: one store, Poisson demand)."""

REINFORCE_INVENTORY_CHARTS = (
    *INVENTORY_CHARTS,
    _per_step("exploration std σ", ("exploration_std",)),
)
"""The same for the REINFORCE baseline, plus its Gaussian's σ."""


def gap_curves(runs: Mapping[str, Sequence[History]], y: str = "gap_pct", x: str = "iteration",
               floor: float = 0.01, reference: float | None = None,
               title: str | None = None) -> go.Figure:
    """Cost gap to the optimum (%) against gradient steps on a log axis (the first plot of
    ../shared/cards/03_hdpo.md).

    One colour per label: a thin line per seed and, with several seeds, their mean in bold.
    Only the iterations that report ``y`` are drawn. Values below ``floor`` (a policy that beats
    the exact optimum on a finite test set: test noise) are drawn at ``floor``; the hover
    shows the true value. ``reference`` draws a dashed line, e.g. the gap of the exact optimal
    policy on the same test set (the noise floor of the measurement).
    """
    fig = go.Figure()
    for i, (label, hists) in enumerate(runs.items()):
        color = COLORS[i % len(COLORS)]
        curves = []
        for seed, h in enumerate(hists):
            xs, ys = h.column(x), h.column(y)
            ok = np.isfinite(xs) & np.isfinite(ys)
            curves.append((xs[ok], ys[ok]))
            fig.add_trace(go.Scatter(x=xs[ok], y=np.maximum(ys[ok], floor), customdata=ys[ok],
                                     mode="lines", line={"color": color, "width": 1},
                                     opacity=0.5 if len(hists) > 1 else 1.0,
                                     name=label if len(hists) == 1 else f"{label}, seed {seed}",
                                     legendgroup=label, showlegend=len(hists) == 1,
                                     hovertemplate="%{x}: %{customdata:.3g}%<extra></extra>"))
        if len(hists) > 1 and all(len(cx) == len(curves[0][0]) for cx, _ in curves):
            mean = np.mean([cy for _, cy in curves], axis=0)
            fig.add_trace(go.Scatter(x=curves[0][0], y=np.maximum(mean, floor), customdata=mean,
                                     mode="lines", line={"color": color, "width": 3},
                                     name=f"{label} (mean of {len(hists)} seeds)",
                                     legendgroup=label,
                                     hovertemplate="%{x}: %{customdata:.3g}%<extra></extra>"))
    if reference is not None:
        fig.add_hline(y=max(reference, floor), line_dash="dash", line_color="gray",
                      annotation_text=f"exact optimal policy on this test set: {reference:.2f}%")
    fig.update_layout(title=title,
                      xaxis_title=Chart("", (), x, x_label=X_LABEL if x == "iteration" else None
                                        ).x_title,
                      yaxis_title="gap to the optimum (%)", yaxis_type="log",
                      template="plotly_white", height=380,
                      margin=MARGIN)
    return fig


def order_curves(positions: np.ndarray, curves: Mapping[str, np.ndarray],
                 base_stock: float | None = None, title: str | None = None) -> go.Figure:
    """Order quantity against inventory position (on hand + in flight), one line per policy,
    over the optimal base-stock line ``max(S* − x, 0)`` (dashed) when ``base_stock`` is given:
    a policy that learned "order up to S*" lies on it."""
    x = np.asarray(positions, dtype=float)
    fig = go.Figure()
    if base_stock is not None:
        fig.add_trace(go.Scatter(x=x, y=np.maximum(base_stock - x, 0.0), mode="lines",
                                 line={"color": "black", "dash": "dash"},
                                 name=f"optimal base stock, S* = {base_stock:g}"))
    for i, (label, orders) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=x, y=np.asarray(orders, dtype=float), mode="lines",
                                 line={"color": COLORS[i % len(COLORS)]}, name=label))
    fig.update_layout(title=title, xaxis_title="inventory position (on hand + in flight)",
                      yaxis_title="order quantity", template="plotly_white", height=380,
                      margin=MARGIN)
    return fig


def gradient_projections(samples: np.ndarray) -> np.ndarray:
    """``⟨g_i, ḡ⟩ / ‖ḡ‖²`` for each row of ``(k, P)`` gradient estimates (ḡ: their mean):
    1 is the mean gradient, 0 a useless step, < 0 a step uphill."""
    g = np.asarray(samples, dtype=float)
    mean = g.mean(0)
    return g @ mean / max(float(mean @ mean), 1e-30)


def gradient_spread_figure(samples: Mapping[str, Mapping[str, np.ndarray]],
                           relative: Mapping[str, Mapping[str, float]],
                           title: str | None = None) -> go.Figure:
    """Gradient noise of several estimators at several policies (the variance plot of
    ../shared/cards/03_hdpo.md).

    ``samples[stage][estimator]`` is a ``(k, P)`` array of gradient estimates on ``k``
    minibatches; ``relative[stage][estimator]`` their relative variance
    ``E‖g − ḡ‖² / ‖ḡ‖²`` (from :func:`polab.algos.diffsim.hdpo.gradient_spread`). One colour per
    estimator, one group per stage. Left: each minibatch's gradient projected on the mean
    gradient (:func:`gradient_projections`; a tight cloud at 1 = every minibatch agrees).
    Right: the relative variance on a log axis.
    """
    stages = list(samples)
    estimators = list(dict.fromkeys(e for stage in stages for e in samples[stage]))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.1,
                        subplot_titles=["each minibatch's gradient along the mean gradient",
                                        "relative variance E‖g − ḡ‖² / ‖ḡ‖²"])
    for i, est in enumerate(estimators):
        color = COLORS[i % len(COLORS)]
        here = [s for s in stages if est in samples[s]]
        proj = [gradient_projections(samples[s][est]) for s in here]
        fig.add_trace(go.Box(x=np.concatenate([[s] * len(p) for s, p in zip(here, proj,
                                                                              strict=True)]),
                             y=np.concatenate(proj), name=est, legendgroup=est,
                             boxpoints="all", jitter=0.4, pointpos=0, marker_color=color),
                      1, 1)
        fig.add_trace(go.Bar(x=here, y=[relative[s][est] for s in here], name=est,
                             legendgroup=est, showlegend=False, marker_color=color,
                             text=[f"{relative[s][est]:.2g}" for s in here],
                             textposition="outside"), 1, 2)
    fig.add_hline(y=1.0, line_dash="dot", line_color="gray", row=1, col=1)
    fig.update_yaxes(title_text="⟨g, ḡ⟩ / ‖ḡ‖²", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_layout(title=title, template="plotly_white", height=440, boxmode="group",
                      barmode="group", legend={"orientation": "h", "y": -0.15},
                      margin={"l": 50, "r": 20, "t": 90, "b": 40})
    return fig


def data_efficiency_figure(rows: Sequence[Mapping[str, float | str]], y: str = "gap_pct",
                           title: str | None = None) -> go.Figure:
    """Gap (%) against the number of training scenarios (log axis), one line per
    architecture, from the rows of :func:`polab.algos.diffsim.hdpo.data_efficiency`."""
    fig = go.Figure()
    archs = list(dict.fromkeys(str(r["arch"]) for r in rows))
    for i, arch in enumerate(archs):
        mine = sorted((r for r in rows if r["arch"] == arch), key=lambda r: r["n_scenarios"])
        fig.add_trace(go.Scatter(x=[r["n_scenarios"] for r in mine], y=[r[y] for r in mine],
                                 mode="lines+markers", name=arch,
                                 line={"color": COLORS[i % len(COLORS)]}))
    sizes = sorted({r["n_scenarios"] for r in rows})
    fig.update_xaxes(tickvals=sizes, ticktext=[f"{n:,}" for n in sizes])
    fig.update_layout(title=title, xaxis_title="training scenarios", xaxis_type="log",
                      yaxis_title="gap to the best policy found (%)" if y == "gap_pct" else y,
                      template="plotly_white", height=380,
                      margin=MARGIN)
    return fig


def noise_figure(rows: Sequence[Mapping[str, float | str]], title: str | None = None
                 ) -> go.Figure:
    """Relative gradient variance of the two estimators against a problem size (the
    diagnosis of ../shared/cards/03_hdpo.md's claim).

    ``rows`` carry ``axis`` (the panel: e.g. ``"lead time L"``, ``"stores"``), ``x`` and one
    number per estimator (``pathwise``, ``score_function``; from
    :func:`polab.algos.diffsim.diagnosis.relative_noise`). One panel per axis, log y: a
    relative variance ``r`` means about ``r`` minibatches must be averaged for a gradient whose
    noise equals its size.
    """
    axes = list(dict.fromkeys(str(r["axis"]) for r in rows))
    fig = make_subplots(rows=1, cols=len(axes), subplot_titles=axes, horizontal_spacing=0.12)
    labels = {"pathwise": "pathwise (HDPO)", "score_function": "score function (REINFORCE)"}
    for col, axis in enumerate(axes, start=1):
        mine = sorted((r for r in rows if r["axis"] == axis), key=lambda r: r["x"])
        for i, (key, label) in enumerate(labels.items()):
            fig.add_trace(go.Scatter(x=[r["x"] for r in mine], y=[r[key] for r in mine],
                                     mode="lines+markers", name=label, legendgroup=key,
                                     showlegend=col == 1,
                                     line={"color": COLORS[i % len(COLORS)]}), 1, col)
        fig.update_xaxes(title_text=axis, tickvals=[r["x"] for r in mine], row=1, col=col)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_yaxes(title_text="E‖g − ḡ‖² / ‖ḡ‖²", row=1, col=1)
    fig.update_layout(title=title, template="plotly_white", height=380,
                      legend={"orientation": "h", "y": -0.25}, margin=MARGIN)
    return fig


def lr_sweep_figure(rows: Sequence[Mapping[str, float | str]],
                    reference: Mapping[str, float] | None = None,
                    title: str | None = None) -> go.Figure:
    """Final test cost against the learning rate (log x and y), one line per estimator, from
    the rows of :func:`polab.algos.diffsim.diagnosis.lr_sweep`; ``reference`` draws dashed
    lines (e.g. ``{"HDPO": cost}``). Diverged runs (not finite) are left out."""
    fig = go.Figure()
    estimators = list(dict.fromkeys(str(r["estimator"]) for r in rows))
    for i, est in enumerate(estimators):
        mine = sorted((r for r in rows if r["estimator"] == est
                       and np.isfinite(float(r["test_cost"]))), key=lambda r: r["learning_rate"])
        fig.add_trace(go.Scatter(x=[r["learning_rate"] for r in mine],
                                 y=[r["test_cost"] for r in mine], mode="lines+markers",
                                 name=est, line={"color": COLORS[i % len(COLORS)]}))
    for label, cost in (reference or {}).items():
        fig.add_hline(y=cost, line_dash="dash", line_color="gray",
                      annotation_text=f"{label}: {cost:.3g}")
    fig.update_layout(title=title, xaxis_title="learning rate", xaxis_type="log",
                      yaxis_title="test cost per period", yaxis_type="log",
                      template="plotly_white", height=380, margin=MARGIN)
    return fig
