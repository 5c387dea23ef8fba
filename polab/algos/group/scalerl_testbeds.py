"""ScaleRL's testbeds by name (what ``polab list`` shows for ``--env``; chapter 14)."""

TESTBEDS: dict[str, str] = {
    "bandit": "contextual bandit, 64 arms per context (linear softmax policy, answers of "
              "1-5 tokens, 20% unpredictable contexts; card 24's smoke testbed)",
}
"""Testbed name -> one-line description."""
