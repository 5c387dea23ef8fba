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


def direction(before: float, after: float, tol: float, *, relative: bool = False) -> str:
    """How ``after`` compares with ``before``: ``"same"`` when the change (``after - before``,
    or ``after / before - 1`` if ``relative``) is within ``tol``, else ``"lower"`` or
    ``"higher"`` — the measured truth a lower/same/higher prediction is judged against."""
    change = after / before - 1 if relative else after - before
    if abs(change) <= tol:
        return "same"
    return "lower" if change < 0 else "higher"


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
