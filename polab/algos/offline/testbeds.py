"""The offline family's testbeds by name (``polab list``, ``--env``): name → what it is."""

from __future__ import annotations

TESTBEDS: dict[str, str] = {
    "point-mass-mixed": "PointMass-v0, 20k transitions: 70 % random + 30 % expert (SAC actor)",
    "point-mass-medium": "PointMass-v0, 20k transitions of a SAC actor at ~45 % of expert",
    "pendulum-mixed": "Pendulum-v1, 50k transitions: 70 % random + 30 % expert (SAC actor)",
    "pendulum-medium": "Pendulum-v1, 50k transitions of a SAC actor at ~40 % of expert",
}
