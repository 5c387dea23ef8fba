"""Is a live Jupyter frontend attached, or is this a headless run (papermill, nbval, a test)?

Live: training runs in an asyncio task so the kernel hears Stop and sliders between
iterations. Headless: the same generator is consumed by a plain loop (no asyncio: papermill
runs of async cells stall intermittently).

``POLAB_HEADLESS=1`` forces headless and ``POLAB_HEADLESS=0`` forces live. Otherwise a run
is live when the cell was sent by an interactive frontend: its ``execute_request`` allowed
stdin (JupyterLab, Notebook 7, VS Code and consoles do; nbclient — so papermill and nbmake —
and nbval send ``allow_stdin=False``), or a widget frontend has opened ipywidgets'
``jupyter.widget.control`` comm. The comm alone is not enough: JupyterLab 4.6 with
jupyterlab-manager 5.0 opens it only when it restores widgets into a reloaded page, never
on a fresh Run All (measured by tests/browser). The kernel keeps the flag of the last cell
it ran, so a Train click (a comm message, not a cell) is judged by the cell before it.
"""

from __future__ import annotations

import asyncio
import os

import ipywidgets


def is_live() -> bool:
    """True when widget events can reach this kernel while training runs."""
    forced = os.environ.get("POLAB_HEADLESS")
    if forced in ("1", "true", "True"):
        return False
    if forced in ("0", "false", "False"):
        return _has_running_loop()
    attached = ipywidgets.Widget._control_comm is not None or _frontend_allows_stdin()
    return attached and _has_running_loop()


def _frontend_allows_stdin() -> bool:
    """Whether the last ``execute_request`` this IPython kernel handled allowed stdin."""
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    return bool(getattr(kernel, "_allow_stdin", False))


def _has_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
