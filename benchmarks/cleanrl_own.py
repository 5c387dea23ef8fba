"""CleanRL's own ``ppo.py``, unmodified, timed to a mean return of 475 on CartPole-v1; and
``--compare``: that run beside benchmarks/reference_ppo.py, seed by seed.

Setup (scratch packages under /tmp, never the project's dependencies; CleanRL's ``ppo.py`` is
not copied into polab)::

    python -m pip install --target /tmp/cleanrl_site gymnasium==0.29.1 tyro tensorboard
    rm -rf /tmp/cleanrl_site/numpy*          # keep the venv's numpy
    # CleanRL's cleanrl/ppo.py (master, tyro + gymnasium 0.29) saved as /tmp/cleanrl/ppo.py

    python benchmarks/cleanrl_own.py --seeds 1 2 3 --save /tmp/own.json  # then 4 5, then --table
    python benchmarks/cleanrl_own.py --compare --seeds 1 2 --save /tmp/check.json  # and 3 4, 5
    python benchmarks/cleanrl_own.py --table /tmp/check.json   # all saved runs, one table
    python benchmarks/cleanrl_own.py --compare --json benchmarks/results/cleanrl_own.json \
        --results-dir benchmarks/results/claims   # the shipped measurement of issue 19's goal

(logs: benchmarks/results/cleanrl_own.txt and reference_check.txt, each a sweep split into
locked runs of a few minutes with ``--save``, then ``--table``). Without the setup it prints
``skipped`` and what is missing.

gymnasium 0.29.1 (the last release before 1.0) has the API CleanRL's master ``ppo.py`` is
written for: the script reads finished episodes
from ``infos["final_info"]``, which gymnasium 0.29's ``SyncVectorEnv`` fills because it resets a
finished sub-env in the same step (what gymnasium 1.x calls ``AutoresetMode.SAME_STEP``; 1.x's
default NEXT_STEP has no ``final_info``, so under 1.x the script would never log a return and its
GAE would treat each reset step as a transition). The script runs as it is; the harness only

* runs it with ``runpy`` and ``sys.argv = [script, "--seed", s, "--no-cuda"]`` (its defaults
  otherwise: 4 envs, 128 steps, lr 2.5e-4 annealed over 500k steps, ...), one torch thread,
  in a temporary working directory (its ``runs/`` event files go there), its stdout sent to
  /dev/null (it prints every episode);
* replaces ``torch.utils.tensorboard.SummaryWriter`` by a subclass that writes as usual and
  feeds every ``charts/episodic_return`` into a window of the last 20 episodes. With
  ``--check-point step`` (the default) the run stops (an exception out of ``add_scalar``) at the
  first logged episode after which the window's mean is >= 475: CleanRL logs inside its step
  loop, so this is a check after every env step on which an episode ends, as
  ``reference_ppo.train(check_point="step")`` does. With ``--check-point iteration`` the window
  is checked when the script logs ``charts/learning_rate``, once per iteration after the update,
  as polab's ``TrainingRun`` sees ``charts/episodic_return``.

Each run is a fresh child process with one torch thread: CleanRL's with ``PYTHONPATH=--site``
(its gymnasium 0.29.1), the reference's with the project's gymnasium. Seconds count from
``runpy`` starting the script (torch, gymnasium and tyro already imported) to the stop, and
for the reference from ``train`` being called; env steps are the ``global_step`` of the stop.
Each run also records its process's CPU time over the same span (``time.process_time``): other
processes on a shared box stretch wall-clock, hardly CPU time, and a single-threaded run's CPU
time is its wall-clock on an idle machine. ``--compare`` alternates the two per seed and prints
per seed the seconds, steps and µs of wall-clock and of CPU per env step of both, the medians,
the paired per-seed ratios, the ratios of the medians reference / CleanRL and a verdict per goal
(within ±20 %: env steps to 475, µs of wall-clock per env step, the same in CPU time).

With both sides (``--compare``, or ``--table`` of a saved comparison), ``--json`` saves the runs
and the claims file (``build/results/cleanrl_own.json``, ``--results-dir`` elsewhere;
``--claims-from`` rebuilds it from a saved ``--json``) holds issue 19's goal once per verdict
line, with every seed's numbers of both sides.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import deque
from pathlib import Path

import numpy as np
import torch

from polab.claims import Claim, parse_benchmark_args, save_run
from polab.device import describe

TARGET, WINDOW, TOLERANCE = 475.0, 20, 0.2
NAME, ISSUE = "cleanrl_own", 19
HERE = Path(__file__).resolve().parent


class Stop(Exception):
    """Raised out of the script's logging call to end the run."""

    def __init__(self, reached: bool):
        super().__init__("reached" if reached else "cap")
        self.reached = reached


class EpisodeWindow:
    """Mean of the last ``window`` logged episodic returns against ``target``, checked at each
    logged episode (``check_point="step"``) or at each iteration's end (``"iteration"``); a
    run is stopped by raising :class:`Stop` (also once ``max_seconds`` have passed)."""

    def __init__(self, target: float = TARGET, window: int = WINDOW, check_point: str = "step",
                 max_seconds: float = math.inf):
        self.returns: deque[float] = deque(maxlen=window)
        self.target, self.check_point, self.max_seconds = target, check_point, max_seconds
        self.start, self.step = time.perf_counter(), 0

    def solved(self) -> bool:
        return bool(self.returns) and sum(self.returns) / len(self.returns) >= self.target

    def log(self, tag: str, value: float, step: int) -> None:
        """One ``add_scalar(tag, value, step)`` of the script."""
        self.step = step
        if tag == "charts/episodic_return":
            self.returns.append(np.asarray(value).item())  # gymnasium 0.29: shape (1,)
            if self.check_point == "step" and self.solved():
                raise Stop(True)
        elif tag == "charts/learning_rate" and self.check_point == "iteration" and self.solved():
            raise Stop(True)
        if time.perf_counter() - self.start > self.max_seconds:
            raise Stop(False)


def run_script(script: str, seed: int, check_point: str = "step",
               max_seconds: float = math.inf) -> dict:
    """Run CleanRL's ``script`` once at its defaults and ``seed``; return ``reached``,
    ``seconds`` and ``steps`` (to 475, or where it stopped)."""
    import gymnasium  # the scratch install's
    import tyro  # noqa: F401  (imported before the clock starts, like torch)
    from torch.utils import tensorboard

    if int(gymnasium.__version__.split(".")[0]) >= 1:
        sys.exit(f"gymnasium {gymnasium.__version__}: CleanRL's ppo.py needs < 1.0 (see --help)")
    base = tensorboard.SummaryWriter
    window = EpisodeWindow(check_point=check_point, max_seconds=max_seconds)

    writers = []

    class Writer(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            writers.append(self)

        def add_scalar(self, tag, scalar_value, global_step=None, *args, **kwargs):
            super().add_scalar(tag, scalar_value, global_step, *args, **kwargs)
            window.log(tag, scalar_value, int(global_step))

    cwd, argv = os.getcwd(), sys.argv
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as null:
        os.chdir(tmp)
        tensorboard.SummaryWriter = Writer
        sys.argv = [script, "--seed", str(seed), "--no-cuda"]
        reached, cpu = False, time.process_time()
        try:
            with contextlib.redirect_stdout(null), warnings.catch_warnings():
                warnings.filterwarnings("ignore", "The field `target-kl`")  # tyro on its Args
                window.start, cpu = time.perf_counter(), time.process_time()
                runpy.run_path(script, run_name="__main__")
        except Stop as stop:
            reached = stop.reached
        finally:
            seconds, cpu = time.perf_counter() - window.start, time.process_time() - cpu
            for writer in writers:  # a stopped script never closed its writer
                writer.close()
            tensorboard.SummaryWriter, sys.argv = base, argv
            os.chdir(cwd)
    return {"reached": reached, "seconds": seconds, "cpu": cpu, "steps": window.step}


def run_reference(seed: int, check_point: str = "step", max_seconds: float = math.inf) -> dict:
    """benchmarks/reference_ppo.py once, as :func:`run_script` reports a run."""
    sys.path.insert(0, str(HERE))
    import reference_ppo

    cpu = time.process_time()
    reached, seconds, steps = reference_ppo.train(seed, torch.device("cpu"), TARGET, max_seconds,
                                                  check_point=check_point)
    return {"reached": reached, "seconds": seconds, "cpu": time.process_time() - cpu,
            "steps": steps}


def child(side: str, seed: int, args: argparse.Namespace) -> dict:
    """One run in a fresh process (CleanRL's under ``--site``'s gymnasium 0.29)."""
    cmd = [sys.executable, __file__, "--child", side, "--seeds", str(seed), "--script",
           args.script, "--check-point", args.check_point, "--max-seconds", str(args.max_seconds)]
    env = dict(os.environ)
    if side == "cleanrl":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.site, env.get("PYTHONPATH")]))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{side} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def per_step(run: dict, key: str = "seconds") -> float:
    """µs of wall-clock (``seconds``) or of this process's CPU time (``cpu``) per env step."""
    return 1e6 * run[key] / run["steps"] if key in run else math.nan


def cell(run: dict) -> str:
    mark = "" if run["reached"] else " (not reached)"
    return (f"{run['seconds']:>11.1f} {run['steps']:>9,} {per_step(run):>8.1f} "
            f"{per_step(run, 'cpu'):>8.1f}{mark}")


def median_of(runs: list[dict], key: str) -> float:
    """Median over ``runs`` of ``seconds``, ``steps``, or µs per step (``us``, ``cpu_us``)."""
    if key in ("us", "cpu_us"):
        return statistics.median(per_step(r, "cpu" if key == "cpu_us" else "seconds")
                                 for r in runs)
    return statistics.median(r[key] for r in runs)


def machine() -> str:
    return (f"device {describe(torch.device('cpu'))}, torch {torch.__version__}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")


GOALS = (("steps", "env steps to 475"), ("us", "µs of wall-clock per env step"),
         ("cpu_us", "µs of CPU time per env step (wall-clock less the load)"))


def goals(records: list[dict]) -> list[tuple[str, str, float, bool]]:
    """Issue 19's goals from both sides' runs: per goal its key, its name, the ratio of the
    medians reference / CleanRL and whether it is within ±``TOLERANCE`` (every run having
    reached 475); the CPU-time goal only where every run recorded its CPU time."""
    seeds = sorted({r["seed"] for r in records})
    runs = {(r["side"], r["seed"]): r for r in records}  # a later record of a seed wins
    per_side = {side: [runs[side, seed] for seed in seeds] for side in ("cleanrl", "reference")}
    reached = all(r["reached"] for r in records)
    has_cpu = all("cpu" in r for r in records)  # CPU time: wall-clock on an idle machine
    out = []
    for key, name in GOALS[:2 + has_cpu]:
        ratio = median_of(per_side["reference"], key) / median_of(per_side["cleanrl"], key)
        out.append((key, name, ratio, reached and abs(ratio - 1) <= TOLERANCE))
    return out


def claims(res: dict) -> list[Claim]:
    """Issue 19's goal for the reference, once per verdict line, from a run's results (as read
    back from ``--json``); none unless both sides ran."""
    records = res["records"]
    if {r["side"] for r in records} != {"cleanrl", "reference"}:
        return []
    seeds = tuple(sorted({int(r["seed"]) for r in records}))
    runs = {(r["side"], r["seed"]): r for r in records}
    loads = [r["load"] for r in records]
    value = {"steps": lambda r: float(r["steps"]), "us": per_step,
             "cpu_us": lambda r: per_step(r, "cpu")}
    out = []
    for key, name, ratio, ok in goals(records):
        out.append(Claim(
            card="", issue=ISSUE, algorithms=(), notebook="01_policy_gradients",
            claim=f"benchmarks/reference_ppo.py matches CleanRL's own ppo.py within "
                  f"±{TOLERANCE:.0%} in median {name}",
            baseline="CleanRL's ppo.py, unmodified, at its CartPole defaults",
            metric=f"{name}, seeds run interleaved, each in a fresh process",
            seeds=seeds,
            values={side: tuple(value[key](runs[side, s]) for s in seeds)
                    for side in ("reference", "cleanrl")},
            verdict="met" if ok else "not met",
            note=f"ratio of the medians reference / CleanRL {ratio:.2f}; load average "
                 f"{min(loads):.2f}–{max(loads):.2f} over the runs"))
    return out


def table(records: list[dict]) -> None:
    """Per seed and side: seconds, env steps, µs per env step; the medians; with both sides,
    the ratios reference / CleanRL and a verdict per goal."""
    sides = [side for side in ("cleanrl", "reference") if any(r["side"] == side for r in records)]
    seeds = sorted({r["seed"] for r in records})
    runs = {(r["side"], r["seed"]): r for r in records}  # a later record of a seed wins
    loads = [r["load"] for r in records]
    print(f"load average {min(loads):.2f}–{max(loads):.2f} over the runs\n")
    print(f"{'':>6}" + "".join(f" | {'':>11} {'':>9} {'µs/step':>8} {'µs/step':>8}"
                               for side in sides))
    print(f"{'seed':>6}" + "".join(f" | {side + ' s':>11} {'steps':>9} {'wall':>8} {'CPU':>8}"
                                   for side in sides))
    for seed in seeds:
        print(f"{seed:>6}" + "".join(f" | {cell(runs[side, seed])}" for side in sides))
    per_side = {side: [runs[side, seed] for seed in seeds] for side in sides}
    print(f"{'median':>6}" + "".join(
        f" | {median_of(per_side[s], 'seconds'):>11.1f} {median_of(per_side[s], 'steps'):>9,.0f}"
        f" {median_of(per_side[s], 'us'):>8.1f} {median_of(per_side[s], 'cpu_us'):>8.1f}"
        for s in sides))
    reached = all(r["reached"] for r in records)
    if not reached:
        print("(a run that did not reach 475 counts with where it stopped)")
    if len(sides) == 2:
        same = sum(runs["cleanrl", s]["steps"] == runs["reference", s]["steps"] for s in seeds)
        print(f"\nseeds on which both took the same env steps: {same} of {len(seeds)}")
        has_cpu = all("cpu" in r for r in records)
        for key, name in (("seconds", "wall-clock"), ("cpu", "CPU time"))[:1 + has_cpu]:
            paired = [per_step(runs["reference", s], key) / per_step(runs["cleanrl", s], key)
                      for s in seeds]
            print(f"µs of {name} per env step, reference / CleanRL, seed by seed: "
                  f"{' '.join(f'{r:.2f}' for r in paired)}, median "
                  f"{statistics.median(paired):.2f}")
        for _, name, ratio, ok in goals(records):
            print(f"median {name}, reference / CleanRL: {ratio:.2f}; "
                  f"goal within ±{TOLERANCE:.0%}: {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="/tmp/cleanrl/ppo.py", help="CleanRL's ppo.py")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--check-point", choices=("step", "iteration"), default="step")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="cap per run")
    parser.add_argument("--compare", action="store_true",
                        help="CleanRL and benchmarks/reference_ppo.py interleaved, per seed")
    parser.add_argument("--site", default="/tmp/cleanrl_site",
                        help="--compare: PYTHONPATH with gymnasium 0.29.1 for CleanRL's runs")
    parser.add_argument("--save", help="append each run as a JSON line to this file (to split "
                                       "a sweep into several locked runs)")
    parser.add_argument("--table", help="print the table of the runs saved in this file; run "
                                        "nothing")
    parser.add_argument("--json", type=Path, default=None,
                        help="save the runs (both sides, per seed) to this file")
    parser.add_argument("--child", choices=("cleanrl", "reference"), help=argparse.SUPPRESS)
    args = parse_benchmark_args(parser, NAME, claims)
    torch.set_num_threads(1)

    if args.table:
        records = [json.loads(line) for line in Path(args.table).read_text().splitlines()]
        table(records)
        save(records, args)
        return
    if args.child:
        run = (run_script(args.script, args.seeds[0], args.check_point, args.max_seconds)
               if args.child == "cleanrl"
               else run_reference(args.seeds[0], args.check_point, args.max_seconds))
        print(json.dumps(run))
        return

    missing = [p for p in (args.script, f"{args.site}/gymnasium", f"{args.site}/tyro",
                           f"{args.site}/tensorboard") if not Path(p).exists()]
    if missing:
        print(f"skipped: no {', '.join(missing)} (see the setup in this script's docstring)")
        return
    sides = ("cleanrl", "reference") if args.compare else ("cleanrl",)
    print(f"CartPole-v1, CleanRL's own ppo.py ({args.script}) at its defaults"
          + (" vs benchmarks/reference_ppo.py" if args.compare else "")
          + f": seconds and env steps to a mean return (last {WINDOW} episodes) >= {TARGET:g}, "
          f"checked per {args.check_point}\n{machine()} at start", flush=True)
    records = []
    for seed in args.seeds:
        for side in sides:
            run = child(side, seed, args)
            records.append({"side": side, "seed": seed, **run, "load": os.getloadavg()[0]})
            print(f"  {side:<9} seed {seed}: {cell(run)}   (load {records[-1]['load']:.2f})",
                  flush=True)
            if args.save:
                with open(args.save, "a") as f:
                    f.write(json.dumps(records[-1]) + "\n")
    print()
    table(records)
    save(records, args)


def save(records: list[dict], args: argparse.Namespace) -> None:
    """``--json`` and the claims file of the runs ``records``."""
    res = {"script": args.script, "check_point": args.check_point, "machine": machine(),
           "records": records}
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
