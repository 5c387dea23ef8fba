"""Every notebook (found by glob) runs headless with papermill at SMOKE=True, then nbval.

papermill executes ``notebooks/*.ipynb`` with ``-p SMOKE True`` into
``build/test-notebooks/``; nbval (``--nbval-lax``) then re-executes each executed copy and
compares the cells tagged ``nbval-check-output`` (a cell tag, so the marker stays out of the
code a reader sees) — deterministic numbers must come out the same twice (same seed, same
numbers on the CPU).
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


def test_nbval_markers_are_cell_tags_not_comments_in_the_code():
    """A reader of the notebook or the book sees no ``# NBVAL_…`` line; the series still has
    cells whose outputs nbval compares."""
    checked = 0
    for path in NOTEBOOKS:
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            assert "NBVAL" not in cell.source, f"{path.name} cell {i}: use a cell tag"
            checked += "nbval-check-output" in cell.metadata.get("tags", [])
    assert checked >= 5


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


def test_run_notebooks_prints_seconds_per_notebook_and_the_total(tmp_path, capfd):
    """``make run``'s script: one line per notebook with its status and seconds, a total line,
    and the same table in ``index.html`` (a two-cell notebook, so the test takes a kernel
    start); the kernels' own stderr (file descriptor 2, hence ``capfd``) carries no transport
    warning."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import run_notebooks
    finally:
        sys.path.pop(0)
    cells = [nbformat.v4.new_code_cell("SMOKE = False"), nbformat.v4.new_code_cell("x = 1 / 1")]
    cells[0].metadata["tags"] = ["parameters"]
    broken = [*cells[:1], nbformat.v4.new_code_cell("1 / 0")]
    for name, body in (("a_ok", cells), ("b_broken", broken)):
        nb = nbformat.v4.new_notebook(cells=body)
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                     "display_name": "Python 3"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    out = tmp_path / "out"
    code = run_notebooks.main([str(tmp_path / "a_ok.ipynb"), str(tmp_path / "b_broken.ipynb"),
                               "--smoke", "True", "--out", str(out)])
    captured = capfd.readouterr()
    lines = captured.out.splitlines()
    assert "without encryption" not in captured.err
    assert code == 1  # one notebook failed
    assert lines[0].startswith("a_ok.ipynb") and " ok " in lines[0]
    assert lines[1].startswith("b_broken.ipynb") and "failed" in lines[1]
    total = [line for line in lines if line.startswith("total")]
    assert total and "1/2 ok" in total[0]
    seconds = [float(line.split()[-2]) for line in lines[:2]]
    assert float(total[0].split()[-2]) == pytest.approx(sum(seconds), abs=0.11)
    assert "<b>total</b>" in (out / "index.html").read_text()

    code = run_notebooks.main([str(tmp_path / "a_ok.ipynb"), str(tmp_path / "b_broken.ipynb"),
                               "--smoke", "True", "--out", str(out), "--reuse"])
    lines = capfd.readouterr().out.splitlines()
    assert code == 1 and " reused " in lines[0]  # unchanged, same parameters, no error
    assert "failed" in lines[1]  # a failed run is never reused
    code = run_notebooks.main([str(tmp_path / "a_ok.ipynb"), "--smoke", "False",
                               "--out", str(out), "--reuse"])
    assert code == 0 and " ok " in capfd.readouterr().out.splitlines()[0]  # other parameters
