"""A sweep's table as a figure (chapter 14): one line per trial, coloured by a column.

Takes the ``pandas.DataFrame`` that :func:`polab.sweep.run_sweep` returns (a row per logged
record with ``trial_id``, knobs, ``seed``, ``step``, metrics, ``status``); it does not import
the sweep layer, which sits above this one.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from polab.plots.base import COLORS, MARGIN, _short


def sweep_curves_figure(df: Any, x: str = "step", y: str = "charts/episodic_return",
                        color: str = "variant", title: str | None = None,
                        log_x: bool = False, x_title: str | None = None) -> go.Figure:
    """``y`` against ``x`` for every trial of ``df`` (one line per ``trial_id``, hover: its
    seed), one colour per value of the column ``color`` (a variant, a knob; one legend entry
    each); failed trials (no records) draw nothing. ``log_x`` for compute axes; ``x_title``
    names the x-axis (default: ``x``)."""
    for column in ("trial_id", x, y, color):
        if column not in df:
            raise ValueError(f"the table has no column {column!r}; columns are {list(df)}")
    rows = df[df[y].notna() & df[x].notna()]
    values = list(dict.fromkeys(df[color]))
    fig = go.Figure()
    shown: set[Any] = set()
    for trial_id, trial in rows.groupby("trial_id", sort=False):
        value = trial[color].iloc[0]
        seed = trial["seed"].iloc[0] if "seed" in trial else ""
        fig.add_trace(go.Scatter(
            x=trial[x], y=trial[y], mode="lines+markers", marker={"size": 4},
            line={"color": COLORS[values.index(value) % len(COLORS)], "width": 1.5},
            name=f"{color}={value}", legendgroup=str(value), showlegend=value not in shown,
            hovertemplate=f"{color}={value}, seed {seed} ({trial_id})<br>{x}=%{{x}}<br>"
                          f"{_short(y)}=%{{y:.4g}}<extra></extra>"))
        shown.add(value)
    fig.update_layout(title=title or f"{_short(y)} per trial, coloured by {color}",
                      xaxis_title=x_title or x, yaxis_title=_short(y), template="plotly_white",
                      height=380, margin=MARGIN)
    if log_x:
        fig.update_xaxes(type="log")
    return fig
