"""The robust family's testbeds by name (``polab list``, ``--env``): name → what it is."""

from __future__ import annotations

TESTBEDS: dict[str, str] = {
    "windy-walk": "5×9 windy walk, 3 windy columns over a pit, sa-rectangular set: 5 wind "
                  "levels per (s, a) (card 39)",
    "windy-walk-coupled": "the windy walk with one static wind level per column: 5³ = 125 "
                          "kernels (card 39, IWOCS a heuristic there)",
    "linear-toy": "card 32's d-rectangular linear MDP (d = 4, H = 10): start, risky and safe "
                  "lanes, absorbing fail, goal; test perturbations move TV mass to fail",
}
