"""Figures of DPO on the tiny LM (notebooks/08_preferences.ipynb, "2 · DPO on the tiny LM"):
held-out greedy pass@1 per round for each arm, TRL's implicit-reward statistics per round, and
a table of labelled pairs from the LM pairs testbed (:mod:`polab.lm.preference`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from polab.lm.preference import LMPairs
from polab.plots.base import COLORS, MARGIN, Chart

X_LABEL = "preference pairs"

LM_PAIR_CHARTS = (
    Chart("held-out greedy pass@1", ("eval/pass@1",), x_label=X_LABEL),
    Chart("graded score of samples (true_reward)", ("true_reward",), x_label=X_LABEL),
    Chart("implicit rewards on the round's pairs", ("rewards/chosen", "rewards/rejected",
                                                    "rewards/margins"), x_label=X_LABEL),
    Chart("pair accuracy and loss", ("rewards/accuracies", "loss"), x_label=X_LABEL),
    Chart("KL(π ‖ π_0), Monte Carlo", ("kl_to_initial",), x_label=X_LABEL),
)
"""The live dashboard of the preference trainer on the LM pairs testbed (x: labelled pairs)."""

TRL_KEYS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")
"""The per-round statistics of TRL's ``DPOTrainer`` (``dpo_metrics``)."""


def pass_at_1_figure(curves: Mapping[str, Sequence[Sequence[float]]], base: float | None = None,
                     title: str | None = None) -> go.Figure:
    """Held-out greedy pass@1 after each round, one line per arm: ``curves[arm]`` holds one
    curve per seed (rounds 1 … T); with several seeds the line is their mean and the bars
    their standard deviation. ``base`` (π_0's pass@1) is drawn at round 0 and as a dotted
    line."""
    fig = go.Figure()
    for i, (arm, seeds) in enumerate(curves.items()):
        values = np.asarray(seeds, dtype=float).reshape(len(seeds), -1)
        rounds = np.arange(1, values.shape[1] + 1)
        x, y = rounds, values.mean(0)
        if base is not None:
            x, y = np.concatenate([[0], rounds]), np.concatenate([[base], y])
        std = values.std(0) if len(values) > 1 else None
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", line={"color": COLORS[i % len(COLORS)]},
            name=f"{arm} ({len(values)} seed{'s' * (len(values) > 1)})",
            error_y=None if std is None else {"type": "data", "visible": True,
                                               "array": np.concatenate([[0], std])
                                               if base is not None else std}))
    if base is not None:
        fig.add_hline(y=base, line_dash="dot", line_color="gray", annotation_text="base π_0")
    fig.update_layout(title=title or "Held-out greedy pass@1 per round", margin=MARGIN,
                      xaxis={"title": "round t", "dtick": 1}, yaxis_title="pass@1")
    return fig


def rewards_figure(records: Sequence[Mapping[str, float]], title: str | None = None
                   ) -> go.Figure:
    """TRL's ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins`` (the implicit reward
    ``β(log π − log π_anchor)`` of each side, after the round's Adam steps, on its pairs) and
    ``rewards/accuracies`` (share of pairs with a positive margin) per round."""
    rounds = np.arange(1, len(records) + 1)
    fig = go.Figure()
    for i, key in enumerate(TRL_KEYS):
        fig.add_trace(go.Scatter(
            x=rounds, y=[r.get(key, np.nan) for r in records], name=key.split("/")[1],
            mode="lines+markers", line={"color": COLORS[i], "dash": "dot" if i == 3 else None}))
    fig.add_hline(y=0, line_color="lightgray")
    fig.update_layout(title=title or "Implicit rewards on each round's pairs (TRL's names)",
                      margin=MARGIN, xaxis={"title": "round t", "dtick": 1},
                      yaxis_title="β · log-ratio to the anchor (accuracy: share)")
    return fig


def pairs_table(testbed: LMPairs, prompts: torch.Tensor, chosen: torch.Tensor,
                rejected: torch.Tensor, rows: int = 8, title: str | None = None) -> go.Figure:
    """The first ``rows`` labelled pairs: prompt, chosen and rejected completion (text before
    ``<eos>``; ``⋯`` marks a completion with none) and their graded scores; a red score marks a
    pair the oracle labelled against the scores (Bradley–Terry draw or label noise)."""
    prompts = torch.as_tensor(prompts)[:rows]
    chosen, rejected = chosen[:rows], rejected[:rows]
    tok = testbed.tokenizer
    texts = []
    for side in (chosen, rejected):
        words, ended = tok.decode_completions(side)
        texts.append([w if e else w + " ⋯" for w, e in zip(words, ended.tolist(), strict=True)])
    s_c, s_r = testbed.score(prompts, chosen).tolist(), testbed.score(prompts, rejected).tolist()
    flipped = ["#d62728" if c < r else "black" for c, r in zip(s_c, s_r, strict=True)]
    problems = [testbed.problems.prompts[i] for i in prompts.tolist()]
    fig = go.Figure(go.Table(
        header={"values": ["prompt", "chosen", "score", "rejected", "score"], "align": "left"},
        cells={"values": [problems, texts[0], [f"{x:.2f}" for x in s_c], texts[1],
                          [f"{x:.2f}" for x in s_r]],
               "align": "left", "font": {"color": ["black", "black", flipped, "black",
                                                    flipped]}}))
    fig.update_layout(title=title or "Labelled pairs: best vs worst of K = 4 samples",
                      margin={**MARGIN, "b": 10}, height=70 + 28 * (len(problems) + 1))
    return fig
