"""Chapter 11's robust-RL figures (notebooks/11_robust_and_offline.ipynb): one module per
algorithm."""
"""Chapter 11 robust family figures: IWOCS (:mod:`.iwocs`) and DR-RPO (:mod:`.drrpo`)."""
