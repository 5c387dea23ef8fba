"""Exercise checkers of chapter 11's robust family (notebooks/11_robust_and_offline.ipynb)."""
