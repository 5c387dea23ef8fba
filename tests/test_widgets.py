"""The widget layer driven from Python: controls from a config, Train / Stop / Reset,
inline validation, headless and live (asyncio) training, the live dashboard."""

import asyncio

import ipywidgets as W
import pytest
from helpers import browser_echo

from polab.algos import PPO, PPOConfig, Reinforce, ReinforceConfig
from widgets import LiveDashboard, Panel
from widgets.panel import control_for

SMALL = PPOConfig(num_envs=8, num_steps=16, total_timesteps=8 * 16 * 4, num_minibatches=2,
                  update_epochs=1)


def ppo_panel(**kw):
    return Panel(SMALL, lambda c: PPO(c, "CartPole-v1"), **kw)


@pytest.fixture
def headless(monkeypatch):
    monkeypatch.setenv("POLAB_HEADLESS", "1")


def test_controls_follow_the_metadata():
    controls = ppo_panel().controls
    assert isinstance(controls["learning_rate"], W.FloatLogSlider)
    assert isinstance(controls["clip_coef"], W.FloatSlider)
    assert isinstance(controls["norm_adv"], W.Checkbox)
    assert isinstance(controls["num_minibatches"], W.IntSlider)
    assert isinstance(controls["num_envs"], W.BoundedIntText)  # 1..65,536 is too wide to slide
    assert controls["clip_coef"].tooltip.startswith("surrogate clipping")
    spec = next(s for s in ReinforceConfig.spec() if s.name == "baseline")
    assert isinstance(control_for(spec, True), W.Checkbox)


def test_invalid_combination_is_shown_inline_and_disables_train():
    panel = ppo_panel()
    assert panel.problems.value == "" and not panel.train_button.disabled
    panel.set(num_minibatches=3)
    assert "num_minibatches=3 must divide" in panel.problems.value
    assert panel.train_button.disabled
    panel.set(num_minibatches=4)
    assert panel.problems.value == "" and not panel.train_button.disabled


def test_unknown_field_rejected():
    with pytest.raises(ValueError, match="no field"):
        ppo_panel(fields=["learning_rate", "lr"])
    with pytest.raises(ValueError, match="no control named"):
        ppo_panel(fields=["learning_rate"]).set(clip_coef=0.1)


def test_headless_train_click_trains_to_the_end(headless):
    panel = ppo_panel()
    panel.set(learning_rate=1e-3, seed=3)
    panel.train_button.click()
    assert panel.history.status == "finished" and len(panel.history) == 4
    assert panel.algo.config.learning_rate == pytest.approx(1e-3) and panel.algo.config.seed == 3
    assert panel.progress.value == 4 and "finished" in panel.status.value


def test_stop_then_train_continues_and_reset_starts_over(headless):
    panel = Panel(SMALL.replace(total_timesteps=8 * 16 * 6), lambda c: PPO(c, "CartPole-v1"))
    panel.callbacks.append(lambda r: panel.stop_button.click() if r["iteration"] == 1 else None)
    panel.train_button.click()
    assert panel.history.status == "stopped" and len(panel.history) == 2
    panel.callbacks.clear()
    panel.train_button.click()  # same values: continue the same run
    assert panel.history.status == "finished" and len(panel.history) == 6
    panel.reset_button.click()
    assert panel.algo is None and len(panel.history) == 0


def test_changed_values_start_a_new_run(headless):
    panel = ppo_panel()
    panel.train()
    first = panel.algo
    panel.set(clip_coef=0.1)
    panel.train()
    assert panel.algo is not first and len(panel.history) == 4


def test_live_mode_trains_in_background_and_stop_acts_between_iterations(monkeypatch):
    monkeypatch.setenv("POLAB_HEADLESS", "0")
    panel = Panel(SMALL.replace(total_timesteps=8 * 16 * 200), lambda c: PPO(c, "CartPole-v1"))

    async def scenario():
        panel.train()  # returns at once: training runs in an asyncio task
        assert panel.running and not panel.stop_button.disabled
        while len(panel.history) < 3:
            await asyncio.sleep(0.01)
        panel.stop_button.click()
        stopped_at = len(panel.history)
        await panel.task
        return stopped_at

    stopped_at = asyncio.run(scenario())
    assert panel.history.status == "stopped"
    assert len(panel.history) <= stopped_at + 1
    assert panel.dashboard is not None
    returns_trace = panel.dashboard.figure.data[0]
    assert len(returns_trace.x) >= 1
    assert panel.dashboard.figure.data[-1].type == "histogram"
    assert len(panel.dashboard.figure.data[-1].x) == SMALL.batch_size


def test_live_error_is_reported_not_swallowed(monkeypatch):
    monkeypatch.setenv("POLAB_HEADLESS", "0")

    class Broken:
        global_step = 0
        config = SMALL

        def step(self):
            raise RuntimeError("boom")

        def state_dict(self):
            return {}

        def load_state_dict(self, s):
            pass

    panel = Panel(SMALL, lambda c: Broken(), iterations=5)

    async def scenario():
        panel.train()
        await panel.task

    asyncio.run(scenario())
    assert panel.history.status == "error" and "boom" in panel.history.message
    assert "boom" in panel.status.value


def test_live_dashboard_updates_in_place(headless):
    from polab.train import train

    history = train(Reinforce(ReinforceConfig(num_envs=4, num_iterations=2), "CartPole-v1"), 2,
                    progress=False)
    dash = LiveDashboard()
    assert dash.update(history, force=True)
    assert list(dash.figure.data[0].y) == list(history["charts/episodic_return"])
    assert not dash.update(history)  # throttled
    dash.clear()
    assert len(dash.figure.data[0].x) == 0
    assert len(dash.static(history).data) == len(dash.figure.data)


def test_live_dashboard_survives_the_browsers_trace_deltas(headless):
    """plotly 7's kernel handler fails on a numpy array echoed back by the browser (a kernel
    error in JupyterLab while a panel trains); the dashboard hands the figure lists."""
    from polab.train import train

    history = train(Reinforce(ReinforceConfig(num_envs=4, num_iterations=3), "CartPole-v1"), 3,
                    progress=False)
    dash = LiveDashboard()
    dash.update(history, force=True)
    browser_echo(dash.figure)


def test_log_axis_chart_drops_non_positive_values():
    from polab import plots
    from polab.train import History

    hist = History()
    for i, gap in enumerate([4.0, 0.5, 0.0, -0.1, float("nan"), 0.2]):
        hist.records.append({"iteration": float(i), "gap_pct": gap})
    chart = plots.Chart("gap", ("gap_pct",), x="iteration", log_y=True)
    (data,) = plots.chart_data(hist, chart)
    assert list(data["y"]) == [4.0, 0.5, 0.2] and list(data["x"]) == [0.0, 1.0, 5.0]
    fig = plots.dashboard(hist, (chart,))
    assert fig.layout.yaxis.type == "log"


def _displayed(monkeypatch, module, obj) -> list:
    shown: list = []
    monkeypatch.setattr(module, "display", lambda *objs: shown.extend(objs))
    obj._ipython_display_()
    return shown


def test_headless_panel_displays_a_static_table_of_its_knobs(headless, monkeypatch):
    import widgets.panel

    panel = ppo_panel(fields=["learning_rate", "num_minibatches", "norm_adv"], title="PPO <x>")
    panel.set(learning_rate=1.23456e-3, num_minibatches=3)
    (shown,) = _displayed(monkeypatch, widgets.panel, panel)
    assert not isinstance(shown, W.Widget)
    html = shown.data
    assert "<b>PPO &lt;x&gt;</b>" in html and "VBox" not in html
    assert html.count("<tr>") == 4  # a header and one row per knob, in the panel's order
    assert html.index("learning_rate") < html.index("num_minibatches") < html.index("norm_adv")
    assert "<code>0.001235</code>" in html and "a float in [1e-05, 0.1]" in html
    assert "must divide" in html  # the inline problem is part of the view
    assert "surrogate" not in html  # only the panel's fields


def test_live_panel_displays_the_widget(monkeypatch):
    import widgets.panel

    monkeypatch.setattr(widgets.panel, "is_live", lambda: True)
    panel = ppo_panel()
    assert _displayed(monkeypatch, widgets.panel, panel) == [panel.widget]
