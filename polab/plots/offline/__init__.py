"""Figures of chapter 11's offline family, one module per card. Taught in
notebooks/11_robust_and_offline.ipynb."""
"""Chapter 11 offline family's figures (CQL, H2O, A2PR)."""
