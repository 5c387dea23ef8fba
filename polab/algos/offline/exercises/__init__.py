"""Exercise checkers of the offline family (chapter 11)."""
