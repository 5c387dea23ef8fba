"""Every notebook (found by glob) runs headless with papermill at SMOKE=True, then nbval.

papermill executes ``notebooks/*.ipynb`` with ``-p SMOKE True`` into
``build/test-notebooks/``; nbval (``--nbval-lax``) then re-executes each executed copy and
compares the cells marked ``# NBVAL_CHECK_OUTPUT`` — deterministic numbers must come out the
same twice (same seed, same numbers on the CPU).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
OUT = ROOT / "build" / "test-notebooks"
SMOKE_SECONDS = 60


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.fixture(scope="module", autouse=True)
def headless_env():
    old = os.environ.get("POLAB_HEADLESS")
    os.environ["POLAB_HEADLESS"] = "1"
    yield
    if old is None:
        os.environ.pop("POLAB_HEADLESS")
    else:
        os.environ["POLAB_HEADLESS"] = old


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "store notebooks without outputs"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert tagged and "SMOKE = False" in tagged[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_papermill_smoke_then_nbval(path):
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / path.name
    start = time.perf_counter()
    papermill.execute_notebook(str(path), str(target), parameters={"SMOKE": True},
                               cwd=str(path.parent), execution_timeout=300,
                               progress_bar=False, kernel_name="python3")
    seconds = time.perf_counter() - start
    nb = nbformat.read(target, as_version=4)
    nb.metadata.pop("widgets", None)  # 5 MB of widget JS; not needed for the comparison
    nbformat.write(nb, target)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    print(f"{path.name}: papermill SMOKE run {seconds:.1f} s (budget {SMOKE_SECONDS} s)")

    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--nbval-lax", "--nbval-cell-timeout=300", str(target)],
                            cwd=OUT, capture_output=True, text=True,
                            env={**os.environ, "POLAB_HEADLESS": "1"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
