"""The diffusion family's testbeds by name (what ``polab list`` shows for ``--env``)."""

TESTBEDS: dict[str, str] = {
    "addition-diffusion": "3-digit addition on the shipped masked-diffusion base (bidirectional "
                          "2-layer GPT, answer span of 5 tokens, greedy pass@1 ≈ 30%)",
}
"""Testbed name -> one-line description."""
