"""Drive a real JupyterLab in Debian's Chromium, the way a person tests a notebook.

:class:`LabServer` runs ``jupyter lab`` on 127.0.0.1 (free port, random token) with every
settings, workspace, config, data and runtime folder in a throw-away directory.
:class:`LabNotebook` opens one notebook in a fresh workspace, presses Run all, waits for
the kernel, and reports *problems* (plain sentences; an empty list means healthy):

* ``problems()`` — error outputs and stderr tracebacks in cells, every error the kernel
  published on iopub (also those of widget callbacks, which JupyterLab shows in no cell),
  kernel log tracebacks, widget views that failed to render, panels without their
  controls / buttons / live figure, plotly figures without traces or with an empty trace,
  outputs that overflow sideways, JavaScript errors in the page, panels whose training
  ended in an error.
* ``exercise(panel)`` — sets the panel's run length, moves a slider, presses Train, sees
  the live figure gain points, presses Stop and sees training stop within
  :data:`STOP_GRACE` seconds plus two iterations, and nothing change afterwards.

What made this reliable (found by trial): ``autoStartDefaultKernel`` (else a "Select Kernel"
dialog blocks Run all), a fresh workspace URL with ``?reset``, the status bar's "Idle",
the command ``runmenu:run-all``. ``windowingMode: none`` keeps every cell in the DOM, and
``expose_app_in_browser`` lets the checks read the notebook model (output types) instead of
guessing from pixels.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = os.environ.get("POLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in a kernel traceback
# Stop acts between iterations: the iteration in flight when the click arrives finishes.
# Allowed delay from click to "stopped": STOP_GRACE + 2 iterations (the round trip browser
# → server → kernel → browser takes ~0.3 s on 2 busy cores). STOP_SECONDS caps the wait.
STOP_GRACE = 3.0
STOP_SECONDS = 60.0
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True,
                                               "windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}
# The control that sets a run's length, in order of preference.
LENGTH_FIELDS = ("total_timesteps", "total_trajectories", "num_iterations")
# Browser console errors that do not mean a broken page. Each entry needs its reason.
HARMLESS_CONSOLE = [
    # (none needed so far: JupyterLab 4.6 + the widget and plotly extensions log no errors)
]
KERNEL_LOG_ERROR = re.compile(r"Traceback \(most recent call last\)|\[IPKernelApp\] ERROR"
                              r"|Exception in comm_msg|Task exception was never retrieved")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smoke_copy(source: Path, target_dir: Path) -> Path:
    """Copy a notebook with ``SMOKE = True`` in its ``parameters`` cell and no outputs."""
    nb = nbformat.read(source, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert tagged and "SMOKE = False" in tagged[0].source, \
        f"{source.name}: needs a cell tagged 'parameters' containing 'SMOKE = False'"
    tagged[0].source = tagged[0].source.replace("SMOKE = False", "SMOKE = True")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    target = target_dir / source.name
    nbformat.validator.normalize(nb)
    nbformat.write(nb, target)
    return target


class LabServer:
    """``jupyter lab`` in a scratch directory; notebooks live in ``self.root``."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.root = scratch / "root"
        self.runtime = scratch / "runtime"
        self.log_path = scratch / "server.log"
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        for d in ("root", "runtime", "settings", "workspaces", "config", "data", "ipython"):
            (self.scratch / d).mkdir(parents=True, exist_ok=True)
        for plugin, values in SETTINGS.items():
            path = self.scratch / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        s = self.scratch
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLAB_")}
        env.update(JUPYTERLAB_SETTINGS_DIR=str(s / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(s / "workspaces"),
                   JUPYTER_CONFIG_DIR=str(s / "config"), JUPYTER_DATA_DIR=str(s / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.runtime), IPYTHONDIR=str(s / "ipython"))
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               f"--port={self.port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--ServerApp.terminals_enabled=False", "--LabApp.expose_app_in_browser=True",
               "--LabApp.extension_manager=readonly"]
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited:\n{self.log_text()[-3000:]}")
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer in {timeout} s:\n"
                           f"{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the server shuts its kernels down, exit code 0
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def url(self, notebook: str, workspace: str) -> str:
        return f"{self.base}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={self.token}"

    def log_text(self, start: int = 0) -> str:
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            f.seek(start)
            return f.read()

    def log_size(self) -> int:
        self.log.flush()
        return self.log_path.stat().st_size

    def session_of(self, notebook: str) -> dict | None:
        return next((s for s in self.api("GET", "/api/sessions") if s["path"] == notebook), None)

    def shut_down(self, notebook: str) -> None:
        """Delete the notebook's session, which shuts its kernel down (and any training)."""
        session = self.session_of(notebook)
        if session is not None:
            self.api("DELETE", f"/api/sessions/{session['id']}")


class IopubErrors:
    """Every ``error`` message (and stderr traceback) the kernel publishes on iopub.

    A second client subscribed to the kernel's iopub sees what JupyterLab renders nowhere:
    the traceback of a widget callback (a Train button whose handler raises) has a comm
    message as parent, not a cell.
    """

    def __init__(self, connection_file: Path):
        self.connection_file = connection_file
        self.errors: list[str] = []
        self._ready, self._done = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _listen(self) -> None:
        from jupyter_client import BlockingKernelClient

        client = BlockingKernelClient(connection_file=str(self.connection_file))
        client.load_connection_file()
        client.start_channels(shell=False, iopub=True, stdin=False, hb=False, control=False)
        time.sleep(0.5)  # let the SUB socket subscribe before the first cell runs
        self._ready.set()
        try:
            while not self._done.is_set():
                try:
                    msg = client.get_iopub_msg(timeout=0.2)
                except queue.Empty:
                    continue
                kind, content = msg["header"]["msg_type"], msg["content"]
                parent = msg.get("parent_header", {}).get("msg_type", "?")
                if kind == "error":
                    where = _ANSI.sub("", "\n".join(content.get("traceback", [])[-3:]))
                    self.errors.append(f"kernel error (from {parent}): {content['ename']}: "
                                       f"{content['evalue']}" + (f"\n{where}" if where else ""))
                elif (kind == "stream" and content.get("name") == "stderr"
                      and "Traceback" in content.get("text", "")):
                    self.errors.append(f"kernel stderr traceback (from {parent}): "
                                       f"{content['text'][-600:]}")
        finally:
            client.stop_channels()

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)


# One snapshot of the open notebook: its cells (from the model) and their DOM, and the
# polab panels (found by their Train button). Runs in the page.
SNAPSHOT_JS = """
() => {
  const valid = v => v !== null && v !== undefined && v !== '' &&
                     !(typeof v === 'number' && !Number.isFinite(v));
  const KEYS = ['x', 'y', 'z', 'values', 'labels', 'r', 'theta', 'lat', 'lon', 'a', 'b',
                'open', 'close', 'ids'];
  const figure = gd => ({
    // a trace the figure hides on purpose (visible=False in its input) is not drawn; plotly
    // itself also marks a trace without data invisible, and that one must still count
    traces: (gd._fullData || []).filter(t => !(t._input && t._input.visible === false))
                                .map(t => {
      let n = null;
      for (const k of KEYS) {
        const a = t[k];
        if (a && typeof a === 'object' && typeof a.length === 'number') {
          let c = 0;
          for (let i = 0; i < a.length; i++) if (valid(a[i])) c++;
          n = n === null ? c : Math.min(n, c);
        }
      }
      if (t.type === 'table') {  // a table's data are its cells: rows of the first column
        const columns = (t.cells || {}).values || [];
        n = columns.length && columns[0] ? columns[0].length : 0;
      }
      return {name: t.name || t.type, type: t.type, points: n || 0};
    }),
    title: ((gd.layout || {}).title || {}).text || '',
    width: gd.getBoundingClientRect().width, height: gd.getBoundingClientRect().height,
  });
  const nbPanel = window.jupyterapp.shell.currentWidget;
  const trainButtons = [...nbPanel.node.querySelectorAll('button.widget-button')]
    .filter(b => b.innerText.trim() === 'Train');
  const boxes = trainButtons.map(b => b.closest('.widget-hbox').parentElement);
  const inPanel = gd => boxes.some(box => box.contains(gd));
  const cells = nbPanel.content.widgets.map((cell, index) => {
    const m = cell.model;
    const c = {index, type: m.type, prompt: '', count: null, outputs: [], plots: [],
               plotlyRendered: 0, widgetText: [], overflow: []};
    if (m.type !== 'code') return c;
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    c.prompt = prompt ? prompt.innerText.trim() : '';
    c.count = m.executionCount;
    c.outputs = m.outputs.toJSON().map(o => ({
      type: o.output_type, name: o.name || '', ename: o.ename || '', evalue: o.evalue || '',
      text: Array.isArray(o.text) ? o.text.join('') : (o.text || ''),
      mimes: Object.keys(o.data || {}),
    }));
    const plots = [...cell.node.querySelectorAll('.js-plotly-plot')];
    c.plotlyRendered = plots.length;
    c.plots = plots.filter(gd => !inPanel(gd)).map(figure);  // panels: checked below
    c.widgetText = [...cell.node.querySelectorAll('.jp-OutputArea-output')]
      .filter(e => e.querySelector('.jupyter-widgets') ||
                   /Loading widget|Error displaying widget/.test(e.innerText))
      .map(e => e.innerText.slice(0, 300));
    c.overflow = [...cell.node.querySelectorAll('.jp-OutputArea-output')]
      .filter(e => e.scrollWidth > e.clientWidth + 2)
      .map(e => ({px: e.scrollWidth - e.clientWidth,
                  widget: !!e.querySelector('.jupyter-widgets, .js-plotly-plot')}));
    return c;
  });
  const panels = boxes.map(box => {
    const buttons = {};
    for (const b of box.querySelectorAll(':scope > .widget-hbox > button.widget-button'))
      buttons[b.innerText.trim()] = {disabled: b.disabled};
    const htmls = box.querySelectorAll(':scope > .widget-hbox > .widget-html');
    const controls = [...box.querySelectorAll(':scope > .widget-gridbox > *')].map(e => ({
      label: (e.querySelector('.widget-label') || {innerText: ''}).innerText.trim(),
      kind: e.classList.contains('widget-hslider') ? 'slider' :
            e.querySelector('input[type=number], input[type=text]') ? 'text' : 'other',
    }));
    const gd = box.querySelector('.js-plotly-plot');
    const cellIndex = nbPanel.content.widgets.findIndex(w => w.node.contains(box));
    return {cell: cellIndex, buttons, controls,
            status: htmls.length ? htmls[htmls.length - 1].innerText.trim() : '',
            figure: gd ? figure(gd) : null,
            overflow: box.scrollWidth - box.clientWidth};
  });
  return {cells, panels};
}
"""


def points(figure: dict | None) -> int:
    return sum(t["points"] for t in figure["traces"]) if figure else 0


class LabNotebook:
    """One notebook open in its own browser context and workspace."""

    def __init__(self, server: LabServer, browser, notebook: str, screenshot: Path):
        self.server, self.notebook, self.screenshot_path = server, notebook, screenshot
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.console.append(f"page error: {e}"))
        self.kernel: IopubErrors | None = None
        self.log_start = server.log_size()
        self.timings: dict[str, float] = {}
        self.notes: list[str] = []  # worth a look, not a failure (e.g. one empty trace)
        self._t0 = time.monotonic()

    def _on_console(self, msg) -> None:
        if msg.type == "error" and not any(p.search(msg.text) for p in HARMLESS_CONSOLE):
            self.console.append(f"console error: {msg.text[:500]}")

    def _mark(self, what: str) -> None:
        self.timings[what] = round(time.monotonic() - self._t0, 1)

    # --- opening and running --------------------------------------------------------

    def open(self, timeout: float = 120) -> None:
        workspace = f"w{secrets.token_hex(4)}"
        self.page.goto(self.server.url(self.notebook, workspace), timeout=timeout * 1000)
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
        idle = self.page.get_by_text(re.compile(r"\|\s*Idle"))
        dialog = self.page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel", if it shows
        deadline = time.monotonic() + timeout
        while not idle.count() and time.monotonic() < deadline:
            if dialog.count():
                dialog.first.click()
            time.sleep(0.3)
        self.wait_idle(max(1.0, deadline - time.monotonic()))
        self._mark("kernel idle")
        session = self.server.session_of(self.notebook)
        assert session is not None, f"no kernel session for {self.notebook}"
        connection = self.server.runtime / f"kernel-{session['kernel']['id']}.json"
        self.kernel = IopubErrors(connection)

    def wait_idle(self, timeout: float) -> None:
        """The status bar reads "… | Idle" (the toolbar indicator is idle before the kernel
        even connects)."""
        self.page.wait_for_function("() => /\\|\\s*Idle/.test(document.body.innerText)",
                                    timeout=timeout * 1000)

    def snapshot(self) -> dict:
        return self.page.evaluate(SNAPSHOT_JS)

    def run_all(self, timeout: float) -> None:
        """Run ▸ Run All Cells, then wait until no cell is queued or running and the
        kernel is idle (Run all stops at the first error)."""
        self.page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        self.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        self._mark("run all")
        self.page.wait_for_function(  # Run all has started (or already ended)
            "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
            ".map(e => e.innerText); return p.some(t => t.includes('*')) || "
            "p.every(t => /\\[\\d+\\]/.test(t)); }", timeout=30_000)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cells = [c for c in self.snapshot()["cells"] if c["type"] == "code"]
            running = any("*" in c["prompt"] for c in cells)
            failed = any(o["type"] == "error" for c in cells for o in c["outputs"])
            if not running and (failed or all(c["count"] is not None for c in cells)):
                self.wait_idle(max(1.0, deadline - time.monotonic()))
                self._mark("cells done")
                return
            time.sleep(0.5)
        raise AssertionError(f"Run all did not finish within {timeout:.0f} s")

    def wait_for_panels(self, timeout: float) -> None:
        """Wait until no panel trains any more, every trained panel shows its live figure
        (a FigureWidget's first render takes seconds) and the figures'
        point counts are the same twice in a row, one second apart."""
        deadline = time.monotonic() + timeout
        previous = None
        while time.monotonic() < deadline:
            panels = self.snapshot()["panels"]
            settled = all(not _is_running(p) and (not _has_run(p) or (
                p["figure"] is not None and p["figure"]["traces"])) for p in panels)
            counts = [points(p["figure"]) for p in panels]
            if settled and counts == previous:
                self._mark("panels done")
                return
            previous = counts if settled else None
            time.sleep(1.0)
        # the checks in problems() say what is missing

    # --- checks -----------------------------------------------------------------------

    def problems(self) -> list[str]:
        snap = self.snapshot()
        found = []
        for c in snap["cells"]:
            where = f"cell {c['index']}"
            for o in c["outputs"]:
                if o["type"] == "error":
                    found.append(f"{where}: error output {o['ename']}: {o['evalue']}")
                elif o["type"] == "stream" and o["name"] == "stderr" and "Traceback" in o["text"]:
                    found.append(f"{where}: traceback on stderr: {o['text'][-400:]}")
            plotly_outputs = sum("application/vnd.plotly.v1+json" in o["mimes"]
                                 for o in c["outputs"])
            if c["plotlyRendered"] < plotly_outputs:
                found.append(f"{where}: {plotly_outputs} plotly outputs but "
                             f"{c['plotlyRendered']} rendered figures")
            for k, fig in enumerate(c["plots"]):
                found += _figure_problems(fig, f"{where}, figure {k}")
                self.notes += _empty_traces(fig, f"{where}, figure {k}")
            for text in c["widgetText"]:
                if re.search(r"Loading widget|Error displaying widget|Failed to create view"
                             r"|Open Browser Console", text):
                    found.append(f"{where}: widget did not render: {text[:200]!r}")
            for extra in c["overflow"]:  # a wide table may scroll; a widget or figure may not
                text = f"{where}: an output overflows sideways by {extra['px']} px"
                (found if extra["widget"] else self.notes).append(text)
        for i, p in enumerate(snap["panels"]):
            found += _panel_problems(p, f"panel {i} (cell {p['cell']})")
            if p["figure"] is not None:
                self.notes += _empty_traces(p["figure"], f"panel {i} (cell {p['cell']})")
        return found + self.runtime_problems()

    def marker(self) -> tuple[int, int, int]:
        """Where the runtime error sources stand now (see ``runtime_problems``)."""
        return (len(self.kernel.errors) if self.kernel else 0, self.server.log_size(),
                len(self.console))

    def runtime_problems(self, since: tuple[int, int, int] | None = None) -> list[str]:
        """Errors outside the cells (kernel iopub, kernel log, browser console), all of them
        or those after ``since`` (a ``marker()``)."""
        errors, log_at, console = since or (0, self.log_start, 0)
        found = list(self.kernel.errors[errors:]) if self.kernel else []
        found += [f"kernel/server log: {line[:300]}"
                  for line in self.server.log_text(log_at).splitlines()
                  if KERNEL_LOG_ERROR.search(line)]
        return found + self.console[console:]

    # --- interaction --------------------------------------------------------------------

    def exercise(self, index: int, grow_timeout: float = 120,
                 stop_seconds: float = STOP_SECONDS) -> list[str]:
        """Lengthen the run, move a slider, Train, watch points grow, Stop, watch it stop."""
        before = self.marker()
        fresh = lambda: self.runtime_problems(before)  # noqa: E731
        panel = self.snapshot()["panels"][index]
        box = self._panel_box(index)
        if _is_running(panel):
            return [f"panel {index}: still training before the test touched it"]
        labels = {c["label"]: c for c in panel["controls"]}
        length = next((labels[f] for f in LENGTH_FIELDS if f in labels), None)
        if length is None:
            return [f"panel {index}: no control named one of {LENGTH_FIELDS} to lengthen the "
                    "run; add the panel's length field to labdriver.LENGTH_FIELDS"]
        self._lengthen(box, length)
        sliders = sorted((c["label"] for c in panel["controls"] if c["kind"] == "slider"
                          and c["label"] not in LENGTH_FIELDS + ("seed",)),
                         key=lambda label: "learning_rate" not in label)
        found: list[str] = []
        if sliders:
            found += self._move_slider(box, sliders[0], index)
        previous_total = _total(panel["status"])
        box.locator(":scope > .widget-hbox > button.widget-button", has_text="Train").click()
        self._mark(f"panel {index} Train")

        # training starts and the live figure gains points
        grown = self._wait(lambda p: _is_running(p) and _iteration(p["status"]) >= 1
                           and points(p["figure"]) > 0, index, grow_timeout, fresh)
        if grown is None:
            return found + [f"panel {index}: Train did not start training (waited up to "
                            f"{grow_timeout:.0f} s; status {self._status(index)!r})"] + fresh()
        total = _total(grown["status"])
        if previous_total is not None and total is not None and total <= previous_total:
            found.append(f"panel {index}: the lengthened run has {total} iterations, not more "
                         f"than the {previous_total} before: the new value did not reach the "
                         "kernel")
        start_points = points(grown["figure"])
        more = self._wait(lambda p: points(p["figure"]) > start_points, index, grow_timeout,
                          fresh)
        if more is None:
            return found + [f"panel {index}: the live figure stayed at {start_points} points "
                            "while training"] + fresh()
        self._mark(f"panel {index} figure grew")

        # Stop: training ends after the iteration in flight, and nothing moves afterwards
        per_iteration = _seconds_per_iteration(self.snapshot()["panels"][index]["status"])
        box.locator(":scope > .widget-hbox > button.widget-button", has_text="Stop").click()
        clicked = time.monotonic()
        stopped = self._wait(lambda p: not _is_running(p) and _iteration(p["status"]) < 0,
                             index, stop_seconds, fresh)
        if stopped is None:
            return found + [f"panel {index}: still training {stop_seconds:.0f} s after Stop "
                            f"(status {self._status(index)!r})"] + fresh()
        latency = time.monotonic() - clicked
        allowed = STOP_GRACE + 2 * per_iteration
        self.timings[f"panel {index} stop latency s"] = round(latency, 2)
        self.timings[f"panel {index} s per iteration"] = round(per_iteration, 2)
        if "stopped" not in stopped["status"]:
            found.append(f"panel {index}: after Stop the status reads {stopped['status']!r}")
        if latency > allowed:
            found.append(f"panel {index}: training stopped {latency:.1f} s after the click, "
                         f"allowed {allowed:.1f} s ({STOP_GRACE:.0f} s + 2 iterations of "
                         f"{per_iteration:.1f} s)")
        time.sleep(2.0)
        after = self.snapshot()["panels"][index]
        if points(after["figure"]) != points(stopped["figure"]) or \
                _iteration(after["status"]) != _iteration(stopped["status"]):
            found.append(f"panel {index}: figure/status still changing 2 s after it stopped")
        return found + _panel_problems(after, f"panel {index}") + fresh()

    def _panel_box(self, index: int):
        train = self.page.locator("button.widget-button", has_text="Train").nth(index)
        return train.locator("xpath=ancestor::div[contains(@class,'widget-hbox')][1]/..")

    def _control(self, box, label: str):
        return box.locator(":scope > .widget-gridbox > *").filter(
            has=self.page.locator(".widget-label", has_text=re.compile(f"^{label}$")))

    def _lengthen(self, box, control: dict) -> None:
        """Make the run long enough to watch and stop: 50× the length (or the maximum)."""
        widget = self._control(box, control["label"])
        if control["kind"] == "slider":
            widget.locator(".noUi-handle").focus()
            widget.locator(".noUi-handle").press("End")
            return
        field = widget.locator("input")
        field.fill(str(int(float(field.input_value() or 1) * 50)))
        field.press("Enter")

    def _move_slider(self, box, label: str, index: int) -> list[str]:
        """Three steps right with the keyboard; back again if that made the config invalid
        (the panel then disables Train, which is right but would stop the test)."""
        widget = self._control(box, label)
        readout = widget.locator(".widget-readout")
        old = readout.inner_text()
        handle = widget.locator(".noUi-handle")
        handle.focus()
        for _ in range(3):
            handle.press("ArrowRight")
        try:
            self.page.wait_for_function("([el, old]) => el.innerText !== old",
                                        arg=[readout.element_handle(), old], timeout=5000)
        except PlaywrightError:
            return [f"panel {index}: slider {label} readout stayed {old!r} after 3 × "
                    "ArrowRight"]
        time.sleep(0.5)  # the kernel validates the new value and answers
        if self.snapshot()["panels"][index]["buttons"]["Train"]["disabled"]:
            for _ in range(3):
                handle.press("ArrowLeft")
        return []

    def _status(self, index: int) -> str:
        return self.snapshot()["panels"][index]["status"]

    def _wait(self, ok: Callable[[dict], bool], index: int, timeout: float,
              errors: Callable[[], list[str]]) -> dict | None:
        """Poll panel ``index`` until ``ok``; give up early when the kernel reports an error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            panel = self.snapshot()["panels"][index]
            if ok(panel):
                return panel
            if errors():
                return None
            time.sleep(0.2)
        return None

    # --- the end ------------------------------------------------------------------------

    def screenshot(self) -> None:
        """The whole notebook in one image: the viewport grows to the notebook's height."""
        self.screenshot_path.parent.mkdir(parents=True, exist_ok=True)
        height = self.page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('.jp-WindowedPanel-outer,"
            " .jp-Notebook')].map(e => e.scrollHeight))")
        self.page.set_viewport_size({"width": VIEWPORT["width"],
                                     "height": int(min(max(height + 150, 1000), 16000))})
        self.page.evaluate("() => document.querySelectorAll('.jp-WindowedPanel-outer')"
                           ".forEach(e => e.scrollTop = 0)")
        time.sleep(1.5)  # plotly relayouts on resize
        self.page.screenshot(path=str(self.screenshot_path))

    def close(self) -> None:
        if self.kernel is not None:
            self.kernel.close()
        try:
            self.server.shut_down(self.notebook)
        finally:
            self.context.close()


def _is_running(panel: dict) -> bool:
    stop = panel["buttons"].get("Stop")
    return stop is not None and not stop["disabled"]


def _has_run(panel: dict) -> bool:
    return bool(re.search(r"finished|stopped|iteration", panel["status"]))


def _iteration(status: str) -> int:
    m = re.search(r"iteration (\d+)/", status)
    return int(m.group(1)) if m else -1


def _seconds_per_iteration(status: str) -> float:
    """From the panel's "iteration k/N · S steps · T s …" (0 if it does not say)."""
    m = re.search(r"iteration (\d+)/\d+ · [\d,]+ steps · ([\d.]+) s", status)
    return float(m.group(2)) / int(m.group(1)) if m and int(m.group(1)) else 0.0


def _total(status: str) -> int | None:
    m = re.search(r"iteration \d+/(\d+)|finished: (\d+) iterations", status)
    return int(m.group(1) or m.group(2)) if m else None


def _figure_problems(fig: dict, where: str) -> list[str]:
    """A figure must have traces and points; a figure of empty traces is a blank figure."""
    if not fig["traces"]:
        return [f"{where}: figure {fig['title']!r} has no traces"]
    found = []
    if not any(t["points"] for t in fig["traces"]):
        found.append(f"{where}: figure {fig['title']!r} has no data in any of its "
                     f"{len(fig['traces'])} traces")
    if fig["width"] < 50 or fig["height"] < 50:
        found.append(f"{where}: figure {fig['title']!r} is {fig['width']:.0f}×"
                     f"{fig['height']:.0f} px")
    return found


def _empty_traces(fig: dict, where: str) -> list[str]:
    """Empty traces beside traces with data: a metric this (SMOKE-sized) run never reported."""
    if not any(t["points"] for t in fig["traces"]):
        return []  # a problem, reported by _figure_problems
    return [f"{where}: figure {fig['title']!r}, trace {t['name']!r} ({t['type']}) is empty"
            for t in fig["traces"] if t["points"] == 0]


def _panel_problems(panel: dict, where: str) -> list[str]:
    found = [f"{where}: no {name} button" for name in ("Train", "Stop", "Reset")
             if name not in panel["buttons"]]
    if not panel["controls"]:
        found.append(f"{where}: no controls rendered")
    if panel["overflow"] > 2:
        found.append(f"{where}: overflows sideways by {panel['overflow']} px")
    if re.search(r"Traceback|Error|error|non-finite", panel["status"]):
        found.append(f"{where}: training failed: {panel['status'][:400]}")
    if _has_run(panel) and not _is_running(panel):
        if panel["figure"] is None:
            found.append(f"{where}: trained, but shows no live figure (headless mode in a "
                         "live kernel?)")
        else:
            found += _figure_problems(panel["figure"], f"{where} live figure")
    return found


def chromium_missing_message() -> str:
    return (f"Chromium not found at {CHROMIUM}: the real-browser JupyterLab tests did NOT run. "
            "Install it (`make browser-deps`, which `make test` runs first, or on Debian "
            "`sudo apt-get install chromium`), or point POLAB_CHROMIUM (make: CHROMIUM=) at a "
            "Chromium/Chrome binary, or run `make test-fast` to leave the browser tests out on "
            "purpose.")


def have_chromium() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None
