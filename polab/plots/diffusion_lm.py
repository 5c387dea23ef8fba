"""Figures of the masked-diffusion LM (:mod:`polab.lm.diffusion`;
notebooks/14_scaling_and_diffusion.ipynb): the unmasking order of :func:`denoise` as a
position × problem heatmap, the partially unmasked answers step by step, pass@1 by the number
of denoising steps, and the spread of the Monte-Carlo ELBO estimate against n_mc."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from polab.plots.base import COLORS, MARGIN


def partial_answers(answers: Sequence[str], order: np.ndarray, mask_char: str = "_"
                    ) -> list[list[str]]:
    """``[problem][step]``: each answer as it stood after each denoising step (positions
    committed at a later step shown as ``mask_char``). ``answers`` are one character per
    position (see :func:`polab.lm.diffusion.decode_answers`), ``order`` ``(B, L)`` steps."""
    order = np.asarray(order)
    chars = np.array([list(a) for a in answers])
    return [["".join(np.where(order[b] <= s, chars[b], mask_char))
             for s in range(int(order.max()) + 1)] for b in range(len(answers))]


def unmasking_order_figure(order: np.ndarray, answers: Sequence[str], prompts: Sequence[str],
                           title: str = "unmasking order: the step that committed each position"
                           ) -> go.Figure:
    """Heatmap, one row per problem and one column per answer position: the colour is the
    denoising step that committed the position, the text the token it got (``$`` = ``<eos>``)."""
    order = np.asarray(order)
    text = [list(a) for a in answers]
    fig = go.Figure(go.Heatmap(
        z=order, x=[f"pos {k}" for k in range(order.shape[1])], y=list(prompts), text=text,
        texttemplate="%{text}", colorscale="Viridis", colorbar={"title": "step"},
        hovertemplate="%{y} %{x}: '%{text}' at step %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(title=title, height=max(260, 26 * len(prompts) + 120), margin=MARGIN,
                      xaxis_title="answer position (left = most significant digit)")
    return fig


def pass_by_steps_figure(pass_at_1: Mapping[int, float],
                         title: str = "held-out greedy pass@1 by denoising steps") -> go.Figure:
    """A bar per number of denoising steps: ``{steps: pass@1}``."""
    steps = list(pass_at_1)
    fig = go.Figure(go.Bar(x=[str(s) for s in steps], y=[pass_at_1[s] for s in steps],
                           text=[f"{pass_at_1[s]:.3f}" for s in steps], textposition="outside",
                           marker_color=COLORS[0]))
    fig.update_layout(title=title, xaxis_title="denoising steps", yaxis_title="pass@1",
                      yaxis_range=[0, max(0.05, 1.25 * max(pass_at_1.values()))], height=340,
                      margin=MARGIN)
    return fig


def elbo_spread_figure(estimates: Mapping[int, np.ndarray], reference: float | None = None,
                       title: str = "Monte-Carlo ELBO estimates of one answer") -> go.Figure:
    """One box per n_mc over repeated estimates ``{n_mc: (repeats,) ELBO estimates}``, its
    standard deviation in the label; ``reference`` (e.g. the mean over all draws) dashed."""
    fig = go.Figure()
    for i, (n, est) in enumerate(estimates.items()):
        est = np.asarray(est)
        fig.add_trace(go.Box(y=est, name=f"n_mc = {n}<br>std {est.std():.2f}", boxpoints="all",
                             jitter=0.4, pointpos=0, marker={"size": 3},
                             line={"color": COLORS[i % len(COLORS)]}))
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dash", line_color="grey",
                      annotation_text="mean of all draws", annotation_position="bottom right")
    fig.update_layout(title=title, yaxis_title="ELBO estimate (nats)", showlegend=False,
                      height=380, margin=MARGIN)
    return fig
