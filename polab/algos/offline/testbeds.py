"""The offline family's testbeds by name (``polab list``, ``--env``): name → what it is."""

from __future__ import annotations

TESTBEDS: dict[str, str] = {
    "pendulum-medium": "Pendulum-v1 (g 10), 10k transitions of a noisy swing-up controller "
                       "(CQL, H2O's real data; H2O's simulator: gravity × sim_gap)",
}
