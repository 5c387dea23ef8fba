"""CAPO's figures (card 6; notebooks/04_token_level_control.ipynb): pass@1 against completions
sampled for the three arms, the last-layer model's predicted KL against the realised one per
step, the rejection rate per step, the predicted KL split by the advantage's sign, and the
rejected tokens of a few responses.

``steps`` is ``CAPO.steps``: one record per optimiser step with ``capo/predicted_kl``,
``capo/realised_kl``, ``capo/reject_rate``, ``capo/rounds`` and ``iteration``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from polab.plots.base import COLORS

X_LABEL = "completions sampled"


def pass_at_1_figure(curves: Mapping[str, Sequence[tuple[int, float]]],
                     target: float | None = None, title: str | None = None) -> go.Figure:
    """Held-out greedy pass@1 against completions sampled, one line per arm; ``target`` (the
    conservative arm's final pass@1) as a dotted line."""
    fig = go.Figure()
    for i, (name, curve) in enumerate(curves.items()):
        x, y = zip(*curve, strict=True) if curve else ((), ())
        fig.add_trace(go.Scatter(x=list(x), y=list(y), name=name, mode="lines+markers",
                                 line={"color": COLORS[i % len(COLORS)]}))
    if target is not None:
        fig.add_hline(y=target, line_dash="dot", annotation_text="conservative GRPO's final")
    fig.update_layout(title=title or "Held-out greedy pass@1", xaxis_title=X_LABEL,
                      yaxis={"title": "pass@1", "range": [0, 1]})
    return fig


def kl_scatter_figure(steps: Sequence[Mapping[str, float]], title: str | None = None
                      ) -> go.Figure:
    """Predicted (last-layer model) against realised ``KL(π_before ‖ π_after)`` per step, on
    log axes with the line ``y = x``: points above it are steps the model underestimated.
    Crosses: the KL of the head's real change alone (``h`` fixed), where the records have it:
    near the line, the last-layer model is right about the last layer."""
    pred = np.array([s["capo/predicted_kl"] for s in steps], dtype=float)
    real = np.array([s["capo/realised_kl"] for s in steps], dtype=float)
    it = np.array([s["iteration"] for s in steps], dtype=float)
    ok = (pred > 0) & (real > 0)
    fig = go.Figure(go.Scatter(
        x=pred[ok], y=real[ok], mode="markers", name="optimiser steps",
        marker={"color": it[ok], "colorscale": "Viridis", "showscale": True,
                "colorbar": {"title": "iteration"}},
        hovertemplate="predicted %{x:.2e}<br>realised %{y:.2e}<extra></extra>"))
    head = np.array([s.get("capo/realised_head_kl", np.nan) for s in steps], dtype=float)
    show = ok & (head > 0)
    if show.any():
        fig.add_trace(go.Scatter(
            x=pred[show], y=head[show], mode="markers", name="the head's real change alone",
            marker={"symbol": "x", "color": COLORS[1], "size": 6},
            hovertemplate="predicted %{x:.2e}<br>head alone %{y:.2e}<extra></extra>"))
    if ok.any():
        lo = float(min(pred[ok].min(), real[ok].min(), np.nanmin(np.r_[head[show], np.inf])))
        hi = float(max(pred[ok].max(), real[ok].max()))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x",
                                 line={"dash": "dash", "color": "gray"}))
    ratio = np.median(real[ok] / pred[ok]) if ok.any() else float("nan")
    fig.update_layout(title=title or f"Predicted vs realised KL per step (median realised / "
                      f"predicted = {ratio:.3g}; {int((~ok).sum())} steps with a zero left out)",
                      xaxis={"title": "predicted KL (last layer, h fixed)", "type": "log"},
                      yaxis={"title": "realised KL(π_before ‖ π_after)", "type": "log"},
                      legend={"orientation": "h", "y": -0.2})  # clear of the colour bar
    return fig


def rejection_figure(steps: Sequence[Mapping[str, float]], title: str | None = None
                     ) -> go.Figure:
    """Share of loss tokens CAPO masked, and the rejection rounds, per optimiser step."""
    fig = go.Figure([
        go.Scatter(y=[s["capo/reject_rate"] for s in steps], name="rejected share",
                   mode="lines", line={"color": COLORS[1]}),
        go.Bar(y=[s["capo/rounds"] for s in steps], name="rejection rounds", yaxis="y2",
               opacity=0.3, marker={"color": COLORS[0]})])
    fig.update_layout(title=title or "CAPO's rejection rate per step",
                      xaxis_title="optimiser step", yaxis={"title": "rejected share",
                                                           "range": [0, 1]},
                      yaxis2={"title": "rounds", "overlaying": "y", "side": "right"})
    return fig


def kl_by_advantage_figure(kl: np.ndarray, advantages: np.ndarray, mask: np.ndarray,
                           title: str | None = None) -> go.Figure:
    """Histogram of the per-token predicted KL ``k_t`` of one step, split by the sign of the
    token's advantage (card 6: negative advantages carry positive curvature)."""
    kl, adv, m = (np.asarray(a) for a in (kl, advantages, mask))
    adv = np.broadcast_to(adv[:, None] if adv.ndim == 1 else adv, kl.shape)
    fig = go.Figure()
    for name, sel, color in (("A > 0", adv > 0, COLORS[2]), ("A < 0", adv < 0, COLORS[1])):
        fig.add_trace(go.Histogram(x=kl[m & sel], name=name, opacity=0.6,
                                   marker={"color": color}))
    fig.update_layout(barmode="overlay", title=title or "Predicted KL per token by the sign "
                      "of its advantage", xaxis_title="k_t", yaxis_title="tokens")
    return fig


def rejected_tokens_figure(keep: np.ndarray, mask: np.ndarray,
                           tokens: Sequence[Sequence[str]] | None = None,
                           kl: np.ndarray | None = None, title: str | None = None
                           ) -> go.Figure:
    """Which tokens of a few responses CAPO masked: rows = responses, columns = positions;
    0 = not a loss token, 1 = kept, 2 = rejected (the token's text and ``k_t`` on hover)."""
    keep, mask = np.asarray(keep, dtype=bool), np.asarray(mask, dtype=bool)
    z = np.where(mask, np.where(keep, 1, 2), 0)
    text = None
    if tokens is not None:
        text = [[(row[j] if j < len(row) else "") for j in range(z.shape[1])] for row in tokens]
    hover = "sample %{y}, position %{x}<br>token %{text}"
    custom = None
    if kl is not None:
        custom = np.asarray(kl, dtype=float)
        hover += "<br>k_t %{customdata:.2e}"
    fig = go.Figure(go.Heatmap(
        z=z, zmin=0, zmax=2, text=text, texttemplate="%{text}" if text else None,
        customdata=custom, hovertemplate=hover + "<extra></extra>", showscale=False,
        colorscale=[[0, "#f0f0f0"], [0.33, "#f0f0f0"], [0.33, "#c6e2c6"], [0.66, "#c6e2c6"],
                    [0.66, "#e57373"], [1, "#e57373"]]))
    fig.update_layout(title=title or "Rejected tokens (red) and kept ones (green)",
                      xaxis_title="completion position", yaxis={"title": "response",
                                                                "autorange": "reversed"})
    return fig
