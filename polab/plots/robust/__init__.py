"""Chapter 11's robust-RL figures (notebooks/11_robust_and_offline.ipynb): IWOCS (:mod:`.iwocs`,
its Pendulum variant :mod:`.deep_iwocs`) and DR-RPO (:mod:`.drrpo`)."""
