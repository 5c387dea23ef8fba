"""Is a live Jupyter frontend attached, or is this a headless run (papermill, nbval, a test)?

Live: training runs in an asyncio task so the kernel hears Stop and sliders between
iterations. Headless: the same generator is consumed by a plain loop (no asyncio: papermill
runs of async cells stall intermittently, JUPYTER.md §2.4).

``POLAB_HEADLESS=1`` forces headless and ``POLAB_HEADLESS=0`` forces live. Otherwise a run
is live when a widget frontend (JupyterLab, Notebook 7, VS Code) has opened ipywidgets'
``jupyter.widget.control`` comm to this kernel, which headless executors never do.
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
    return ipywidgets.Widget._control_comm is not None and _has_running_loop()


def _has_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
