"""What every chapter's exercise checker returns: a :class:`Check`, the verdict on a learner's
run or answer in words. Each chapter's checkers live in its family
(``polab.algos.<family>.exercises``)."""

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
