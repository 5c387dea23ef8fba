"""Exercise checkers of the robust family (notebook 11)."""
