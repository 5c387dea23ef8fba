"""The robust family's testbeds by name (``polab list``, ``--env``): name → what it is."""

from __future__ import annotations

TESTBEDS: dict[str, str] = {
    "linear-toy": "card 32's d-rectangular linear MDP (d = 4, H = 10): start, risky and safe "
                  "lanes, absorbing fail, goal; test perturbations move TV mass to fail",
}
