"""polab.plots: every chart table reads the histories' one x-axis column, ``global_step``
(``time`` and ``iteration`` only where a chart is about wall time or iterations), titled by
the chart's ``x_label``; the package face re-exports every family's names."""

import numpy as np
import pytest

from polab import plots
from polab.train import History

TABLES = {name: getattr(plots, name) for name in plots.__all__ if name.endswith("_CHARTS")}
PER_ITERATION = {("MDPO_CHARTS", "losses/kl"), ("MDPO_CHARTS", "mdpo/kl_coef")}
"""Charts whose x-axis is the iteration by meaning (besides the HDPO family's gradient steps:
its card's figures are per gradient step)."""


@pytest.mark.parametrize("name", sorted(TABLES))
def test_chart_tables_use_global_step(name):
    for chart in TABLES[name]:
        assert chart.x in ("global_step", "time", "iteration"), chart
        assert not {"samples", "trajectories"} & {chart.x, *chart.y}, chart
        if chart.x == "iteration" and "INVENTORY" not in name:
            assert (name, chart.y[0]) in PER_ITERATION, chart


def test_x_label_titles_the_axis():
    h = History([{"global_step": 8.0 * (i + 1), "grad_error": 0.5 / (i + 1)}
                 for i in range(3)])
    fig = plots.dashboard(h, plots.LQR_CHARTS)
    assert fig.layout.xaxis.title.text == "trajectories per run"
    assert list(fig.data[3].x) == [8.0, 16.0, 24.0]  # grad_error vs global_step
    assert plots.dashboard(h, plots.LM_CHARTS).layout.xaxis.title.text == "completions sampled"
    assert plots.dashboard(h, plots.RL_CHARTS).layout.xaxis.title.text == "env steps"
    assert plots.dashboard(h, plots.RL_CHARTS).layout.xaxis2.title.text == "wall time (s)"
    lc = plots.learning_curves(h, y="grad_error", x_label="completions sampled")
    assert lc.layout.xaxis.title.text == "completions sampled"
    assert np.allclose(lc.data[0].x[[0, -1]], [8.0, 24.0])


def test_quantile_bands_against_global_step():
    h = History([{"global_step": float(t), "optimality_gap": 1.0 / t,
                  "optimality_gap_q25": 0.5 / t, "optimality_gap_q75": 2.0 / t}
                 for t in (1, 10, 100)])
    fig = plots.quantile_bands({"a": h}, slopes={"rate": -1.0})
    assert list(fig.data[1].x) == [1.0, 10.0, 100.0]
    assert fig.layout.xaxis.title.text == "trajectories per run"


def test_a_metric_the_run_never_reports_is_hidden_not_drawn_empty():
    chart = plots.Chart("KL", ("kl", "approx_kl"))
    history = History([{"global_step": 1.0, "approx_kl": 0.1},
                       {"global_step": 2.0, "approx_kl": 0.2}])
    kl, approx = plots.chart_data(history, chart)
    assert (kl["visible"], approx["visible"]) == (False, True)
    fig = plots.dashboard(history, [chart])
    assert [t.visible for t in fig.data] == [False, True]
    # before any record nothing is known yet: every line stays visible
    assert all(t.visible for t in plots.dashboard(None, [chart]).data)


def test_the_live_dashboard_hides_what_the_run_never_reports():
    from widgets.live import LiveDashboard

    live = LiveDashboard([plots.Chart("KL", ("kl", "approx_kl"))], min_interval=0)
    live.update(History([{"global_step": 1.0, "approx_kl": 0.1}]), force=True)
    assert [t.visible for t in live.figure.data] == [False, True]
    live.update(History([{"global_step": 1.0, "approx_kl": 0.1, "kl": 0.3}]), force=True)
    assert [t.visible for t in live.figure.data] == [True, True]


def test_token_view_mask_layer_fades_and_strikes_tokens_left_out():
    kept = plots.token_html(["1+1="], [["2", "<eos>"]], [[0.5, -1.0]])
    assert "line-through" not in kept and "mask:" not in kept  # nothing left out: no layer
    text = plots.token_html(["1+1="], [["2", "<eos>"]], [[0.5, -1.0]],
                            left_out=[[False, True]])
    assert "mask: outlined = in the loss" in text
    spans = text.split("<span title=")[1:]
    assert "line-through" not in spans[0] and "outline" in spans[0]
    assert "line-through" in spans[1] and "left out of the loss" in spans[1]
