"""Chapter 11's offline exercises: each module holds one exercise's checker (a Check)."""
