"""Figures of chapter 08 (preferences), one module per testbed or card. Taught in
notebooks/08_preferences.ipynb."""
