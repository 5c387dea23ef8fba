"""A2PR's figures (card 26, "Plots"; notebooks/11_robust_and_offline.ipynb, section 4):
normalised-score curves per method and dataset, the action plane at one state (dataset
actions coloured by advantage, the VAE's reconstructions, the policy's action), the share of
VAE targets over training and the histogram of the mask m ∈ {0, 1, 2}."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch

from polab.plots.base import COLORS, MARGIN, Chart, learning_curves
from polab.train import History

X_LABEL = "gradient steps"

OFFLINE_CHARTS = (
    Chart("normalised score (real env)", ("charts/score",), x_label=X_LABEL),
    Chart("critic and actor loss", ("losses/critic_loss", "losses/actor_loss"),
          x_label=X_LABEL),
    Chart("mean Q(s, a) on the data", ("losses/q_mean",), x_label=X_LABEL),
)
"""The dashboard of BC and TD3+BC (BC draws only what it reports)."""

A2PR_CHARTS = (
    OFFLINE_CHARTS[0],
    Chart("share of BC targets from the VAE", ("losses/vae_target_share",), x_label=X_LABEL),
    Chart("mask m: share of 0, 1, 2", ("losses/mask_0", "losses/mask_1", "losses/mask_2"),
          x_label=X_LABEL),
    Chart("value and VAE loss", ("losses/value_loss", "losses/vae_loss"), x_label=X_LABEL),
    OFFLINE_CHARTS[2],
)
"""The dashboard of :class:`polab.algos.offline.a2pr.A2PR` (its panel's live charts)."""


def score_curves(runs: Mapping[str, Sequence[History]], title: str) -> go.Figure:
    """Normalised score (0 random, 100 expert) against gradient steps, mean ± std over
    seeds per method."""
    fig = learning_curves(runs, y="charts/score", title=title, x_label=X_LABEL)
    fig.add_hline(y=100, line_dash="dash", line_color="gray", annotation_text="expert")
    fig.add_hline(y=0, line_dash="dot", line_color="gray", annotation_text="random")
    return fig


def vae_share(runs: Mapping[str, Sequence[History]]) -> go.Figure:
    """The share of samples whose BC target is the VAE's reconstruction, over training."""
    return learning_curves(runs, y="losses/vae_target_share", x_label=X_LABEL,
                           title="share of BC targets taken from the VAE")


def mask_histogram(runs: Mapping[str, History]) -> go.Figure:
    """The last iteration's distribution of the mask m ∈ {0, 1, 2} (× mask_coef), one bar
    group per run."""
    fig = go.Figure()
    for i, (label, history) in enumerate(runs.items()):
        record = history.records[-1]
        fig.add_trace(go.Bar(x=["m = 0", "m = 1", "m = 2"],
                             y=[record[f"losses/mask_{k}"] for k in range(3)], name=label,
                             marker_color=COLORS[i % len(COLORS)]))
    fig.update_layout(title="mask m = 1[A_vae ≥ 0] + 1[A_data > 0] (last iteration)",
                      yaxis_title="share of samples", barmode="group", margin=MARGIN,
                      height=330)
    return fig


@torch.no_grad()
def action_scatter(algo, obs: torch.Tensor, neighbours: int = 300) -> go.Figure:
    """The action plane at the state ``obs`` (raw, ``(obs_dim,)``) of a trained A2PR on a 2-D
    action env: the actions of the ``neighbours`` dataset states nearest to it coloured by
    their advantage ``Q1(s, a) − V(s)`` at ``obs``, the VAE's reconstructions of them (the
    augmented behaviour policy), and the policy's action."""
    s = ((obs.to(algo.device) - algo.obs_mean) / algo.obs_std)[None]
    dist = torch.linalg.vector_norm(algo.norm.observations - s, dim=1)
    idx = dist.topk(min(neighbours, len(dist)), largest=False).indices
    actions = algo.norm.actions[idx]
    states = s.expand(len(actions), -1)
    adv = algo.q(states, actions)[0] - algo.v(states).squeeze(-1)
    recon = algo.vae(states, actions, algo.generator)[0]
    pi = algo.actor(s)[0]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=actions[:, 0].cpu(), y=actions[:, 1].cpu(), mode="markers",
                             name="dataset actions (colour: advantage)",
                             marker={"color": adv.cpu(), "colorscale": "RdBu", "cmid": 0,
                                     "size": 6, "colorbar": {"title": "A(s,a)"}}))
    fig.add_trace(go.Scatter(x=recon[:, 0].cpu(), y=recon[:, 1].cpu(), mode="markers",
                             name="VAE reconstructions", marker={"color": "gray", "size": 4,
                                                                 "symbol": "x"}))
    fig.add_trace(go.Scatter(x=[float(pi[0])], y=[float(pi[1])], mode="markers",
                             name="policy π(s)", marker={"color": "black", "size": 16,
                                                         "symbol": "star"}))
    fig.update_layout(title=f"actions at state {[round(float(x), 2) for x in obs]}",
                      xaxis={"title": "force x", "range": [-1.05, 1.05]},
                      yaxis={"title": "force y", "range": [-1.05, 1.05]}, margin=MARGIN,
                      height=420, legend={"orientation": "h", "y": -0.2})
    return fig
