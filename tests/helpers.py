"""Values and helpers that several test modules share, written once: float64 tensors for
hand-computed cases and the small inventory problem of the HDPO tests."""

import torch

F64 = torch.float64


def f64(x: object) -> torch.Tensor:
    """``x`` (a number or nested lists of numbers) as a float64 tensor."""
    return torch.tensor(x, dtype=F64)


INVENTORY_SMALL = {"n_scenarios": 64, "batch_size": 32, "horizon": 12, "warmup": 4,
                   "dev_scenarios": 16, "test_scenarios": 32, "test_horizon": 40,
                   "test_warmup": 10, "eval_every": 2}
"""An inventory problem small enough to train in a test (HDPOConfig fields)."""
