"""Wall-clock to solve CartPole-v1: polab's PPO at its defaults vs a CleanRL-style single-file PPO.

    python benchmarks/ppo_cartpole.py                        # seeds 1-5, both sides, interleaved
    python benchmarks/ppo_cartpole.py --seeds 6 7 8 9 10 --skip-reference
    python benchmarks/ppo_cartpole.py --profile              # where one iteration's time goes
    python benchmarks/ppo_cartpole.py --set num_envs=64 --skip-reference   # not the defaults
    python benchmarks/ppo_cartpole.py --json benchmarks/results/ppo_cartpole.json \
        --results-dir benchmarks/results/claims   # the shipped measurement (issue 19's goal)

Solved = the mean return of the last 20 finished episodes reaches 475 (CartPole-v1's
``reward_threshold``), for both implementations:

* ``polab``: ``PPO(PPOConfig(seed=s), "CartPole-v1")`` driven by ``TrainingRun`` for its
  ``num_iterations``; checked once per iteration, on that iteration's
  ``charts/episodic_return`` (the mean of the last 20 finished episodes). polab's batched
  envs auto-reset in the same step (gymnasium's ``AutoresetMode.SAME_STEP``).
* ``reference``: benchmarks/reference_ppo.py, CleanRL's ``ppo.py`` at its CartPole defaults
  (4 envs in a gymnasium ``SyncVectorEnv`` with ``AutoresetMode.SAME_STEP``, 128 steps,
  lr 2.5e-4, 500k steps), the mean of its ``RecordEpisodeStatistics`` queue of 20 episodes;
  stopped after ``--max-seconds``; called with ``check_point="iteration"``: checked once per
  iteration, after its update, like polab. (CleanRL's own script logs, and its harness
  benchmarks/cleanrl_own.py checks, per finished episode; the two check points differ by at
  most one 512-step rollout of the reference, under 1 % of its run.)

Each time counts from building the env and the networks to the moment 475 is reached, in a
warm process: one untimed PPO iteration runs first, because the first optimiser built in a
process imports ``torch._dynamo`` (``torch.optim`` does it lazily; ~1-2 s here), a one-time
cost that would otherwise fall on whichever side runs first. Seeds
run interleaved (polab 1, reference 1, polab 2, ...) in one process on the same device and
torch thread count, so a change in the machine's load hits both alike. A reference run stopped
by the cap counts as ``> cap``: its median and the ratio are then lower bounds, and say so.

Issue 19's goal, the last line: the ratio of the medians reference / polab is >= 20 and polab
reached 475 on every seed. ``--json`` saves the per-seed results; the claims file
(``build/results/ppo_cartpole.json``, ``--results-dir`` elsewhere; ``--claims-from`` rebuilds it
from a saved ``--json``) holds that goal with every seed's seconds and env steps of both sides.

``--profile`` times ``--profile-iterations`` iterations of polab's PPO at its defaults (after
``--profile-warmup`` iterations, so the episodes are of a typical length) with a
``time.perf_counter`` breakdown: the functions of each phase are wrapped for the duration and
each wrapper charges its own time less that of the wrappers inside it; "Python overhead" is the
rest of the iteration (the loops, indexing, bookkeeping and the wrappers themselves).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import math
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import reference_ppo
import torch

import polab.algos.pg.ppo as ppo_module
from polab.algos.pg.ppo import PPO, PPOConfig
from polab.claims import Claim, parse_benchmark_args, save_run
from polab.device import describe, pick_device
from polab.train import TrainingRun

ENV, TARGET, GOAL_RATIO = "CartPole-v1", 475.0, 20.0
NAME, ISSUE = "ppo_cartpole", 19
train_module = importlib.import_module("polab.train")  # `polab.train` is also a function


@dataclass(frozen=True)
class Result:
    """Time to ``TARGET``; when not ``reached``, ``seconds`` and ``steps`` are where it stopped."""

    reached: bool
    seconds: float
    steps: int
    why: str = ""  # when not reached: "> cap" or "not reached"

    def cell(self) -> str:
        time_s = f"{self.seconds:.2f}" if self.reached else f"{self.why} ({self.seconds:.0f})"
        return f"{time_s:>16} {self.steps:>10,}"


def polab_config(seed: int, overrides: dict[str, Any]) -> PPOConfig:
    return dataclasses.replace(PPOConfig(seed=seed), **overrides)


def time_polab(seed: int, device: torch.device, overrides: dict[str, Any]) -> Result:
    start = time.perf_counter()
    algo = PPO(polab_config(seed, overrides), ENV, device=device)
    for record in TrainingRun(algo, algo.config.num_iterations, progress=False):
        if record.get("charts/episodic_return", -math.inf) >= TARGET:
            return Result(True, time.perf_counter() - start, int(record["global_step"]))
    return Result(False, time.perf_counter() - start, algo.global_step, "not reached")


def time_reference(seed: int, device: torch.device, max_seconds: float) -> Result:
    reached, seconds, steps = reference_ppo.train(seed, device, TARGET, max_seconds,
                                                  check_point="iteration")
    why = "" if reached else "> cap" if seconds > max_seconds else "not reached"
    return Result(reached, seconds, steps, why)


def median(results: list[Result]) -> tuple[float, float, bool]:
    """Median seconds, median steps and whether they are exact. Unreached runs count with the
    time they ran, a lower bound of their time to 475, so the medians are then lower bounds."""
    return (statistics.median(r.seconds for r in results),
            statistics.median(r.steps for r in results), all(r.reached for r in results))


def fmt_median(seconds: float, exact: bool) -> str:
    return f"{seconds:.2f}" if exact else f"> {seconds:.2f}"


def goal(polab: list[Result], reference: list[Result]) -> tuple[float, bool]:
    """Issue 19's goal: the ratio of the median seconds reference / polab, and whether it is
    >= ``GOAL_RATIO`` with polab reaching 475 on every seed."""
    polab_med, _, polab_exact = median(polab)
    ratio = median(reference)[0] / polab_med
    return ratio, polab_exact and ratio >= GOAL_RATIO


def claims(res: dict) -> list[Claim]:
    """Issue 19's PPO goal from a run's results (as read back from ``--json``); none without
    the reference (``--skip-reference``)."""
    if not res.get("reference"):
        return []
    seeds = tuple(int(s) for s in res["seeds"])
    polab = [Result(**r) for r in res["polab"]]
    reference = [Result(**r) for r in res["reference"]]
    ratio, met = goal(polab, reference)
    steps_ratio = median(reference)[1] / median(polab)[1]
    bound = "" if all(r.reached for r in reference) else ">= "
    overrides = res.get("overrides") or {}
    setting = (f"; not polab's defaults: {', '.join(f'{k}={v}' for k, v in overrides.items())}"
               if overrides else "")
    return [Claim(
        card="", issue=ISSUE, algorithms=("ppo",), notebook="01_policy_gradients",
        claim=f"polab's PPO at its defaults reaches a mean return of {TARGET:g} on CartPole-v1 "
              f">= {GOAL_RATIO:g}x faster than the CleanRL-faithful reference (ratio of the "
              "median seconds)",
        baseline="benchmarks/reference_ppo.py (CleanRL's ppo.py at its CartPole defaults)",
        metric=f"seconds and env steps to a mean return of {TARGET:g} (last 20 episodes)",
        seeds=seeds,
        values={"polab s": tuple(r.seconds for r in polab),
                "reference s": tuple(r.seconds for r in reference),
                "polab steps": tuple(float(r.steps) for r in polab),
                "reference steps": tuple(float(r.steps) for r in reference)},
        verdict="met" if met else "not met",
        note=f"ratio of the medians {bound}{ratio:.1f}x (steps {steps_ratio:.2f}x); load "
             f"average {res['load'][0]:.2f} at start, {res['load'][1]:.2f} at end{setting}")]


# --- profile ---------------------------------------------------------------------------------

class PhaseTimer:
    """Exclusive wall-clock per phase: a wrapped call charges its time, less that of wrapped
    calls inside it, to its phase; inside an ``opaque`` phase inner wrappers do not split."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[Any]] = []  # [phase, seconds spent in inner wrapped calls, opaque]

    def wrap(self, fn: Callable[..., Any], phase: str, opaque: bool = False) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._stack and self._stack[-1][2]:
                return fn(*args, **kwargs)
            self._stack.append([phase, 0.0, opaque])
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                _, inner, _ = self._stack.pop()
                self.seconds[phase] += elapsed - inner
                self.calls[phase] += 1
                if self._stack:
                    self._stack[-1][1] += elapsed
        return timed

    @contextlib.contextmanager
    def patched(self, targets: list[tuple[Any, str, str, bool]]) -> Iterator[None]:
        """Wrap ``getattr(owner, name)`` as ``phase`` for each ``(owner, name, phase, opaque)``."""
        with contextlib.ExitStack() as stack:
            for owner, name, phase, opaque in targets:
                stack.enter_context(mock.patch.object(
                    owner, name, self.wrap(getattr(owner, name), phase, opaque)))
            yield


HOST_SYNCS = ("item", "tolist", "cpu", "__bool__", "__float__", "__int__")
"""Tensor methods that read a value on the host (a device sync off the CPU)."""


def phases(algo: PPO) -> list[tuple[Any, str, str, bool]]:
    """What to wrap in one PPO iteration, and the phase each belongs to."""
    agent, opt = algo.agent, algo.optimizer
    return [
        (algo.env, "step", "env step", False),
        (agent, "act", "policy forward (acting)", False),
        (algo.tracker, "update", "episode statistics", False),
        (algo, "advantages", "GAE (values + recursion)", True),
        (agent, "evaluate", "loss forward", False),
        (agent, "value", "loss forward", False),
        (ppo_module, "ppo_loss", "loss forward", False),
        (ppo_module, "normalize", "loss forward", False),
        (torch.Tensor, "backward", "backward", False),
        (opt, "zero_grad", "optimiser (zero_grad, clip, Adam)", False),
        (opt, "step", "optimiser (zero_grad, clip, Adam)", False),
        (torch.nn.utils, "clip_grad_norm_", "optimiser (zero_grad, clip, Adam)", False),
        (algo, "state_dict", "TrainingRun plumbing", True),
        (train_module, "divergence", "TrainingRun plumbing", True),
        *((torch.Tensor, name, "host syncs", False) for name in HOST_SYNCS),
    ]


def profile(device: torch.device, overrides: dict[str, Any], warmup: int, iterations: int,
            seed: int = 1) -> None:
    """Print a per-phase breakdown of ``iterations`` iterations of PPO (via ``TrainingRun``)."""
    algo = PPO(polab_config(seed, overrides), ENV, device=device)
    c = algo.config
    run = iter(TrainingRun(algo, warmup + iterations, progress=False))
    for _ in range(warmup):
        next(run)
    timer = PhaseTimer()
    with timer.patched(phases(algo)):
        start = time.perf_counter()
        for _ in range(iterations):
            record = next(run)
        total = time.perf_counter() - start
    overhead = total - sum(timer.seconds.values())
    rows = [*sorted(timer.seconds.items(), key=lambda kv: -kv[1]), ("Python overhead", overhead)]
    per_it = 1e3 / iterations
    env_calls = timer.calls["env step"] / iterations
    print(f"\nprofile: {iterations} iterations after {warmup} warm-up ones, seed {seed}; "
          f"num_envs={c.num_envs} num_steps={c.num_steps} (batch {c.batch_size}), "
          f"{c.update_epochs} epochs x {c.num_minibatches} minibatches of {c.minibatch_size}, "
          f"hidden {c.hidden}; mean return {record.get('charts/episodic_return', math.nan):.0f} "
          f"at the end; load average {os.getloadavg()[0]:.2f}")
    print(f"{'phase':<36} {'ms/iter':>8} {'share':>6} {'calls/iter':>10}")
    for phase, seconds in rows:
        calls = f"{timer.calls[phase] / iterations:.0f}" if phase in timer.calls else ""
        print(f"{phase:<36} {seconds * per_it:8.2f} {seconds / total:6.1%} {calls:>10}")
    print(f"{'total':<36} {total * per_it:8.2f} {1:6.1%}")
    env_ms = timer.seconds["env step"] * per_it
    print(f"env step: {env_ms / env_calls * 1e3:.0f} us per call of {c.num_envs} copies "
          f"({env_ms / env_calls / c.num_envs * 1e6:.0f} ns per transition); whole iteration "
          f"{total * per_it / c.batch_size * 1e3:.1f} us per transition")


# --- main ------------------------------------------------------------------------------------

def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` for a PPOConfig field, the value parsed as the field's type."""
    key, _, value = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(PPOConfig)}
    if key not in fields or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE with KEY one of "
                                         f"{', '.join(fields)}")
    default = getattr(PPOConfig(), key)
    if isinstance(default, bool):
        return key, value.lower() in ("1", "true", "yes")
    return key, type(default)(float(value) if isinstance(default, int) else value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for both implementations (default 1: the "
                             "networks are tiny; a second thread only adds sync cost)")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="cap per reference run (default 900)")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda")
    parser.add_argument("--set", type=parse_override, action="append", default=[],
                        metavar="KEY=VALUE", help="override a PPOConfig default (repeatable)")
    parser.add_argument("--profile", action="store_true",
                        help="print the per-phase breakdown of polab's iterations and exit")
    parser.add_argument("--profile-warmup", type=int, default=10)
    parser.add_argument("--profile-iterations", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None,
                        help="save the per-seed results (seconds, steps) to this file")
    args = parse_benchmark_args(parser, NAME, claims)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    overrides = dict(args.set)
    load_start = os.getloadavg()[0]
    print(f"CartPole-v1, time to mean return (last 20 episodes) >= {TARGET:g}\n"
          f"{' '.join(sys.argv)}\n"
          f"device {describe(device)}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start\n"
          f"polab: PPOConfig({', '.join(f'{k}={v!r}' for k, v in overrides.items())}) "
          f"= {polab_config(0, overrides)} (seed set per run)")
    if args.profile:
        profile(device, overrides, args.profile_warmup, args.profile_iterations)
        return

    warm = PPO(polab_config(0, overrides), ENV, device=device)  # one-time imports, see above
    warm.step()
    polab, reference = [], []
    for seed in args.seeds:
        polab.append(time_polab(seed, device, overrides))
        print(f"  polab     seed {seed}: {polab[-1].cell()}", flush=True)
        if not args.skip_reference:
            reference.append(time_reference(seed, device, args.max_seconds))
            print(f"  reference seed {seed}: {reference[-1].cell()}", flush=True)

    load_end = os.getloadavg()[0]
    print(f"\nload average {load_end:.2f} at end\n")
    print(f"{'seed':>6} {'polab s':>16} {'polab steps':>10}"
          + (f" {'reference s':>16} {'ref. steps':>10}" if reference else ""))
    for i, seed in enumerate(args.seeds):
        print(f"{seed:>6} {polab[i].cell()}" + (f" {reference[i].cell()}" if reference else ""))
    polab_med, polab_steps, polab_exact = median(polab)
    line = f"{'median':>6} {fmt_median(polab_med, polab_exact):>16} {polab_steps:>10,.0f}"
    if reference:
        ref_med, ref_steps, ref_exact = median(reference)
        line += f" {fmt_median(ref_med, ref_exact):>16} {ref_steps:>10,.0f}"
    print(line)
    if not polab_exact:
        print("polab did not reach 475 on every seed")
    if reference:
        ratio, met = goal(polab, reference)
        if not polab_exact:
            note = ", not a bound: polab did not reach 475 on every seed"
        elif not ref_exact:
            note = ", a lower bound: the reference did not reach 475 on every seed"
        else:
            note = ""
        print(f"ratio of the medians reference/polab: {'>= ' if not ref_exact else ''}"
              f"{ratio:.1f}x (steps: {ref_steps / polab_steps:.2f}x){note}")
        print(f"goal ratio >= {GOAL_RATIO:g}: {'met' if met else 'NOT met'}"
              + (" (not polab's defaults: --set)" if overrides else ""))
    res = {"seeds": args.seeds, "target": TARGET, "overrides": overrides,
           "device": describe(device), "threads": torch.get_num_threads(),
           "load": [load_start, load_end], "polab": [asdict(r) for r in polab],
           "reference": [asdict(r) for r in reference]}
    save_run(NAME, res, claims, args)


if __name__ == "__main__":
    main()
