"""Static plotly figures built from :class:`~polab.train.History` objects.

The same builders feed the live dashboards of ``widgets.live`` (which copy their traces
into a ``FigureWidget`` and refresh the data in place) and the static figures a headless
notebook leaves in its output.

* :func:`dashboard` — a grid of :class:`Chart` s (return vs env steps and vs wall time,
  entropy, approx-KL and clip fraction, advantage histogram of the last batch, …);
* :func:`learning_curves` — mean ± std bands over seeds, one colour per label;
* :func:`histogram` — a distribution, e.g. advantages.

Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from polab.train import History

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
          "#e377c2")


@dataclass(frozen=True)
class Chart:
    """One subplot: metrics ``y`` against ``x`` (a record key), or a histogram of the
    last iteration's tensor ``y[0]`` when ``kind == "hist"``; ``log_y`` draws a log axis (and
    leaves out values ≤ 0)."""

    title: str
    y: tuple[str, ...]
    x: str = "global_step"
    kind: str = "line"
    log_y: bool = False

    @property
    def x_title(self) -> str:
        return {"global_step": "env steps", "time": "wall time (s)",
                "iteration": "iteration"}.get(self.x, self.x)


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
    """The data of each trace of ``chart``: ``{"x": ..., "y": ...}`` or ``{"x": values}``."""
    if chart.kind == "hist":
        values = history.latest.get(chart.y[0])
        return [{"x": [] if values is None else np.asarray(values).ravel()}]
    xs = history.column(chart.x) if history.records else np.array([])
    out = []
    for key in chart.y:
        ys = history.column(key) if history.records else np.array([])
        ok = np.isfinite(ys) & ((ys > 0) if chart.log_y else True)
        out.append({"x": xs[ok], "y": ys[ok]})
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
                                   showlegend=len(chart.y) > 1)
            fig.add_trace(trace, row=row, col=col)
        fig.update_xaxes(title_text="value" if chart.kind == "hist" else chart.x_title,
                         row=row, col=col)
        if chart.log_y:
            fig.update_yaxes(type="log", row=row, col=col)
    fig.update_layout(height=300 * rows, margin={"l": 50, "r": 20, "t": 60, "b": 40},
                      title=title, template="plotly_white",
                      legend={"orientation": "h", "y": -0.12})
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
                    title: str | None = None, target: float | None = None) -> go.Figure:
    """Mean ± std over seeds of ``y`` against ``x``, one colour per label (STYLE.md §10).

    ``runs`` maps a label to the histories of its seeds (a single history or a list of them
    is accepted too). ``target`` draws a dashed horizontal line (e.g. 475 on CartPole).
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
    fig.update_layout(title=title, xaxis_title=Chart("", (), x).x_title, yaxis_title=_short(y),
                      template="plotly_white", height=380,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
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
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
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
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


# --- group-relative LM runs (notebooks/03_grpo_family.ipynb) ---------------------------------

LM_CHARTS = (
    Chart("reward (training batch)", ("reward",), x="samples"),
    Chart("held-out greedy pass@1", ("eval/pass@1",), x="samples"),
    Chart("entropy of the sampled tokens", ("entropy",), x="samples"),
    Chart("KL (k3 to the reference; approx, per update)", ("kl", "approx_kl"), x="samples"),
    Chart("clip ratios", ("clip_ratio/low_mean", "clip_ratio/high_mean"), x="samples"),
    Chart("completion length (tokens)", ("completions/mean_length",), x="samples"),
    Chart("zero-advantage share", ("frac_reward_zero_std", "frac_zero_advantage"),
          x="samples"),
    Chart("advantages of the last batch", ("advantages",), kind="hist"),
)
"""The dashboard of the group-relative LM algorithms (TRL's metric keys) against samples."""


def group_view_figure(rewards: np.ndarray, advantages: np.ndarray,
                      labels: Sequence[str] | None = None, history: History | None = None,
                      title: str | None = None) -> go.Figure:
    """GRPO's groups at a glance: rewards and advantages ``(prompts, G)`` as heatmaps, one row
    per prompt, degenerate groups (all rewards equal: zero advantage) marked ``⊘`` in the row
    label; beside them the share of such groups (``frac_reward_zero_std``) over ``history``."""
    rewards, advantages = np.asarray(rewards, dtype=float), np.asarray(advantages, dtype=float)
    n, g = rewards.shape
    degenerate = np.isclose(rewards.std(1), 0.0)
    labels = list(labels) if labels is not None else [f"prompt {i}" for i in range(n)]
    rows = [f"{'⊘ ' if d else ''}{label}" for label, d in zip(labels, degenerate, strict=True)]
    cols = [f"#{j}" for j in range(g)]
    fig = make_subplots(rows=1, cols=3, column_widths=[0.3, 0.3, 0.4],
                        subplot_titles=["rewards", "advantages",
                                        "share of degenerate groups (⊘)"],
                        horizontal_spacing=0.12)
    bound = float(np.abs(advantages).max(initial=0.0)) or 1.0
    fig.add_trace(go.Heatmap(z=rewards, x=cols, y=rows, colorscale="Greens", zmin=0,
                             zmax=max(1.0, float(rewards.max(initial=0.0))), showscale=False,
                             text=np.round(rewards, 2), texttemplate="%{text}",
                             hovertemplate="%{y} %{x}: reward %{z}<extra></extra>"), 1, 1)
    fig.add_trace(go.Heatmap(z=advantages, x=cols, y=rows, colorscale="RdBu", zmid=0,
                             zmin=-bound, zmax=bound, showscale=False,
                             text=np.round(advantages, 2), texttemplate="%{text}",
                             hovertemplate="%{y} %{x}: advantage %{z:.3f}<extra></extra>"),
                  1, 2)
    data = chart_data(history if history is not None else History(),
                      Chart("", ("frac_reward_zero_std",), x="samples"))[0]
    fig.add_trace(go.Scatter(x=data["x"], y=data["y"], mode="lines", showlegend=False,
                             line={"color": COLORS[0]}, name="frac_reward_zero_std"), 1, 3)
    for col in (1, 2):
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    fig.update_xaxes(title_text="samples", row=1, col=3)
    fig.update_yaxes(range=[0, 1], row=1, col=3)
    fig.update_layout(title=title, template="plotly_white", height=max(300, 26 * n + 120),
                      margin={"l": 50, "r": 20, "t": 60, "b": 40})
    return fig


def token_html(prompts: Sequence[str], tokens: Sequence[Sequence[str]],
               values: Sequence[Sequence[float]], notes: Sequence[str] | None = None,
               value_name: str = "advantage", vmax: float | None = None) -> str:
    """Completions as HTML text, each token's background coloured by its value (hover shows
    it): blue for positive and red for negative values, orange for non-negative ones (e.g.
    entropy). One line per completion: its prompt, the coloured tokens, then ``notes``."""
    flat = [float(v) for row in values for v in row]
    signed = any(v < 0 for v in flat)
    vmax = vmax or max((abs(v) for v in flat), default=1.0) or 1.0
    lines = []
    for i, (prompt, toks, vals) in enumerate(zip(prompts, tokens, values, strict=True)):
        spans = []
        for tok, v in zip(toks, vals, strict=True):
            a = min(abs(float(v)) / vmax, 1.0) * 0.85
            rgb = ("33,102,172" if v >= 0 else "178,24,43") if signed else "230,120,20"
            spans.append(f"<span title='{html.escape(value_name)} {float(v):.3f}' "
                         f"style='background:rgba({rgb},{a:.2f});padding:1px 2px;"
                         f"margin:0 1px;border-radius:2px'>{html.escape(tok)}</span>")
        note = f" <span style='color:#666'>{html.escape(notes[i])}</span>" if notes else ""
        lines.append(f"<div style='font-family:monospace;line-height:1.7'>"
                     f"<span style='color:#666'>{html.escape(prompt)}</span>"
                     f"{''.join(spans)}{note}</div>")
    legend = ("blue = positive, red = negative" if signed else "darker = larger")
    return (f"<div><div style='font-size:90%;color:#444'>colour: {html.escape(value_name)} "
            f"({legend}; |value| {vmax:.3g} = full colour)</div>{''.join(lines)}</div>")


def quantile_bands(runs: Mapping[str, History], y: str = "optimality_gap",
                   x: str = "trajectories", slopes: Mapping[str, float] | None = None,
                   title: str | None = None, y_title: str | None = None,
                   log: bool = True) -> go.Figure:
    """Median of ``y`` with its interquartile band against ``x``, one colour per label, on
    log-log axes by default (card 10's optimality-gap figure).

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
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y_title or y,
                      xaxis_type=axis, yaxis_type=axis, template="plotly_white", height=400,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


LQR_CHARTS = (
    Chart("median optimality gap J* − J(θ) (exact)",
          ("optimality_gap", "optimality_gap_q25", "optimality_gap_q75"), x="trajectories"),
    Chart("tracking error ‖d_t − ∇J(θ_t)‖ (median)", ("grad_error",), x="trajectories"),
    Chart("step size γ_t", ("charts/learning_rate",), x="trajectories"),
)
"""The dashboard of the LQR policy-gradient methods (polab.algos.pg.igt_harpg, card 10)."""

MDPO_CHARTS = (
    Chart("return vs env steps", ("charts/episodic_return",)),
    Chart("KL(π_k+1 ‖ π_k) per iteration", ("losses/kl",), x="iteration"),
    Chart("KL weight 1/t_k", ("mdpo/kl_coef",), x="iteration"),
    Chart("policy entropy", ("losses/entropy",)),
    Chart("value loss", ("losses/value_loss",)),
    Chart("advantages of the last batch", ("advantages",), kind="hist"),
)
"""The dashboard of on-policy MDPO (polab.algos.pg.mdpo, card 20)."""

OFF_POLICY_CHARTS = (
    Chart("return vs env steps", ("charts/episodic_return",)),
    Chart("return vs wall time", ("charts/episodic_return",), x="time"),
    Chart("policy entropy −E[log π]", ("losses/entropy",)),
    Chart("mean Q₁(s, a) on replayed batches", ("losses/qf1_values",)),
    Chart("critic losses", ("losses/qf1_loss", "losses/value_loss")),
    Chart("KL(π_θ ‖ π_k) estimate (MDPO)", ("losses/kl",)),
)
"""The dashboard of SAC and off-policy MDPO (polab.algos.pg.sac, polab.algos.pg.mdpo_off)."""


# --- differentiable simulation: HDPO on inventory (notebooks/10_differentiable_simulation.ipynb)

INVENTORY_CHARTS = (
    Chart("test-cost gap to the exact optimum (%, log)", ("gap_pct",), x="iteration",
          log_y=True),
    Chart("average cost per period (training batch)", ("cost",), x="iteration"),
    Chart("dev and test cost", ("dev_cost", "test_cost"), x="iteration"),
    Chart("gradient norm (before clipping)", ("grad_norm",), x="iteration"),
)
"""The dashboard of HDPO (:mod:`polab.algos.diffsim.hdpo`) against gradient steps (``gap_pct`` only
where the optimum is known: one store, Poisson demand)."""

REINFORCE_INVENTORY_CHARTS = (
    *INVENTORY_CHARTS,
    Chart("exploration std σ", ("exploration_std",), x="iteration"),
)
"""The same for the REINFORCE baseline, plus its Gaussian's σ."""


def gap_curves(runs: Mapping[str, Sequence[History]], y: str = "gap_pct", x: str = "iteration",
               floor: float = 0.01, reference: float | None = None,
               title: str | None = None) -> go.Figure:
    """Cost gap to the optimum (%) against gradient steps on a log axis (card 3's first plot).

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
                      xaxis_title="gradient step" if x == "iteration" else Chart("", (), x).x_title,
                      yaxis_title="gap to the optimum (%)", yaxis_type="log",
                      template="plotly_white", height=380,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
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
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
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
    """Gradient noise of several estimators at several policies (card 3's variance plot).

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
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


# --- multi-objective RL (chapter 09): Pareto fronts ---------------------------------------

STAGE_COLORS = {"init": "#1f77b4", "linear": "#7f7f7f", "current": "#bbbbbb"}
"""Colours of stage-1 policies, of the baseline's and of not-yet-stored (current) policies;
extension rounds take ``COLORS[1:]`` in turn."""


def stage_color(stage: str, round_: int) -> str:
    """The colour of a stored policy: by stage, and by round within the extension stage."""
    if stage == "extension":
        return COLORS[1 + (round_ - 1) % (len(COLORS) - 1)]
    return STAGE_COLORS.get(stage, "#333333")


def pareto_traces(points: np.ndarray, colors: Sequence[str], labels: Sequence[str],
                  true_front: np.ndarray | None, reference: Sequence[float],
                  highlight: int | None = None) -> list[go.BaseTraceType]:
    """The traces of a Pareto-front plot in a fixed order (the live widget updates them in
    place): policies, true front, reference point, highlighted policy. 2-D or 3-D (the first
    three objectives)."""
    pts = np.asarray(points, dtype=float).reshape(-1, len(reference))
    three = len(reference) >= 3
    scatter = go.Scatter3d if three else go.Scatter

    def xyz(a: np.ndarray) -> dict:
        a = np.asarray(a, dtype=float).reshape(-1, len(reference))
        out = {"x": a[:, 0], "y": a[:, 1]}
        if three:
            out["z"] = a[:, 2]
        return out

    marker = {"size": 5 if three else 10, "color": list(colors), "line": {"width": 1}}
    true = np.zeros((0, len(reference))) if true_front is None else np.asarray(true_front)
    if not three and len(true):
        true = true[np.argsort(true[:, 0])]
    hi = pts[[highlight]] if highlight is not None and len(pts) else np.zeros((0, len(reference)))
    return [
        scatter(**xyz(pts), mode="markers", name="policies", marker=marker,
                text=list(labels), hovertemplate="%{text}<extra></extra>"),
        scatter(**xyz(true), mode="markers" if three else "lines+markers", name="true front",
                marker={"size": 3 if three else 6, "color": "rgba(0,0,0,0.35)",
                        "symbol": "circle-open" if not three else "circle"},
                line={"dash": "dot", "color": "rgba(0,0,0,0.35)"}),
        scatter(**xyz(np.asarray(reference)), mode="markers", name="reference point",
                marker={"size": 6 if three else 12, "color": "black", "symbol": "x"}),
        scatter(**xyz(hi), mode="markers", name="assigned policy",
                marker={"size": 9 if three else 20, "color": "rgba(0,0,0,0)",
                        "line": {"width": 3, "color": "black"}}),
    ]


def pareto_figure(points: np.ndarray, colors: Sequence[str], labels: Sequence[str],
                  true_front: np.ndarray | None, reference: Sequence[float],
                  objective_names: Sequence[str], highlight: int | None = None,
                  title: str | None = None, keep_empty: bool = False) -> go.Figure:
    """A Pareto-front scatter: policies coloured by stage / extension round, the true front
    (where known), the reference point and (optionally) a highlighted policy. Empty traces are
    left out unless ``keep_empty`` (the live widget fills them in place later)."""
    traces = pareto_traces(points, colors, labels, true_front, reference, highlight)
    fig = go.Figure([t for t in traces if keep_empty or len(t.x)])
    names = list(objective_names)
    if len(reference) >= 3:
        fig.update_layout(scene={"xaxis_title": names[0], "yaxis_title": names[1],
                                 "zaxis_title": names[2]})
    else:
        fig.update_layout(xaxis_title=names[0], yaxis_title=names[1])
    fig.update_layout(title=title, template="plotly_white", height=440,
                      legend={"orientation": "h", "y": -0.2})
    return fig


def algo_pareto_figure(algo, title: str | None = None, highlight: int | None = None
                       ) -> go.Figure:
    """:func:`pareto_figure` of a C-MORL / baseline run's stored population."""
    pop = algo.population
    return pareto_figure(algo.population_returns, [stage_color(s.stage, s.round) for s in pop],
                         [f"{s.label} ({s.stage} {s.round}): {np.round(s.returns, 2)}"
                          for s in pop], algo.true_front, algo.reference_point,
                         algo.objective_names, highlight, title)


def crowding_figure(algo, title: str | None = None) -> go.Figure:
    """Crowding distance of each distinct point of a C-MORL run's current front (boundary
    points, infinite, drawn at 1.2× the largest finite bar), the ``num_select`` it extends next
    highlighted (card 4's selection plot)."""
    from polab.algos.morl.losses import crowding_selection
    from polab.envs.mo.metrics import crowding_distance

    front = algo.population_returns[algo.front_indices()]
    order = np.lexsort(front.T[::-1])
    front = front[order]
    dist = crowding_distance(front)
    finite = dist[np.isfinite(dist)]
    top = 1.2 * finite.max() if len(finite) and finite.max() > 0 else 1.0
    picked = set(crowding_selection(front, algo.config.num_select).tolist())
    fig = go.Figure(go.Bar(
        x=[str(tuple(np.round(p, 2).tolist())) for p in front],
        y=np.where(np.isfinite(dist), dist, top),
        text=["∞" if not np.isfinite(d) else f"{d:.2f}" for d in dist], textposition="outside",
        marker_color=["#d62728" if i in picked else "#9ecae1" for i in range(len(front))]))
    fig.update_layout(title=title or "crowding distance of the front (red: extended next)",
                      xaxis_title="front point", yaxis_title="crowding distance",
                      template="plotly_white", height=340)
    return fig


def slack_figure(algo, round_: int = 1, title: str | None = None) -> go.Figure:
    """Constraint slack ``Ĵ_i - b_i`` of every member of extension round ``round_`` against
    iterations (the tightest constraint; ``< 0``: infeasible, the member recovers)."""
    rows = [r for r in algo.slack_log if r["round"] == round_]
    fig = go.Figure()
    if rows:
        slack = np.array([r["slack"] for r in rows])
        steps = [r["iteration"] for r in rows]
        for m, label in enumerate(rows[0]["labels"]):
            ys = np.where(np.isfinite(slack[:, m]), slack[:, m], np.nan)
            fig.add_trace(go.Scatter(x=steps, y=ys, mode="lines+markers", name=label,
                                     line={"color": COLORS[m % len(COLORS)]}))
    fig.add_hline(y=0.0, line={"dash": "dash", "color": "black"})
    fig.update_layout(title=title or f"constraint slack during extension round {round_}",
                      xaxis_title="iteration", yaxis_title="Ĵ_i − b_i (tightest constraint)",
                      template="plotly_white", height=340,
                      legend={"orientation": "h", "y": -0.3})
    return fig


MORL_METRICS = (("morl/hypervolume", "hypervolume"), ("morl/expected_utility",
                "expected utility"), ("morl/sparsity", "sparsity (lower = denser)"))


def morl_metrics_figure(runs: Mapping[str, Sequence[Sequence[dict[str, float]]]],
                        title: str | None = None) -> go.Figure:
    """HV, EU and sparsity vs env steps; ``runs`` maps a label to per-seed metric logs
    (``algo.metrics_log``), one line per seed, one colour per label."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in MORL_METRICS])
    for i, (label, logs) in enumerate(runs.items()):
        for j, log in enumerate(logs):
            rows = [r for r in log if "morl/hypervolume" in r]
            for col, (key, _) in enumerate(MORL_METRICS, start=1):
                fig.add_trace(go.Scatter(x=[r["global_step"] for r in rows],
                                         y=[r[key] for r in rows], mode="lines",
                                         name=label, legendgroup=label,
                                         showlegend=j == 0 and col == 1,
                                         line={"color": COLORS[i % len(COLORS)]}),
                              row=1, col=col)
    fig.update_xaxes(title_text="env steps")
    fig.update_layout(title=title, template="plotly_white", height=340,
                      legend={"orientation": "h", "y": -0.25})
    return fig


MORL_CHARTS = (
    Chart("hypervolume vs env steps", ("morl/hypervolume",)),
    Chart("expected utility vs env steps", ("morl/expected_utility",)),
    Chart("sparsity (lower = denser)", ("morl/sparsity",)),
    Chart("front size and stage", ("morl/cardinality", "morl/stage")),
)
"""The dashboard of chapter 09's panel (C-MORL's metric keys)."""
