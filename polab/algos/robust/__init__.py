"""Chapter 11, robust RL: exact robust dynamic programming (:mod:`.exact`), IWOCS's sequence
of static worst-case problems (:mod:`.iwocs`), DR-RPO's robust linear backup with a KL mirror
step (:mod:`.drrpo`), their testbeds by name (:mod:`.testbeds`). Builds on the ``pg`` family's
SAC for the deep (Pendulum) variant.

Taught in notebooks/11_robust_and_offline.ipynb.
"""
