"""benchmarks/cleanrl_own.py's 475-detector on a fake stream of CleanRL's ``add_scalar`` calls:
it stops at the first logged episode whose 20-episode window reaches the target (check point
``step``), or at the next ``charts/learning_rate`` (check point ``iteration``), and after the
time cap with ``reached`` false."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from cleanrl_own import EpisodeWindow, Stop  # noqa: E402

sys.path.pop(0)


def feed(window: EpisodeWindow, returns: list[float], start: int = 0) -> int:
    """Log ``returns`` one episode per step, as gymnasium 0.29 arrays of shape (1,)."""
    for i, ret in enumerate(returns):
        window.log("charts/episodic_length", np.array([int(ret)]), start + i)
        window.log("charts/episodic_return", np.array([ret], dtype=np.float32), start + i)
    return start + len(returns)


def test_stops_at_the_episode_whose_window_mean_reaches_the_target():
    window = EpisodeWindow(target=475.0, window=20)
    step = feed(window, [10.0] * 30)  # a long poor start leaves the window
    step = feed(window, [500.0] * 18, step)  # mean (2 * 10 + 18 * 500) / 20 = 451
    with pytest.raises(Stop) as stop:
        feed(window, [500.0], step)  # mean (10 + 19 * 500) / 20 = 475.5
    assert stop.value.reached and window.step == step
    assert len(window.returns) == 20


def test_iteration_check_point_waits_for_the_iterations_log():
    window = EpisodeWindow(target=475.0, window=20, check_point="iteration")
    step = feed(window, [500.0] * 25)  # no stop inside the rollout
    with pytest.raises(Stop) as stop:
        window.log("charts/learning_rate", 2.4e-4, step)
    assert stop.value.reached and window.step == step


def test_time_cap_stops_unreached():
    window = EpisodeWindow(target=475.0, max_seconds=0.0)
    with pytest.raises(Stop) as stop:
        feed(window, [20.0])
    assert not stop.value.reached
