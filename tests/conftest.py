"""Suite-wide settings: one torch thread (the tests use tiny tensors, for which a second
thread only adds synchronisation; on a busy 2-core machine it can cost 3-5x)."""

from pathlib import Path

import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    """The book's browser test reads the SMOKE executions tests/test_notebooks.py leaves in
    build/test-notebooks/: run it last, so that a whole-suite run executes each notebook once."""
    book = [item for item in items if Path(str(item.path)).name == "test_book.py"]
    items[:] = [item for item in items if item not in book] + book
