"""Every notebook (found by glob) in a real JupyterLab in Chromium, as a person would test it.

For each ``notebooks/*.ipynb``: a SMOKE copy (parameters cell ``SMOKE = True``) is opened in
a fresh workspace, Run ▸ Run All Cells is pressed, and once the kernel is idle and the
panels have finished training the page must show no error (cell outputs, kernel iopub,
kernel log, browser console), every panel with its controls, buttons and a live figure with
points, and every plotly figure with data. Then on the notebook's first panel that can be
lengthened: move a slider, press Train, see the live figure gain points, press Stop and see
training stop within ``labdriver.STOP_GRACE`` s plus two iterations. Things worth a look that
are not failures (an empty trace beside full ones, a wide table that scrolls) are emitted as
warnings. Screenshots: ``build/screenshots/NAME.png``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from labdriver import LENGTH_FIELDS, smoke_copy

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RUN_ALL_SECONDS = 420  # SMOKE runs take well under a minute headless; the browser adds more
PANELS_SECONDS = 240

pytestmark = pytest.mark.browser


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/*.ipynb found"


@pytest.mark.timeout(RUN_ALL_SECONDS + PANELS_SECONDS + 300)
@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_renders_and_answers_clicks(source, open_notebook, lab):
    copy = smoke_copy(source, lab.root)
    nb = open_notebook(copy.name, SCREENSHOTS / f"{source.stem}.png")
    nb.run_all(RUN_ALL_SECONDS)
    nb.wait_for_panels(PANELS_SECONDS)
    problems = nb.problems()
    panels = nb.snapshot()["panels"]
    lengthenable = [i for i, p in enumerate(panels)
                    if any(c["label"] in LENGTH_FIELDS for c in p["controls"])]
    if panels and not lengthenable:
        problems.append(f"no panel has a control named one of {LENGTH_FIELDS}: "
                        "Train/Stop could not be tested")
    if lengthenable:
        problems += nb.exercise(lengthenable[0])
    print(f"{source.name}: {len(panels)} panels, timings {nb.timings}")
    for note in nb.notes:
        warnings.warn(f"{source.name} in JupyterLab: {note}", stacklevel=1)
    assert not problems, f"{source.name} in JupyterLab:\n- " + "\n- ".join(problems)
