"""Chapter 11's offline exercises: each module holds one exercise's checker (a Check)."""
"""Exercise checkers of the offline family (chapter 11)."""
