"""Chapter 08's exercises: each module holds one exercise's checker, returning a
:class:`~polab.core.exercises.Check`. Taught in notebooks/08_preferences.ipynb."""
