"""Figures of DPO, IPO, iterative DPO and APO on the preference bandit (card 30;
notebooks/08_preferences.ipynb, sections 1 and 3). Pure functions of per-round records (the
trainer's ``step()`` dicts, or a history's rows) and of tensors.

* :func:`trl_figure`: TRL's ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins`` and
  ``rewards/accuracies`` per round;
* :func:`logratio_figure`: ``β·log π/π_ref`` against r* with the DPO optimum's line
  ``r* + c`` (slope 1: π_ref·exp(r*/β)/Z);
* :func:`rounds_figure`: true reward and win rate (or KL and entropy) per round, one line per
  arm (the α sweep);
* :func:`phase_figure`: a two-response prompt in the plane of its two log-probabilities:
  proximal iterates on the simplex's curve, APO's extrapolated anchors off it, arrows for the
  Nesterov look-ahead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from polab.algos.preference.losses import extrapolated_reference
from polab.plots.base import COLORS, Chart

X_LABEL = "round"
BANDIT_CHARTS = (
    Chart("true reward and win rate vs π_0", ("true_reward", "win_rate"),
          x_label="preference pairs"),
    Chart("KL(π‖π_0) and entropy", ("kl", "entropy"), x_label="preference pairs"),
    Chart("TRL's rewards/chosen, rejected, margins",
          ("rewards/chosen", "rewards/rejected", "rewards/margins"),
          x_label="preference pairs"),
    Chart("pair loss and accuracy", ("loss", "rewards/accuracies"), x_label="preference pairs"),
)
"""The panel's dashboard for the bandit (the trainer's record keys)."""

Records = Sequence[Mapping[str, float]]


def trl_figure(records: Records, title: str | None = None) -> go.Figure:
    """TRL's DPO logs per round: ``rewards/chosen``, ``rewards/rejected`` and
    ``rewards/margins`` (``β·log π/π_ref`` on the round's pairs, after its steps) on the left
    axis, ``rewards/accuracies`` on the right."""
    rounds = list(range(1, len(records) + 1))
    fig = go.Figure()
    for i, key in enumerate(("rewards/chosen", "rewards/rejected", "rewards/margins")):
        fig.add_trace(go.Scatter(x=rounds, y=[r[key] for r in records], name=key,
                                 mode="lines+markers", line={"color": COLORS[i]}))
    fig.add_trace(go.Scatter(x=rounds, y=[r["rewards/accuracies"] for r in records],
                             name="rewards/accuracies (right)", yaxis="y2", mode="lines+markers",
                             line={"color": COLORS[3], "dash": "dot"}))
    fig.update_layout(title=title or "TRL's DPO logs per round", xaxis_title=X_LABEL,
                      yaxis_title="β·log π/π_ref",
                      yaxis2={"title": "accuracy", "overlaying": "y", "side": "right",
                              "range": [0, 1], "tickformat": ".0%", "showgrid": False},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def logratio_figure(logits: torch.Tensor, ref_logits: torch.Tensor, reward: torch.Tensor,
                    beta: float, prompt: int | None = None, title: str | None = None
                    ) -> go.Figure:
    """``β·log π(y|x)/π_ref(y|x)`` against ``r*(x, y)`` for one prompt (or all), each prompt
    shifted by its own ``c_x`` (the mean of ``β·log π/π_ref − r*``, weighted by π) so that
    the DPO optimum ``π_ref·exp(r*/β)/Z`` puts every point on the line ``y = r* + c``.
    Marker size: π(y|x)."""
    rows = slice(None) if prompt is None else slice(prompt, prompt + 1)
    logp = torch.log_softmax(logits[rows].detach().float(), -1)
    y = beta * (logp - torch.log_softmax(ref_logits[rows].float(), -1))
    r = reward[rows].float()
    c = (logp.exp() * (y - r)).sum(-1, keepdim=True)
    y = (y - c).flatten().cpu().numpy()
    x, p = r.flatten().cpu().numpy(), logp.exp().flatten().cpu().numpy()
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers", name="responses",
        marker={"size": 4 + 20 * p ** 0.5, "color": COLORS[0], "opacity": 0.6},
        hovertemplate="r* %{x:.2f}<br>β·log π/π_ref − c %{y:.2f}<extra></extra>"))
    lo, hi = float(x.min()), float(x.max())
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="r* + c (DPO optimum)",
                             line={"dash": "dash", "color": "gray"}))
    which = "all prompts" if prompt is None else f"prompt {prompt}"
    fig.update_layout(title=title or f"Implicit reward β·log π/π_ref vs r* ({which}; size: π)",
                      xaxis_title="true reward r*", yaxis_title="β·log π/π_ref − c_x")
    return fig


def rounds_figure(runs: Mapping[str, Records], keys: tuple[str, str] = ("true_reward",
                  "win_rate"), best: float | None = None, title: str | None = None
                  ) -> go.Figure:
    """Two panels, ``keys`` per round (round 0 = π_0), one line per run; ``best`` (the best
    reward) as a dotted line on the first."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=keys)
    for i, (name, records) in enumerate(runs.items()):
        for col, key in enumerate(keys, start=1):
            fig.add_trace(go.Scatter(x=list(range(len(records))), y=[r[key] for r in records],
                                     name=name, legendgroup=name, showlegend=col == 1,
                                     mode="lines+markers",
                                     line={"color": COLORS[i % len(COLORS)]}), row=1, col=col)
    if best is not None:
        fig.add_hline(y=best, line_dash="dot", annotation_text="best reward", row=1, col=1)
    fig.update_xaxes(title_text=X_LABEL)
    fig.update_layout(title=title or " and ".join(keys) + " per round",
                      legend={"orientation": "h", "y": -0.25})
    return fig


def look_ahead(iterates: torch.Tensor, alpha: float) -> torch.Tensor:
    """APO's anchors from the proximal iterates' log-probs ``[T + 1, ...]``: round t ≥ 1's
    anchor ``(1 + α)·log π_t − α·log π_{t−1}`` (card 30, step 3), ``[T, ...]``."""
    return extrapolated_reference(iterates[1:], iterates[:-1], alpha)


def phase_figure(iterates: torch.Tensor, alpha: float, title: str | None = None) -> go.Figure:
    """A two-response prompt in the plane ``(log π(y_0), log π(y_1))``: the proximal
    iterates ``[T + 1, 2]`` (log-probs, on the curve ``e^a + e^b = 1``), APO's unnormalised
    anchors (:func:`look_ahead`, off the curve: the normaliser cancels in every margin) and an
    arrow from each iterate to the anchor that the next round is anchored to."""
    it = iterates.detach().float().cpu()
    anchors = look_ahead(it, alpha).numpy()
    points = torch.cat([it, torch.as_tensor(anchors)]) if len(anchors) else it
    lo = points.min(0).values - 0.5  # the simplex's curve over the data's range only
    a = torch.linspace(float(lo[0]), -1e-3, 300)
    b = torch.log1p(-a.exp())
    on = b >= lo[1]
    fig = go.Figure(go.Scatter(x=a[on].numpy(), y=b[on].numpy(), mode="lines",
                               name="π(y₀) + π(y₁) = 1", line={"color": "lightgray"}))
    it = it.numpy()
    fig.add_trace(go.Scatter(x=it[:, 0], y=it[:, 1], mode="lines+markers+text",
                             name="proximal iterates π_t", line={"color": COLORS[0]},
                             text=[str(t) for t in range(len(it))], textposition="top right"))
    if alpha > 0 and len(anchors):
        fig.add_trace(go.Scatter(x=anchors[:, 0], y=anchors[:, 1], mode="markers",
                                 name=f"extrapolated anchors (α = {alpha:g})",
                                 marker={"symbol": "x", "size": 10, "color": COLORS[1]}))
        for (x0, y0), (x1, y1) in zip(it[1:].tolist(), anchors.tolist(), strict=True):
            fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x",
                               ayref="y", showarrow=True, arrowhead=2, arrowcolor=COLORS[1])
    fig.update_layout(title=title or f"Two responses, log-probability plane (α = {alpha:g})",
                      xaxis_title="log π(y₀|x)",
                      yaxis={"title": "log π(y₁|x)", "scaleanchor": "x", "scaleratio": 1})
    return fig
