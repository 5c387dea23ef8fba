"""Deep IWOCS's figures (card 39, "Plots"; notebook 11, section "IWOCS on Pendulum"): each
method's return over the (mass, length) evaluation grid with its worst cell marked ✕ and the
kernels IWOCS trained on marked ○ (on every panel, for comparison)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from polab.plots.base import MARGIN


def return_over_physics_grid(returns: Mapping[str, Sequence[Sequence[float]]],
                             radius: float,
                             iwocs_kernels: Sequence[Sequence[float]] = ()) -> go.Figure:
    """One heatmap per method of its mean return ``[mass, length]`` on the evaluation grid of
    ``[1 − radius, 1 + radius]²`` (rows mass, columns length), a shared colour scale, the worst
    cell ✕ with its return, the kernels IWOCS found ○ labelled ``T_i``."""
    values = {k: np.asarray(v, dtype=float) for k, v in returns.items()}
    if not values or any(z.ndim != 2 or z.shape[0] != z.shape[1] for z in values.values()):
        raise ValueError("returns must map each method to a square [mass, length] grid")
    lo = min(float(z.min()) for z in values.values())
    hi = max(float(z.max()) for z in values.values())
    axis = np.linspace(1 - radius, 1 + radius, next(iter(values.values())).shape[0])
    found = np.asarray(iwocs_kernels, dtype=float).reshape(-1, 2)
    fig = make_subplots(1, len(values), subplot_titles=list(values), horizontal_spacing=0.06)
    for i, z in enumerate(values.values(), start=1):
        fig.add_trace(go.Heatmap(z=z, x=axis, y=axis, zmin=lo, zmax=hi, colorscale="RdYlGn",
                                 showscale=i == len(values), colorbar={"title": "return"},
                                 hovertemplate="length %{x:.2f}, mass %{y:.2f}: %{z:.0f}"
                                 "<extra></extra>"), 1, i)
        r, c = np.unravel_index(z.argmin(), z.shape)
        fig.add_trace(go.Scatter(x=[axis[c]], y=[axis[r]], mode="markers+text",
                                 marker={"symbol": "x", "size": 14, "color": "black"},
                                 text=[f"{z.min():.0f}"], textposition="bottom center",
                                 showlegend=False, hoverinfo="skip"), 1, i)
        if len(found):
            fig.add_trace(go.Scatter(x=found[:, 1], y=found[:, 0], mode="markers+text",
                                     marker={"symbol": "circle-open", "size": 13,
                                             "color": "#1f3b73", "line": {"width": 2}},
                                     text=[f"T{j}" for j in range(len(found))],
                                     textposition="top center", showlegend=False,
                                     hoverinfo="skip"), 1, i)
        fig.update_xaxes(title_text="pole length l", row=1, col=i)
    fig.update_yaxes(title_text="mass m", row=1, col=1)
    fig.update_layout(title="return over the (m, l) grid (✕ worst cell, ○ kernels IWOCS "
                      "trained on)", template="plotly_white", height=380,
                      width=max(440, 320 * len(values)), margin={**MARGIN, "t": 80})
    return fig
