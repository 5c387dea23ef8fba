"""A live Pareto front for C-MORL runs (chapter 09): a plotly ``FigureWidget`` updated in place.

:class:`LivePareto` holds three figures and a preference slider:

* the front: every stored policy coloured by stage and extension round, the current (not yet
  stored) policies in grey, the true front where known, the reference point; 3-D for three
  objectives (``polab.plots.pareto_traces``);
* HV, EU and sparsity vs env steps (``polab.plots.morl_metrics_figure``);
* the preference slider: ``w`` on the simplex; the policy C-MORL assigns to it
  (``argmax_π wᵀG(π)``) is ringed on the front and one of its episodes is played as a small
  plot of cumulative reward per objective.

Use it as a ``Panel`` callback (``callbacks=[live.callback(panel)]``) or call ``update(algo)``
after any ``step()``; ``static(algo)`` returns plain figures for headless runs.
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
from IPython.display import HTML, display

from polab import plots
from widgets.live import figure_widget, plain
from widgets.runtime import is_live


def _episode_figure(rewards: np.ndarray | None, names: list[str]) -> go.Figure:
    fig = go.Figure([go.Scatter(y=[] if rewards is None else np.cumsum(rewards[:, k]),
                                mode="lines+markers", name=n) for k, n in enumerate(names)])
    fig.update_layout(title="episode of the assigned policy", xaxis_title="step",
                      yaxis_title="cumulative reward", template="plotly_white", height=300)
    return fig


class LivePareto:
    """Front, metrics and preference slider for one run of a ``CMORL`` / ``LinearScalarisation``
    (``objective_names``, ``reference_point``, ``true_front`` as its environment states)."""

    def __init__(self, objective_names: list[str], reference_point: np.ndarray,
                 true_front: np.ndarray | None, min_interval: float = 0.3):
        self.min_interval, self._last = min_interval, 0.0
        self.algo: Any = None
        self.assigned = W.HTML()
        self.widget = W.VBox()
        self._build(objective_names, reference_point, true_front)

    def _build(self, objective_names: list[str], reference_point: np.ndarray,
               true_front: np.ndarray | None) -> None:
        """(Re)create the figures and sliders for an environment's objectives; the widget shows
        the new ones in place (the panel's ``env`` can change between runs)."""
        self.names, self.reference, self.true_front = objective_names, reference_point, true_front
        self.k = len(objective_names)
        self.front = figure_widget(plots.pareto_figure(
            np.zeros((0, self.k)), [], [], true_front, reference_point, objective_names,
            title="Pareto front (colour: stage / extension round)", keep_empty=True))
        self.front.update_layout(width=640)
        self.metrics = figure_widget(plots.morl_metrics_figure({"run": [[]]}))
        self.episode = figure_widget(_episode_figure(None, objective_names))
        self.episode.update_layout(width=380, height=440, legend={"orientation": "h", "y": -0.2})
        self.sliders = [W.FloatSlider(value=1.0 / self.k, min=0.0, max=1.0, step=0.05,
                                      description=f"w[{n}]", continuous_update=False)
                        for n in objective_names]
        for s in self.sliders:
            s.observe(lambda _change: self.show_preference(), names="value")
        self.assigned.value = ""
        self.widget.children = [W.HBox([self.front, self.episode]), self.metrics,
                                W.HBox(self.sliders), self.assigned]

    @classmethod
    def for_algo(cls, algo: Any) -> LivePareto:
        live = cls(algo.objective_names, algo.reference_point, algo.true_front)
        live.algo = algo
        return live

    @property
    def preference(self) -> np.ndarray:
        w = np.array([s.value for s in self.sliders])
        return w / w.sum() if w.sum() > 0 else np.full(self.k, 1.0 / self.k)

    def _points(self, algo: Any) -> tuple[np.ndarray, list[str], list[str]]:
        pop = algo.population
        current = getattr(algo, "current_returns", np.zeros((0, self.k)))
        pts = np.concatenate([algo.population_returns, current])
        colors = [plots.stage_color(s.stage, s.round) for s in pop]
        colors += [plots.STAGE_COLORS["current"]] * len(current)
        labels = [f"{s.label} ({s.stage} {s.round}): {np.round(s.returns, 2)}" for s in pop]
        labels += [f"current policy {i}" for i in range(len(current))]
        return pts, colors, labels

    def update(self, algo: Any, force: bool = False) -> bool:
        """Redraw from ``algo`` (at most every ``min_interval`` s unless ``force``)."""
        if (algo.k != self.k or not np.array_equal(algo.reference_point, self.reference)
                or not np.array_equal(algo.true_front, self.true_front)):  # another env
            self._build(algo.objective_names, algo.reference_point, algo.true_front)
        self.algo = algo
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return False
        self._last = now
        pts, colors, labels = self._points(algo)
        new = plots.pareto_traces(pts, colors, labels, self.true_front, self.reference)
        log = [r for r in algo.metrics_log if "morl/hypervolume" in r]
        with self.front.batch_update():
            trace = self.front.data[0]
            for axis in ("x", "y", "z") if self.k >= 3 else ("x", "y"):
                setattr(trace, axis, plain(getattr(new[0], axis)))
            trace.marker.color, trace.text = plain(colors), plain(labels)
        with self.metrics.batch_update():
            for trace, (key, _) in zip(self.metrics.data, plots.MORL_METRICS, strict=True):
                trace.x = [r["global_step"] for r in log]
                trace.y = [r[key] for r in log]
        if algo.population:
            self.show_preference()
        return True

    def callback(self, panel: Any):
        """A ``Panel`` callback that follows ``panel.algo``."""
        def follow(_record: dict[str, float]) -> None:
            self.update(panel.algo)
        return follow

    def show_preference(self) -> None:
        """Ring the policy assigned to the slider's preference and play its episode."""
        algo = self.algo
        if algo is None or not algo.population:
            return
        index = algo.assign(self.preference)
        returns = algo.population[index].returns
        episode = algo.play(index)
        ring = plots.pareto_traces(returns[None], ["black"], [""], None, self.reference,
                                   highlight=0)[3]
        with self.front.batch_update():
            for axis in ("x", "y", "z") if self.k >= 3 else ("x", "y"):
                setattr(self.front.data[3], axis, plain(getattr(ring, axis)))
        with self.episode.batch_update():
            for k, trace in enumerate(self.episode.data):
                trace.y = plain(np.cumsum(episode["rewards"][:, k]))
        self.assigned.value = (f"w = {np.round(self.preference, 2)} → policy #{index} "
                               f"({algo.population[index].label}), G = {np.round(returns, 2)}")

    def _ipython_display_(self) -> None:
        if is_live():
            display(self.widget)
        else:
            display(HTML("<i>The live Pareto front, its metrics and the preference sliders "
                         "fill in here while a run trains in JupyterLab; a headless run draws "
                         "the final front below.</i>"))

    def static(self, algo: Any, title: str | None = None) -> go.Figure:
        """The front as a plain figure (what a headless run leaves in the notebook)."""
        return plots.algo_pareto_figure(algo, title, highlight=algo.assign(self.preference)
                                        if algo.population else None)
