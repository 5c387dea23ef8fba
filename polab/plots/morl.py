"""The multi-objective family's figures (chapter 09, notebooks/09_multi_objective.ipynb;
"C-MORL: Multi-Objective Reinforcement Learning through Efficient Discovery of Pareto Front",
Liu et al., 2024; ../shared/cards/04_cmorl.md): Pareto fronts coloured by stage, crowding
distance, constraint slack, and HV / EU / sparsity against env steps (``global_step``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from polab.plots.base import COLORS, Chart

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
    highlighted (the selection plot of
    ../shared/cards/04_cmorl.md)."""
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
