"""Chapter 11, offline and hybrid RL: datasets in D4RL/Minari's fields (:mod:`.datasets`), the
baselines BC, TD3+BC and CQL, A2PR's advantage-guided regularisation and H2O's
dynamics-aware hybrid of real data and a wrong simulator; their testbeds by name
(:mod:`.testbeds`). Builds on the ``pg`` family's continuous-control parts.

Taught in notebooks/11_robust_and_offline.ipynb.
"""
