"""Live dashboards: ``polab.plots`` figures as plotly ``FigureWidget`` s updated in place.

A :class:`LiveDashboard` wraps one ``FigureWidget`` (one per panel: its first render in the
browser costs seconds) built by :func:`polab.plots.dashboard`; ``update``
copies a growing :class:`~polab.train.History` into the traces inside ``batch_update()``.
``static`` returns the plain ``go.Figure`` a headless run leaves in its output (a saved
FigureWidget would hold only its empty first state).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import plotly.graph_objects as go

from polab import plots
from polab.train import History


class LiveDashboard:
    """A grid of charts that follows a training run."""

    def __init__(self, charts: Sequence[plots.Chart] = plots.RL_CHARTS,
                 title: str | None = None, min_interval: float = 0.25):
        self.charts, self.title = tuple(charts), title
        self.min_interval = min_interval
        self._last = 0.0
        self.figure = go.FigureWidget(plots.dashboard(None, self.charts, title))

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
                trace.x = d["x"]
                if "y" in d:
                    trace.y, trace.visible = d["y"], d["visible"]
        return True

    def clear(self) -> None:
        self.update(History(), force=True)

    def static(self, history: History) -> go.Figure:
        """The same dashboard as a static figure (deterministic: no random trace uids)."""
        return plots.dashboard(history, self.charts, self.title)
