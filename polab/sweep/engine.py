"""Run a :class:`~polab.sweep.spec.SweepSpec`: every trial trained through the registry, one
table row per logged record, appended to ``OUT/results.csv`` as trials finish.

``run_sweep(spec)`` runs the trials in this process (``workers=0``) or as Ray tasks, at most
``workers`` at once (a local Ray started with ``workers`` CPUs, or the cluster at
``address``). The table is the same for any worker count: each trial seeds itself from its
config and runs on one torch thread, and the rows are sorted by trial order and then record
order. Only the wall-clock columns (:data:`WALL_CLOCK`: ``time``) differ between two runs.

A trial that raises, or whose config fails validation, is one row with ``status="failed"``
and the error's first line; a rerun into the same ``out`` skips the trials already in the
CSV (any status but ``failed``) and retries the failed ones. One sweep writes to an ``out``
directory at a time. Taught in notebooks/14_scaling_and_diffusion.ipynb.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from polab import registry
from polab.device import pick_device
from polab.sweep.spec import SweepSpec, Trial
from polab.train import atomic_write, train

WALL_CLOCK = ("time",)
"""Columns measured in wall-clock seconds: the only ones that differ between two runs of a
sweep (compare tables without them)."""
COMPUTE_KEY = "compute/flops"
"""The record key whose value becomes the ``compute`` column (NaN when not logged)."""
RESULTS = "results.csv"
"""The file name of a sweep's table inside ``out``."""
FAILED = "failed"


def _first_line(err: BaseException | str) -> str:
    text = str(err).strip().splitlines()
    if isinstance(err, str):
        return text[0] if text else ""
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _head(trial: Trial, spec: SweepSpec) -> dict[str, Any]:
    """The columns every row of ``trial`` starts with: id, variant, each knob, seed."""
    knobs = {k: getattr(trial.config, k) for k in spec.knob_names}
    return {"trial_id": trial.trial_id, "variant": trial.variant, **knobs, "seed": trial.seed}


def failed_rows(trial: Trial, spec: SweepSpec, error: str) -> list[dict[str, Any]]:
    """The one row of a failed trial."""
    return [{**_head(trial, spec), "step": math.nan, "compute": math.nan, "status": FAILED,
             "error": error}]


def run_trial(trial: Trial, spec: SweepSpec) -> list[dict[str, Any]]:
    """Train one trial (one torch thread, built by the registry on ``spec.device``) and
    return its rows: one per logged record with ``step`` (the record's ``global_step``),
    ``compute`` (its :data:`COMPUTE_KEY`), every metric, ``status`` (the History's:
    ``finished``, or ``diverged`` when a metric or parameter went non-finite, with the
    records before it) and ``error`` (the History's message unless it finished); one failed
    row if it raises."""
    if trial.error:
        return failed_rows(trial, spec, trial.error)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        algo_spec = registry.get(spec.algo)
        algo = algo_spec.build(trial.config, spec.env_name, device=pick_device(spec.device))
        history = train(algo, trial.iterations, progress=False)
    except Exception as err:  # noqa: BLE001 - any error of a trial is its failed row
        return failed_rows(trial, spec, _first_line(err))
    finally:
        torch.set_num_threads(threads)
    error = "" if history.status == "finished" else _first_line(history.message)
    tail = {"status": history.status, "error": error}
    head = _head(trial, spec)
    rows = [{**head, "step": r.get("global_step", r["iteration"]),
             "compute": r.get(COMPUTE_KEY, math.nan), **r, **tail} for r in history.records]
    return rows or [{**head, "step": math.nan, "compute": math.nan, **tail}]


def read_results(out: str | os.PathLike) -> pd.DataFrame:
    """``out``/results.csv (empty when there is none yet); ids, variant names, statuses and
    errors read as strings (an id of digits stays a string; no error is ``""``)."""
    path = Path(out) / RESULTS
    if not path.exists():
        return pd.DataFrame(columns=["trial_id", "status", "error"])
    text = {"trial_id": str, "variant": str, "status": str, "error": str}
    df = pd.read_csv(path, dtype=text)
    df["error"] = df["error"].fillna("")
    return df


def _append(out: Path, rows: list[dict[str, Any]]) -> None:
    """Replace the rows of the trial in ``rows`` in ``out``/results.csv by ``rows`` (read,
    concat, write a temporary file, rename)."""
    old = read_results(out)
    new = pd.DataFrame.from_records(rows)
    kept = old[old["trial_id"] != rows[0]["trial_id"]]
    table = new if kept.empty else pd.concat([kept, new], ignore_index=True)
    atomic_write(out / RESULTS, lambda f: f.write(table.to_csv(index=False).encode()))


def _pythonpath() -> str:
    """This checkout's root first on ``PYTHONPATH``, so Ray's workers import the same
    ``polab`` as the driver (pip-installed or not)."""
    import polab

    root = str(Path(polab.__file__).resolve().parents[1])
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([root, *([rest] if rest else [])])


def init_ray(spec: SweepSpec) -> bool:
    """Start a local Ray with ``spec.workers`` CPUs, or join the cluster at ``spec.address``,
    so that the workers import this checkout's ``polab``; ``False`` when Ray was already up
    (then the caller's session is used as it is and left running).

    A local Ray is started with ``address="local"`` (a new instance even where ``ray start``
    left one, which ``ray.init()`` would join) and inherits ``PYTHONPATH`` from this process
    (set for the start only): its pre-started workers serve the trials. A cluster gets the
    ``polab`` package as the job's ``runtime_env`` ``py_modules`` (uploaded once, ~3 MB), so
    nodes without this checkout or with another polab installed run this one."""
    import ray

    if ray.is_initialized():
        return False
    common = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True,
              "logging_level": logging.ERROR}
    if spec.address:
        import polab

        package = str(Path(polab.__file__).resolve().parent)
        ray.init(address=spec.address, runtime_env={"py_modules": [package]}, **common)
        return True
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _pythonpath()
    try:
        ray.init(address="local", num_cpus=spec.workers, **common)
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    return True


def _run_ray(todo: list[Trial], spec: SweepSpec,
             done: Callable[[Trial, list[dict[str, Any]]], None]) -> None:
    """Run ``todo`` as Ray tasks, at most ``spec.workers`` in flight; ``done`` as each ends."""
    import ray

    started = init_ray(spec)
    try:
        task = ray.remote(num_cpus=1, num_gpus=spec.gpus_per_trial)(run_trial)
        queue, running = list(reversed(todo)), {}
        while queue or running:
            while queue and len(running) < spec.workers:
                trial = queue.pop()
                running[task.remote(trial, spec)] = trial
            ready, _ = ray.wait(list(running), num_returns=1)
            trial = running.pop(ready[0])
            try:
                rows = ray.get(ready[0])
            except Exception as err:  # noqa: BLE001 - a crashed worker is a failed row
                rows = failed_rows(trial, spec, _first_line(err))
            done(trial, rows)
    finally:
        if started:
            ray.shutdown()


def run_sweep(spec: SweepSpec, progress: bool = True) -> pd.DataFrame:
    """Run every trial of ``spec`` not yet done in ``spec.out`` and return the sweep's table.

    Columns: ``trial_id``, ``variant``, one per knob (its value in the trial's config),
    ``seed``, ``step``, ``compute``, every metric the records hold (``iteration``,
    ``global_step``, ``time``, …), ``status`` and ``error``. Rows are sorted by trial order
    (variants × grid × seeds) and record order, so the table is the same with any
    ``workers`` except in :data:`WALL_CLOCK` columns. ``table.attrs`` lists the trial ids
    this call ``ran`` and those it ``skipped`` (already finished in ``out``)."""
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    trials = spec.trials()
    previous = read_results(out)
    finished = set(previous.loc[previous["status"] != FAILED, "trial_id"])
    todo = [t for t in trials if t.trial_id not in finished]
    bar = tqdm(total=len(trials), initial=len(trials) - len(todo), desc=f"sweep {spec.algo}",
               disable=not progress, dynamic_ncols=True)

    def done(trial: Trial, rows: list[dict[str, Any]]) -> None:
        _append(out, rows)
        bar.update(1)

    try:
        for trial in (t for t in todo if t.error):  # a failed config needs no worker
            done(trial, run_trial(trial, spec))
        runnable = [t for t in todo if not t.error]
        if spec.workers == 0:
            for trial in runnable:
                done(trial, run_trial(trial, spec))
        elif runnable:
            _run_ray(runnable, spec, done)
    finally:
        bar.close()
    table = sweep_table(read_results(out), spec, trials)
    table.attrs.update(ran=[t.trial_id for t in todo],
                       skipped=[t.trial_id for t in trials if t.trial_id in finished])
    return table


def sweep_table(results: pd.DataFrame, spec: SweepSpec, trials: list[Trial]) -> pd.DataFrame:
    """The rows of ``trials`` in ``results``, by trial order then record order; columns in a
    fixed order (head, metrics by name, ``status``, ``error``), without the columns that other
    sweeps into the same file added (all empty here)."""
    order = {t.trial_id: t.index for t in trials}
    table = results[results["trial_id"].isin(order)]
    table = table.assign(_order=table["trial_id"].map(order))
    table = table.sort_values("_order", kind="stable").drop(columns="_order")
    head = ["trial_id", "variant", *spec.knob_names, "seed", "step", "compute"]
    metrics = sorted(c for c in table if c not in {*head, "status", "error"}
                     and not table[c].isna().all())
    return table[[*head, *metrics, "status", "error"]].reset_index(drop=True)


def summary(table: pd.DataFrame, spec: SweepSpec,
            score: str | None = None) -> pd.DataFrame:
    """One row per variant and grid point: seeds done, seeds failed, and the final ``score``
    (default: the registry's score metric; each trial's last logged value) as mean and std
    over the seeds that ran."""
    score = score or registry.get(spec.algo).score
    keys = ["variant", *spec.knob_names]
    per_trial = table.groupby("trial_id", sort=False).agg(
        {**{k: "first" for k in keys}, "status": "last",
         **({score: "last"} if score in table else {})})
    if score not in per_trial:
        per_trial[score] = math.nan
    rows = []
    for point, group in per_trial.groupby(keys, sort=False, dropna=False):
        ok = group[group["status"] != FAILED]
        final = ok[score].dropna()
        rows.append({**dict(zip(keys, point if isinstance(point, tuple) else (point,),
                                strict=True)),
                     "done": len(ok), "failed": len(group) - len(ok),
                     "score": score, "mean": final.mean() if len(final) else math.nan,
                     "std": final.std(ddof=0) if len(final) else math.nan})
    return pd.DataFrame.from_records(rows)


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without its :data:`WALL_CLOCK` columns: what two runs of a sweep share."""
    return table.drop(columns=[c for c in table if c.startswith(WALL_CLOCK)])
