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


def judge_prediction(answer: object, truth: object, facts: str, *, wrong: str, right: str,
                     expected: object = None, surprise: str = "") -> Check:
    """The verdict on a learner's prediction of a measured outcome ``truth``: ``facts`` (what
    was measured) then, if the answer is wrong, ``"So it is {truth}, not {answer}."`` and the
    hint ``wrong``; if right, ``right``, or ``surprise`` when the run's ``truth`` differs
    from the ``expected`` outcome (right for this run, though unusual)."""
    if answer != truth:
        return Check(False, f"{facts}So it is {truth}, not {answer}. {wrong}")
    unusual = expected is not None and truth != expected and surprise
    return Check(True, facts + (surprise if unusual else right))
