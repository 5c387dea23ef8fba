"""HAPO's figures (card 11; notebooks/04_token_level_control.ipynb): entropy against
completions sampled for HAPO and its baselines, the (ratio, ĥ) plane coloured by the advantage
branch each token took, the histograms of ĥ and of the per-token sampling temperatures, and
completions with each token coloured by its ĥ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from polab.algos.group.batch import GroupBatch
from polab.algos.token_control.hapo import BRANCHES, h_hat
from polab.lm.tokenizer import CharTokenizer
from polab.plots.base import COLORS, Chart
from polab.plots.group import LM_CHARTS, X_LABEL, completion_rows, token_html
from polab.train import History

HAPO_CHARTS = (
    *LM_CHARTS[:3],
    Chart("mean |T_t - T| of the sampled tokens", ("temp/abs_dev",), x_label=X_LABEL),
    Chart("clipped share by entropy side", ("hapo/clip_frac_high_entropy",
                                           "hapo/clip_frac_low_entropy"), x_label=X_LABEL),
    Chart("advantage branches (share of tokens)", ("hapo/branch_1", "hapo/branch_2",
                                                   "hapo/branch_3"), x_label=X_LABEL),
    LM_CHARTS[5],
)
"""HAPO's dashboard: reward, pass@1, entropy, the temperature spread, the clipped shares of
high- and low-entropy tokens, the shares of the amplified (1), damped (2) and plain-outside
(3) branches, completion length."""


def entropy_figure(runs: Mapping[str, History], title: str | None = None) -> go.Figure:
    """Left: mean entropy of the sampled tokens per iteration, one line per arm. Right: the
    share of clipped tokens among high-entropy (ĥ > 0, solid) and low-entropy (dashed) tokens,
    for the arms that log it (HAPO's)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[
        "entropy of the sampled tokens", "clipped share by entropy side (solid ĥ > 0)"])
    for i, (name, h) in enumerate(runs.items()):
        color = COLORS[i % len(COLORS)]
        x = h.column("global_step")
        fig.add_trace(go.Scatter(x=x, y=h.column("entropy"), name=name,
                                 line={"color": color}), 1, 1)
        for key, dash in (("hapo/clip_frac_high_entropy", "solid"),
                          ("hapo/clip_frac_low_entropy", "dash")):
            if key in h.keys():
                fig.add_trace(go.Scatter(x=x, y=h.column(key), name=f"{name}: {key[15:]}",
                                         line={"color": color, "dash": dash},
                                         showlegend=False), 1, 2)
    fig.update_xaxes(title_text="completions sampled")
    fig.update_layout(title=title or "HAPO vs DAPO-lite: token entropy", height=380)
    return fig


def branch_scatter(token_view: Mapping[str, torch.Tensor], epsilon: float = 0.2,
                   epsilon_high: float = 0.2, alpha: float = 1.0, max_points: int = 4000,
                   seed: int = 0) -> go.Figure:
    """Each loss token of a minibatch at (ratio ``w``, ĥ), coloured by the branch of the
    advantage redistribution it took (:data:`polab.algos.token_control.hapo.BRANCHES`), with
    the neutral zone ``1 − ε_low,t/2 < w < 1 + ε_high,t/2`` drawn for the adaptive clip
    ``(ε_low, ε_high, α)``; at most ``max_points`` tokens (a seeded subsample)."""
    ratio, h, branch = (token_view[k].detach().cpu().numpy() for k in ("ratio", "h_hat",
                                                                       "branch"))
    if len(ratio) > max_points:
        keep = np.random.default_rng(seed).choice(len(ratio), max_points, replace=False)
        ratio, h, branch = ratio[keep], h[keep], branch[keep]
    fig = go.Figure()
    for i, name in enumerate(BRANCHES):
        pick = branch == i
        fig.add_trace(go.Scattergl(x=ratio[pick], y=h[pick], mode="markers", name=name,
                                   marker={"size": 4, "color": COLORS[i % len(COLORS)],
                                           "opacity": 0.6}))
    grid = np.linspace(-1, 1, 101)
    low = np.where(grid <= 0, epsilon * (1 - alpha * grid), epsilon)
    high = np.where(grid > 0, epsilon_high * (1 + alpha * grid), epsilon_high)
    for edge, name in ((1 - low / 2, "neutral zone"), (1 + high / 2, None)):
        fig.add_trace(go.Scatter(x=edge, y=grid, mode="lines", name=name or "",
                                 showlegend=name is not None,
                                 line={"color": "black", "dash": "dot", "width": 1}))
    fig.update_layout(title="Advantage redistribution: which branch each token took",
                      xaxis={"title": "ratio w = π_θ / π_old (log scale)", "type": "log"},
                      yaxis_title="ĥ (entropy score)",
                      height=420)
    return fig


def h_hat_temperature_histograms(h: torch.Tensor, temperatures: torch.Tensor | None,
                                 base_temperature: float = 1.0) -> go.Figure:
    """Histograms of ĥ over a batch's tokens and of the temperatures they were drawn at
    (``None``: the batch was drawn at the fixed base temperature)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[
        "ĥ (0 at the pivot quantile)", "per-token sampling temperature T_t"])
    fig.add_trace(go.Histogram(x=h.detach().cpu().numpy(), nbinsx=40, name="ĥ",
                               marker={"color": COLORS[0]}), 1, 1)
    t = (np.full(len(h), base_temperature) if temperatures is None
         else temperatures.detach().cpu().numpy())
    fig.add_trace(go.Histogram(x=t, nbinsx=40, name="T_t", marker={"color": COLORS[1]}), 1, 2)
    fig.update_layout(showlegend=False, height=330,
                      title=f"Entropy scores and sampling temperatures (base T = "
                            f"{base_temperature:g})")
    return fig


def h_hat_token_html(batch: GroupBatch, tokenizer: CharTokenizer, stats: torch.Tensor,
                     rows: Sequence[int]) -> str:
    """Completions ``rows`` of ``batch`` as HTML, each token coloured by its ĥ under ``stats``
    (the trainer's ``entropy_stats``, computed from that batch): blue above the pivot (forks),
    red below (format); hover shows ĥ and, if the batch was drawn adaptively, T_t."""
    s, index = batch.samples, torch.as_tensor(list(rows))
    prompts, tokens, (h,) = completion_rows(s, batch.problems.prompts, tokenizer, rows,
                                            h_hat(s.entropies, stats))
    notes = [f"reward {r:g}" for r in batch.rewards[index].cpu().tolist()]
    if s.temperatures is not None:
        mask = s.completion_mask[index].cpu()
        temps = s.temperatures[index].cpu()
        notes = [f"{n}, mean T_t {float(t[m].mean()):.3f}"
                 for n, t, m in zip(notes, temps, mask, strict=True)]
    return token_html(prompts, tokens, h, notes,
                      value_name="ĥ (entropy score)", vmax=1.0)
