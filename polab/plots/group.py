"""The group-relative LM family's figures (GRPO, LOOP, SPO, Prefix Grouper;
notebooks/03_grpo_family.ipynb): the dashboard table against completions sampled, GRPO's
group view and completions as token-coloured HTML.

``global_step`` counts the completions sampled (``G`` per prompt), so every chart here is
titled :data:`X_LABEL` on its x-axis.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from polab.lm.generate import Samples
from polab.lm.tokenizer import CharTokenizer
from polab.plots.base import COLORS, Chart, chart_data
from polab.train import History

X_LABEL = "completions sampled"
"""What the group family's ``global_step`` counts."""

LM_CHARTS = (
    Chart("reward (training batch)", ("reward",), x_label=X_LABEL),
    Chart("held-out greedy pass@1", ("eval/pass@1",), x_label=X_LABEL),
    Chart("entropy of the sampled tokens", ("entropy",), x_label=X_LABEL),
    Chart("KL to the reference (k3); approx-KL", ("kl", "approx_kl"), x_label=X_LABEL),
    Chart("clip ratios", ("clip_ratio/low_mean", "clip_ratio/high_mean"), x_label=X_LABEL),
    Chart("completion length (tokens)", ("completions/mean_length",), x_label=X_LABEL),
    Chart("zero-advantage share", ("frac_reward_zero_std", "frac_zero_advantage",
                                   "dynamic_sampling/frac_groups_dropped"), x_label=X_LABEL),
    Chart("advantages of the last batch", ("advantages",), kind="hist"),
)
"""The dashboard of the group-relative LM algorithms (TRL's metric keys) against
completions sampled."""


def group_view_figure(rewards: np.ndarray, advantages: np.ndarray,
                      labels: Sequence[str] | None = None, history: History | None = None,
                      title: str | None = None, penalties: np.ndarray | None = None
                      ) -> go.Figure:
    """GRPO's groups at a glance: rewards and advantages ``(prompts, G)`` as heatmaps, one row
    per prompt, degenerate groups (all rewards equal: zero advantage) marked ``⊘`` in the row
    label; beside them the share of such groups (``frac_reward_zero_std``) over ``history``.

    ``penalties`` ``(prompts, G)``, DAPO's overlong penalty already inside ``rewards``
    (Yu et al. 2025, eq. 13), is shown on hover, and a punished completion's reward is marked
    ``*``."""
    rewards, advantages = np.asarray(rewards, dtype=float), np.asarray(advantages, dtype=float)
    pen = np.zeros_like(rewards) if penalties is None else np.asarray(penalties, dtype=float)
    n, g = rewards.shape
    degenerate = np.isclose(rewards.std(1), 0.0)
    labels = list(labels) if labels is not None else [f"prompt {i}" for i in range(n)]
    rows = [f"{'⊘ ' if d else ''}{label}" for label, d in zip(labels, degenerate, strict=True)]
    cols = [f"#{j}" for j in range(g)]
    fig = make_subplots(rows=1, cols=3, column_widths=[0.3, 0.3, 0.4],
                        subplot_titles=["rewards" if penalties is None else
                                        "rewards (* overlong penalty)", "advantages",
                                        "share of degenerate groups (⊘)"],
                        horizontal_spacing=0.12)
    bound = float(np.abs(advantages).max(initial=0.0)) or 1.0
    text = [[f"{r:.2g}{'*' if p < 0 else ''}" for r, p in zip(row, prow, strict=True)]
            for row, prow in zip(rewards, pen, strict=True)]
    hover = "%{y} %{x}: reward %{z}" + ("" if penalties is None else
                                        " (overlong penalty %{customdata:.3g})")
    fig.add_trace(go.Heatmap(z=rewards, x=cols, y=rows, colorscale="Greens",
                             zmin=min(0.0, float(rewards.min(initial=0.0))),
                             zmax=max(1.0, float(rewards.max(initial=0.0))), showscale=False,
                             text=text, texttemplate="%{text}", customdata=pen,
                             hovertemplate=hover + "<extra></extra>"), 1, 1)
    fig.add_trace(go.Heatmap(z=advantages, x=cols, y=rows, colorscale="RdBu", zmid=0,
                             zmin=-bound, zmax=bound, showscale=False,
                             text=np.round(advantages, 2), texttemplate="%{text}",
                             hovertemplate="%{y} %{x}: advantage %{z:.3f}<extra></extra>"),
                  1, 2)
    data = chart_data(history if history is not None else History(),
                      Chart("", ("frac_reward_zero_std",), x_label=X_LABEL))[0]
    fig.add_trace(go.Scatter(x=data["x"], y=data["y"], mode="lines", showlegend=False,
                             line={"color": COLORS[0]}, name="frac_reward_zero_std"), 1, 3)
    for col in (1, 2):
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    fig.update_xaxes(title_text=X_LABEL, row=1, col=3)
    fig.update_yaxes(range=[0, 1], row=1, col=3)
    fig.update_layout(title=title, template="plotly_white", height=max(300, 26 * n + 120),
                      margin={"l": 50, "r": 20, "t": 60, "b": 40})
    return fig


def token_html(prompts: Sequence[str], tokens: Sequence[Sequence[str]],
               values: Sequence[Sequence[float]], notes: Sequence[str] | None = None,
               value_name: str = "advantage", vmax: float | None = None,
               left_out: Sequence[Sequence[bool]] | None = None) -> str:
    """Completions as HTML text, each token's background coloured by its value (hover shows
    it): blue for positive and red for negative values, orange for non-negative ones (e.g.
    entropy). One line per completion: its prompt, the coloured tokens, then ``notes``.

    The mask layer: ``left_out`` (per token, True = not in the loss: a dropped row, a token
    another chapter's ``token_mask`` removed) fades and strikes those tokens and adds a
    legend line; kept tokens then get an outline."""
    flat = [float(v) for row in values for v in row]
    signed = any(v < 0 for v in flat)
    vmax = vmax or max((abs(v) for v in flat), default=1.0) or 1.0
    masked = left_out is not None and any(bool(x) for row in left_out for x in row)
    lines = []
    for i, (prompt, toks, vals) in enumerate(zip(prompts, tokens, values, strict=True)):
        spans = []
        outs = left_out[i] if masked else [False] * len(toks)
        for tok, v, out in zip(toks, vals, outs, strict=True):
            a = min(abs(float(v)) / vmax, 1.0) * 0.85
            rgb = ("33,102,172" if v >= 0 else "178,24,43") if signed else "230,120,20"
            layer = ("opacity:0.35;text-decoration:line-through;" if out else
                     "outline:1px solid #333;" if masked else "")
            state = " (left out of the loss)" if out else ""
            spans.append(f"<span title='{html.escape(value_name)} {float(v):.3f}{state}' "
                         f"style='background:rgba({rgb},{a:.2f});padding:1px 2px;"
                         f"margin:0 1px;border-radius:2px;{layer}'>{html.escape(tok)}</span>")
        note = f" <span style='color:#666'>{html.escape(notes[i])}</span>" if notes else ""
        lines.append(f"<div style='font-family:monospace;line-height:1.7'>"
                     f"<span style='color:#666'>{html.escape(prompt)}</span>"
                     f"{''.join(spans)}{note}</div>")
    legend = ("blue = positive, red = negative" if signed else "darker = larger")
    mask_legend = ("<div style='font-size:90%;color:#444'>mask: outlined = in the loss, "
                   "<span style='opacity:0.35;text-decoration:line-through'>faded and struck"
                   "</span> = left out of the loss</div>" if masked else "")
    return (f"<div><div style='font-size:90%;color:#444'>colour: {html.escape(value_name)} "
            f"({legend}; |value| {vmax:.3g} = full colour)</div>{mask_legend}"
            f"{''.join(lines)}</div>")


def completion_rows(samples: Samples, prompts: Sequence[str], tokenizer: CharTokenizer,
                    rows: Sequence[int], *values: torch.Tensor
                    ) -> tuple[list[str], list[list[str]], list[list[list[float]]]]:
    """:func:`token_html`'s first arguments for ``rows`` of a batch: the prompts, each
    completion's tokens up to and including ``<eos>``, and for each of ``values`` (``(B, T)``
    per-token tensors) its numbers on those tokens."""
    index = torch.as_tensor(list(rows), dtype=torch.long)
    shown = samples.completion_mask[index].cpu()
    ids = samples.completion_ids[index].cpu()
    tokens = [[tokenizer.itos[int(t)] for t in r[m]] for r, m in zip(ids, shown, strict=True)]
    per_value = [[v[m].tolist() for v, m in zip(x[index].cpu(), shown, strict=True)]
                 for x in values]
    return [prompts[i] for i in index.tolist()], tokens, per_value
