"""What a sweep runs: :class:`SweepSpec` (an algorithm, its named variants × a grid of knobs ×
seeds) and its :class:`Trial` s, each with its config built and validated up front.

Errors in the spec itself (an unknown algorithm or knob, a value that does not parse as its
field's type, no seeds) are a ``ValueError`` naming the field before any trial runs; a trial
whose config breaks a field's range or a cross-field rule is kept as a trial with its
``error`` set, which the engine writes as a *failed row* (issue 18: "a bad config is a failed
row") while the other trials run. Taught in notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from polab import registry
from polab.config import Config, FieldSpec, parse_value


def _field_specs(algo: str) -> dict[str, FieldSpec]:
    return {s.name: s for s in registry.get(algo).config.spec()}


def _knob(algo: str, key: str, specs: Mapping[str, FieldSpec]) -> FieldSpec:
    if key == "seed":
        raise ValueError("seed is not a knob of a sweep: list the seeds with seeds= (--seeds)")
    if key not in specs:
        raise ValueError(f"{algo} has no knob {key!r}; knobs are "
                         f"{', '.join(sorted(set(specs) - {'seed'}))}")
    return specs[key]


def coerce(spec: FieldSpec, value: Any) -> Any:
    """``value`` as the field's type: a string is parsed (``"true"``, ``"3"``, ``"1e-3"``; a
    ``ValueError`` names the field when it does not parse), an int given for a float field
    becomes a float; anything else is left for the config's validation to judge."""
    if isinstance(value, str):
        return parse_value(spec, value.strip())
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def parse_grid(items: str | Sequence[str], algo: str) -> dict[str, tuple[Any, ...]]:
    """``"key=v1,v2"`` strings (``--grid``) as ``{key: (v1, v2)}``, each value coerced to the
    type of ``algo``'s config field ``key`` (bool, int, float, str or a Literal's type).

    An unknown knob, a missing ``=``, an empty value list, a knob given twice or a value that
    does not parse is a ``ValueError`` naming it."""
    specs = _field_specs(algo)
    grid: dict[str, tuple[Any, ...]] = {}
    for item in [items] if isinstance(items, str) else items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--grid expects key=v1,v2,..., got {item!r}")
        spec = _knob(algo, key, specs)
        values = [v for v in text.split(",") if v.strip()]
        if not values:
            raise ValueError(f"--grid {key}= lists no values")
        if key in grid:
            raise ValueError(f"--grid {key} is given twice")
        grid[key] = tuple(coerce(spec, v) for v in values)
    return grid


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` as ``(0, 1, 2)``; anything else is a ``ValueError`` naming ``--seeds``."""
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ValueError(f"--seeds {text!r}: expected integers separated by commas") from None


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: its place in the sweep (``index``), ``variant`` name, the knobs it
    sets, ``seed``, stable ``trial_id``, the config (built, maybe invalid), the number of
    ``step()`` calls and, for a config that fails validation, the ``error`` that becomes its
    failed row."""

    index: int
    trial_id: str
    variant: str
    knobs: dict[str, Any]
    seed: int
    config: Config
    iterations: int
    error: str = ""


DEFAULT_VARIANT = "default"
"""The variant name of a sweep that declares none."""


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: ``algo`` (a registry name) on ``env`` (``None``: the registry's default) over
    named ``variants`` (name -> knob overrides) × the cartesian product of ``grid`` (knob ->
    values) × ``seeds``.

    ``iterations`` sets each run's length (``None``: the config's); ``smoke`` starts from the
    registry's smoke config; results go to ``out``/results.csv. ``workers`` is the number of
    trials run at once in Ray worker processes (0: in this process, in order); ``address``
    joins a running Ray cluster (``None``: start a local one with ``workers`` CPUs);
    ``gpus_per_trial`` is each Ray task's GPU share; ``device`` the torch device of each
    trial (``cpu``, ``cuda``, ``auto``, …). Values are coerced to their fields' types and
    knobs checked on construction (a ``ValueError`` names the field)."""

    algo: str
    env: str | None = None
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seeds: Sequence[int] = (0,)
    iterations: int | None = None
    smoke: bool = False
    out: str | os.PathLike = "sweeps"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    address: str | None = None
    gpus_per_trial: float = 0.0
    device: str = "cpu"

    def __post_init__(self) -> None:
        spec = registry.get(self.algo)  # names the known algorithms
        specs = _field_specs(self.algo)
        seeds = (self.seeds,) if isinstance(self.seeds, int) else tuple(self.seeds)
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"SweepSpec.seeds={self.seeds!r}: expected one or more integers")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"SweepSpec.seeds={self.seeds!r} repeats a seed")
        grid = {}
        for key, values in self.grid.items():
            values = (values,) if isinstance(values, (str, int, float)) else tuple(values)
            if not values:
                raise ValueError(f"SweepSpec.grid[{key!r}] lists no values")
            grid[key] = tuple(coerce(_knob(self.algo, key, specs), v) for v in values)
        variants = {}
        for name, knobs in self.variants.items():
            if not isinstance(knobs, Mapping):
                raise ValueError(f"SweepSpec.variants[{name!r}] must map knobs to values")
            variants[str(name)] = {k: coerce(_knob(self.algo, k, specs), v)
                                   for k, v in knobs.items()}
            both = sorted(set(knobs) & set(grid))
            if both:
                raise ValueError(f"knob {both[0]!r} is set by variant {name!r} and by the grid; "
                                 "set it in one place")
        if self.iterations is not None:
            if not isinstance(self.iterations, int) or self.iterations < 1:
                raise ValueError(f"SweepSpec.iterations={self.iterations!r}: expected an int "
                                 "≥ 1 or None (the config's run length)")
            if spec.run_length in grid or any(spec.run_length in v for v in variants.values()):
                raise ValueError(f"{spec.run_length} is swept and iterations= is set; "
                                 "drop one of them")
        if not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"SweepSpec.workers={self.workers!r}: expected an int ≥ 0 "
                             "(0 runs the trials in this process)")
        if not self.gpus_per_trial >= 0:
            raise ValueError(f"SweepSpec.gpus_per_trial={self.gpus_per_trial!r}: expected ≥ 0")
        if self.gpus_per_trial > 0 and str(self.device) == "cpu":
            raise ValueError("SweepSpec.gpus_per_trial > 0 with device='cpu': the GPU would sit "
                             "idle; pass device='cuda' (or 'auto')")
        for name, value in (("seeds", seeds), ("grid", grid), ("variants", variants)):
            object.__setattr__(self, name, value)

    @property
    def env_name(self) -> str:
        """``env``, or the registry's default environment of ``algo``."""
        return self.env or registry.get(self.algo).default_env

    @property
    def knob_names(self) -> list[str]:
        """Every knob the sweep sets (variants' first, then the grid's), one column each."""
        names = [k for knobs in self.variants.values() for k in knobs] + list(self.grid)
        return list(dict.fromkeys(names))

    def trial_id(self, variant: str, knobs: Mapping[str, Any], seed: int) -> str:
        """A stable id: a hash of the algorithm, env, variant, knobs, seed, iterations and
        smoke flag (not of workers, device or out: those do not change the numbers)."""
        key = {"algo": registry.get(self.algo).name, "env": self.env_name, "variant": variant,
               "knobs": sorted(knobs.items()), "seed": seed, "iterations": self.iterations,
               "smoke": self.smoke}
        return hashlib.sha1(json.dumps(key, default=repr).encode()).hexdigest()[:12]

    def trials(self) -> list[Trial]:
        """Variants × grid points × seeds, in that order, each with its config built via the
        registry (``make_config(env, smoke=..., seed=..., **knobs)``) and validated; a config
        that fails validation is kept with its ``error``."""
        spec = registry.get(self.algo)
        variants = self.variants or {DEFAULT_VARIANT: {}}
        points = [dict(zip(self.grid, vs, strict=True))
                  for vs in itertools.product(*self.grid.values())]
        out = []
        for (name, base), point, seed in itertools.product(variants.items(), points, self.seeds):
            knobs = {**base, **point}
            config = spec.make_config(self.env_name, smoke=self.smoke, seed=seed, **knobs)
            if self.iterations is not None and spec.run_length in {f.name for f in fields(config)}:
                config = config.replace(**{spec.run_length: self.iterations})
            problems = config.problems()
            error = f"ValueError: {'; '.join(problems)}" if problems else ""
            n = self.iterations or (spec.iterations(config) if not problems else 0)
            if not problems and self.iterations and self.iterations > spec.iterations(config):
                error = (f"ValueError: iterations={self.iterations}: {spec.name} runs "
                         f"{spec.iterations(config)} ({spec.run_length} follows from its budget "
                         "fields)")
            out.append(Trial(len(out), self.trial_id(name, knobs, seed), name, knobs, seed,
                             config, n, error))
        return out


SPEC_KEYS = ("algo", "env", "seeds", "iterations", "smoke", "grid", "variants")
"""The keys a TOML spec file may hold."""


def load_spec(path: str | os.PathLike, **changes: Any) -> SweepSpec:
    """A :class:`SweepSpec` from a TOML file with ``algo``, ``env``, ``seeds``,
    ``iterations``, ``smoke``, a ``[grid]`` table (knob = [values]) and ``[variants.NAME]``
    tables (knob = value); ``changes`` set the other fields (``out``, ``workers``, …) or
    override the file's. An unknown key or a file that does not parse names the file::

        algo = "reinforce"
        seeds = [0, 1]
        [grid]
        learning_rate = [0.01, 0.003]
        [variants.plain]
        [variants.baseline]
        baseline = true
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser as a package
        import tomli as tomllib
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; a spec holds {', '.join(SPEC_KEYS)}")
    if "algo" not in data and "algo" not in changes:
        raise ValueError(f"{path}: no algo = \"NAME\"")
    return SweepSpec(**{**data, **changes})
