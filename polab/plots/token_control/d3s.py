"""D^3S's figures (card 15, notebooks/04_token_level_control.ipynb): its dashboard table,
pass@1 against *backpropagated tokens* (the card's x-axis), the kept/random gradient-norm
ratio, the ρ schedules, and the last batch's tokens coloured by ``|A|·H`` with the mask layer
(kept tokens outlined, the rest faded and struck).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from polab.algos.group.batch import GroupBatch
from polab.algos.token_control.d3s import rho
from polab.lm.tokenizer import CharTokenizer
from polab.plots.base import COLORS, Chart
from polab.plots.group import X_LABEL, completion_rows, token_html
from polab.train import History

D3S_CHARTS = (
    Chart("held-out greedy pass@1", ("eval/pass@1",), x_label=X_LABEL),
    Chart("reward (training batch)", ("reward",), x_label=X_LABEL),
    Chart("ratios ρ_s, ρ_t; share of response tokens in the loss",
          ("d3s/rho_s", "d3s/rho_t", "mask/kept_share"), x_label=X_LABEL),
    Chart("Var(A): kept vs dropped rollouts", ("d3s/var_adv_kept", "d3s/var_adv_dropped"),
          x_label=X_LABEL),
    Chart("gradient norm, kept / random subset", ("d3s/grad_ratio",), x_label=X_LABEL),
    Chart("backpropagated tokens (cumulative)", ("d3s/backprop_tokens",), x_label=X_LABEL),
)
"""D^3S's dashboard against completions sampled (GRPO's x-axis)."""


def eval_curve(history: History) -> tuple[np.ndarray, np.ndarray]:
    """``(backpropagated tokens, pass@1)`` at a run's evaluations."""
    t, p = history.column("d3s/backprop_tokens"), history.column("eval/pass@1")
    ok = np.isfinite(p) & np.isfinite(t)
    return t[ok], p[ok]


def tokens_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                  base: float | None = None, target: float | None = None,
                  title: str = "held-out pass@1 vs backpropagated tokens") -> go.Figure:
    """pass@1 against backpropagated tokens, one line per arm (``{arm: (tokens, pass@1)}``),
    with the base model's pass@1 and the target as dashed lines (card 15: compare on tokens,
    not steps)."""
    fig = go.Figure()
    for i, (arm, (tokens, passes)) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=np.asarray(tokens, float), y=np.asarray(passes, float),
                                 mode="lines+markers", name=arm,
                                 line={"color": COLORS[i % len(COLORS)],
                                       "width": 3 if arm == "d3s" else 1.5}))
    for level, name in ((base, "base"), (target, "target")):
        if level is not None:
            fig.add_hline(y=level, line_dash="dash", line_color="#888",
                          annotation_text=f"{name} {level:.3f}")
    fig.update_layout(title=title, template="plotly_white", height=380,
                      xaxis_title="backpropagated tokens (loss tokens × passes)",
                      yaxis_title="held-out greedy pass@1", margin={"t": 50, "b": 40})
    return fig


def grad_ratio_figure(ratios: Mapping[str, tuple[Sequence[float], Sequence[float]]]
                      ) -> go.Figure:
    """‖∇L(kept)‖ / ‖∇L(random subset of the same size)‖ against the iteration, one line per
    run (``{label: (iterations, ratios)}``); above the dashed 1 the kept subset pushes harder
    (card 15: the max-variance subset bounds a larger policy gradient)."""
    fig = go.Figure()
    for i, (label, (x, y)) in enumerate(ratios.items()):
        fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=label,
                                 line={"color": COLORS[i % len(COLORS)]}))
    fig.add_hline(y=1.0, line_dash="dash", line_color="#888")
    fig.update_layout(title="gradient norm, kept / random subset of the same size",
                      template="plotly_white", height=320, xaxis_title="iteration",
                      yaxis_title="ratio", margin={"t": 50, "b": 40})
    return fig


def schedule_figure(rho_s_min: float = 0.25, rho_t_min: float = 0.2, t_relax: float = 0.5,
                    iterations: int = 100) -> go.Figure:
    """ρ_s and ρ_t against the iteration for the three schedules (card 15, dynamic
    schedule): constant stays aggressive, linear and cosine relax to 1 by ``t_relax``."""
    steps = np.arange(iterations)
    fig = go.Figure()
    for i, schedule in enumerate(("constant", "linear", "cosine")):
        for level, dash, name in ((rho_s_min, "solid", "ρ_s"), (rho_t_min, "dot", "ρ_t")):
            fig.add_trace(go.Scatter(
                x=steps, y=[rho(s, level, t_relax * iterations, schedule) for s in steps],
                mode="lines", name=f"{name} {schedule}",
                line={"color": COLORS[i], "dash": dash}))
    fig.update_layout(title="down-sampling ratios", template="plotly_white", height=320,
                      xaxis_title="iteration", yaxis_title="ρ", yaxis_range=[0, 1.05],
                      margin={"t": 50, "b": 40})
    return fig


def score_token_html(batch: GroupBatch, tokenizer: CharTokenizer, rows: Sequence[int]) -> str:
    """``rows`` of a D^3S batch as text, each token coloured by its score ``|A|·H`` (the
    sampling-time entropy times the rollout's |advantage|), the tokens in the loss outlined
    and the rest faded and struck (the token view's mask layer)."""
    index = torch.as_tensor(list(rows), dtype=torch.long)
    s = batch.samples
    adv = batch.advantages if batch.advantages.dim() == 1 else batch.advantages[:, 0]
    score = adv.abs().unsqueeze(-1) * s.entropies
    left_out = ~(batch.mask & batch.keep.unsqueeze(-1))
    prompts, tokens, (scores, out) = completion_rows(s, batch.problems.prompts, tokenizer, rows,
                                                     score, left_out)
    return token_html(
        prompts, tokens, scores,
        [f"A {float(a):+.2f}" + ("" if k else " (row dropped)") for a, k in
         zip(adv[index].cpu(), batch.keep[index].cpu(), strict=True)],
        value_name="|A|·H", left_out=out)
