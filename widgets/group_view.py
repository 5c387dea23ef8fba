"""Group view and token view of a group-relative trainer (GRPO, LOOP, SPO).

:class:`GroupView` shows the last batch of a trainer built on ``polab.algos.group.grpo.GRPO``:

* the **group view** — each prompt's G rewards and advantages as heatmaps, degenerate groups
  (all rewards equal, so all advantages 0) marked ``⊘``, DAPO's overlong penalty per
  completion on hover (punished rewards marked ``*``), and ``frac_reward_zero_std`` over the
  run (``polab.plots.group_view_figure``);
* the **token view** — a few sampled completions as text, each token coloured by its
  advantage or by the entropy of the distribution it was drawn from
  (``polab.plots.token_html``), with a mask layer: tokens left out of the loss (a dropped
  row, a chapter-04 token mask) faded and struck, the kept ones outlined.

``view.follow(panel)`` refreshes it every ``every`` iterations of a :class:`widgets.Panel`
run. In a live kernel it is a ``FigureWidget`` plus an HTML widget (and a toggle for the
token colour); headless it displays the same content as a static figure and static HTML.
Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
from IPython.display import HTML, display

from polab import plots
from polab.algos.group.grpo import GRPO, GroupBatch
from polab.lm.tokenizer import CharTokenizer
from polab.train import History
from widgets.live import figure_widget, plain
from widgets.runtime import is_live

TOKEN_VALUES = ("advantage", "entropy")


def batch_tokens(batch: GroupBatch, tokenizer: CharTokenizer, rows: np.ndarray,
                 value: str = "advantage") -> dict[str, list]:
    """``token_html``'s arguments for ``rows`` of ``batch``: prompt texts, each completion's
    tokens (up to and including ``<eos>``) and their advantages or sampling entropies, a
    note with the reward, and the mask layer (``left_out``: tokens outside the loss, i.e.
    outside ``batch.mask`` or in a row ``select_rows`` dropped)."""
    if value not in TOKEN_VALUES:
        raise ValueError(f"value={value!r}: expected one of {TOKEN_VALUES}")
    s = batch.samples
    mask = s.completion_mask[rows].cpu().numpy()
    ids = s.completion_ids[rows].cpu().numpy()
    if value == "entropy":
        vals = s.entropies[rows].cpu().numpy()
    else:  # one advantage per completion (or per token, in later chapters)
        adv = batch.advantages[rows].cpu().numpy()
        vals = np.repeat(adv[:, None], ids.shape[1], 1) if adv.ndim == 1 else adv
    rewards = batch.rewards[rows].cpu().numpy()
    pen = (np.zeros_like(rewards) if batch.overlong_penalty is None
           else batch.overlong_penalty[rows].cpu().numpy())
    notes = [f"reward {r:g}" + (f" (overlong penalty {p:g})" if p < 0 else "")
             for r, p in zip(rewards, pen, strict=True)]
    out = {"prompts": [batch.problems.prompts[i] for i in rows],
           "tokens": [[tokenizer.itos[t] for t in r[m]] for r, m in zip(ids, mask, strict=True)],
           "values": [v[m].tolist() for v, m in zip(vals, mask, strict=True)],
           "notes": notes, "value_name": value}
    if batch.mask is not None and batch.keep is not None:
        in_loss = (batch.mask & batch.keep.unsqueeze(-1))[rows].cpu().numpy()
        out["left_out"] = [(~k[m]).tolist() for k, m in zip(in_loss, mask, strict=True)]
    return out


class GroupView:
    """The last batch of a group-relative trainer: groups, and a few completions' tokens.

    ``groups`` prompts are shown (every completion of each), and ``completions`` rows of the
    first groups in the token view.
    """

    def __init__(self, groups: int = 8, completions: int = 8, value: str = "advantage"):
        self.groups, self.completions = groups, completions
        self.algo: GRPO | None = None
        self.history = History()
        self.value = W.ToggleButtons(options=TOKEN_VALUES, value=value,
                                     description="token colour",
                                     tooltip="colour each token by its advantage or by the "
                                     "entropy of the distribution it was sampled from")
        self.value.observe(lambda _: self._refresh_tokens(), names="value")
        self.tokens = W.HTML()
        self.figure: go.FigureWidget | None = None
        self.widget = W.VBox([self.value, self.tokens])

    def follow(self, panel: Any, every: int = 5) -> GroupView:
        """Refresh from ``panel.algo`` / ``panel.history`` every ``every`` iterations."""
        def callback(record: dict[str, float]) -> None:
            if int(record["iteration"]) % every == 0:
                self.update(panel.algo, panel.history)
        panel.callbacks.append(callback)
        if panel.algo is not None:
            self.update(panel.algo, panel.history)
        return self

    def update(self, algo: GRPO, history: History | None = None) -> None:
        """Show ``algo.last_batch`` (and ``history``'s zero-std curve)."""
        self.algo, self.history = algo, history if history is not None else History()
        if self.figure is not None:
            fresh = self.static_figure()
            with self.figure.batch_update():
                for trace, new in zip(self.figure.data, fresh.data, strict=True):
                    trace.update(plain(new.to_plotly_json()))
                self.figure.layout.height = fresh.layout.height
        self._refresh_tokens()

    def static_figure(self) -> go.Figure:
        """The group view of the current batch as a static figure."""
        batch = self._batch()
        if batch is None:
            return plots.group_view_figure(np.zeros((0, 1)), np.zeros((0, 1)), [],
                                           self.history, "no batch yet")
        g = self.algo.config.num_generations
        n = min(self.groups, len(batch.rewards) // g)
        rewards = batch.rewards.view(-1, g)[:n].cpu().numpy()
        adv = batch.advantages if batch.advantages.dim() == 1 else batch.advantages[:, 0]
        labels = [batch.problems.prompts[i * g] for i in range(n)]
        pen = batch.overlong_penalty
        return plots.group_view_figure(rewards, adv.view(-1, g)[:n].cpu().numpy(), labels,
                                       self.history, f"last batch: first {n} groups of {g}",
                                       None if pen is None else pen.view(-1, g)[:n].cpu().numpy())

    def token_html(self) -> str:
        batch = self._batch()
        if batch is None:
            return "<i>no batch yet</i>"
        rows = np.arange(min(self.completions, len(batch.rewards)))
        return plots.token_html(**batch_tokens(batch, self.algo.tokenizer, rows,
                                               self.value.value))

    def _batch(self) -> GroupBatch | None:
        return None if self.algo is None else self.algo.last_batch

    def _refresh_tokens(self) -> None:
        self.tokens.value = self.token_html()

    def _ipython_display_(self) -> None:
        if is_live():
            if self.figure is None:
                self.figure = figure_widget(self.static_figure())
                self.widget.children = (self.figure, self.value, self.tokens)
            display(self.widget)
        else:
            display(self.static_figure())
            display(HTML(self.token_html()))
