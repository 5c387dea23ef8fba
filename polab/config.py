"""Configs: one frozen dataclass per algorithm whose fields carry their own widget metadata.

Every hyperparameter is declared once with :func:`param` (default, one-line help, range,
log scale, choices, paper). From that single source polab builds the widget panel
(``widgets.Panel``), parses ``polab train --set key=value`` and validates values before any
training starts::

    @dataclass(frozen=True)
    class PPOConfig(Config):
        clip_coef: float = param(0.2, help="surrogate clipping ε", low=0.0, high=1.0)

        def rules(self):
            return [(self.batch_size % self.num_minibatches == 0, "must divide the batch")]

``cfg.validate()`` raises ``ValueError`` naming the field, the value and the allowed range;
``cfg.problems()`` returns the same messages as a list (the panel shows them inline).
Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import torch

C = TypeVar("C", bound="Config")


def param(
    default: Any,
    *,
    help: str,
    low: float | None = None,
    high: float | None = None,
    log: bool = False,
    choices: tuple[Any, ...] | None = None,
    paper: str | None = None,
) -> Any:
    """Declare a config field with its metadata.

    ``low``/``high`` bound numbers (inclusive); ``log`` asks for a logarithmic slider;
    ``choices`` lists the allowed values of a string (or number) field; ``paper`` names the
    source of a modern knob. The help text becomes the widget's tooltip and the CLI's help.
    """
    if log and (low is None or high is None or low <= 0):
        raise ValueError(f"param(log=True) needs 0 < low < high, got low={low}, high={high}")
    meta = {"help": help, "low": low, "high": high, "log": log,
            "choices": tuple(choices) if choices is not None else None, "paper": paper}
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """What a widget, the CLI or a validator needs to know about one config field."""

    name: str
    type: type
    default: Any
    help: str
    low: float | None
    high: float | None
    log: bool
    choices: tuple[Any, ...] | None
    paper: str | None


def _base_type(annotation: Any) -> type:
    if typing.get_origin(annotation) is Literal:
        return type(typing.get_args(annotation)[0])
    if annotation in (bool, int, float, str):
        return annotation
    raise TypeError(f"config fields must be bool, int, float, str or Literal, got {annotation!r}")


@dataclass(frozen=True)
class Config:
    """Base class of every algorithm config: frozen, validated, introspectable.

    numpy and torch scalars given for bool, int or float fields (``np.float32(0.1)``,
    ``np.int64(4)``, ``torch.tensor(3)``) are stored as the Python scalar they hold; the
    type check then judges that value, so a wrong type still names the field.
    """

    def __post_init__(self) -> None:
        for s in self.spec():
            if s.type in (bool, int, float):
                value = getattr(self, s.name)
                scalar = _python_scalar(value)
                if scalar is not value:
                    object.__setattr__(self, s.name, scalar)

    @classmethod
    def spec(cls) -> list[FieldSpec]:
        """The fields in declaration order, with their metadata."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            m = f.metadata
            annotation = hints[f.name]
            choices = m.get("choices")
            if choices is None and typing.get_origin(annotation) is Literal:
                choices = typing.get_args(annotation)
            out.append(FieldSpec(f.name, _base_type(annotation), f.default, m.get("help", ""),
                                 m.get("low"), m.get("high"), m.get("log", False), choices,
                                 m.get("paper")))
        return out

    def rules(self) -> list[tuple[bool, str]]:
        """Cross-field rules as ``(holds, message)`` pairs; subclasses extend this."""
        return []

    def problems(self) -> list[str]:
        """Every violated field range, type and cross-field rule (empty when valid)."""
        owner = type(self).__name__
        found = [msg for s in self.spec()
                 if (msg := _check_field(s, getattr(self, s.name), owner))]
        if not found:  # cross-field rules may assume well-typed fields
            found = [f"{type(self).__name__}: {msg}" for ok, msg in self.rules() if not ok]
        return found

    def validate(self: C) -> C:
        """Return ``self`` if valid, else raise ``ValueError`` listing every problem."""
        found = self.problems()
        if found:
            raise ValueError("; ".join(found))
        return self

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (not validated: call ``validate()``)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field(s) {sorted(unknown)}; "
                             f"fields are {[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_overrides(self: C, assignments: list[str]) -> C:
        """Apply ``key=value`` strings (from the CLI), parsing each by its field's type."""
        specs = {s.name: s for s in self.spec()}
        changes = {}
        for item in assignments:
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"expected key=value, got {item!r}")
            if key not in specs:
                raise ValueError(f"{type(self).__name__} has no field {key!r}; "
                                 f"fields are {sorted(specs)}")
            changes[key] = parse_value(specs[key], text.strip())
        return self.replace(**changes).validate()


def _python_scalar(value: Any) -> Any:
    """The Python scalar inside a numpy scalar, a 0-d array or a 0-d tensor; else ``value``.

    A low-precision float becomes the shortest decimal that reads back as the same number
    (``np.float32(0.1)`` gives ``0.1``, not ``0.10000000149011612``), which is what was meant.
    """
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        value = value.detach().cpu()
        value = (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.floating):
        return float(str(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def parse_value(spec: FieldSpec, text: str) -> Any:
    """Parse a command-line string into the field's type, naming the field on failure."""
    try:
        if spec.type is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if spec.type is int:
            return int(float(text)) if float(text).is_integer() else int(text)
        if spec.type is float:
            return float(text)
        return text
    except ValueError:
        raise ValueError(f"{spec.name}={text!r} is not a valid {spec.type.__name__}") from None


def describe_range(s: FieldSpec) -> str:
    """What values field ``s`` accepts, in words: ``one of [...]``, ``a bool``, or
    ``a float in [low, high]`` (the validator's messages, the panel's static view)."""
    if s.choices is not None:
        return f"one of {list(s.choices)}"
    if s.type is bool:
        return "a bool"
    def bound(x: float | None, infinite: str) -> str:
        if x is None:
            return infinite
        return f"{int(x):,}" if s.type is int else f"{x:g}"

    article = "an" if s.type is int else "a"
    return f"{article} {s.type.__name__} in [{bound(s.low, '-inf')}, {bound(s.high, 'inf')}]"


def _check_field(s: FieldSpec, value: Any, owner: str) -> str | None:
    where = f"{owner}.{s.name}={value!r}"
    if s.type is bool:
        ok_type = isinstance(value, bool)
    elif s.type is int:
        ok_type = isinstance(value, int) and not isinstance(value, bool)
    elif s.type is float:
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok_type = isinstance(value, s.type)
    if not ok_type:
        return f"{where} has the wrong type: expected {describe_range(s)}"
    if s.choices is not None:
        allowed = value in s.choices
        return None if allowed else f"{where} is not allowed: expected {describe_range(s)}"
    if s.type in (int, float):
        if not math.isfinite(value):
            return f"{where} is not finite: expected {describe_range(s)}"
        if (s.low is not None and value < s.low) or (s.high is not None and value > s.high):
            return f"{where} is out of range: expected {describe_range(s)}"
    return None
