"""Live dashboards: ``polab.plots`` figures as plotly ``FigureWidget`` s updated in place.

A :class:`LiveDashboard` wraps one ``FigureWidget`` (one per panel: its first render in the
browser costs seconds) built by :func:`polab.plots.dashboard`; ``update``
copies a growing :class:`~polab.train.History` into the traces inside ``batch_update()``.
``static`` returns the plain ``go.Figure`` a headless run leaves in its output (a saved
FigureWidget would hold only its empty first state).

Every live figure is built by :func:`figure_widget` and fed through :func:`plain`: its arrays
reach the browser as plain lists, never as numpy arrays (see :func:`plain` for why).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from polab import plots
from polab.train import History


def plain(value: Any) -> Any:
    """``value`` with every numpy array in it (in dicts, lists, tuples) as a plain list.

    plotly 7 sends a numpy array to the browser as a typed array, and the browser's trace
    deltas echo a typed array back as a ``{dtype, shape, value}`` object; plotly.py's
    ``BaseFigureWidget._remove_overlapping_props`` then tests ``not array`` and the kernel
    raises "The truth value of an array ... is ambiguous" (plotly 7.1, seen now and then in
    the JupyterLab test of notebook 04 while a panel trains). Lists go there and back as lists.
    """
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def figure_widget(fig: go.Figure) -> go.FigureWidget:
    """A ``FigureWidget`` of ``fig`` with its arrays as lists (:func:`plain`)."""
    # trace by trace: a figure's own to_plotly_json() has already packed its arrays as base64
    return go.FigureWidget(data=[plain(t.to_plotly_json()) for t in fig.data],
                           layout=plain(fig.layout.to_plotly_json()))


class LiveDashboard:
    """A grid of charts that follows a training run."""

    def __init__(self, charts: Sequence[plots.Chart] = plots.RL_CHARTS,
                 title: str | None = None, min_interval: float = 0.25):
        self.charts, self.title = tuple(charts), title
        self.min_interval = min_interval
        self._last = 0.0
        self.figure = figure_widget(plots.dashboard(None, self.charts, title))

    def update(self, history: History, force: bool = False) -> bool:
        """Refresh every trace from ``history`` (at most every ``min_interval`` s unless
        ``force``); returns whether it redrew."""
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return False
        self._last = now
        data = [d for chart in self.charts for d in plots.chart_data(history, chart)]
        with self.figure.batch_update():
            for trace, d in zip(self.figure.data, data, strict=True):
                trace.x = plain(d["x"])
                if "y" in d:
                    trace.y, trace.visible = plain(d["y"]), d["visible"]
        return True

    def clear(self) -> None:
        self.update(History(), force=True)

    def static(self, history: History) -> go.Figure:
        """The same dashboard as a static figure (deterministic: no random trace uids)."""
        return plots.dashboard(history, self.charts, self.title)
