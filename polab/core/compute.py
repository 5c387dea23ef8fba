"""Compute of an RL step in FLOPs (card 24, ScaleRL: "compute must include generation cost").

``2N`` FLOPs per generated token (a forward pass) and ``6N`` per trained token (forward and
backward), ``N`` the model's parameters (Kaplan et al. 2020's approximation). It lives in the
core so that trainers (``polab.algos``) can log it; :mod:`polab.sweep.curves` re-exports it.
"""

from __future__ import annotations

import numpy as np


def lm_flops(n_params: int, generated_tokens: float | np.ndarray,
             trained_tokens: float | np.ndarray) -> float | np.ndarray:
    """Compute of an RL step in FLOPs: ``2N`` per generated token plus ``6N`` per trained
    token (module docstring)."""
    if n_params <= 0:
        raise ValueError(f"n_params={n_params!r}: a model has at least one parameter")
    return 2.0 * n_params * np.asarray(generated_tokens) + 6.0 * n_params * np.asarray(
        trained_tokens)
