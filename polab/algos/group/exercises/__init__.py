"""Exercise checkers of the group family (chapter 14: ScaleRL)."""
