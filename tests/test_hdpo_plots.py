"""The HDPO figures of polab.plots (notebooks/10_differentiable_simulation.ipynb) and the
one-config estimator switch that the notebook's panels build from."""

import numpy as np
import pytest
from helpers import INVENTORY_SMALL as SMALL

from polab import plots
from polab.algos.diffsim.hdpo import HDPO, InventoryConfig, InventoryReinforce, make_algo
from polab.train import History, train


def history(gaps, every=2):
    """Records with ``gap_pct`` every ``every`` iterations (absent elsewhere, as HDPO logs)."""
    records = []
    for i, g in enumerate(gaps):
        r = {"iteration": float(i), "cost": 1.0}
        if i % every == 0:
            r["gap_pct"] = g
        records.append(r)
    return History(records)


@pytest.mark.parametrize("estimator, cls", [("hdpo", HDPO), ("reinforce", InventoryReinforce)])
def test_inventory_config_picks_the_estimator(estimator, cls):
    algo = make_algo(InventoryConfig(estimator=estimator, **SMALL))
    assert type(algo) is cls
    h = train(algo, 2, progress=False)
    reported = set(h.keys())
    assert {"gap_pct", "cost", "grad_norm"} <= reported
    assert ("exploration_std" in reported) == (estimator == "reinforce")


def test_inventory_charts_are_what_the_algorithms_report():
    reported = set()
    for estimator in ("hdpo", "reinforce"):
        reported |= set(train(make_algo(InventoryConfig(estimator=estimator, **SMALL)), 2,
                              progress=False).keys())
    for chart in plots.REINFORCE_INVENTORY_CHARTS:
        assert set(chart.y) <= reported, chart
        assert chart.x == "iteration"
    assert set(plots.REINFORCE_INVENTORY_CHARTS) - set(plots.INVENTORY_CHARTS) == {
        plots.Chart("exploration std σ", ("exploration_std",), x="iteration",
                    x_label="gradient steps")}


def test_gap_curves_floor_mean_and_missing_evaluations():
    runs = {"HDPO": [history([40.0, 0, 2.0, 0, -0.5]), history([20.0, 0, 1.0, 0, 0.5])],
            "REINFORCE": [history([50.0, 0, 5.0, 0, 3.0])]}
    fig = plots.gap_curves(runs, floor=0.01, reference=0.3)
    names = [t.name for t in fig.data]
    assert names == ["HDPO, seed 0", "HDPO, seed 1", "HDPO (mean of 2 seeds)", "REINFORCE"]
    seed0, _, mean, single = fig.data
    assert list(seed0.x) == [0.0, 2.0, 4.0]          # only the evaluated iterations
    assert list(seed0.y) == [40.0, 2.0, 0.01]        # -0.5 % drawn at the floor …
    assert list(seed0.customdata) == [40.0, 2.0, -0.5]  # … its true value in the hover
    assert list(mean.y) == [30.0, 1.5, 0.01] and list(mean.customdata) == [30.0, 1.5, 0.0]
    assert list(single.y) == [50.0, 5.0, 3.0] and single.showlegend
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "gradient steps"
    assert fig.layout.shapes[0].y0 == 0.3


def test_order_curves_draws_the_base_stock_line():
    x = np.array([0.0, 10.0, 20.0, 25.0])
    fig = plots.order_curves(x, {"HDPO": np.array([19.0, 10.5, 0.2, 0.0])}, base_stock=20)
    line, learned = fig.data
    assert list(line.y) == [20.0, 10.0, 0.0, 0.0] and line.line.dash == "dash"
    assert "S* = 20" in line.name and list(learned.y) == [19.0, 10.5, 0.2, 0.0]
    assert len(plots.order_curves(x, {"a": x, "b": x}).data) == 2  # no line without S*


def test_gradient_projections_by_hand():
    # mean (2, 1), ‖ḡ‖² = 5: (1, 0)·ḡ = 2 → 0.4; (3, 2)·ḡ = 8 → 1.6
    assert np.allclose(plots.gradient_projections(np.array([[1.0, 0.0], [3.0, 2.0]])),
                       [0.4, 1.6])


def test_gradient_spread_figure_groups_estimators_by_stage():
    g = {"pathwise": np.array([[1.0, 0.0], [3.0, 2.0]]),
         "score": np.array([[-1.0, 0.0], [5.0, 2.0]])}
    samples = {"initial": g, "trained": g}
    relative = {"initial": {"pathwise": 0.4, "score": 2.0},
                "trained": {"pathwise": 0.5, "score": 3.0}}
    fig = plots.gradient_spread_figure(samples, relative)
    boxes = [t for t in fig.data if t.type == "box"]
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.name for b in boxes] == ["pathwise", "score"]
    assert list(boxes[0].x) == ["initial", "initial", "trained", "trained"]
    assert np.allclose(boxes[0].y, [0.4, 1.6, 0.4, 1.6])
    assert list(bars[1].x) == ["initial", "trained"] and list(bars[1].y) == [2.0, 3.0]
    assert fig.layout.yaxis2.type == "log"


def test_data_efficiency_figure_one_sorted_line_per_architecture():
    rows = [{"arch": "mlp", "n_scenarios": 256, "gap_pct": 3.0},
            {"arch": "mlp", "n_scenarios": 16, "gap_pct": 5.0},
            {"arch": "symmetric", "n_scenarios": 16, "gap_pct": 0.0}]
    fig = plots.data_efficiency_figure(rows)
    assert [t.name for t in fig.data] == ["mlp", "symmetric"]
    assert list(fig.data[0].x) == [16, 256] and list(fig.data[0].y) == [5.0, 3.0]
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [16, 256]


def test_noise_figure_one_panel_per_axis_sorted_by_x():
    rows = [{"axis": "lead time L", "x": 2, "pathwise": 0.1, "score_function": 5.0},
            {"axis": "lead time L", "x": 1, "pathwise": 0.2, "score_function": 3.0},
            {"axis": "stores", "x": 3, "pathwise": 0.3, "score_function": 30.0}]
    fig = plots.noise_figure(rows)
    assert [a.text for a in fig.layout.annotations] == ["lead time L", "stores"]
    path_l, score_l, path_n, score_n = fig.data
    assert list(path_l.x) == [1, 2] and list(path_l.y) == [0.2, 0.1]
    assert list(score_l.y) == [3.0, 5.0] and list(score_n.y) == [30.0]
    assert path_l.showlegend and not path_n.showlegend
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"


def test_lr_sweep_figure_drops_diverged_runs():
    rows = [{"estimator": "reinforce", "learning_rate": 1e-1, "test_cost": 9.0},
            {"estimator": "reinforce", "learning_rate": 1e-2, "test_cost": float("inf")},
            {"estimator": "reinforce", "learning_rate": 3e-2, "test_cost": 7.0},
            {"estimator": "hdpo", "learning_rate": 3e-2, "test_cost": 6.0}]
    fig = plots.lr_sweep_figure(rows, reference={"HDPO": 6.0})
    rf, hd = fig.data
    assert list(rf.x) == [3e-2, 1e-1] and list(rf.y) == [7.0, 9.0]
    assert list(hd.y) == [6.0] and fig.layout.shapes[0].y0 == 6.0
    assert fig.layout.xaxis.type == "log"
