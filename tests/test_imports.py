"""Every module imports on its own, and importing one part loads only what it needs.

Each import starts with no polab module loaded (a fresh interpreter, see ``_IMPORT_EACH``):
inside the test session the module would already sit in ``sys.modules`` and an import cycle
(``a`` imports ``b`` imports ``a``) would go unnoticed. The direction of imports is checked
statically by ``lint-imports`` (contracts in ``.importlinter``); these tests check what
happens at run time, including the lazy ``polab.algos`` face and the lazy registry, which the
linter cannot see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("polab", "widgets")


# One fresh interpreter imports the third-party dependencies (torch alone takes ~1 s), never
# polab or widgets, then forks one child per module: every child starts with no polab module
# loaded, as a fresh interpreter would, so a cycle shows in the module that enters it. About
# 60 children cost ~10 s instead of ~100 s for 60 interpreters. Without os.fork each module
# gets its own interpreter.
_IMPORT_EACH = """
import importlib, json, os, subprocess, sys

def import_alone(module):
    if not hasattr(os, "fork"):
        r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                           text=True)
        return r.returncode == 0, (r.stderr.strip().splitlines() or [""])[-1]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(module)
            os._exit(0)
        except BaseException as error:
            os.write(write, f"{type(error).__name__}: {error}".encode())
            os._exit(1)
    os.close(write)
    with os.fdopen(read) as pipe:
        message = pipe.read()
    status = os.waitpid(pid, 0)[1]
    return status == 0, message or f"exit status {status}"

def import_each(modules):
    for dependency in ("numpy", "torch", "pandas", "plotly.graph_objects", "gymnasium",
                       "ipywidgets", "tqdm.auto"):
        importlib.import_module(dependency)
    failed = {}
    for module in modules:
        ours = [m for m in sys.modules if m.split(".")[0] in ("polab", "widgets")]
        assert not ours, f"the parent loaded {ours}"
        ok, message = import_alone(module)
        if not ok:
            failed[module] = message
    return failed
"""


def _modules() -> list[str]:
    """Every module under the packages, found by walking the tree (``__main__`` modules run
    code when imported and are left out)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "__pycache__" in parts or parts[-1] == "__main__":
                continue
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter with this checkout first on the path."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _loaded_after(statement: str) -> list[str]:
    """The ``polab`` modules in ``sys.modules`` after running ``statement`` in a fresh
    interpreter."""
    code = (f"import sys, json\n{statement}\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'polab')))")
    result = _fresh(code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_walk_finds_the_packages():
    modules = _modules()
    assert {"polab", "polab.train", "polab.algos.pg.ppo", "widgets.panel"} <= set(modules)


def test_every_module_imports_in_a_fresh_interpreter():
    modules = _modules()
    result = _fresh(_IMPORT_EACH + f"\nprint(json.dumps(import_each({modules!r})))")
    assert result.returncode == 0, result.stderr
    failed = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failed, f"{len(failed)} of {len(modules)} modules fail to import alone: {failed}"


def test_one_algorithm_loads_neither_the_lm_stack_nor_another_family():
    loaded = _loaded_after("import polab.algos.pg.ppo")
    assert "polab.algos.pg.ppo" in loaded
    assert not [m for m in loaded if m == "polab.lm" or m.startswith("polab.lm.")], loaded
    others = ("polab.algos.group", "polab.algos.morl", "polab.algos.diffsim")
    assert not [m for m in loaded if m.startswith(others)], loaded


@pytest.mark.parametrize("statement", ["import polab.registry", "import polab.algos"])
def test_the_registry_and_the_algos_face_load_no_algorithm(statement):
    loaded = _loaded_after(statement)
    algorithms = [m for m in loaded if m.startswith("polab.algos.")]
    assert not algorithms, f"{statement} loaded {algorithms}"
    assert "polab.lm" not in loaded
