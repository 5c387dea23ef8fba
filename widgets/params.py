"""Notebook parameters, parsed: the cell after each notebook's ``parameters`` cell calls
``parse_params(globals(), SMOKE=bool, SEED=int)``.

papermill injects ``-p`` values after the ``parameters`` cell as it parsed them from the
command line: ``-p SMOKE false`` arrives as the *string* ``"false"``, which Python treats as
true, and ``-r SEED 3`` as the string ``"3"``. ``parse_params`` turns each named global into
its type, accepting for a bool only ``True``/``False``, ``1``/``0`` and the strings
``true``/``false``/``1``/``0`` (any case), and raises :class:`ParameterError` naming the
parameter for anything else, so a typo never silently changes the run.
"""

from __future__ import annotations

import math
import operator
from typing import Any

TRUE, FALSE = ("true", "1"), ("false", "0")


class ParameterError(ValueError):
    """A notebook parameter that cannot be read as its type."""


def as_bool(value: Any, name: str) -> bool:
    """``value`` as a bool: a bool, 0 or 1, or "true"/"false"/"1"/"0" in any case."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE or text in FALSE:
            return text in TRUE
    elif _is_integer(value) and int(value) in (0, 1):
        return bool(int(value))
    raise ParameterError(f"notebook parameter {name}={value!r}: expected true or false "
                         "(also 1/0, as a number or a string, any case)")


def as_int(value: Any, name: str) -> int:
    """``value`` as an int: an int (not a bool), a whole float, or a string of one."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    elif _is_integer(value) and not isinstance(value, bool):
        return int(value)
    raise ParameterError(f"notebook parameter {name}={value!r}: expected a whole number")


def as_float(value: Any, name: str) -> float:
    """``value`` as a finite float: a number (not a bool) or a string of one."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ParameterError(f"notebook parameter {name}={value!r}: expected a finite number")
    return number


def as_str(value: Any, name: str) -> str:
    """``value`` if it is a string."""
    if not isinstance(value, str):
        raise ParameterError(f"notebook parameter {name}={value!r}: expected a string")
    return value


PARSERS = {bool: as_bool, int: as_int, float: as_float, str: as_str}


def parse_params(namespace: dict[str, Any], **types: type) -> dict[str, Any]:
    """Replace each ``namespace[name]`` by its value parsed as ``types[name]`` (bool, int,
    float or str) and return the parsed values; a missing or unreadable parameter raises
    :class:`ParameterError` naming it. In a notebook: ``parse_params(globals(), SMOKE=bool)``.
    """
    parsed = {}
    for name, kind in types.items():
        if kind not in PARSERS:
            raise TypeError(f"parse_params: {name}={kind!r}, expected one of bool, int, "
                            "float, str")
        if name not in namespace:
            raise ParameterError(f"notebook parameter {name} is not defined: the parameters "
                                 "cell should set it")
        parsed[name] = PARSERS[kind](namespace[name], name)
    namespace.update(parsed)
    return parsed


def _is_integer(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True
