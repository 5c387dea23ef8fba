"""The Jupyter layer of polab: panels built from configs and live plotly dashboards.

``widgets`` imports ``polab``; ``polab`` never imports ``widgets``.
"""

from widgets.live import LiveDashboard
from widgets.panel import Panel, control_for
from widgets.runtime import is_live

__all__ = ["LiveDashboard", "Panel", "control_for", "is_live"]
