"""Chapter 04's exercises: each module holds one exercise's checker, a function that looks at
the learner's run or answer and returns a :class:`Check` saying what is right or wrong.
Taught in notebooks/04_token_level_control.ipynb."""

from __future__ import annotations

from typing import NamedTuple


class Check(NamedTuple):
    """A checker's verdict: ``ok`` and what is right or wrong, in words (unpacks as
    ``ok, message``; prints with a ✔ or ✘)."""

    ok: bool
    message: str

    def __str__(self) -> str:
        return ("✔ " if self.ok else "✘ ") + self.message

    def _repr_markdown_(self) -> str:
        return str(self)
