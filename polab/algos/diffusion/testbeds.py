"""The diffusion family's testbeds by name (what ``polab list`` shows for ``--env``)."""

TESTBEDS: dict[str, str] = {}
"""Testbed name -> one-line description."""
