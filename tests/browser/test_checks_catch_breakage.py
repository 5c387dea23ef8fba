"""The test of the browser test: a deliberately broken notebook must fail every check.

The fixture notebook (built below, cell by cell) holds a panel whose Train callback raises
on the second press, a panel that ignores Stop, a figure with no traces, a figure whose only
trace is empty, a JavaScript console error and a cell that raises. The same checks that
pass the real notebooks must name each defect — and must not accuse the healthy parts (a
figure with one empty trace beside one with data is only a note).
Its stand-in algorithm sleeps 50 ms per iteration, so this costs no training time.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "build" / "screenshots" / "test-of-the-test" / "broken_fixture.png"

pytestmark = pytest.mark.browser

SETUP = '''\
import time
from dataclasses import dataclass

import plotly.graph_objects as go
from IPython.display import Javascript, display

from polab.config import Config, param
from polab.plots import Chart
from widgets import Panel

CHARTS = [Chart("return", ("charts/episodic_return",))]


@dataclass(frozen=True)
class TickConfig(Config):
    seed: int = param(0, help="random seed", low=0, high=2**31 - 1)
    num_iterations: int = param(20, help="iterations in the run", low=1, high=100_000)
    learning_rate: float = param(1e-3, help="step size", low=1e-5, high=1e-1, log=True)


class Ticker:
    """A stand-in algorithm: 50 ms per iteration, a return that counts the iterations."""

    def __init__(self, config):
        self.config, self.global_step = config, 0

    def step(self):
        time.sleep(0.05)
        self.global_step += 1
        return {"charts/episodic_return": float(self.global_step)}

    def state_dict(self):
        return {"global_step": self.global_step}

    def load_state_dict(self, state):
        self.global_step = state["global_step"]
'''
RAISING_PANEL = '''\
builds = []


def build_once(config):
    builds.append(config)
    if len(builds) > 1:
        raise RuntimeError("deliberately broken Train callback")
    return Ticker(config)


raising = Panel(TickConfig(), build_once, charts=CHARTS, title="raises when Train is pressed")
raising
'''
DEAF_PANEL = '''\
class DeafPanel(Panel):
    def stop(self):
        pass  # deliberately ignores the Stop button


deaf = DeafPanel(TickConfig(), Ticker, charts=CHARTS, title="ignores Stop")
deaf
'''
CELLS = [
    "SMOKE = False",                                                  # 0 (parameters)
    SETUP,                                                            # 1
    RAISING_PANEL,                                                    # 2
    "raising.train();",                                               # 3
    DEAF_PANEL,                                                       # 4
    "deaf.train();",                                                  # 5
    "go.Figure(layout_title_text='no traces').show()",                # 6
    "go.Figure(go.Scatter(x=[], y=[], name='empty')).show()",         # 7
    "go.Figure([go.Scatter(y=[1, 2], name='full'), go.Scatter(y=[], name='hollow')]).show()",
    "display(Javascript(\"console.error('deliberate console error')\"))",  # 9
    "raise RuntimeError('deliberate cell error')",                    # 10
]


def broken_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


def assert_found(problems: list[str], pattern: str) -> None:
    assert any(re.search(pattern, p) for p in problems), \
        f"no problem matches {pattern!r}; found:\n- " + "\n- ".join(problems)


@pytest.mark.timeout(600)
def test_broken_notebook_fails_every_check(open_notebook, lab):
    path = broken_notebook(lab.root / "broken_fixture.ipynb")
    nb = open_notebook(path.name, SCREENSHOT)
    nb.run_all(240)
    nb.wait_for_panels(180)

    problems = nb.problems()
    assert_found(problems, r"^cell 10: error output RuntimeError: deliberate cell error")
    assert_found(problems, r"^cell 6, figure 0: figure 'no traces' has no traces")
    assert_found(problems, r"^cell 7, figure 0: figure '' has no data in any of its 1 traces")
    assert_found(problems, r"^console error: deliberate console error")
    # one empty trace beside one with data is a note (a SMOKE run may not report a metric)
    assert not [p for p in problems if p.startswith("cell 8")], "\n".join(problems)
    assert_found(nb.notes, r"^cell 8, figure 0: .*trace 'hollow' \(scatter\) is empty")
    # the healthy parts are not accused: both panels rendered and trained with live figures
    assert not [p for p in problems if p.startswith("panel")], "\n".join(problems)

    raising = nb.exercise(0)
    assert_found(raising, r"kernel error \(from comm_msg\): RuntimeError: deliberately broken")
    assert_found(raising, r"^panel 0: Train did not start training .*status 'RuntimeError: "
                          r"deliberately broken")  # the panel shows the error, too

    deaf = nb.exercise(1, stop_seconds=5)
    assert_found(deaf, r"^panel 1: still training 5 s after Stop")
