"""Figures of chapter 11's offline family, one module per card: A2PR (:mod:`.a2pr`), H2O and CQL
(:mod:`.h2o`). Taught in notebooks/11_robust_and_offline.ipynb."""
