"""Chapter 08, learning from comparisons: pure pair losses (:mod:`.losses`), the policy and
testbed protocols (:mod:`.backend`), one round-based trainer for offline and iterative
DPO/IPO, SPPO, APO and INPO (:mod:`.trainer`), its testbeds by name (:mod:`.testbeds`), and
PARL's bilevel reward learning (:mod:`.parl`).

Taught in notebooks/08_preferences.ipynb.
"""
