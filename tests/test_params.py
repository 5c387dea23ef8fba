"""Notebook parameters: papermill's strings are parsed by one helper (widgets/params.py),
and every notebook calls it in the cell right after its ``parameters`` cell."""

import ast
from pathlib import Path

import nbformat
import numpy as np
import pytest

from widgets.params import ParameterError, as_bool, as_float, as_int, parse_params

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("value,expected", [
    (True, True), (False, False), (1, True), (0, False), (np.int64(1), True),
    ("true", True), ("False", False), ("TRUE", True), (" false ", False), ("1", True),
    ("0", False)])
def test_as_bool_accepts_bools_and_true_false_1_0(value, expected):
    assert as_bool(value, "SMOKE") is expected


@pytest.mark.parametrize("value", ["yes", "no", "", "2", "fals", 2, -1, 0.5, None, [True]])
def test_as_bool_refuses_anything_else_naming_the_parameter(value):
    with pytest.raises(ParameterError, match=r"notebook parameter SMOKE=.*expected true or"):
        as_bool(value, "SMOKE")


def test_as_int_and_as_float():
    assert [as_int(v, "SEED") for v in (3, "3", " -2 ", 4.0, np.int32(5))] == [3, 3, -2, 4, 5]
    for bad in ("3.5", "x", 2.5, True, None):
        with pytest.raises(ParameterError, match="notebook parameter SEED="):
            as_int(bad, "SEED")
    assert [as_float(v, "LR") for v in (1, "1e-3", 0.5)] == [1.0, 1e-3, 0.5]
    for bad in ("nan", "inf", "x", True, None):
        with pytest.raises(ParameterError, match="notebook parameter LR="):
            as_float(bad, "LR")


def test_parse_params_rewrites_the_namespace():
    namespace = {"SMOKE": "false", "SEED": "7", "NAME": "x"}
    assert parse_params(namespace, SMOKE=bool, SEED=int) == {"SMOKE": False, "SEED": 7}
    assert namespace == {"SMOKE": False, "SEED": 7, "NAME": "x"}
    with pytest.raises(ParameterError, match="notebook parameter SMOKE='maybe'"):
        parse_params({"SMOKE": "maybe"}, SMOKE=bool)
    with pytest.raises(ParameterError, match="notebook parameter SEED is not defined"):
        parse_params({}, SEED=int)
    with pytest.raises(TypeError, match="SEED="):
        parse_params({"SEED": 1}, SEED=list)


def parameters_and_next_cell(path):
    nb = nbformat.read(path, as_version=4)
    index = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(index) == 1, f"{path.name}: expected one cell tagged 'parameters'"
    return nb.cells[index[0]], nb.cells[index[0] + 1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_parses_each_parameter_right_after_the_parameters_cell(path):
    params, after = parameters_and_next_cell(path)
    assigned = {t.id: type(ast.literal_eval(node.value))
                for node in ast.parse(params.source).body if isinstance(node, ast.Assign)
                for t in node.targets}
    assert "SMOKE" in assigned
    calls = [node for node in ast.walk(ast.parse(after.source)) if isinstance(node, ast.Call)
             and getattr(node.func, "id", None) == "parse_params"]
    assert len(calls) == 1, f"{path.name}: the cell after 'parameters' must call parse_params"
    call = calls[0]
    assert ast.unparse(call.args[0]) == "globals()"
    declared = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert declared == {name: kind.__name__ for name, kind in assigned.items()}
    # the parsed values are used: parse_params comes before the first use of SMOKE
    first_use = min(i for i, line in enumerate(after.source.splitlines())
                    if "SMOKE" in line)
    assert "parse_params(" in after.source.splitlines()[first_use]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")
