"""Values and helpers that several test modules share, written once: float64 tensors for
hand-computed cases, the small inventory problem of the HDPO tests, and the README's
generated blocks."""

import re
from pathlib import Path

import torch

F64 = torch.float64


def f64(x: object) -> torch.Tensor:
    """``x`` (a number or nested lists of numbers) as a float64 tensor."""
    return torch.tensor(x, dtype=F64)


INVENTORY_SMALL = {"n_scenarios": 64, "batch_size": 32, "horizon": 12, "warmup": 4,
                   "dev_scenarios": 16, "test_scenarios": 32, "test_horizon": 40,
                   "test_warmup": 10, "eval_every": 2}
"""An inventory problem small enough to train in a test (HDPOConfig fields)."""


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(begin: str, end: str) -> str:
    """The README's text between the generated block's markers ``begin`` and ``end``
    (``scripts/readme_tables.py`` writes it); fails when the markers are missing."""
    block = re.search(re.escape(begin) + r"\n(.*?)\n" + re.escape(end), README.read_text(),
                      re.S)
    assert block, f"README.md lacks the generated block's markers {begin!r} ... {end!r}"
    return block.group(1)


def browser_echo(figure: object) -> None:
    """Play the browser's side of a plotly ``FigureWidget`` update in the kernel: JupyterLab's
    view sends every trace's drawn properties back as trace deltas (a typed array as a
    ``{dtype, shape, value}`` object, a list as a list) to the kernel's handler. Raises where
    the live kernel would report an error."""
    import numpy as np

    def echo(value: object) -> object:
        if isinstance(value, np.ndarray):
            return {"dtype": str(value.dtype), "shape": list(value.shape), "value": b""}
        if isinstance(value, dict):
            return {k: echo(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [echo(v) for v in value]
        return value

    deltas = [echo(dict(trace._props)) for trace in figure.data]
    figure._handler_js2py_traceDeltas({"new": {"trace_deltas": deltas,
                                               "trace_edit_id": figure._last_trace_edit_id}})
