"""ScaleRL's testbeds by name (what ``polab list`` shows for ``--env``; chapter 14)."""

TESTBEDS: dict[str, str] = {}
"""Testbed name -> one-line description."""
