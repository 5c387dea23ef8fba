"""The shared chart module: static plotly figures built from :class:`~polab.train.History`.

The same builders feed the live dashboards of ``widgets.live`` (which copy their traces
into a ``FigureWidget`` and refresh the data in place) and the static figures a headless
notebook leaves in its output. Each family's chart table sits beside this module
(``polab/plots/pg.py``, ``group.py``, ``diffsim.py``, ``morl.py``).

* :class:`Chart` — one subplot: metrics against a record key, ``global_step`` by default
  (every history's x-axis; ``x_label`` says what it counts for the family);
* :func:`dashboard` — a grid of :class:`Chart` s (return vs env steps and vs wall time,
  entropy, approx-KL and clip fraction, advantage histogram of the last batch, …);
* :func:`learning_curves` — mean ± std bands over seeds, one colour per label;
* :func:`histogram` — a distribution, e.g. advantages; :func:`bars` — a bar per label.

Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from polab.train import History

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
          "#e377c2")
MARGIN = {"l": 50, "r": 20, "t": 50, "b": 40}
"""The margins of a single-panel figure."""
X_TITLES = {"global_step": "env steps", "time": "wall time (s)", "iteration": "iteration"}
"""Default axis titles of the x-axes (``global_step`` counts environment steps unless the
chart's ``x_label`` says otherwise)."""


@dataclass(frozen=True)
class Chart:
    """One subplot: metrics ``y`` against ``x`` (a record key), or a histogram of the
    last iteration's tensor ``y[0]`` when ``kind == "hist"``; ``log_y`` draws a log axis (and
    leaves out values ≤ 0). ``x`` is ``global_step`` for every chart over a run's length
    (``"time"`` or ``"iteration"`` only for charts about wall time or iterations);
    ``x_label`` names what it counts (the algorithm's ``x_label``: env steps, completions
    sampled, trajectories per run, …)."""

    title: str
    y: tuple[str, ...]
    x: str = "global_step"
    kind: str = "line"
    log_y: bool = False
    x_label: str | None = None

    @property
    def x_title(self) -> str:
        """The x-axis title: ``x_label``, or the default title of ``x``."""
        return self.x_label or X_TITLES.get(self.x, self.x)


RL_CHARTS = (
    Chart("return vs env steps", ("charts/episodic_return",)),
    Chart("return vs wall time", ("charts/episodic_return",), x="time"),
    Chart("policy entropy", ("losses/entropy",)),
    Chart("approx-KL and clip fraction", ("losses/approx_kl", "losses/clipfrac")),
    Chart("advantages of the last batch", ("advantages",), kind="hist"),
)
"""The dashboard of the on-policy RL algorithms (CleanRL's metric keys)."""

REINFORCE_CHARTS = (*RL_CHARTS[:3],
                    Chart("policy and value loss", ("losses/policy_loss", "losses/value_loss")),
                    RL_CHARTS[4])
"""REINFORCE's dashboard: no ratio, so losses where PPO shows approx-KL and clip fraction."""


def _short(key: str) -> str:
    return key.split("/")[-1]


def chart_data(history: History, chart: Chart) -> list[dict]:
    """The data of each trace of ``chart``: ``{"x": ..., "y": ..., "visible": ...}`` or
    ``{"x": values}``."""
    if chart.kind == "hist":
        values = history.latest.get(chart.y[0])
        return [{"x": [] if values is None else np.asarray(values).ravel()}]
    xs = history.column(chart.x) if history.records else np.array([])
    out = []
    for key in chart.y:
        ys = history.column(key) if history.records else np.array([])
        ok = np.isfinite(ys) & ((ys > 0) if chart.log_y else True)
        # a metric this run never reports (no reference KL at β = 0, no dropped groups without
        # dynamic sampling) is hidden rather than drawn as an empty line in the legend
        out.append({"x": xs[ok], "y": ys[ok],
                    "visible": not history.records or bool(np.isfinite(ys).any())})
    return out


def dashboard(history: History | None = None, charts: Sequence[Chart] = RL_CHARTS,
              title: str | None = None, cols: int = 3) -> go.Figure:
    """A grid of ``charts`` for one run (empty traces if ``history`` is None)."""
    history = history if history is not None else History()
    rows = math.ceil(len(charts) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[c.title for c in charts],
                        horizontal_spacing=0.07, vertical_spacing=0.16)
    for i, chart in enumerate(charts):
        row, col = i // cols + 1, i % cols + 1
        for j, data in enumerate(chart_data(history, chart)):
            color = COLORS[j % len(COLORS)]
            if chart.kind == "hist":
                trace = go.Histogram(x=data["x"], name=_short(chart.y[0]), nbinsx=40,
                                     marker_color=color, showlegend=False)
            else:
                trace = go.Scatter(x=data["x"], y=data["y"], mode="lines",
                                   name=_short(chart.y[j]), line={"color": color},
                                   showlegend=len(chart.y) > 1, visible=data["visible"])
            fig.add_trace(trace, row=row, col=col)
        fig.update_xaxes(title_text="value" if chart.kind == "hist" else chart.x_title,
                         row=row, col=col)
        if chart.log_y:
            fig.update_yaxes(type="log", row=row, col=col)
    # the legend sits at the figure's foot, below the x-axis titles, whatever the row count
    fig.update_layout(height=300 * rows + 40, margin={"l": 50, "r": 20, "t": 60, "b": 80},
                      title=title, template="plotly_white",
                      legend={"orientation": "h", "yref": "container", "y": 0,
                              "yanchor": "bottom"})
    return fig


def _band(histories: Sequence[History], x: str, y: str, points: int = 100
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std of ``y`` over seeds on a common grid of ``x`` (linear interpolation)."""
    curves = []
    for h in histories:
        xs, ys = h.column(x), h.column(y)
        ok = np.isfinite(ys) & np.isfinite(xs)
        if ok.sum() >= 1:
            curves.append((xs[ok], ys[ok]))
    if not curves:
        return np.array([]), np.array([]), np.array([])
    lo = max(c[0][0] for c in curves)
    hi = min(c[0][-1] for c in curves)
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    stack = np.stack([np.interp(grid, cx, cy) for cx, cy in curves])
    return grid, stack.mean(0), stack.std(0)


def learning_curves(runs: Mapping[str, Sequence[History]] | Sequence[History] | History,
                    y: str = "charts/episodic_return", x: str = "global_step",
                    title: str | None = None, target: float | None = None,
                    x_label: str | None = None) -> go.Figure:
    """Mean ± std over seeds of ``y`` against ``x``, one colour per label (several seeds as a
    band, so one lucky seed does not read as the method's curve).

    ``runs`` maps a label to the histories of its seeds (a single history or a list of them
    is accepted too). ``target`` draws a dashed horizontal line (e.g. 475 on CartPole).
    ``x_label`` titles the x-axis (default: :attr:`Chart.x_title` of ``x``, e.g.
    "completions sampled" for the LM family's ``global_step``).
    """
    if isinstance(runs, History):
        runs = {"run": [runs]}
    elif not isinstance(runs, Mapping):
        runs = {"run": list(runs)}
    fig = go.Figure()
    for i, (label, hists) in enumerate(runs.items()):
        color = COLORS[i % len(COLORS)]
        grid, mean, std = _band(hists, x, y)
        if len(hists) > 1 and len(grid):
            fig.add_trace(go.Scatter(x=np.concatenate([grid, grid[::-1]]),
                                     y=np.concatenate([mean + std, (mean - std)[::-1]]),
                                     fill="toself", fillcolor=color, opacity=0.2,
                                     line={"width": 0}, hoverinfo="skip", showlegend=False,
                                     name=f"{label} ± std"))
        fig.add_trace(go.Scatter(x=grid, y=mean, mode="lines", line={"color": color},
                                 name=f"{label} ({len(hists)} seed{'s' * (len(hists) > 1)})"))
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="gray",
                      annotation_text=f"{target:g}")
    fig.update_layout(title=title, xaxis_title=Chart("", (), x, x_label=x_label).x_title,
                      yaxis_title=_short(y),
                      template="plotly_white", height=380,
                      margin=MARGIN)
    return fig


def histogram(values: Mapping[str, np.ndarray] | np.ndarray, title: str | None = None,
              x_title: str = "value", nbins: int = 50) -> go.Figure:
    """Overlaid histograms of one or several named arrays."""
    if not isinstance(values, Mapping):
        values = {"values": values}
    fig = go.Figure()
    for i, (name, v) in enumerate(values.items()):
        fig.add_trace(go.Histogram(x=np.asarray(v).ravel(), name=name, nbinsx=nbins,
                                   opacity=0.6, marker_color=COLORS[i % len(COLORS)]))
    fig.update_layout(barmode="overlay", title=title, xaxis_title=x_title, yaxis_title="count",
                      template="plotly_white", height=340,
                      margin=MARGIN)
    return fig


def bars(values: Mapping[str, float], title: str | None = None, y_title: str = "",
         errors: Mapping[str, float] | None = None) -> go.Figure:
    """A bar per label (e.g. gradient variance with and without a baseline)."""
    labels = list(values)
    fig = go.Figure(go.Bar(x=labels, y=[values[k] for k in labels],
                           marker_color=[COLORS[i % len(COLORS)] for i in range(len(labels))],
                           error_y=None if errors is None else
                           {"type": "data", "array": [errors[k] for k in labels]}))
    fig.update_layout(title=title, yaxis_title=y_title, template="plotly_white", height=340,
                      margin=MARGIN)
    return fig


