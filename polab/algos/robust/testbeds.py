"""The robust family's testbeds by name (``polab list``, ``--env``): name → what it is."""

from __future__ import annotations

TESTBEDS: dict[str, str] = {
}
