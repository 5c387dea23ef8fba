"""Figures of chapter 04 (token-level control), one module per card: ``capo``, ``d3s``,
``hapo``, ``tppo``. Taught in notebooks/04_token_level_control.ipynb."""
