"""Device choice, seeding and determinism.

``pick_device("auto")`` prefers CUDA, then Apple's MPS, then the CPU. ``seed_everything``
seeds Python, NumPy and torch; ``deterministic(True)`` asks torch for deterministic kernels
(same seed → same numbers on the CPU). Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from polab.machine import cpu_name


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"``/``None`` to cuda > mps > cpu; validate an explicit choice."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} requested but CUDA is not available; use 'cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={str(device)!r} requested but MPS is not available; use 'cpu'")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed ``random``, NumPy and torch (all devices); return a CPU generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic algorithms (warn-only where none exists)."""
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.benchmark = not enabled
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def describe(device: torch.device) -> str:
    """A short human-readable name: ``cpu (AMD EPYC 9B14, 2 threads)`` or the GPU's name."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({cpu_name()}, {torch.get_num_threads()} threads)"
    return device.type
