"""The training loop, written once: a generator of per-iteration records, and ``train()``.

Any algorithm with ``step() -> dict``, ``global_step``, ``state_dict()`` and
``load_state_dict()`` can be trained. :class:`TrainingRun` is the loop as a generator: a
script, a test or papermill consumes it with a plain ``for``; in a live kernel the widget
layer drives the same generator from an asyncio task so Stop and sliders are heard between
iterations (JUPYTER.md §2). Around each ``step()`` it adds: wall-clock and sample counters,
a tqdm.auto progress bar, callbacks, a stop flag, a NaN/inf guard that stops with a message
and restores the last good state, and atomic checkpoints. The result is a :class:`History`.

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
    ``"nonfinite"`` (the NaN/inf guard fired; ``message`` says where) or ``"error"`` (an
    exception in a live widget run; ``message`` holds the traceback).
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
        return _atomic_write(Path(path), lambda f: f.write(json.dumps(payload).encode()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        data = json.loads(Path(path).read_text())
        latest = {k: np.asarray(v, dtype=float) for k, v in data.get("latest", {}).items()}
        return cls(data["records"], latest, data.get("meta", {}), data.get("status", ""),
                   data.get("message", ""))


def _atomic_write(path: Path, write: Callable[[Any], object]) -> Path:
    """Write to a temporary file beside ``path`` and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(algo: Algorithm, path: str | os.PathLike) -> Path:
    """Save ``algo.state_dict()`` atomically (a crash never leaves a half-written file)."""
    return _atomic_write(Path(path), lambda f: torch.save(algo.state_dict(), f))


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


class TrainingRun:
    """Iterate to train: each ``next()`` runs one ``algo.step()`` and yields its record.

    ``stop`` is a callable polled before every iteration (e.g. a Stop button's flag).
    ``checkpoint`` names a file written every ``checkpoint_every`` iterations and at the end.
    Pass ``history`` to continue an earlier run's record.
    """

    def __init__(self, algo: Algorithm, iterations: int, callbacks: Iterable[Callback] = (),
                 stop: Callable[[], bool] | None = None, progress: bool = True,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 0,
                 history: History | None = None, desc: str | None = None):
        if not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations={iterations!r} must be a non-negative int")
        self.algo, self.iterations = algo, iterations
        self.callbacks = list(callbacks)
        self.stop = stop
        self.progress = progress
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.history = history if history is not None else History()
        self.desc = desc or type(algo).__name__
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
                bad = [k for k, v in scalars.items() if not math.isfinite(v)]
                if bad:
                    self.algo.load_state_dict(good_state)
                    hist.status = "nonfinite"
                    hist.message = (f"non-finite {', '.join(bad)} at iteration {it_offset + i}: "
                                    "training stopped; the history and the last good state "
                                    "(before this iteration) are kept")
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

    A non-finite metric stops the run with ``history.status == "nonfinite"`` and a message
    (printed too); the algorithm is left in its last good state.
    """
    run = TrainingRun(algo, iterations, callbacks, stop, **kwargs)
    for _ in run:
        pass
    if run.history.status == "nonfinite":
        print(f"polab.train: {run.history.message}")
    return run.history


def reached(key: str, threshold: float) -> Callback:
    """A callback that stops training once ``record[key] >= threshold``."""
    def callback(record: dict[str, float]) -> bool:
        return record.get(key, -math.inf) >= threshold
    return callback
