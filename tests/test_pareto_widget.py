"""The live Pareto front (widgets/pareto.py) and the static front figure: in-place updates as a
C-MORL run trains, the preference slider's assignment and episode, an environment change."""

import numpy as np
import pytest
from helpers import browser_echo

from polab import plots
from polab.algos.morl.cmorl import CMORL
from polab.algos.morl.config import CMORLConfig
from widgets.pareto import LivePareto

TINY = CMORLConfig(total_timesteps=6_000, num_envs=4, num_steps=16, n_init_policies=3,
                   num_select=1, ext_iters=2, update_epochs=1, eval_every=1)


@pytest.fixture(scope="module")
def trained():
    algo = CMORL(TINY)
    live = LivePareto.for_algo(algo)
    sizes = []
    for _ in range(TINY.num_iterations):
        algo.step()
        live.update(algo, force=True)
        sizes.append(len(live.front.data[0].x))
    return algo, live, sizes


def test_front_fills_in_place_as_training_runs(trained):
    algo, live, sizes = trained
    assert sizes[-1] == len(algo.population) + len(algo.current_returns) > sizes[0]
    assert len(live.front.data) == 4  # policies, true front, reference, assigned (fixed order)
    assert list(live.front.data[1].x) == sorted(algo.true_front[:, 0])
    steps = live.metrics.data[0].x
    assert len(steps) > 1 and list(steps) == sorted(steps)  # HV vs env steps


def test_preference_slider_rings_the_assigned_policy_and_plays_it(trained):
    algo, live, _ = trained
    live.sliders[0].value, live.sliders[1].value = 0.0, 1.0  # all weight on time
    index = algo.assign(np.array([0.0, 1.0]))
    ring = (live.front.data[3].x[0], live.front.data[3].y[0])
    assert ring == tuple(algo.population[index].returns)
    final = [trace.y[-1] for trace in live.episode.data]
    assert np.allclose(final, algo.population[index].returns)
    assert f"#{index}" in live.assigned.value


def test_live_figures_survive_the_browsers_trace_deltas(trained):
    _, live, _ = trained  # after updates and a ring drawn by the preference slider
    live.show_preference()
    for figure in (live.front, live.metrics, live.episode):
        browser_echo(figure)


def test_static_figure_has_no_empty_traces(trained):
    algo, live, _ = trained
    assert all(len(t.x) for t in plots.algo_pareto_figure(algo).data)
    assert len(live.static(algo).data) == 4  # the assigned policy is ringed


def test_a_new_environment_rebuilds_the_figures(trained):
    _, live, _ = trained
    tree = CMORL(TINY.replace(env="fruit-tree-3d"))
    tree.step()
    live.update(tree, force=True)
    assert live.k == 3 and len(live.sliders) == 3 and live.front.data[0].type == "scatter3d"
    assert live.widget.children[0].children[0] is live.front


def test_crowding_and_slack_figures(trained):
    algo, _, _ = trained
    fig = plots.crowding_figure(algo)
    bars = fig.data[0]
    front = algo.population_returns[algo.front_indices()]
    assert len(bars.x) == len(front)
    red = [i for i, c in enumerate(bars.marker.color) if c == "#d62728"]
    assert len(red) == min(TINY.num_select, len(front)) and bars.text[red[0]] == "∞"
    rounds = {r["round"] for r in algo.slack_log}
    assert rounds == set(range(1, TINY.extension_rounds(2) + 1))
    first = [r for r in algo.slack_log if r["round"] == 1]
    assert len(first) == TINY.ext_iters and len(first[0]["slack"]) == 2 * TINY.num_select
    assert len(plots.slack_figure(algo, 1).data) == 2 * TINY.num_select


def test_headless_display_is_a_note_not_a_widget_repr(monkeypatch):
    import ipywidgets as W

    import widgets.pareto

    live = LivePareto(["treasure", "time"], np.array([0.0, -25.0]), None)
    shown: list = []
    monkeypatch.setattr(widgets.pareto, "display", lambda *objs: shown.extend(objs))
    for live_mode, expected in ((False, "HTML"), (True, "VBox")):
        shown.clear()
        monkeypatch.setattr(widgets.pareto, "is_live", lambda m=live_mode: m)
        live._ipython_display_()
        assert [type(o).__name__ for o in shown] == [expected]
    assert isinstance(shown[0], W.VBox)
