"""PARL's figures (card 1, "Plots"; notebooks/08_preferences.ipynb, section 5): true return
against preference queries with the oracle's line, learned vs true reward over the grid, the
hypergradient split into its direct and implicit terms, and state visitation over outer
iterations (the distribution shift the implicit term accounts for)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from polab.envs.tabular import FiniteMDP
from polab.plots.base import COLORS, MARGIN, Chart, learning_curves
from polab.train import History

X_LABEL = "preference queries"

PARL_CHARTS = (
    Chart("true return of π_θ (exact) and the oracle's", ("true_return", "oracle_return"),
          x_label=X_LABEL),
    Chart("hypergradient norm: direct vs implicit term",
          ("hypergrad/direct_norm", "hypergrad/implicit_norm"), x_label=X_LABEL),
    Chart("BT log-likelihood of the queried pairs", ("utility",), x_label=X_LABEL),
    Chart("lower-level gradient norm after K steps", ("lower/grad_norm",), x_label=X_LABEL),
)
"""The dashboard of :class:`polab.algos.preference.parl.PARL` (its panel's live charts)."""


def return_vs_queries(runs: Mapping[str, Sequence[History]], oracle: float,
                      target: float = 0.9) -> go.Figure:
    """Exact true return of π_θ against preference queries (log axis: the runs part in the
    first hundred queries), mean ± std over seeds per label, with the oracle's return (solid)
    and ``target`` × it (dashed)."""
    fig = learning_curves(runs, y="true_return", title="true return vs preference queries",
                          x_label=X_LABEL)
    fig.add_hline(y=oracle, line_color="black", annotation_text="oracle π*(r*)")
    fig.add_hline(y=target * oracle, line_dash="dash", line_color="gray",
                  annotation_text=f"{target:.0%} of oracle")
    fig.update_xaxes(type="log")
    return fig


def _grid(mdp: FiniteMDP, values: torch.Tensor) -> np.ndarray:
    return values.detach().cpu().numpy().reshape(mdp.shape)


def grid_maps(mdp: FiniteMDP, maps: Mapping[str, torch.Tensor], title: str,
              colorscale: str = "RdBu", symmetric: bool = True) -> go.Figure:
    """One heatmap per entry of ``maps`` (a value per state ``[S]``) over the grid, the goal
    marked G and lava cells L; ``symmetric`` centres each colour scale on 0."""
    fig = make_subplots(1, len(maps), subplot_titles=list(maps), horizontal_spacing=0.08)
    marks = {mdp.goal: "G", **{cell: "L" for cell in mdp.lava}}
    for i, values in enumerate(maps.values(), start=1):
        z = _grid(mdp, values)
        bound = float(np.nanmax(np.abs(z))) or 1.0
        text = [[marks.get((r, c), "") for c in range(z.shape[1])] for r in range(z.shape[0])]
        fig.add_trace(go.Heatmap(z=z, text=text, texttemplate="%{text}", colorscale=colorscale,
                                 zmid=0 if symmetric else None,
                                 zmin=-bound if symmetric else None,
                                 zmax=bound if symmetric else None, showscale=False,
                                 hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"),
                      1, i)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i}", row=1, col=i)
    fig.update_layout(title=title, template="plotly_white", height=340,
                      width=min(900, max(400, 260 * len(maps))), margin={**MARGIN, "t": 80})
    return fig


def reward_maps(mdp: FiniteMDP, learned: torch.Tensor) -> go.Figure:
    """The true reward r* and the learned r_ν (``[S, A]``, averaged over actions), each on its
    own colour scale (preferences fix a reward only up to scale and shift)."""
    return grid_maps(mdp, {"true reward r*": mdp.reward.mean(-1),
                           "learned reward r_ν": learned.mean(-1)},
                     "learned vs true reward over the grid")


def visitation_maps(mdp: FiniteMDP, snapshots: Mapping[str, torch.Tensor]) -> go.Figure:
    """Discounted state visitation (``[S]`` per snapshot) of π_θ over outer iterations; the
    absorbing goal is left blank (it would take most of the colour scale)."""
    goal = mdp.goal[0] * mdp.shape[1] + mdp.goal[1]
    blank = {k: v.detach().double().cpu().index_fill(0, torch.tensor([goal]), float("nan"))
             for k, v in snapshots.items()}
    return grid_maps(mdp, blank, "where π_θ goes: state visitation (goal left blank)",
                     colorscale="Viridis", symmetric=False)


def hypergradient_split(runs: Mapping[str, History]) -> go.Figure:
    """Norms of the direct term E[∇_ν U] and the implicit term (dθ*/dν)ᵀE[U ∇ log ρ] per outer
    iteration (log axis), one colour per run, dashed for the implicit term."""
    fig = go.Figure()
    for i, (label, history) in enumerate(runs.items()):
        color = COLORS[i % len(COLORS)]
        x = history.column("global_step")
        for key, dash in (("hypergrad/direct_norm", "solid"), ("hypergrad/implicit_norm", "dash")):
            y = history.column(key)
            if np.nanmax(y, initial=0.0) > 0:
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"{label}: {key[10:-5]}",
                                         line={"color": color, "dash": dash}))
    fig.update_layout(title="hypergradient split: direct vs implicit term", template="plotly_white",
                      xaxis_title=X_LABEL, yaxis_title="norm", yaxis_type="log", height=380,
                      margin=MARGIN)
    return fig
