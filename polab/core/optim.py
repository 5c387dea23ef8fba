"""Optimiser settings shared by the trainers."""

from __future__ import annotations

import torch


def fast_adam(device: torch.device) -> dict[str, bool]:
    """Adam's (and AdamW's) fastest implementation on ``device``: ``fused`` (one kernel for
    all parameters) on the CPU and CUDA, else ``foreach``; the same update up to rounding.
    On one CPU thread it takes a GRPO step's optimiser from ≈ 1.9 to ≈ 0.5 ms (issue 19)."""
    return {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}
