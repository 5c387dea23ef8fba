"""``Panel(config, build)``: controls generated from a Config, Train / Stop / Reset, progress
and a live dashboard — the one way every notebook trains an algorithm.

Controls come mechanically from the config's field metadata (:func:`polab.config.param`): ``bool`` →
Checkbox, choices → ToggleButtons (≤ 4) or Dropdown, ``float`` with ``log`` →
FloatLogSlider, bounded numbers → sliders, unbounded or very wide ints → a number box; the
tooltip is the field's help. Invalid values or combinations are listed under the controls
and disable Train.

``panel.train()`` trains with the current values. In a live kernel it returns at once and
training runs in an asyncio task (Stop acts between iterations, sliders stay responsive);
headless (papermill, nbval, tests) it trains to the end and displays the static dashboard.
Displayed headless, a panel leaves a static view of itself (its knobs, values, allowed values
and help as an HTML table), not a widget that no reader of the executed notebook can render.
Pressing Train again continues the same run unless the values changed; Reset discards it.
"""

from __future__ import annotations

import asyncio
import html
import math
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
from IPython.display import HTML, display

from polab import plots
from polab.config import Config, FieldSpec, describe_range
from polab.train import Algorithm, History, TrainingRun
from widgets.live import LiveDashboard
from widgets.runtime import is_live

WIDE = W.Layout(width="340px")
STATUS_INTERVAL = 0.2
"""Seconds between progress/status refreshes while training: a widget message per iteration
floods the browser when iterations take milliseconds (2 ms LQR iterations delayed Stop by
3.5 s in tests/browser)."""
STYLE = {"description_width": "150px"}
ERROR_COLOR = "#b00020"


def _colored(text: str, color: str) -> str:
    """``text`` escaped, as HTML in ``color``."""
    return f"<span style='color:{color}'>{html.escape(text)}</span>"


def control_for(spec: FieldSpec, value: Any) -> W.ValueWidget:
    """The widget for one config field, chosen from its metadata."""
    kw = {"description": spec.name, "tooltip": spec.help, "style": STYLE, "layout": WIDE}
    if spec.type is bool:
        return W.Checkbox(value=value, indent=False, **kw)
    if spec.choices is not None:
        options = list(spec.choices)
        if len(options) <= 4:
            return W.ToggleButtons(options=options, value=value, **kw)
        return W.Dropdown(options=options, value=value, **kw)
    bounded = spec.low is not None and spec.high is not None
    if spec.type is float and spec.log:
        return W.FloatLogSlider(value=value, base=10, min=math.log10(spec.low),
                                max=math.log10(spec.high), step=0.05, readout_format=".2e",
                                **kw)
    if spec.type is float and bounded:
        return W.FloatSlider(value=value, min=spec.low, max=spec.high,
                             step=(spec.high - spec.low) / 200, readout_format=".3g", **kw)
    if spec.type is int and bounded and spec.high - spec.low <= 4096:
        return W.IntSlider(value=value, min=spec.low, max=spec.high, **kw)
    if spec.type is int:
        return W.BoundedIntText(value=value, min=spec.low if spec.low is not None else -2**62,
                                max=spec.high if spec.high is not None else 2**62, **kw)
    if spec.type is float:
        return W.FloatText(value=value, **kw)
    return W.Text(value=value, **kw)


class Panel:
    """Controls for ``config``, buttons, a progress bar and a live dashboard.

    ``build(config) -> algorithm`` constructs the algorithm to train; ``iterations`` is a
    number or a function of the config (default ``config.num_iterations``); ``fields``
    limits the controls to some fields (all by default); ``charts`` picks the dashboard.
    """

    def __init__(self, config: Config, build: Callable[[Config], Algorithm],
                 iterations: int | Callable[[Config], int] | None = None,
                 fields: Sequence[str] | None = None,
                 charts: Sequence[plots.Chart] = plots.RL_CHARTS,
                 title: str | None = None, callbacks: Sequence[Callable] = ()):
        self.base = config.validate()
        self.build, self.iterations = build, iterations
        self.callbacks = list(callbacks)
        self.charts, self.title = tuple(charts), title
        specs = {s.name: s for s in config.spec()}
        unknown = set(fields or ()) - set(specs)
        if unknown:
            raise ValueError(f"{type(config).__name__} has no field(s) {sorted(unknown)}")
        names = list(fields) if fields is not None else list(specs)
        self.specs = {n: specs[n] for n in names}
        self.controls = {n: control_for(specs[n], getattr(config, n)) for n in names}
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.problems = W.HTML()
        self.train_button = W.Button(description="Train", icon="play", button_style="success")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger",
                                    disabled=True)
        self.reset_button = W.Button(description="Reset", icon="undo")
        self.train_button.on_click(lambda _: self._train_pressed())
        self.stop_button.on_click(lambda _: self.stop())
        self.reset_button.on_click(lambda _: self.reset())
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress",
                                      style=STYLE, layout=W.Layout(width="340px"))
        self.status = W.HTML("ready")
        self.dashboard: LiveDashboard | None = None
        self.algo: Algorithm | None = None
        self.history = History()
        self.task: asyncio.Task | None = None
        self._run_config: Config | None = None
        self._stop = False
        grid = W.GridBox(list(self.controls.values()),
                         layout=W.Layout(grid_template_columns="repeat(auto-fill, 350px)"))
        buttons = W.HBox([self.train_button, self.stop_button, self.reset_button,
                          self.progress, self.status])
        self._children = [W.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        self._children += [grid, self.problems, buttons]
        self.widget = W.VBox(self._children)
        self._on_change()

    # --- values ------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The config described by the controls (not validated)."""
        return self.base.replace(**{n: c.value for n, c in self.controls.items()})

    def set(self, **values: Any) -> Panel:
        """Set controls programmatically (as a user would move them)."""
        for name, value in values.items():
            if name not in self.controls:
                raise ValueError(f"no control named {name!r}; controls: {list(self.controls)}")
            self.controls[name].value = value
        return self

    def _on_change(self, _change: Any = None) -> None:
        found = self.config.problems()
        self.problems.value = "".join(
            f"<div style='color:{ERROR_COLOR}'>⚠ {html.escape(p)}</div>" for p in found)
        self.train_button.disabled = bool(found) or self.running

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    # --- actions -----------------------------------------------------------------------

    def train(self) -> History:
        """Train with the current values (see the module docstring for live vs headless)."""
        if self.running:
            return self.history
        config = self.config.validate()
        if self.algo is None or config != self._run_config:
            self._new_run(config)
        total = (self.iterations(config) if callable(self.iterations)
                 else self.iterations or config.num_iterations)
        remaining = max(0, total - len(self.history))
        if remaining == 0:  # finished: a further press starts over
            self._new_run(config)
            remaining = total
        self.progress.max = total
        self._stop = False
        self._status_at = -math.inf
        run = TrainingRun(self.algo, remaining, self.callbacks, stop=lambda: self._stop,
                          progress=False, history=self.history, desc=type(self.algo).__name__)
        self._set_running(True)
        if is_live():
            self._ensure_dashboard()
            self.task = asyncio.get_running_loop().create_task(self._drive_live(run))
        else:
            self._drive_headless(run)
        return self.history

    def _train_pressed(self) -> None:
        """Train, showing an exception in the status line before re-raising it: raised in a
        widget callback, it reaches only JupyterLab's log console, and the panel would read
        "building…" forever (tests/browser/test_checks_catch_breakage.py)."""
        try:
            self.train()
        except Exception as err:
            self.status.value = _colored(f"{type(err).__name__}: {err}", ERROR_COLOR)
            raise

    def stop(self) -> None:
        """Ask the running training to stop after the current iteration."""
        self._stop = True

    def reset(self) -> None:
        """Discard the trained algorithm and its history (the control values stay)."""
        self.stop()
        self.algo, self._run_config = None, None
        self.history = History()
        self.progress.value = 0
        self.status.value = "reset"
        if self.dashboard is not None:
            self.dashboard.clear()

    def _new_run(self, config: Config) -> None:
        self.status.value = "building…"
        self.algo = self.build(config)
        self._run_config = config
        self.history = History()
        self.progress.value = 0
        if self.dashboard is not None:
            self.dashboard.clear()

    def _ensure_dashboard(self) -> None:
        if self.dashboard is None:
            self.dashboard = LiveDashboard(self.charts, self.title)
            self.widget.children = (*self._children, self.dashboard.figure)

    def _on_record(self, record: dict[str, float]) -> None:
        now = time.perf_counter()
        if now - self._status_at < STATUS_INTERVAL:
            return
        self._status_at = now
        self.progress.value = len(self.history)
        shown = ", ".join(f"{k.split('/')[-1]} {record[k]:.3g}" for k in
                          ("charts/episodic_return", "reward", "eval/pass@1", "cost")
                          if k in record)
        self.status.value = (f"iteration {len(self.history)}/{self.progress.max} · "
                             f"{int(record['global_step']):,} steps · {record['time']:.1f} s"
                             + (f" · {shown}" if shown else ""))

    def _finish(self) -> None:
        self._set_running(False)
        self.progress.value = len(self.history)
        h = self.history
        text = h.message or f"{h.status}: {len(h)} iterations"
        if h.records:
            text += f" · {h.records[-1]['time']:.1f} s"
        self.status.value = _colored(text, ERROR_COLOR if h.status == "diverged" else "inherit")

    def _set_running(self, running: bool) -> None:
        self.stop_button.disabled = not running
        self.reset_button.disabled = running
        self.train_button.disabled = running or bool(self.config.problems())

    async def _drive_live(self, run: TrainingRun) -> None:
        try:
            for record in run:
                self._on_record(record)
                self.dashboard.update(self.history)
                await asyncio.sleep(0)  # Stop clicks and slider moves are handled here
            self.dashboard.update(self.history, force=True)
        except Exception:
            self.history.status, self.history.message = "error", traceback.format_exc(limit=3)
        finally:
            self._finish()

    def _drive_headless(self, run: TrainingRun) -> None:
        try:
            for record in run:
                self._on_record(record)
        finally:
            self._finish()
        if self.history.message:
            print(self.history.message)
        self.show_static()

    def show_static(self) -> None:
        """Display the dashboard of the current history as a static figure."""
        display(plots.dashboard(self.history, self.charts, self.title))

    def static_view(self) -> str:
        """The panel as HTML for a reader of a headless run: title, one row per knob (value,
        allowed values, help), the inline problems, and where the live panel is."""
        rows = "".join(
            f"<tr><td><code>{html.escape(name)}</code></td>"
            f"<td><code>{html.escape(_format_value(control.value))}</code></td>"
            f"<td>{html.escape(describe_range(self.specs[name]))}</td>"
            f"<td>{html.escape(self.specs[name].help)}</td></tr>"
            for name, control in self.controls.items())
        title = f"<b>{html.escape(self.title)}</b> " if self.title else ""
        problems = f"<div>{self.problems.value}</div>" if self.problems.value else ""
        return (f"<div class='polab-panel-static'>{title}<i>the panel's knobs in this run "
                "(open the notebook in JupyterLab to move them and press Train)</i>"
                "<table><thead><tr><th>knob</th><th>value</th><th>allowed</th><th>what it does"
                f"</th></tr></thead><tbody>{rows}</tbody></table>{problems}</div>")

    def _ipython_display_(self) -> None:
        display(self.widget if is_live() else HTML(self.static_view()))


def _format_value(value: Any) -> str:
    """A knob's value as the static view prints it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
