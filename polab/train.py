"""The training loop, written once: a generator of per-iteration records, and ``train()``.

Any algorithm with ``step() -> dict``, ``global_step``, ``state_dict()`` and
``load_state_dict()`` can be trained. :class:`TrainingRun` is the loop as a generator: a
script, a test or papermill consumes it with a plain ``for``; in a live kernel the widget
layer drives the same generator from an asyncio task so Stop and sliders are heard between
iterations (widgets/runtime.py). Around each ``step()`` it adds: wall-clock and sample counters,
a tqdm.auto progress bar, callbacks, a stop flag, a divergence guard (a non-finite or
exploding metric or parameter stops the run with a message and restores the last good
state), and atomic checkpoints. The result is a :class:`History`.

Taught in notebooks/00_tour.ipynb.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm


class Algorithm(Protocol):
    """What ``train`` needs of an algorithm."""

    global_step: int

    def step(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


Callback = Callable[[dict[str, float]], object]
"""Called with each iteration's record; returning ``True`` stops the run."""


@dataclass
class History:
    """Every iteration's scalar record, the last iteration's tensors, and how the run ended.

    ``status`` is ``"running"``, ``"finished"``, ``"stopped"`` (stop flag or a callback),
    ``"diverged"`` (a metric or parameter went non-finite or past the divergence threshold;
    ``message`` names the iteration and the quantity), ``"interrupted"`` (Ctrl-C; the records
    so far are kept) or ``"error"`` (an exception in a live widget run; ``message`` holds the
    traceback).
    """

    records: list[dict[str, float]] = field(default_factory=list)
    latest: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    message: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    def column(self, key: str) -> np.ndarray:
        """One metric over iterations; NaN where an iteration did not report it."""
        return np.array([r.get(key, math.nan) for r in self.records], dtype=float)

    __getitem__ = column

    def last(self, key: str, default: float = math.nan) -> float:
        """The most recent reported value of ``key``."""
        for r in reversed(self.records):
            if key in r:
                return r[key]
        return default

    def to_dataframe(self):
        """The records as a pandas DataFrame, one row per iteration."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the whole history as one JSON file (atomically)."""
        payload = {"records": self.records, "meta": self.meta, "status": self.status,
                   "message": self.message,
                   "latest": {k: np.asarray(v).tolist() for k, v in self.latest.items()}}
        return atomic_write(Path(path), lambda f: f.write(json.dumps(payload).encode()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        data = json.loads(Path(path).read_text())
        latest = {k: np.asarray(v, dtype=float) for k, v in data.get("latest", {}).items()}
        status = data.get("status", "")
        status = "diverged" if status == "nonfinite" else status  # files from before the rename
        return cls(data["records"], latest, data.get("meta", {}), status, data.get("message", ""))


def atomic_write(path: Path, write: Callable[[Any], object]) -> Path:
    """Write to a temporary file beside ``path`` and rename it over ``path`` (``os.replace``:
    readers see the old file or the new one, never a half-written one). The file gets the
    mode of the file it replaces, or the usual ``0o666`` less the umask for a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else _new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_checkpoint(algo: Algorithm, path: str | os.PathLike) -> Path:
    """Save ``algo.state_dict()`` atomically (a crash never leaves a half-written file)."""
    return atomic_write(Path(path), lambda f: torch.save(algo.state_dict(), f))


def load_checkpoint(algo: Algorithm, path: str | os.PathLike) -> None:
    algo.load_state_dict(torch.load(path, map_location="cpu", weights_only=False))


def _split(metrics: dict[str, Any]) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Separate scalar metrics (for the record) from tensors (kept for figures)."""
    scalars, arrays = {}, {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            arrays[key] = value.detach().float().cpu().numpy()
        elif isinstance(value, np.ndarray) and value.size != 1:
            arrays[key] = value
        else:
            scalars[key] = float(value)
    return scalars, arrays


DIVERGE_AT = 1e12
"""Default divergence threshold: a metric or parameter with ``|x|`` above it has exploded."""


def _watched_parameters(algo: Algorithm) -> list[tuple[str, torch.Tensor]]:
    """The floating-point parameters of every ``torch.nn.Module`` and ``torch.nn.Parameter``
    attribute of ``algo``, each once, named ``attribute.parameter``."""
    found, seen = [], set()
    for attr, value in getattr(algo, "__dict__", {}).items():
        if isinstance(value, torch.nn.Parameter):
            items = [(attr, value)]
        elif isinstance(value, torch.nn.Module):
            items = [(f"{attr}.{n}", p) for n, p in value.named_parameters()]
        else:
            continue
        for name, p in items:
            if id(p) not in seen and p.is_floating_point() and p.numel():
                seen.add(id(p))
                found.append((name, p))
    return found


SIZE_WATCHED = ("loss", "value")
"""Metrics whose name contains one of these words (losses, value and Q-value estimates) are
checked for size as well as finiteness; ratios and diagnostics such as explained variance
(``1 - Var(G - V) / Var(G)``, about -1e13 when the returns barely vary) can be huge in a
healthy run, so only their finiteness is checked."""


def _size_watched(key: str) -> bool:
    name = key.rsplit("/", 1)[-1].lower()
    return any(word in name for word in SIZE_WATCHED)


def _exploded(value: float, limit: float) -> bool:
    return not math.isfinite(value) or abs(value) > limit


def _describe(name: str, value: float, limit: float) -> str:
    if not math.isfinite(value):
        return f"non-finite {name} ({value})"
    return f"{name} = {value:.3g} exploded (|x| > {limit:g})"


def divergence(algo: Algorithm, scalars: dict[str, float], limit: float = DIVERGE_AT) -> str:
    """What diverged this iteration ("" when nothing did): the scalar metrics that are
    non-finite, or above ``limit`` in magnitude for losses and value estimates
    (:data:`SIZE_WATCHED`), else the parameters that are non-finite or above ``limit``
    (largest ``|p|`` of each; one reduction and one host sync when all are fine)."""
    bad = [_describe(k, v, limit) for k, v in scalars.items()
           if _exploded(v, limit if _size_watched(k) else math.inf)]
    if bad:
        return ", ".join(bad)
    params = _watched_parameters(algo)
    if not params:
        return ""
    with torch.no_grad():
        peaks = [p.detach().abs().amax().float() for _, p in params]
        if not _exploded(torch.stack([x.to(peaks[0].device) for x in peaks]).amax().item(),
                         limit):
            return ""
        return ", ".join(_describe(f"parameter {name} (max |p|)", x.item(), limit)
                         for (name, _), x in zip(params, peaks, strict=True)
                         if _exploded(x.item(), limit))


class TrainingRun:
    """Iterate to train: each ``next()`` runs one ``algo.step()`` and yields its record.

    ``stop`` is a callable polled before every iteration (e.g. a Stop button's flag).
    ``checkpoint`` names a file written every ``checkpoint_every`` iterations and at the end.
    Pass ``history`` to continue an earlier run's record. ``diverge_at`` is the divergence
    threshold: after an iteration, a non-finite scalar metric, a loss or value estimate with
    ``|x| > diverge_at`` or a non-finite or larger parameter (:func:`divergence`) stops the
    run with status ``"diverged"``, restores the state from before that iteration and keeps
    the history so far.
    """

    def __init__(self, algo: Algorithm, iterations: int, callbacks: Iterable[Callback] = (),
                 stop: Callable[[], bool] | None = None, progress: bool = True,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 0,
                 history: History | None = None, desc: str | None = None,
                 diverge_at: float = DIVERGE_AT):
        if not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations={iterations!r} must be a non-negative int")
        self.algo, self.iterations = algo, iterations
        self.callbacks = list(callbacks)
        self.stop = stop
        self.progress = progress
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.history = history if history is not None else History()
        self.desc = desc or type(algo).__name__
        self.diverge_at = diverge_at
        config = getattr(algo, "config", None)
        if config is not None and not self.history.meta:
            self.history.meta = {"algo": type(algo).__name__, "config": config.to_dict(),
                                 "torch": torch.__version__,
                                 "device": str(getattr(algo, "device", "cpu"))}

    def __iter__(self) -> Iterator[dict[str, float]]:
        hist = self.history
        hist.status, hist.message = "running", ""
        t_offset = hist.last("time", 0.0) if hist.records else 0.0
        it_offset = len(hist.records)
        start = time.perf_counter()
        good_state = copy.deepcopy(self.algo.state_dict())
        bar = tqdm(total=self.iterations, desc=self.desc, disable=not self.progress,
                   leave=True, dynamic_ncols=True)
        try:
            for i in range(self.iterations):
                if self.stop is not None and self.stop():
                    hist.status, hist.message = "stopped", f"stopped after {i} iterations"
                    return
                scalars, arrays = _split(self.algo.step())
                what = divergence(self.algo, scalars, self.diverge_at)
                if what:
                    self.algo.load_state_dict(good_state)
                    hist.status = "diverged"
                    hist.message = (f"diverged at iteration {it_offset + i}: {what}; training "
                                    "stopped; the history and the last good state (before "
                                    "this iteration) are kept")
                    return
                good_state = copy.deepcopy(self.algo.state_dict())
                record = {"iteration": float(it_offset + i),
                          "global_step": float(self.algo.global_step),
                          "time": t_offset + time.perf_counter() - start, **scalars}
                hist.records.append(record)
                hist.latest = arrays
                bar.update(1)
                bar.set_postfix(_postfix(record), refresh=False)
                if (self.checkpoint and self.checkpoint_every
                        and (i + 1) % self.checkpoint_every == 0):
                    save_checkpoint(self.algo, self.checkpoint)
                wants_stop = [cb(record) for cb in self.callbacks]
                yield record
                if any(w is True for w in wants_stop):
                    hist.status, hist.message = "stopped", "stopped by a callback"
                    return
            hist.status = "finished"
        except KeyboardInterrupt:  # Ctrl-C: the records so far stay; the caller saves them
            hist.status = "interrupted"
            hist.message = f"interrupted (Ctrl-C) after {len(hist.records) - it_offset} iterations"
            raise
        finally:
            bar.close()
            if hist.status == "running":  # the consumer stopped iterating early
                hist.status, hist.message = "stopped", "stopped by the caller"
            if self.checkpoint:
                save_checkpoint(self.algo, self.checkpoint)


def _postfix(record: dict[str, float]) -> dict[str, str]:
    keys = ("charts/episodic_return", "reward", "eval/pass@1", "cost", "loss")
    return {k.split("/")[-1]: f"{record[k]:.3g}" for k in keys if k in record}


def train(algo: Algorithm, iterations: int, callbacks: Iterable[Callback] = (),
          stop: Callable[[], bool] | None = None, **kwargs: Any) -> History:
    """Run ``algo`` for ``iterations`` steps and return the :class:`History`.

    A diverging run (a non-finite or exploding metric or parameter) stops with
    ``history.status == "diverged"`` and a message naming the iteration and the quantity
    (printed too); the algorithm is left in its last good state.
    """
    run = TrainingRun(algo, iterations, callbacks, stop, **kwargs)
    for _ in run:
        pass
    if run.history.status == "diverged":
        print(f"polab.train: {run.history.message}")
    return run.history


def reached(key: str, threshold: float) -> Callback:
    """A callback that stops training once ``record[key] >= threshold``."""
    def callback(record: dict[str, float]) -> bool:
        return record.get(key, -math.inf) >= threshold
    return callback
