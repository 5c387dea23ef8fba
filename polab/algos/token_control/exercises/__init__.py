"""Chapter 04's exercises: each module holds one exercise's checker, a function that looks at
the learner's run or answer and returns a :class:`~polab.core.exercises.Check` saying what is
right or wrong. Taught in notebooks/04_token_level_control.ipynb."""
